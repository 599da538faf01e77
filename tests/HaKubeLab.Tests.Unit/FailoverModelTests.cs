using System.Collections.Immutable;
using System.Text.Json;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Reports;
using HaKubeLab.Explain;
using HaKubeLab.Failover;
using HaKubeLab.Rendering;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Tests.Unit;

/// <summary>
/// The one failover model: every fault kind in both profiles, explain and the chaos predictor giving the
/// same answer, earlier faults carried over, and the one fault vocabulary.
/// </summary>
public class FailoverModelTests
{
    private static readonly LabTopology Seed = LabTopology.Default;
    private static readonly LabTopology Recommended = LabTopology.Default with { Profile = RenderProfile.Recommended };

    private static LabTopology Profile(string profile) => profile == "seed" ? Seed : Recommended;

    public static TheoryData<string, FaultKind, string, string> KindsProfilesNodes()
    {
        var data = new TheoryData<string, FaultKind, string, string>();
        foreach (var profile in new[] { "seed", "recommended" })
            foreach (var kind in Enum.GetValues<FaultKind>().Where(k => k != FaultKind.EtcdNodeKill)) // an external etcd member is no master: TopologySurvivalTests
                foreach (var node in new[] { "m01", "m02" }) // the VIP holder and a backup
                    foreach (var earlier in new[] { "none", "m03-down", "m02-haproxy-down" }) // faults carried over from earlier in a run
                        data.Add(profile, kind, node, earlier);
        return data;
    }

    private static Dictionary<string, NodeCondition> Earlier(string earlier) => earlier switch
    {
        "m03-down" => new() { ["m03"] = new NodeCondition(NodeUp: false) },
        "m02-haproxy-down" => new() { ["m02"] = new NodeCondition(HaproxyUp: false) },
        _ => [],
    };

    [Theory]
    [MemberData(nameof(KindsProfilesNodes))]
    public void Explain_and_chaos_give_the_same_answer(string profile, FaultKind kind, string node, string earlier)
    {
        var t = Profile(profile);
        var state = new LabState { Conditions = Earlier(earlier).ToImmutableDictionary() };
        var e = Explainer.Explain(t, [new Fault(kind, node)], new ExplainOptions { State = state });
        var x = Assert.Single(e.Predictions);
        var c = FailoverPredictor.Predict(t, kind, node, e.Now.Holder, Earlier(earlier), apiServersRunning: true);

        Assert.Equal("m01", e.Now.Holder);
        Assert.Equal(x.HolderBefore, c.HolderBefore);
        Assert.Equal(x.After.PossibleHolders.ToArray(), c.HoldersAfter.ToArray());
        Assert.Equal(x.VipMoves, c.VipMoves);
        Assert.Equal(x.After.LoadBalancerAnswers, c.LoadBalancerAnswers);
        Assert.Equal(x.Failover, c.Window);
        Assert.Equal(x.DownUntilUndone, c.DownUntilUndone);
        Assert.Equal(x.Outcome!.Reason, c.Reason);
        if (x.VipMoves) Assert.Equal(x.Takeover, c.Window);
        // explain has a sentence for every kind, and prints the fault in the one vocabulary.
        Assert.True(x.Story.Count >= 2, string.Join(" | ", x.Story));
        Assert.Equal($"{FaultKinds.Info(kind).DisplayName}:{node}", x.Fault);
    }

    /// <summary>What each fault on the VIP holder m01 does, worked out by hand from the rendered settings.</summary>
    /// <remarks>
    /// Seed: priorities 100 + weight 11, m01 state MASTER (keepalived clears its nopreempt), m02/m03 nopreempt, endpoint VIP:6443 (m01's own apiserver).
    /// Recommended: weight -2, fall 2, no nopreempt, endpoint VIP:9443 through haproxy.
    /// Failover: "takeover" = the window the model gives for the move; "zero" = vip_tcp should not notice; "none" = not a VRRP figure.
    /// </remarks>
    [Theory]
    // profile, fault, moves, holders after, LB answers, cluster endpoint answers, stale VIP on, down until undone, failover
    [InlineData("seed", "node-kill", true, "m02 m03", true, true, null, false, "takeover")]
    [InlineData("seed", "node-stop", true, "m02 m03", true, true, null, false, "takeover")]
    [InlineData("seed", "node-pause", true, "m02 m03", true, true, "m01", false, "takeover")]
    [InlineData("seed", "node-restart", true, "m02 m03", true, true, null, false, "takeover")]
    [InlineData("seed", "haproxy-kill", false, "m01", false, true, null, true, "none")]
    [InlineData("seed", "haproxy-stop", false, "m01", false, true, null, true, "none")]
    [InlineData("seed", "haproxy-crash", false, "m01", false, true, null, false, "none")]
    [InlineData("seed", "keepalived-kill", true, "m02 m03", true, true, "m01", false, "takeover")]
    [InlineData("seed", "keepalived-stop", true, "m02 m03", true, true, null, false, "takeover")]
    [InlineData("seed", "keepalived-crash", false, "m01", true, true, null, false, "none")]
    [InlineData("seed", "kube-apiserver-kill", false, "m01", true, false, null, false, "zero")]
    [InlineData("seed", "etcd-kill", false, "m01", true, false, null, false, "zero")]
    [InlineData("seed", "kubelet-kill", false, "m01", true, true, null, false, "zero")]
    [InlineData("seed", "network-partition", true, "m02 m03", true, true, null, false, "takeover")]
    [InlineData("seed", "network-loss", false, "m01", true, true, null, false, "none")]
    [InlineData("seed", "network-rate", false, "m01", true, true, null, false, "none")]
    [InlineData("seed", "network-delay", false, "m01", true, true, null, false, "none")]
    [InlineData("recommended", "node-kill", true, "m02 m03", true, true, null, false, "takeover")]
    [InlineData("recommended", "node-stop", true, "m02 m03", true, true, null, false, "takeover")]
    [InlineData("recommended", "node-pause", true, "m02 m03", true, true, "m01", false, "takeover")]
    [InlineData("recommended", "node-restart", true, "m02 m03", true, true, null, false, "takeover")]
    [InlineData("recommended", "haproxy-kill", true, "m02 m03", true, true, null, false, "takeover")]
    [InlineData("recommended", "haproxy-stop", true, "m02 m03", true, true, null, false, "takeover")]
    [InlineData("recommended", "haproxy-crash", false, "m01", false, false, null, false, "none")] // the endpoint is haproxy's port: down with it
    [InlineData("recommended", "keepalived-kill", true, "m02 m03", true, true, "m01", false, "takeover")]
    [InlineData("recommended", "keepalived-stop", true, "m02 m03", true, true, null, false, "takeover")]
    [InlineData("recommended", "keepalived-crash", false, "m01", true, true, null, false, "none")]
    [InlineData("recommended", "kube-apiserver-kill", false, "m01", true, true, null, false, "zero")]
    [InlineData("recommended", "etcd-kill", false, "m01", true, true, null, false, "zero")]
    [InlineData("recommended", "kubelet-kill", false, "m01", true, true, null, false, "zero")]
    [InlineData("recommended", "network-partition", true, "m02 m03", true, true, null, false, "takeover")]
    [InlineData("recommended", "network-loss", false, "m01", true, true, null, false, "none")]
    [InlineData("recommended", "network-rate", false, "m01", true, true, null, false, "none")]
    [InlineData("recommended", "network-delay", false, "m01", true, true, null, false, "none")]
    public void Every_fault_on_the_holder_in_both_profiles(string profile, string fault, bool moves, string holders, bool lb, bool endpoint, string? stale, bool downUntilUndone, string failover)
    {
        var kind = FaultKinds.Parse(fault)!.Value;
        var o = FailoverModel.Predict(Profile(profile), kind);
        Assert.Equal("m01", o.HolderBefore);
        Assert.Equal("m01", o.Node);
        Assert.Equal(moves, o.VipMoves);
        Assert.Equal(holders.Split(' '), o.After.PossibleHolders.ToArray());
        Assert.Equal(lb, o.After.LoadBalancerAnswers);
        Assert.Equal(endpoint, o.After.ApiThroughEndpoint);
        Assert.Equal(stale, o.StaleVipOn);
        Assert.Equal(downUntilUndone, o.DownUntilUndone);
        Assert.Equal(kind is not (FaultKind.NetworkLoss or FaultKind.NetworkRate or FaultKind.NetworkDelay), o.Predictable);
        switch (failover)
        {
            case "takeover": Assert.Equal(o.Takeover, o.Failover); Assert.NotNull(o.Failover); break;
            case "zero": Assert.Equal(TimeWindow.Zero, o.Failover); break;
            default: Assert.Null(o.Failover); break;
        }
        Assert.False(string.IsNullOrWhiteSpace(o.Reason));
        Assert.False(string.IsNullOrWhiteSpace(o.Basis));
    }

    [Fact]
    public void Takeover_windows_follow_the_rendered_timers()
    {
        static void Window(double min, double max, TimeWindow? w)
        {
            Assert.NotNull(w);
            Assert.Equal(min, w.Value.MinSeconds, 3);
            Assert.Equal(max, w.Value.MaxSeconds, 3);
        }
        // Seed: master-down interval of a backup at 111: 3 x 1 + 145/256 s, up to one advert sooner.
        Window(2 + 145 / 256.0, 3 + 145 / 256.0, FailoverModel.Predict(Seed, FaultKind.NodeKill).Failover);
        Window(2 + 145 / 256.0, 3 + 145 / 256.0, FailoverModel.Predict(Seed, FaultKind.NetworkPartition).Failover);
        // A stopping keepalived sends priority 0: only the skew time.
        Window(0, 145 / 256.0, FailoverModel.Predict(Seed, FaultKind.KeepalivedStop).Failover);
        // Recommended: haproxy's death is seen by the track script first (2-4 s), then the backups at 100 preempt (README: 4.61-7.61 s).
        Window(4 + 156 / 256.0, 7 + 156 / 256.0, FailoverModel.Predict(Recommended, FaultKind.HaproxyKill).Failover);
        Window(2 + 156 / 256.0, 3 + 156 / 256.0, FailoverModel.Predict(Recommended, FaultKind.NodeKill).Failover);
        // haproxy marks a killed apiserver down after inter 2 s x fall 3; a vanished node's only after its checks time out.
        Window(4, 6, FailoverModel.Predict(Seed, FaultKind.ApiServerKill).HaproxyMarksDown);
        Window(4, 12, FailoverModel.Predict(Seed, FaultKind.NodeKill).HaproxyMarksDown);
    }

    [Fact]
    public void The_apiserver_kill_is_reasoned_per_profile_not_with_the_seeds_words()
    {
        var seed = FailoverModel.Predict(Seed, FaultKind.ApiServerKill);
        var recommended = FailoverModel.Predict(Recommended, FaultKind.ApiServerKill);
        Assert.Contains("only checks that something listens on port 9443", seed.Reason);
        Assert.DoesNotContain("runbook", recommended.Reason);
        Assert.Contains("through its own haproxy", recommended.Reason);
        Assert.True(seed.After.ApiThroughLoadBalancer);   // haproxy sends the API to m02/m03
        Assert.False(seed.After.ApiThroughEndpoint);      // VIP:6443 is m01's dead apiserver
        Assert.True(recommended.After.ApiThroughEndpoint);
        Assert.Equal(FaultRecovery.RestartsByItself, seed.Recovery);
        Assert.Empty(seed.StateAfter.Conditions);         // the kubelet restarts it: nothing carried over
    }

    [Fact]
    public void An_etcd_kill_in_the_seed_profile_leaves_a_dead_apiserver_in_haproxys_rotation()
    {
        var seed = FailoverModel.Predict(Seed, FaultKind.EtcdKill);
        Assert.True(seed.HaproxyKeepsDeadApiServer);       // a TCP check still connects
        Assert.Null(seed.HaproxyMarksDown);
        Assert.False(seed.After.ApiThroughLoadBalancer);
        var recommended = FailoverModel.Predict(Recommended, FaultKind.EtcdKill);
        Assert.False(recommended.HaproxyKeepsDeadApiServer); // /healthz fails without etcd
        Assert.NotNull(recommended.HaproxyMarksDown);
        Assert.True(recommended.After.ApiThroughLoadBalancer);
    }

    [Fact]
    public void Haproxy_killed_on_a_backup_holder_is_covered_because_the_master_state_node_preempts()
    {
        // README (chaos, measured): haproxy killed on m02 holding the VIP: m01 (state MASTER, nopreempt cleared) preempts after 4.6 s.
        var o = FailoverModel.Predict(Seed, FaultKind.HaproxyKill, "m02", new LabState { Holder = "m02" });
        Assert.True(o.VipMoves);
        Assert.Equal(["m01"], o.After.PossibleHolders.ToArray());
        Assert.True(o.After.LoadBalancerAnswers);
        Assert.False(o.DownUntilUndone);
        Assert.True(o.Failover!.Value.Contains(4.6));
    }

    [Fact]
    public void Earlier_faults_carry_over_until_no_node_is_left()
    {
        var state = LabState.Healthy;
        var first = FailoverModel.Predict(Seed, FaultKind.NodeKill, "m01", state);
        Assert.False(first.StateAfter.Of("m01").NodeUp);
        var second = FailoverModel.Predict(Seed, FaultKind.NodeKill, "m02", first.StateAfter with { Holder = "m02" });
        Assert.Equal(["m03"], second.After.PossibleHolders.ToArray());
        var third = FailoverModel.Predict(Seed, FaultKind.NodeKill, "m03", second.StateAfter);
        Assert.Equal("m03", third.HolderBefore);
        Assert.True(third.VipGone);
        Assert.False(third.VipMoves);
        Assert.False(third.After.LoadBalancerAnswers);
        Assert.True(third.DownUntilUndone);
        Assert.Null(third.Failover);

        // explain, given the same carried-over state, says the same.
        var x = Explainer.Predict(Seed, new Fault(FaultKind.NodeKill), new ExplainOptions { State = second.StateAfter });
        Assert.Equal("node:m03", x.Fault);
        Assert.Empty(x.After.PossibleHolders);
        Assert.False(x.VipMoves);
        Assert.True(x.DownUntilUndone);
        Assert.Contains(x.Story, s => s.Contains("no node is left", StringComparison.Ordinal));

        // A killed keepalived on the last node leaves the VIP where it is: nobody takes it, haproxy still answers.
        var lastKeepalived = FailoverModel.Predict(Seed, FaultKind.KeepalivedKill, "m03", second.StateAfter);
        Assert.Equal(["m03"], lastKeepalived.After.PossibleHolders.ToArray());
        Assert.False(lastKeepalived.VipMoves);
        Assert.Null(lastKeepalived.StaleVipOn);
        Assert.True(lastKeepalived.After.LoadBalancerAnswers);
    }

    [Fact]
    public void A_vip_that_moves_to_a_node_whose_haproxy_is_already_down_leaves_the_load_balancer_down()
    {
        // Earlier in the run: haproxy stopped on m02 (priority 100) and m03 killed; now m01's node dies.
        var conditions = new Dictionary<string, NodeCondition> { ["m02"] = new(HaproxyUp: false), ["m03"] = new(NodeUp: false) };
        var p = FailoverPredictor.Predict(Seed, FaultKind.NodeKill, "m01", "m01", conditions);
        Assert.True(p.VipMoves);
        Assert.Equal(["m02"], p.HoldersAfter.ToArray());
        Assert.False(p.LoadBalancerAnswers);
        Assert.True(p.DownUntilUndone);
        Assert.Null(p.Window);
        Assert.StartsWith("VIP to m02, whose haproxy is down", p.Summary);
    }

    [Fact]
    public void A_running_labs_snapshot_becomes_the_state_predictions_start_from()
    {
        static PartState Part(LabRole role, ContainerState state) => new(role, $"c-{role}", state);
        static NodeSnapshot Node(string name, int ip, ContainerState node = ContainerState.Running, ContainerState haproxy = ContainerState.Running, bool holds = false) =>
            new(name, System.Net.IPAddress.Parse($"192.168.100.{ip}"), Part(LabRole.Node, node), Part(LabRole.Haproxy, haproxy), Part(LabRole.Keepalived, ContainerState.Running), holds);
        // m01 was killed earlier; m02 holds the VIP and its haproxy has exited.
        var snapshot = new LabSnapshot(DateTimeOffset.UnixEpoch, "lab",
            [Node("m01", 11, node: ContainerState.Exited), Node("m02", 12, haproxy: ContainerState.Exited, holds: true), Node("m03", 13)],
            new VipHolderReading(DateTimeOffset.UnixEpoch, ["m02"], "m02"));
        var state = LabState.From(snapshot, apiServersRunning: false);
        Assert.Equal("m02", state.Holder);
        Assert.False(state.Of("m01").NodeUp);
        Assert.False(state.Of("m02").HaproxyUp);
        Assert.True(state.Of("m03").NodeUp);
        Assert.False(state.Of("m03").ApiServerUp);

        // explain --lab starts from it: the holder measured, not the one 'up' would elect.
        var e = Explainer.Explain(Seed, [new Fault(FaultKind.KeepalivedKill)], new ExplainOptions(ApiServersRunning: false) { State = state });
        Assert.Equal("m02", e.Now.Holder);
        Assert.False(e.Now.LoadBalancerAnswers);
        var p = Assert.Single(e.Predictions);
        Assert.Equal("keepalived:m02", p.Fault);
        Assert.Equal(["m03"], p.After.PossibleHolders.ToArray());
        Assert.Equal("m02", p.StaleVipOn);
        Assert.True(p.After.LoadBalancerAnswers); // m03's haproxy runs
    }

    [Fact]
    public void Transient_faults_are_not_carried_over()
    {
        foreach (var kind in new[] { FaultKind.NodeRestart, FaultKind.HaproxyCrash, FaultKind.KeepalivedCrash, FaultKind.ApiServerKill, FaultKind.EtcdKill, FaultKind.KubeletKill })
        {
            var conditions = new Dictionary<string, NodeCondition>();
            FailoverPredictor.Predict(Seed, kind, "m01", "m01", conditions);
            Assert.Empty(conditions);
            Assert.NotEqual(FaultRecovery.UntilUndone, FailoverModel.Recovery(kind));
        }
        var kept = new Dictionary<string, NodeCondition>();
        FailoverPredictor.Predict(Seed, FaultKind.HaproxyStop, "m02", "m01", kept);
        Assert.False(kept["m02"].HaproxyUp);
    }

    [Fact]
    public void Without_apiservers_the_recommended_checks_fail_alike_and_nothing_moves()
    {
        var state = new LabState { ApiServersRunning = false };
        var now = FailoverModel.Now(Recommended, state);
        Assert.Equal("m01", now.Holder);
        Assert.Equal(98, now.Priorities["m02"]);
        var o = FailoverModel.Predict(Recommended, FaultKind.HaproxyKill, null, state);
        Assert.Equal(["m01"], o.After.PossibleHolders.ToArray());
        Assert.False(o.After.LoadBalancerAnswers);
        Assert.True(o.DownUntilUndone);
    }

    [Fact]
    public void The_one_vocabulary_names_every_kind_once_and_keeps_the_scenario_names()
    {
        var kinds = Enum.GetValues<FaultKind>();
        Assert.Equal(20, kinds.Length);
        Assert.Equal(kinds.Order(), FaultKinds.All.Select(f => f.Kind).Order());
        Assert.Equal(FaultKinds.All.Length, FaultKinds.All.Select(f => f.Name).Distinct().Count());
        foreach (var f in FaultKinds.All)
        {
            Assert.Equal(f.Kind, FaultKinds.Parse(f.Name));
            Assert.Equal(f.Kind, FaultKinds.ParseAny(f.Name.ToUpperInvariant()));
        }
        Assert.Equal(["node-kill", "haproxy-kill", "keepalived-kill", "kube-apiserver-kill"],
            new[] { "node", "haproxy", "keepalived", "apiserver" }.Select(w => FaultKinds.Name(FaultKinds.ParseAny(w)!.Value)));
        Assert.Null(FaultKinds.Parse("node"));           // scenario files use the full names only
        Assert.Null(FaultKinds.ParseAny("etcd"));
        Assert.True(FaultKinds.Info(FaultKind.EtcdKill).NeedsKubernetes);
        Assert.False(FaultKinds.Info(FaultKind.NetworkPartition).NeedsKubernetes);
    }

    [Fact]
    public void Time_windows_are_written_as_seconds_in_run_results_and_read_back()
    {
        var w = TimeWindow.FromSeconds(2.56640625, 3.56640625);
        var json = JsonSerializer.Serialize(new { Window = (TimeWindow?)w, None = (TimeWindow?)null }, RunResult.Json);
        Assert.Equal("""{"window":{"min":2.5664,"max":3.5664}}""", json);
        var back = JsonSerializer.Deserialize<TimeWindow>("""{"min":2.5664,"max":3.5664}""");
        Assert.Equal(2.5664, back.MinSeconds, 6);
        Assert.Equal("2.57-3.57 s", w.ToString());
        Assert.Equal("0 s", TimeWindow.Zero.ToString());
        Assert.True(w.Contains(2.4, slack: 0.2));
        Assert.False(w.Contains(3.7));
        // The failover time counted from the injector's reported fault time widens the low end by the call's length.
        var p = FailoverPredictor.Predict(Seed, FaultKind.NodeKill, "m01", "m01", []);
        var fromFaultTime = FailoverPredictor.FromFaultTime(p, injectStarted: 10.0, faultTime: 10.25)!.Value;
        Assert.Equal(2.5664 - 0.25, fromFaultTime.MinSeconds, 3);
        Assert.Equal(3.5664, fromFaultTime.MaxSeconds, 3);
        Assert.Null(FailoverPredictor.FromFaultTime(FailoverPredictor.Predict(Seed, FaultKind.NetworkLoss, "m01", "m01", []), 0, 0.1));
    }
}
