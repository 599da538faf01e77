using System.Diagnostics;
using System.Net;
using HaKubeLab.Explain;
using HaKubeLab.Failover;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>What explain's predictions are checked with on a real lab: VIP holders, the load balancer, the API.</summary>
internal static class LabProbe
{
    /// <summary>Every node whose interface carries the VIP (a killed keepalived leaves a stale copy, so there can be two): the lab's one VIP-holder source.</summary>
    public static async Task<List<string>> VipHoldersAsync(TestLab lab) =>
        [.. (await new VipHolderSource(lab.Docker, lab.Topology).ReadAsync(CancellationToken.None)).OnInterface];

    /// <summary>GET https://ADDRESS:PORT/healthz answers 200 "ok" (an apiserver, directly or through haproxy).</summary>
    public static async Task<bool> ApiAnswersAsync(IPAddress address, int port)
    {
        using var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(2),
            // The lab's own CA; what is checked here is that an apiserver answers, not who signed it.
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            using var response = await http.GetAsync($"https://{address}:{port}/healthz");
            return response.IsSuccessStatusCode && (await response.Content.ReadAsStringAsync()).Trim() == "ok";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException) { return false; }
    }

    /// <summary>Stops the node's kube-apiserver the way an operator would: its static-pod manifest leaves the manifests folder.</summary>
    public static async Task StopApiServerAsync(TestLab lab, string node)
    {
        var r = await ShAsync(lab, node, "mv /etc/kubernetes/manifests/kube-apiserver.yaml /root/kube-apiserver.yaml.stopped");
        Assert.True(r.Succeeded, r.Stderr);
        var ip = lab.Topology.Node(node).Ip;
        Assert.NotNull(await TestLab.WaitForAsync(async () => !await TcpProbe.ConnectAsync(ip, lab.Topology.Kubernetes.ApiServerPort, TimeSpan.FromMilliseconds(500), CancellationToken.None),
            TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200)));
    }

    public static async Task StartApiServerAsync(TestLab lab, string node)
    {
        var r = await ShAsync(lab, node, "mv /root/kube-apiserver.yaml.stopped /etc/kubernetes/manifests/kube-apiserver.yaml");
        Assert.True(r.Succeeded, r.Stderr);
        Assert.NotNull(await TestLab.WaitForAsync(() => ApiAnswersAsync(lab.Topology.Node(node).Ip, lab.Topology.Kubernetes.ApiServerPort), TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(1)));
    }

    private static Task<ExecResult> ShAsync(TestLab lab, string node, string script) =>
        DockerExec.RunAsync(lab.Docker, LabNames.Container(lab.Topology.Name, node, LabRole.Node), ["bash", "-c", script], CancellationToken.None);

    /// <summary>Longest time the checks and VRRP need to act on a fault: detection, then a takeover, plus slack.</summary>
    public static TimeSpan SettleTime(FaultPrediction p, LabTopology t) =>
        (p.Detection?.Max ?? TimeSpan.Zero) + VrrpElection.MasterDownInterval(t, 1) + (p.HaproxyMarksDown?.Max ?? TimeSpan.Zero) + TimeSpan.FromSeconds(3);

    public static FaultPrediction Predict(TestLab lab, ITestOutputHelper output, Fault fault, bool apiServers)
    {
        var e = Explainer.Explain(lab.Topology, [fault], new ExplainOptions(apiServers));
        var p = Assert.Single(e.Predictions);
        TestLab.Log(output, $"explain --fail {p.Fault}:");
        foreach (var line in p.Story) TestLab.Log(output, "  " + line);
        return p;
    }
}

/// <summary>explain's predictions on the shared load-balancer lab with the runbook's settings (no Kubernetes).</summary>
[Collection("lb-seed")]
public class ExplainOnLoadBalancerLabTests(SeedLoadBalancerLab shared, ITestOutputHelper output)
{
    [Fact]
    public async Task Runbook_settings_keepalived_kill_moves_the_vip_in_the_explained_window_and_leaves_a_stale_copy()
    {
        // explain reasons from a freshly made lab: the runbook's MASTER holds the VIP.
        await shared.MakeHolderAsync(VrrpElection.Initial(shared.Topology).Holder!, output);
        var lab = shared.Lab;
        var holder = Assert.Single(await LabProbe.VipHoldersAsync(lab));
        var p = LabProbe.Predict(lab, output, new Fault(FaultKind.KeepalivedKill, holder), apiServers: false);
        Assert.True(p.VipMoves);
        Assert.Equal(holder, p.StaleVipOn);
        var window = p.Takeover!.Value;

        // The kill takes effect somewhere during the call (docker kill returns after the network is torn down):
        // time from the call's start, and allow the call's length at the upper end.
        var sinceCall = Stopwatch.StartNew();
        await lab.Runtime.KillAsync(holder, LabRole.Keepalived, CancellationToken.None);
        var call = sinceCall.Elapsed;
        List<string> holders = [];
        var found = await TestLab.WaitForAsync(async () => (holders = await LabProbe.VipHoldersAsync(lab)).Any(h => h != holder), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50));
        var moved = found is null ? (TimeSpan?)null : sinceCall.Elapsed;
        TestLab.Log(output, $"keepalived killed on {holder}: VIP also on {string.Join(", ", holders.Where(h => h != holder))} after {moved?.TotalSeconds:0.00} s from the kill call's start (the call took {call.TotalSeconds:0.00} s); explain said {window}");
        Assert.NotNull(moved);
        Assert.InRange(moved.Value, window.Min - TimeSpan.FromMilliseconds(300), window.Max + call + TimeSpan.FromSeconds(1));
        Assert.Contains(holders.Single(h => h != holder), p.After.PossibleHolders);
        Assert.Contains(holder, holders); // the stale copy explain warned about
        Assert.Equal(p.After.LoadBalancerAnswers, await lab.VipAnswersAsync());
        // Back as it was: keepalived started again (as a backup it drops the stale copy; if not, remove it as an operator would).
        await shared.Lab.Runtime.UpAsync(shared.Images, null, new LabRuntime.UpOptions(RemoveOnFailure: false), CancellationToken.None);
        if ((await LabProbe.VipHoldersAsync(lab)).Count > 1)
            await shared.ShAsync(holder, $"ip addr del {lab.Topology.Vip}/32 dev {lab.Topology.Keepalived.Interface} || true");
        await shared.RestoreAsync(output);
    }
}

/// <summary>explain's predictions on a recommended-profile load-balancer lab (no apiservers): its own lab.</summary>
public class ExplainOnRecommendedLoadBalancerLabTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Recommended_profile_without_apiservers_the_vip_answers_where_explained()
    {
        await using var lab = await TestLab.CreateAsync("exrec", t => t with { Profile = RenderProfile.Recommended });
        await lab.UpAsync(output);
        var now = Explainer.Explain(lab.Topology, [], new ExplainOptions(ApiServersRunning: false)).Now;
        foreach (var line in Explainer.Explain(lab.Topology, [], new ExplainOptions(ApiServersRunning: false)).NowStory) TestLab.Log(output, line);
        // Every node's check fails alike (no apiserver): the VIP must still sit where it started, and answer.
        Assert.NotNull(await TestLab.WaitForAsync(async () => (await LabProbe.VipHoldersAsync(lab)).SequenceEqual([now.Holder!]), TimeSpan.FromSeconds(15)));
        await Task.Delay(TimeSpan.FromSeconds(6)); // past fall x interval: the failing checks have lowered every priority
        Assert.Equal([now.Holder!], await LabProbe.VipHoldersAsync(lab));
        Assert.Equal(now.LoadBalancerAnswers, await lab.VipAnswersAsync());
        Assert.False(now.ApiThroughLoadBalancer);
        Assert.False(await LabProbe.ApiAnswersAsync(lab.Topology.Vip, lab.Topology.LoadBalancer.Port));
    }
}

/// <summary>The runbook's settings on a real cluster: a dead apiserver and a dead haproxy on the VIP holder.</summary>
[Collection("k8s-seed")]
public class ExplainOnSeedKubernetesTests(SeedKubernetesLab k8s, ITestOutputHelper output)
{
    private TestLab Lab => k8s.Lab;

    [Fact]
    public async Task Apiserver_dead_on_the_holder_the_cluster_endpoint_fails_while_haproxy_still_serves_the_api()
    {
        // explain reasons from a freshly made lab (the runbook's MASTER holds the VIP); other tests on this lab move it.
        await k8s.MakeHolderAsync(VrrpElection.Initial(k8s.Topology).Holder!, output);
        var holder = Assert.Single(await LabProbe.VipHoldersAsync(Lab));
        var p = LabProbe.Predict(Lab, output, new Fault(FaultKind.ApiServerKill, holder), apiServers: true);
        Assert.Equal(holder, p.After.Holder);
        Assert.True(p.After.ApiThroughLoadBalancer);
        Assert.False(p.After.ApiThroughEndpoint); // controlPlaneEndpoint VIP:6443 is the holder's own apiserver

        await LabProbe.StopApiServerAsync(Lab, holder);
        try
        {
            await Task.Delay(LabProbe.SettleTime(p, Lab.Topology));
            var vip = Lab.Topology.Vip;
            Assert.Equal([p.After.Holder!], await LabProbe.VipHoldersAsync(Lab));
            Assert.Equal(p.After.ApiThroughLoadBalancer, await LabProbe.ApiAnswersAsync(vip, Lab.Topology.LoadBalancer.Port));
            Assert.Equal(p.After.ApiThroughEndpoint, await LabProbe.ApiAnswersAsync(vip, Lab.Topology.Kubernetes.ApiServerPort));
            TestLab.Log(output, $"apiserver stopped on {holder}: VIP:{Lab.Topology.LoadBalancer.Port} API answers, cluster endpoint VIP:{Lab.Topology.Kubernetes.ApiServerPort} does not, as explained");
        }
        finally
        {
            await LabProbe.StartApiServerAsync(Lab, holder);
        }
    }

    [Fact]
    public async Task Haproxy_dead_on_the_holder_the_vip_stays_and_the_load_balancer_refuses()
    {
        await k8s.MakeHolderAsync(VrrpElection.Initial(k8s.Topology).Holder!, output);
        var holder = Assert.Single(await LabProbe.VipHoldersAsync(Lab));
        var p = LabProbe.Predict(Lab, output, new Fault(FaultKind.HaproxyKill, holder), apiServers: true);
        Assert.Equal(holder, p.After.Holder);
        Assert.False(p.After.LoadBalancerAnswers);
        Assert.True(p.After.ApiThroughEndpoint); // the endpoint bypasses haproxy: the holder's apiserver still answers

        await Lab.Runtime.KillAsync(holder, LabRole.Haproxy, CancellationToken.None);
        await Task.Delay(LabProbe.SettleTime(p, Lab.Topology));

        Assert.Equal([p.After.Holder!], await LabProbe.VipHoldersAsync(Lab));
        Assert.Equal(p.After.LoadBalancerAnswers, await Lab.VipAnswersAsync());
        Assert.Equal(p.After.ApiThroughEndpoint, await LabProbe.ApiAnswersAsync(Lab.Topology.Vip, Lab.Topology.Kubernetes.ApiServerPort));
        await k8s.RestoreAsync(output);
    }
}

/// <summary>The recommended profile on a real cluster: the endpoint through haproxy, and a dead haproxy moves the VIP.</summary>
[Collection("k8s-recommended")]
[TestCaseOrderer("HaKubeLab.Tests.Integration.ByNameOrderer", "HaKubeLab.Tests.Integration")]
public class ExplainOnRecommendedKubernetesTests(RecommendedKubernetesLab k8s, ITestOutputHelper output)
{
    private TestLab Lab => k8s.Lab;
    private IPAddress Vip => Lab.Topology.Vip;
    private int LbPort => Lab.Topology.LoadBalancer.Port;

    [Fact]
    public async Task T1_The_vip_is_where_explained_and_the_api_answers_through_haproxy()
    {
        await k8s.RestoreAsync(output);
        var e = Explainer.Explain(Lab.Topology, []);
        foreach (var line in e.NowStory) TestLab.Log(output, line);
        Assert.True(e.Settings.EndpointThroughLoadBalancer);
        Assert.Contains($"server: https://{e.Settings.ControlPlaneEndpoint}", await File.ReadAllTextAsync(k8s.Running.KubeconfigPath!));
        Assert.Equal([e.Now.Holder!], await LabProbe.VipHoldersAsync(Lab));
        Assert.True(await Lab.VipAnswersAsync());
        Assert.Equal(e.Now.ApiThroughEndpoint, await LabProbe.ApiAnswersAsync(Vip, LbPort));
    }

    [Fact]
    public async Task T2_Apiserver_dead_on_the_holder_the_vip_stays_and_the_api_keeps_answering()
    {
        await k8s.RestoreAsync(output);
        var holder = Assert.Single(await LabProbe.VipHoldersAsync(Lab));
        var p = LabProbe.Predict(Lab, output, new Fault(FaultKind.ApiServerKill, holder), apiServers: true);
        Assert.Equal(holder, p.After.Holder);
        Assert.True(p.After.ApiThroughEndpoint);

        await LabProbe.StopApiServerAsync(Lab, holder);
        try
        {
            // Through the whole window in which haproxy still counts the dead apiserver, the API answers (redispatch).
            var clock = Stopwatch.StartNew();
            var failures = 0;
            while (clock.Elapsed < LabProbe.SettleTime(p, Lab.Topology))
            {
                if (!await LabProbe.ApiAnswersAsync(Vip, LbPort)) failures++;
                await Task.Delay(250);
            }
            TestLab.Log(output, $"apiserver stopped on {holder}: {failures} failed /healthz through VIP:{LbPort} in {clock.Elapsed.TotalSeconds:0} s");
            Assert.Equal([p.After.Holder!], await LabProbe.VipHoldersAsync(Lab));
            Assert.True(await LabProbe.ApiAnswersAsync(Vip, LbPort));
            Assert.True(failures <= 2, $"{failures} requests failed while the API was predicted to stay reachable");
        }
        finally
        {
            await LabProbe.StartApiServerAsync(Lab, holder);
        }
    }

    [Fact]
    public async Task T3_Haproxy_dead_on_the_holder_moves_the_vip_in_the_explained_window()
    {
        await k8s.RestoreAsync(output);
        var holder = Assert.Single(await LabProbe.VipHoldersAsync(Lab));
        // After T2 the holder's check must pass again (rise x interval) before its haproxy dies.
        await Task.Delay(VrrpElection.TrackScriptRecovery(Explainer.AsRendered(Lab.Topology)).Max + TimeSpan.FromSeconds(2));
        var p = LabProbe.Predict(Lab, output, new Fault(FaultKind.HaproxyKill, holder), apiServers: true);
        Assert.True(p.VipMoves);
        var window = p.Takeover!.Value;

        var sinceCall = Stopwatch.StartNew(); // the kill takes effect somewhere during the call
        await Lab.Runtime.KillAsync(holder, LabRole.Haproxy, CancellationToken.None);
        var call = sinceCall.Elapsed;
        List<string> holders = [];
        var found = await TestLab.WaitForAsync(async () => !(holders = await LabProbe.VipHoldersAsync(Lab)).Contains(holder) && holders.Count == 1,
            TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(50));
        var moved = found is null ? (TimeSpan?)null : sinceCall.Elapsed;
        TestLab.Log(output, $"haproxy killed on {holder}: VIP on {string.Join(", ", holders)} after {moved?.TotalSeconds:0.00} s from the kill call's start (the call took {call.TotalSeconds:0.00} s); explain said {window}");
        Assert.NotNull(moved);
        Assert.InRange(moved.Value, window.Min - TimeSpan.FromMilliseconds(300), window.Max + call + TimeSpan.FromSeconds(1.5));
        Assert.Contains(holders.Single(), p.After.PossibleHolders);
        Assert.NotNull(await TestLab.WaitForAsync(() => LabProbe.ApiAnswersAsync(Vip, LbPort), TimeSpan.FromSeconds(10)));
        Assert.True(p.After.ApiThroughEndpoint);
        await k8s.RestoreAsync(output);
    }
}
