using System.Diagnostics;
using HaKubeLab.Bootstrap;
using HaKubeLab.Chaos;
using HaKubeLab.Chaos.Reports;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Rendering;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using k8s;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>
/// A lab shared by every test class of one collection (CI brings up as few labs as the cases need: two Kubernetes
/// labs, one per profile, and a handful of load-balancer labs). A test that breaks something restores it
/// (<see cref="RestoreAsync"/>), so no test depends on another having run first.
/// </summary>
public abstract class SharedLab(string purpose, bool kubernetes, Func<LabTopology, LabTopology>? customize = null) : IAsyncLifetime
{
    public TestLab Lab { get; private set; } = null!;
    public RunningLab Running { get; private set; } = null!;
    public LabUpResult Up { get; private set; } = null!;
    public LabImageSet Images { get; private set; } = null!;
    public List<string> Log { get; } = [];
    public bool Kubernetes => kubernetes;
    public LabTopology Topology => Lab.Topology;
    public string Name => Lab.Topology.Name;

    /// <summary>Run folders of in-process chaos runs, under the repository's artifacts so CI keeps them.</summary>
    public string RunsDir => Path.Combine(RepositoryLayout.Root(), "artifacts", "chaos-test-runs", Name);

    public async Task InitializeAsync()
    {
        Lab = await TestLab.CreateAsync(purpose, customize);
        try
        {
            Images = await TestLab.ImagesAsync(null!);
            var clock = Stopwatch.StartNew();
            var progress = new SyncProgress<LabProgress>(p => { if (p.Done) lock (Log) Log.Add($"{p.Action}: {(p.Failed ? "FAILED " + p.Detail : "ok")} {p.Elapsed.TotalSeconds:0.0} s"); });
            Up = await LabLifecycle.UpAsync(Lab.Docker, Lab.Topology, Images, kubernetes, progress, new LabRuntime.UpOptions(RemoveOnFailure: false));
            Running = await RunningLab.OpenAsync(Lab.Docker, Name);
            Console.WriteLine($"[{Name}] shared {(kubernetes ? "Kubernetes" : "load-balancer")} lab up in {clock.Elapsed.TotalSeconds:0.0} s");
        }
        catch
        {
            await Lab.DisposeAsync(); // a fixture that failed to start leaves nothing behind
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        if (Running is not null) await Running.DisposeAsync();
        await Lab.DisposeAsync();
    }

    /// <summary>Puts the lab back as up made it (the runtime's own idempotent bring-up) and waits until it is healthy.</summary>
    public async Task RestoreAsync(ITestOutputHelper output)
    {
        var clock = Stopwatch.StartNew();
        await LabLifecycle.UpAsync(Lab.Docker, Lab.Topology, Images, kubernetes, null, new LabRuntime.UpOptions(RemoveOnFailure: false));
        var healthy = await TestLab.WaitForAsync(async () => (await Running.SnapshotAsync()).Healthy && await Lab.VipAnswersAsync(), TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200));
        Assert.True(healthy is not null, $"lab {Name} not healthy after restore: {string.Join("; ", (await Running.SnapshotAsync()).Problems())}");
        if (kubernetes)
        {
            using var client = KubeClient(TimeSpan.FromSeconds(3));
            var ready = await TestLab.WaitForAsync(async () =>
            {
                try { return await ClusterReadiness.ReadyzAsync(client, CancellationToken.None) == "ok"; }
                catch (Exception) { return false; }
            }, TimeSpan.FromMinutes(3), TimeSpan.FromSeconds(1));
            Assert.True(ready is not null, $"lab {Name}: /readyz through the VIP did not answer ok after restore");
        }
        TestLab.Log(output, $"[{Name}] restored in {clock.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>
    /// Makes <paramref name="node"/> the VIP holder, as on a freshly made lab: keepalived is stopped on every other node
    /// (a graceful stop releases the VIP), then started again; they come back as backups and do not preempt.
    /// </summary>
    public async Task MakeHolderAsync(string node, ITestOutputHelper output)
    {
        await RestoreAsync(output);
        if ((await Running.VipHolderAsync()).Holder == node) return;
        var others = Topology.Nodes.Where(n => n.Name != node).Select(n => Running.Container(n.Name, LabRole.Keepalived)).ToList();
        foreach (var c in others) await Lab.Docker.Containers.StopContainerAsync(c, new() { WaitBeforeKillSeconds = 10 });
        var moved = await TestLab.WaitForAsync(async () => (await Running.VipHolderAsync()).Holder == node, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));
        foreach (var c in others) await Lab.Docker.Containers.StartContainerAsync(c, new());
        Assert.True(moved is not null, $"{node} did not take the VIP when keepalived stopped on the other nodes");
        await Task.Delay(TimeSpan.FromSeconds(Topology.Keepalived.AdvertInterval * 2)); // the restarted backups hear the master
        Assert.Equal(node, (await Running.VipHolderAsync()).Holder);
    }

    /// <summary>Runs a shipped scenario in-process with the runner (the CLI is a thin wrapper over the same call).</summary>
    public async Task<RunResult> ChaosAsync(string scenario, ITestOutputHelper output, CancellationToken ct = default)
    {
        var s = ScenarioLoader.LoadFile(ScenarioCatalog.Resolve(scenario), [.. Topology.Nodes.Select(n => n.Name)]);
        var folder = ChaosRunner.DefaultRunFolder(s, Name, RunsDir);
        var outcome = await ChaosRunner.RunAsync(Running, new ChaosRunOptions(s, Name, folder, Log: line => TestLab.Log(output, "  | " + line)), ct);
        TestLab.Log(output, $"run folder: {folder}");
        return outcome.Result;
    }

    public IKubernetes KubeClient(TimeSpan? timeout = null) =>
        ClusterReadiness.Client(Running.KubeconfigPath ?? throw new InvalidOperationException($"lab {Name} has no Kubernetes"), timeout);

    public async Task<ExecResult> ShAsync(string node, string script) =>
        await DockerExec.RunAsync(Lab.Docker, Running.Container(node), ["bash", "-c", script], CancellationToken.None);
}

/// <summary>The runbook's settings, load-balancer tier only.</summary>
public sealed class SeedLoadBalancerLab() : SharedLab("lb", kubernetes: false);

/// <summary>The runbook's settings with Kubernetes (kubeadm HA through the VIP).</summary>
public sealed class SeedKubernetesLab() : SharedLab("k8s", kubernetes: true);

/// <summary>The recommended profile with Kubernetes.</summary>
public sealed class RecommendedKubernetesLab() : SharedLab("rk8s", kubernetes: true, t => t with { Profile = RenderProfile.Recommended });

/// <summary>The external etcd topology with Kubernetes: e01-e03 on the lab network, every apiserver talking to all of them.</summary>
public sealed class ExternalEtcdKubernetesLab() : SharedLab("xetcd", kubernetes: true, t => t with
{
    Etcd = new EtcdSettings { Topology = EtcdTopology.External, Nodes = EtcdSettings.DefaultNodes(t.Subnet) },
});

/// <summary>
/// A non-default topology: other node names, VIP, port and VRRP id; backups may preempt and c3 sits lower, so a
/// dead haproxy moves the VIP to a determined node.
/// </summary>
public sealed class CustomLoadBalancerLab() : SharedLab("custom", kubernetes: false, t => t with
{
    Vip = IpMath.Offset(t.Subnet.BaseAddress, 50),
    LoadBalancer = new LoadBalancerSettings { Port = 8443 },
    Keepalived = t.Keepalived with { VirtualRouterId = 77, Nopreempt = false },
    Nodes =
    [
        t.Nodes[0] with { Name = "c1", Ip = IpMath.Offset(t.Subnet.BaseAddress, 11) },
        t.Nodes[1] with { Name = "c2", Ip = IpMath.Offset(t.Subnet.BaseAddress, 12) },
        t.Nodes[2] with { Name = "c3", Ip = IpMath.Offset(t.Subnet.BaseAddress, 13), Priority = 90 },
    ],
});

[CollectionDefinition("lb-seed")]
public sealed class SeedLoadBalancerCollection : ICollectionFixture<SeedLoadBalancerLab>;

[CollectionDefinition("lb-custom")]
public sealed class CustomLoadBalancerCollection : ICollectionFixture<CustomLoadBalancerLab>;

[CollectionDefinition("k8s-seed")]
public sealed class SeedKubernetesCollection : ICollectionFixture<SeedKubernetesLab>;

[CollectionDefinition("k8s-external-etcd")]
public sealed class ExternalEtcdKubernetesCollection : ICollectionFixture<ExternalEtcdKubernetesLab>;

[CollectionDefinition("k8s-recommended")]
public sealed class RecommendedKubernetesCollection : ICollectionFixture<RecommendedKubernetesLab>;

/// <summary>Tests that must not share the host with other labs (sub-second timing that a busy host would decide): run after the others, one at a time.</summary>
[CollectionDefinition("alone", DisableParallelization = true)]
public sealed class AloneCollection;
