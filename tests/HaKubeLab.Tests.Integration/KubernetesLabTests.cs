using System.Diagnostics;
using System.Text.Json;
using HaKubeLab.Bootstrap;
using HaKubeLab.Rendering;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using k8s;
using k8s.Models;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace HaKubeLab.Tests.Integration;

/// <summary>Runs a class's tests in the order of their names (T1, T2, ...), for classes whose tests read best as a story.</summary>
public sealed class ByNameOrderer : ITestCaseOrderer
{
    public IEnumerable<TTestCase> OrderTestCases<TTestCase>(IEnumerable<TTestCase> testCases) where TTestCase : ITestCase =>
        testCases.OrderBy(t => t.TestMethod.Method.Name, StringComparer.Ordinal);
}

/// <summary>The runbook's bootstrap on the shared seed Kubernetes lab. (Failover of the API through the VIP: <see cref="ChaosKubernetesTests"/>.)</summary>
[Collection("k8s-seed")]
public class KubernetesLabTests(SeedKubernetesLab k8s, ITestOutputHelper output)
{
    private static readonly string[] ControlPlane = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];

    [Fact]
    public void T1_Bootstrap_ran_every_step_and_reports_the_figures()
    {
        foreach (var line in k8s.Log) TestLab.Log(output, line);
        var up = k8s.Up;
        TestLab.Log(output, $"load-balancer tier {up.LoadBalancerTier.TotalSeconds:0.0} s, total {up.Total.TotalSeconds:0.0} s; {up.Kubernetes!.Readiness}");
        Assert.Contains(up.Kubernetes.Steps, s => s.Step.StartsWith("kubeadm init on m01", StringComparison.Ordinal));
        Assert.Equal(2, up.Kubernetes.Steps.Count(s => s.Step.StartsWith("kubeadm join", StringComparison.Ordinal)));
        Assert.True(LabRecord.TryRead(k8s.Name) is { Kubernetes: true, KubernetesReadyAt: not null });
        Assert.Equal(up.Kubernetes.KubeconfigPath, k8s.Running.KubeconfigPath);
        Assert.True(new FileInfo(up.Kubernetes.KubeconfigPath).UnixFileMode == (UnixFileMode.UserRead | UnixFileMode.UserWrite));
        Assert.Contains($"server: https://{KubeadmConfigRenderer.ControlPlaneEndpoint(k8s.Topology)}", File.ReadAllText(up.Kubernetes.KubeconfigPath));
    }

    [Fact]
    public async Task T2_Every_master_runs_the_control_plane_as_static_pods_from_the_preloaded_images()
    {
        await k8s.RestoreAsync(output);
        foreach (var node in k8s.Topology.Nodes)
        {
            // Through the node's own address: the point is that node's control plane.
            var kubectl = $"kubectl --kubeconfig /etc/kubernetes/admin.conf --server https://{node.Ip}:{k8s.Topology.Kubernetes.ApiServerPort}";
            var pods = await k8s.ShAsync(node.Name, $"{kubectl} get pods -n kube-system -o json");
            Assert.True(pods.Succeeded, pods.Stderr);
            using var doc = JsonDocument.Parse(pods.Stdout);
            var mine = doc.RootElement.GetProperty("items").EnumerateArray()
                .Where(p => p.GetProperty("spec").GetProperty("nodeName").GetString() == node.Name)
                .ToDictionary(p => p.GetProperty("metadata").GetProperty("name").GetString()!, p => p);
            var preloaded = (await k8s.ShAsync(node.Name, "ctr -n k8s.io images ls -q")).Stdout;
            foreach (var c in ControlPlane)
            {
                Assert.True(mine.TryGetValue($"{c}-{node.Name}", out var pod), $"{c}-{node.Name} missing on {node.Name}");
                Assert.Equal("Running", pod.GetProperty("status").GetProperty("phase").GetString());
                Assert.Contains(pod.GetProperty("spec").GetProperty("containers")[0].GetProperty("image").GetString()!, preloaded);
            }
            var memory = await k8s.Lab.Runtime.MemoryBytesAsync(node.Name, LabRole.Node, CancellationToken.None);
            TestLab.Log(output, $"{node.Name}: control plane Running; node memory {memory / 1048576.0:0} MiB");
        }
        // The kubelet's host-wide sysctls were shielded: the host keeps its own values.
        Assert.Equal("0", File.ReadAllText("/proc/sys/vm/overcommit_memory").Trim());
    }

    [Fact]
    public async Task T3_The_api_through_the_vip_has_three_ready_masters_and_takes_writes()
    {
        await k8s.RestoreAsync(output);
        using var client = k8s.KubeClient();
        var report = await ClusterReadiness.CheckAsync(client, CancellationToken.None);
        TestLab.Log(output, report.ToString());
        var masters = k8s.Topology.Nodes.Select(n => n.Name).ToList();
        Assert.Equal(masters, report.ReadyNodes);
        Assert.Equal(masters, report.ApiServers);
        Assert.Equal(masters, report.EtcdMembers);
        Assert.Equal("ok", report.Readyz);
        Assert.True(report.WriteSucceeded);
        var cm = await client.CoreV1.ReadNamespacedConfigMapAsync("hakubelab-probe", "default");
        Assert.True(DateTimeOffset.Parse(cm.Data["written"]) > DateTimeOffset.UtcNow.AddMinutes(-1));
    }

    [Fact]
    public async Task T4_A_pod_on_each_node_reaches_a_pod_on_another_node()
    {
        await k8s.RestoreAsync(output);
        using var client = k8s.KubeClient();
        var nodes = k8s.Topology.Nodes.Select(n => n.Name).ToList();
        foreach (var node in nodes)
        {
            try { await client.CoreV1.DeleteNamespacedPodAsync($"net-{node}", "default", gracePeriodSeconds: 0); }
            catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound) { }
        }
        await TestLab.WaitForAsync(async () => (await client.CoreV1.ListNamespacedPodAsync("default", labelSelector: "app=hakubelab-netcheck")).Items.Count == 0, TimeSpan.FromMinutes(1));
        foreach (var node in nodes)
            await client.CoreV1.CreateNamespacedPodAsync(NetPod(node, k8s.Images.Busybox), "default");
        var ips = new Dictionary<string, string>();
        var ready = await TestLab.WaitForAsync(async () =>
        {
            var pods = await client.CoreV1.ListNamespacedPodAsync("default", labelSelector: "app=hakubelab-netcheck");
            foreach (var p in pods.Items.Where(p => p.Status?.Phase == "Running" && p.Status.PodIP is not null)) ips[p.Spec.NodeName] = p.Status.PodIP;
            return nodes.All(ips.ContainsKey);
        }, TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(1));
        Assert.True(ready is not null, $"net pods not running: {string.Join(", ", ips)}");

        for (var i = 0; i < nodes.Count; i++)
        {
            var from = nodes[i];
            var to = nodes[(i + 1) % nodes.Count];
            var r = await k8s.ShAsync("m01", $"kubectl --kubeconfig /etc/kubernetes/admin.conf exec net-{from} -- /bin/busybox sh -c \"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | /bin/busybox nc -w 5 {ips[to]} 8080\"");
            TestLab.Log(output, $"pod on {from} -> pod on {to} ({ips[to]}): {r.Stdout.Split('\n').LastOrDefault(l => l.Length > 0)}");
            Assert.Contains($"hello-from-net-{to}", r.Stdout);
        }
    }

    private static V1Pod NetPod(string node, string image) => new()
    {
        Metadata = new V1ObjectMeta { Name = $"net-{node}", Labels = new Dictionary<string, string> { ["app"] = "hakubelab-netcheck" } },
        Spec = new V1PodSpec
        {
            NodeName = node,
            Tolerations = [new V1Toleration { OperatorProperty = "Exists" }],
            Containers =
            [
                new V1Container
                {
                    Name = "web",
                    Image = image,
                    ImagePullPolicy = "Never",
                    Command = ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /www && echo hello-from-$(/bin/busybox hostname) > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"],
                },
            ],
        },
    };
}
