using HaKubeLab.Explain;
using HaKubeLab.Failover;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Tests.Unit;

/// <summary>explain's predictions for the runbook's settings and for the recommended profile.</summary>
public class ExplainTests
{
    private static readonly LabTopology Seed = LabTopology.Default;
    private static readonly LabTopology Recommended = LabTopology.Default with { Profile = RenderProfile.Recommended };

    private static FaultPrediction Predict(LabTopology t, string fault, ExplainOptions? options = null) =>
        Assert.Single(Explainer.Explain(t, [Fault.Parse(fault)], options).Predictions);

    private static void Window(double min, double max, TimeWindow? w)
    {
        Assert.NotNull(w);
        Assert.Equal(min, w.Value.Min.TotalSeconds, 3);
        Assert.Equal(max, w.Value.Max.TotalSeconds, 3);
    }

    [Fact]
    public void Runbook_settings_now_m01_holds_the_vip_and_the_endpoint_bypasses_haproxy()
    {
        var e = Explainer.Explain(Seed);
        Assert.Equal("m01", e.Now.Holder);
        Assert.Equal(111, e.Now.Priorities["m02"]);
        Assert.True(e.Now.LoadBalancerAnswers);
        Assert.True(e.Now.ApiThroughEndpoint);
        Assert.False(e.Settings.EndpointThroughLoadBalancer);
        Assert.Equal("192.168.100.190:6443", e.Settings.ControlPlaneEndpoint);
        Assert.Contains(e.NowStory, s => s.Contains("keepalived clears it on m01", StringComparison.Ordinal));
        Assert.Equal(["node:m01", "haproxy:m01", "keepalived:m01", "apiserver:m01"], e.Predictions.Select(p => p.Fault));
    }

    [Fact]
    public void Runbook_settings_haproxy_kill_leaves_the_vip_on_a_holder_that_refuses()
    {
        var p = Predict(Seed, "haproxy");
        Assert.Equal("m01", p.After.Holder);
        Assert.False(p.VipMoves);
        Assert.False(p.After.LoadBalancerAnswers);
        Assert.False(p.After.ApiThroughLoadBalancer);
        Assert.True(p.After.ApiThroughEndpoint); // VIP:6443 is m01's own apiserver, which still runs
        Assert.Equal(100, p.After.Priorities["m01"]);
        Window(0, 2, p.Detection);               // interval 2 s x fall 1
        Assert.Null(p.Takeover);
        Assert.Contains(p.Story, s => s.Contains("nopreempt", StringComparison.Ordinal));
    }

    [Fact]
    public void Runbook_settings_node_kill_moves_the_vip_within_the_master_down_interval()
    {
        var p = Predict(Seed, "node:m01");
        Assert.True(p.VipMoves);
        Assert.Equal(["m02", "m03"], p.After.PossibleHolders.ToArray());
        Assert.Null(p.After.Holder); // a tie at 111
        Window(2 + 145 / 256.0, 3 + 145 / 256.0, p.Takeover);
        Assert.True(p.After.LoadBalancerAnswers);
        Assert.True(p.After.ApiThroughEndpoint);
        Assert.Null(p.Detection);
    }

    [Fact]
    public void Runbook_settings_keepalived_kill_moves_the_vip_and_leaves_a_stale_copy()
    {
        var p = Predict(Seed, "keepalived");
        Assert.True(p.VipMoves);
        Assert.Equal("m01", p.StaleVipOn);
        Assert.Equal(["m02", "m03"], p.After.PossibleHolders.ToArray());
        Assert.True(p.After.LoadBalancerAnswers);
        Window(2 + 145 / 256.0, 3 + 145 / 256.0, p.Takeover);
    }

    [Fact]
    public void Runbook_settings_apiserver_kill_keeps_the_vip_and_breaks_the_cluster_endpoint()
    {
        var p = Predict(Seed, "apiserver");
        Assert.Equal("m01", p.After.Holder);
        Assert.True(p.After.LoadBalancerAnswers);
        Assert.True(p.After.ApiThroughLoadBalancer);   // haproxy on 9443 sends the API to m02/m03
        Assert.False(p.After.ApiThroughEndpoint);      // VIP:6443 is m01's dead apiserver
        Assert.Null(p.Detection);                      // the runbook's script only checks that 9443 listens
        Window(4, 6, p.HaproxyMarksDown);              // inter 2 s x fall 3
    }

    [Fact]
    public void A_fault_on_a_backup_changes_nothing_for_the_vip()
    {
        var p = Predict(Seed, "haproxy:m02");
        Assert.Equal("m01", p.After.Holder);
        Assert.False(p.VipMoves);
        Assert.True(p.After.LoadBalancerAnswers);
        Assert.Equal(100, p.After.Priorities["m02"]);
    }

    [Fact]
    public void Recommended_profile_renders_a_weight_that_wins_and_no_nopreempt()
    {
        var k = KeepalivedConfigRenderer.Settings(Recommended);
        Assert.Equal(-2, k.Weight);
        Assert.False(k.Nopreempt);
        Assert.Equal(2, k.Fall);
        var spread = Recommended with { Nodes = [Seed.Nodes[0] with { Priority = 150 }, Seed.Nodes[1], Seed.Nodes[2]] };
        Assert.Equal(-51, KeepalivedConfigRenderer.Settings(spread).Weight);
        Assert.Equal(Seed.Keepalived, KeepalivedConfigRenderer.Settings(Seed)); // the seed renders its settings as they are
    }

    [Fact]
    public void Recommended_profile_haproxy_kill_moves_the_vip_and_the_api_stays_reachable()
    {
        var p = Predict(Recommended, "haproxy");
        Assert.True(p.VipMoves);
        Assert.Equal(["m02", "m03"], p.After.PossibleHolders.ToArray());
        Assert.Equal(98, p.After.Priorities["m01"]);
        Assert.True(p.After.LoadBalancerAnswers);
        Assert.True(p.After.ApiThroughEndpoint);
        Window(2, 4, p.Detection);                                            // interval 2 s x fall 2
        Window(2 + 2 + 156 / 256.0, 4 + 3 + 156 / 256.0, p.Takeover);        // + master-down interval at priority 100
    }

    [Fact]
    public void Recommended_profile_apiserver_kill_keeps_the_vip_and_the_api()
    {
        var e = Explainer.Explain(Recommended, [Fault.Parse("apiserver")]);
        var p = Assert.Single(e.Predictions);
        Assert.True(e.Settings.EndpointThroughLoadBalancer);
        Assert.Equal("192.168.100.190:9443", e.Settings.ControlPlaneEndpoint);
        Assert.Equal("m01", p.After.Holder);
        Assert.True(p.After.ApiThroughEndpoint);
        Assert.Null(p.Detection); // each node's check asks through its own haproxy, which uses the other apiservers
    }

    [Fact]
    public void Recommended_profile_without_apiservers_keeps_the_vip_where_it_started()
    {
        var e = Explainer.Explain(Recommended, [Fault.Parse("haproxy")], new ExplainOptions(ApiServersRunning: false));
        Assert.Equal("m01", e.Now.Holder);
        Assert.Equal(98, e.Now.Priorities["m02"]); // every check fails alike
        Assert.True(e.Now.LoadBalancerAnswers);
        Assert.False(e.Now.ApiThroughLoadBalancer);
        var p = e.Predictions[0];
        Assert.Equal("m01", p.After.Holder);      // its check was failing already: nothing changes
        Assert.False(p.After.LoadBalancerAnswers);
    }

    [Fact]
    public void Faults_parse_and_unknown_ones_are_refused()
    {
        Assert.Equal(new Fault(FaultKind.ApiServerKill, "m02"), Fault.Parse("apiserver:m02"));
        Assert.Equal(new Fault(FaultKind.HaproxyKill), Fault.Parse("HAPROXY"));
        Assert.Equal(new Fault(FaultKind.NodeKill), Fault.Parse("node"));
        Assert.Equal("keepalived:m03", Fault.Parse("keepalived:m03").ToString());
        // The full names of the one vocabulary work too, and print as given when there is no short word.
        Assert.Equal(new Fault(FaultKind.HaproxyKill, "m01"), Fault.Parse("haproxy-kill:m01"));
        Assert.Equal(new Fault(FaultKind.ApiServerKill), Fault.Parse("kube-apiserver-kill"));
        Assert.Equal("network-partition:m03", Fault.Parse("network-partition:m03").ToString());
        Assert.Throws<FormatException>(() => Fault.Parse("etcd"));
        Assert.Throws<ArgumentException>(() => Explainer.Explain(Seed, [Fault.Parse("node:m09")]));
    }

    [Fact]
    public void Track_script_result_overrides_the_runbooks_check_and_timings_follow_interval_and_fall()
    {
        var t = Seed with { Keepalived = Seed.Keepalived with { Fall = 3, Rise = 2, CheckInterval = 2 } };
        Assert.Equal(100, VrrpElection.EffectivePriority(t, t.Nodes[0], new NodeCondition { TrackScriptResult = false }));
        Assert.Equal(111, VrrpElection.EffectivePriority(t, t.Nodes[0], new NodeCondition(ApiServerUp: false)));
        Assert.Equal(new TimeWindow(TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(6)), VrrpElection.TrackScriptDetection(t));
        Assert.Equal(new TimeWindow(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4)), VrrpElection.TrackScriptRecovery(t));
        var w = VrrpElection.TakeoverWindow(t, 111);
        Assert.Equal(VrrpElection.MasterDownInterval(t, 111), w.Max);
        Assert.Equal(w.Max - TimeSpan.FromSeconds(1), w.Min);
        var down = t.Nodes.ToDictionary(n => n.Name, _ => new NodeCondition(HaproxyUp: false));
        Assert.Equal("m01", VrrpElection.Initial(t, down).Holder);
    }
}
