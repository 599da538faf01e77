using System.Diagnostics;
using HaKubeLab.Rendering;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using k8s;
using k8s.Models;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>
/// The external etcd topology on a real lab: three etcd containers of their own, the masters bootstrapped with kubeadm's
/// etcd.external; then one etcd node (the etcd leader) and one master (the VIP holder) are killed together while
/// ConfigMaps are written through the VIP.
/// </summary>
[Collection("k8s-external-etcd")]
[TestCaseOrderer("HaKubeLab.Tests.Integration.ByNameOrderer", "HaKubeLab.Tests.Integration")]
public class ExternalEtcdLabTests(ExternalEtcdKubernetesLab lab, ITestOutputHelper output)
{
    [Fact]
    public async Task T1_Up_runs_an_etcd_cluster_of_its_own_and_masters_without_etcd_members()
    {
        foreach (var line in lab.Log) TestLab.Log(output, line);
        var up = lab.Up;
        TestLab.Log(output, $"external etcd lab: load-balancer tier (etcd included) {up.LoadBalancerTier.TotalSeconds:0.0} s, total {up.Total.TotalSeconds:0.0} s; {up.Kubernetes!.Readiness}");
        Assert.Contains(up.Kubernetes.Steps, s => s.Step.StartsWith("etcd client certificates to", StringComparison.Ordinal));
        Assert.Empty(up.Kubernetes.Readiness.EtcdMembers); // no etcd pod on any master

        var snapshot = await lab.Running.SnapshotAsync();
        Assert.Equal(["e01", "e02", "e03"], snapshot.EtcdNodes.Select(e => e.Name));
        Assert.All(snapshot.EtcdNodes, e => Assert.True(e.Container.Running, $"{e.Container.Container} is {e.Container.Text}"));
        Assert.True(snapshot.Healthy, string.Join("; ", snapshot.Problems()));

        var status = await lab.Running.StatusAsync();
        Assert.Equal("external", status.EtcdTopology);
        TestLab.Log(output, $"etcd: {string.Join(", ", status.EtcdNodes!.Select(e => $"{e.Name} {e.Ip} {e.State} {e.Health}{(e.Leader ? " (leader)" : "")}"))}");
        Assert.All(status.EtcdNodes!, e => Assert.Equal("healthy", e.Health));
        Assert.Contains(status.EtcdLeader, status.EtcdNodes!.Select(e => e.Name));
        Assert.All(status.Nodes, n => Assert.Equal(ControlPlaneHealth.NoLocalEtcd, n.Etcd));

        foreach (var node in lab.Topology.Nodes)
        {
            // No etcd static pod; the client pair at the paths etcd.external names (the joining masters got it from upload-certs).
            var files = await lab.ShAsync(node.Name, $"test ! -e /etc/kubernetes/manifests/etcd.yaml && test -s {ExternalEtcd.CaFile} && test -s {ExternalEtcd.CertFile} && test -s {ExternalEtcd.KeyFile} && grep -c -- '--etcd-servers=https://' /etc/kubernetes/manifests/kube-apiserver.yaml");
            Assert.True(files.Succeeded, $"{node.Name}: {files.Stdout}{files.Stderr}");
            var servers = await lab.ShAsync(node.Name, "grep -- '--etcd-servers=' /etc/kubernetes/manifests/kube-apiserver.yaml");
            foreach (var endpoint in ExternalEtcd.Endpoints(lab.Topology)) Assert.Contains(endpoint, servers.Stdout);
        }

        var memory = await MemoryAsync();
        TestLab.Log(output, $"memory (cgroup usage, page cache included / working set): {string.Join(", ", memory.Select(m => $"{m.Key} {m.Value.Usage / 1048576.0:0}/{m.Value.WorkingSet / 1048576.0:0} MiB"))}; " +
                            $"total {memory.Values.Sum(m => (double)m.Usage) / 1048576:0}/{memory.Values.Sum(m => (double)m.WorkingSet) / 1048576:0} MiB");
    }

    [Fact]
    public async Task T2_Writes_through_the_vip_survive_killing_the_etcd_leader_and_the_vip_holder()
    {
        // The VIP on m02 rather than the first master: a killed first master is restored by a bootstrap that re-checks its init.
        await lab.MakeHolderAsync("m02", output);
        var health = await EtcdHealth.WaitHealthyAsync(lab.Lab.Docker, lab.Topology, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.True(health.AllHealthy, health.ToString());
        var etcdVictim = health.Leader ?? throw new InvalidOperationException($"no etcd leader: {health}");
        const string masterVictim = "m02";

        using var client = lab.KubeClient(TimeSpan.FromSeconds(3));
        var writes = new List<(TimeSpan At, bool Ok, string? Error)>();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var at = clock.Elapsed;
                try
                {
                    await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap
                    {
                        Metadata = new V1ObjectMeta { GenerateName = "xetcd-write-", NamespaceProperty = "default", Labels = new Dictionary<string, string> { ["hakubelab-test"] = "xetcd" } },
                        Data = new Dictionary<string, string> { ["i"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                    }, "default");
                    lock (writes) writes.Add((at, true, null));
                }
                catch (Exception e) when (e is not OperationCanceledException || !stop.IsCancellationRequested)
                {
                    lock (writes) writes.Add((at, false, e.GetBaseException().Message));
                }
                try { await Task.Delay(250, stop.Token); } catch (OperationCanceledException) { }
            }
        });

        try
        {
            await Task.Delay(TimeSpan.FromSeconds(3));
            var killedAt = clock.Elapsed;
            await Task.WhenAll(
                lab.Lab.Docker.Containers.KillContainerAsync(LabNames.Container(lab.Name, etcdVictim, LabRole.Etcd), new() { Signal = "SIGKILL" }),
                lab.Lab.Docker.Containers.KillContainerAsync(lab.Running.Container(masterVictim), new() { Signal = "SIGKILL" }));
            TestLab.Log(output, $"killed etcd {etcdVictim} (the etcd leader) and master {masterVictim} (the VIP holder) at {killedAt.TotalSeconds:0.0} s");

            // Generous: VRRP moves the VIP in ~3 s, etcd elects a leader in ~1-2 s; the apiserver may retry its etcd client.
            var deadline = TimeSpan.FromSeconds(120);
            var resumed = await TestLab.WaitForAsync(() =>
            {
                lock (writes)
                {
                    var after = writes.Where(w => w.At > killedAt).ToList();
                    // Ten writes in a row succeeded after the kills: the API takes writes again, steadily.
                    return Task.FromResult(after.Count >= 10 && after.TakeLast(10).All(w => w.Ok));
                }
            }, deadline, TimeSpan.FromMilliseconds(250));
            await stop.CancelAsync();
            await writer;

            List<(TimeSpan At, bool Ok, string? Error)> after;
            lock (writes) after = [.. writes.Where(w => w.At > killedAt)];
            var lastOkBefore = writes.Where(w => w.At <= killedAt && w.Ok).Select(w => w.At).DefaultIfEmpty(killedAt).Max();
            var failed = after.Where(w => !w.Ok).ToList();
            var firstOkAfterFailure = failed.Count == 0 ? (TimeSpan?)null : after.Where(w => w.Ok && w.At > failed[0].At).Select(w => (TimeSpan?)w.At).FirstOrDefault();
            var gap = failed.Count == 0 ? TimeSpan.Zero : (firstOkAfterFailure ?? clock.Elapsed) - lastOkBefore;
            var holder = (await lab.Running.VipHolderAsync()).Holder;
            var etcdAfter = await EtcdHealth.CheckAsync(lab.Lab.Docker, lab.Topology, CancellationToken.None);
            TestLab.Log(output, $"writes after the kills: {after.Count(w => w.Ok)} ok, {failed.Count} failed; longest gap without a successful write ~{gap.TotalSeconds:0.0} s; " +
                                $"VIP now on {holder ?? "none"}; etcd now: {etcdAfter}");
            foreach (var f in failed.Take(5)) TestLab.Log(output, $"  failed at {f.At.TotalSeconds:0.0} s: {f.Error}");

            Assert.True(resumed is not null, $"writes through the VIP did not resume within {deadline.TotalSeconds:0} s of the kills: {after.Count(w => w.Ok)} ok, {failed.Count} failed; last error: {failed.LastOrDefault().Error}");
            Assert.NotEqual(masterVictim, holder);
            Assert.Equal("down", etcdAfter.Members.Single(m => m.Name == etcdVictim).Health);
            Assert.Equal(2, etcdAfter.Members.Count(m => m.Health == "healthy"));
            Assert.NotNull(etcdAfter.Leader);
            Assert.NotEqual(etcdVictim, etcdAfter.Leader);
            var snapshot = await lab.Running.SnapshotAsync();
            Assert.Contains($"etcd node {etcdVictim} is exited (137)", snapshot.Problems());
        }
        finally
        {
            await stop.CancelAsync();
            await lab.RestoreAsync(output);
            var back = await EtcdHealth.WaitHealthyAsync(lab.Lab.Docker, lab.Topology, TimeSpan.FromSeconds(60), CancellationToken.None);
            TestLab.Log(output, $"after restore: etcd {back}");
            using var cleanup = lab.KubeClient();
            await cleanup.CoreV1.DeleteCollectionNamespacedConfigMapAsync("default", labelSelector: "hakubelab-test=xetcd");
        }
    }

    /// <summary>Per role, the lab's memory from the cgroup files (docker stats reports 0 B on this engine): usage and working set (usage minus inactive file cache).</summary>
    private async Task<Dictionary<string, (long Usage, long WorkingSet)>> MemoryAsync()
    {
        var result = new Dictionary<string, (long Usage, long WorkingSet)>();
        foreach (var c in await lab.Lab.Runtime.ListAsync(CancellationToken.None))
        {
            var v1 = $"/sys/fs/cgroup/memory/docker/{c.ID}";
            var v2 = $"/sys/fs/cgroup/system.slice/docker-{c.ID}.scope";
            long usage, inactive = 0;
            if (File.Exists($"{v1}/memory.usage_in_bytes"))
            {
                usage = long.Parse(File.ReadAllText($"{v1}/memory.usage_in_bytes").Trim(), System.Globalization.CultureInfo.InvariantCulture);
                inactive = Stat($"{v1}/memory.stat", "total_inactive_file");
            }
            else if (File.Exists($"{v2}/memory.current"))
            {
                usage = long.Parse(File.ReadAllText($"{v2}/memory.current").Trim(), System.Globalization.CultureInfo.InvariantCulture);
                inactive = Stat($"{v2}/memory.stat", "inactive_file");
            }
            else continue;
            var role = c.Labels.TryGetValue(LabLabels.Role, out var r) ? r : "?";
            var (u, w) = result.GetValueOrDefault(role);
            result[role] = (u + usage, w + usage - inactive);
        }
        Assert.NotEmpty(result);
        return result;
    }

    private static long Stat(string file, string key) =>
        File.ReadLines(file).Select(l => l.Split(' ')).Where(p => p.Length == 2 && p[0] == key).Select(p => long.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
}
