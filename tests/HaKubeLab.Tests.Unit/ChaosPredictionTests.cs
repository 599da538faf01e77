using System.Collections.Immutable;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Probes;
using HaKubeLab.Chaos.Reports;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Failover;
using HaKubeLab.Topology;

namespace HaKubeLab.Tests.Unit;

/// <summary>Predicted failover from the VRRP rules, and expectations checked against a hand-made run.</summary>
public class ChaosPredictionTests
{
    private static readonly LabTopology Seed = LabTopology.Default;

    [Fact]
    public void Killing_the_holders_node_predicts_the_master_down_interval()
    {
        var conditions = new Dictionary<string, NodeCondition>();
        var p = FailoverPredictor.Predict(Seed, FaultKind.NodeKill, "m01", "m01", conditions);
        Assert.True(p.VipMoves);
        Assert.Equal(["m02", "m03"], p.HoldersAfter.Order());
        Assert.True(p.LoadBalancerAnswers);
        // 3 x 1 s + (256 - 111)/256 s = 3.566 s, up to one advert interval sooner.
        Assert.Equal(3.5664, p.Window!.Value.MaxSeconds, 3);
        Assert.Equal(2.5664, p.Window.Value.MinSeconds, 3);
        Assert.False(p.DownUntilUndone);
        Assert.True(p.FromRunbookSettings);
        Assert.Contains("master-down interval", p.Basis);
        Assert.False(conditions["m01"].NodeUp); // the next fault sees m01 down
    }

    [Fact]
    public void Killing_haproxy_on_the_holder_with_the_runbooks_settings_predicts_no_failover_until_undone()
    {
        var p = FailoverPredictor.Predict(Seed, FaultKind.HaproxyKill, "m01", "m01", []);
        Assert.False(p.VipMoves);
        Assert.False(p.LoadBalancerAnswers);
        Assert.True(p.DownUntilUndone);
        Assert.Null(p.Window);
        Assert.Contains("nopreempt", p.Reason);
        Assert.Contains("until the fault is undone", p.Summary);
    }

    [Fact]
    public void Without_nopreempt_haproxy_kill_predicts_detection_plus_takeover()
    {
        var t = Seed with { Keepalived = Seed.Keepalived with { Nopreempt = false }, Nodes = [Seed.Nodes[0], Seed.Nodes[1], Seed.Nodes[2] with { Priority = 90 }] };
        var p = FailoverPredictor.Predict(t, FaultKind.HaproxyKill, "m01", "m01", []);
        Assert.True(p.VipMoves);
        Assert.Equal("m02", Assert.Single(p.HoldersAfter));
        Assert.False(p.FromRunbookSettings);
        // Track script: 0-2 s (every 2 s, fall 1); then the master-down interval of m02 at 111: 2.57-3.57 s.
        Assert.Equal(2.5664, p.Window!.Value.MinSeconds, 3);
        Assert.Equal(5.5664, p.Window.Value.MaxSeconds, 3);
    }

    [Fact]
    public void The_recommended_profile_is_predicted_with_the_settings_it_renders()
    {
        // Rendered: no nopreempt, weight -2, fall 2: m01 drops to 98 and a backup at 100 preempts.
        var t = Seed with { Profile = RenderProfile.Recommended };
        var p = FailoverPredictor.Predict(t, FaultKind.HaproxyKill, "m01", "m01", [], apiServersRunning: true);
        Assert.True(p.VipMoves);
        Assert.False(p.FromRunbookSettings);
        Assert.Equal(["m02", "m03"], p.HoldersAfter.Order());
        // Detection 2-4 s (every 2 s, fall 2), then the master-down interval at 100: 3 + 156/256 s.
        Assert.Equal(2 + 2.609, p.Window!.Value.MinSeconds, 2);
        Assert.Equal(4 + 3.609, p.Window.Value.MaxSeconds, 2);
    }

    [Fact]
    public void Stopping_keepalived_gracefully_predicts_only_the_skew_time()
    {
        var p = FailoverPredictor.Predict(Seed, FaultKind.KeepalivedStop, "m01", "m01", []);
        Assert.True(p.VipMoves);
        Assert.Equal(0, p.Window!.Value.MinSeconds);
        Assert.Equal((256 - 111) / 256.0, p.Window.Value.MaxSeconds, 3);
    }

    [Fact]
    public void A_fault_on_a_non_holder_predicts_no_failover()
    {
        var p = FailoverPredictor.Predict(Seed, FaultKind.NetworkPartition, "m03", "m01", []);
        Assert.False(p.VipMoves);
        Assert.Equal(0, p.Window!.Value.MaxSeconds);
        Assert.StartsWith("no failover", p.Summary);
    }

    [Fact]
    public void The_second_kill_of_kill_two_of_three_leaves_the_last_node()
    {
        var conditions = new Dictionary<string, NodeCondition>();
        FailoverPredictor.Predict(Seed, FaultKind.NodeKill, "m01", "m01", conditions);
        var second = FailoverPredictor.Predict(Seed, FaultKind.NodeKill, "m02", "m02", conditions);
        Assert.Equal("m03", Assert.Single(second.HoldersAfter));
        Assert.True(second.LoadBalancerAnswers);
        var third = FailoverPredictor.Predict(Seed, FaultKind.NodeKill, "m03", "m03", conditions);
        Assert.Empty(third.HoldersAfter);
        Assert.False(third.VipMoves);         // gone, not moved: nobody is left to take it
        Assert.Null(third.Window);
        Assert.True(third.DownUntilUndone);   // nothing answers on VIP:port until a node is back
        Assert.StartsWith("VIP gone", third.Summary);
    }

    [Fact]
    public void Network_loss_is_not_predicted()
    {
        var p = FailoverPredictor.Predict(Seed, FaultKind.NetworkLoss, "m01", "m01", []);
        Assert.Null(p.Window);
        Assert.Contains("not predicted", p.Basis);
    }

    // --- expectations against a hand-made run ---

    private static RunResult Run(string pattern, FaultResult fault, IReadOnlyList<HolderSample>? holders = null, bool runbook = true)
    {
        var samples = pattern.Select((c, i) => new ProbeSample(i * 0.1, 1, c == '+', c == '+' ? null : "refused")).ToList();
        var outages = SeriesMath.Outages(samples);
        var end = pattern.Length * 0.1;
        holders ??= [new HolderSample(0, ["m01"], "m01"), new HolderSample(end - 0.1, ["m01"], "m01")];
        return new RunResult
        {
            Scenario = "t",
            ScenarioFile = "t.yaml",
            Lab = new LabInfo("lab", "192.168.100.0/24", "192.168.100.190", 9443, 6443, false, "seed", "", runbook, ["m01", "m02", "m03"]),
            RunFolder = "/tmp/x",
            StartedAt = DateTimeOffset.UnixEpoch,
            Seed = 1,
            DurationSeconds = end,
            MeasuredUntil = end,
            Probes = [new ProbeResult("vip_tcp", "192.168.100.190:9443", 100, 250, true, null, samples.Count, samples.Count(s => !s.Ok), SeriesMath.Availability(samples), outages, SeriesMath.OutageSeconds(outages), 1, 1, 100, samples)],
            VipHolder = new VipHolderResult("test", "test", 100, holders[0].Label, holders[^1].Label, VipHolderMonitor.Changes(holders), [], holders),
            Faults = [fault],
            Steps = [new StepResult(1, "wait", 0, 1, null), new StepResult(2, "fault", 1, 1, null), new StepResult(3, "wait", 1, 2.5, null), new StepResult(4, "recover", 2.5, 2.6, null)],
            Cpu = new CpuResult(0, end, 2, ""),
        };
    }

    private static FaultResult Fault(FailoverPrediction p, double faultTime, double? undone, IReadOnlyDictionary<string, FailoverFigure> figures) =>
        new("f", "haproxy-kill", "m01", "vip-holder", "docker kill", 2, faultTime - 0.05, faultTime, undone, null, "m01", p, figures, null, null, p.Window);

    private static Scenario Scenario(string expectations) => ScenarioLoader.Parse("""
        name: t
        steps:
          - wait: 1s
          - { fault: haproxy-kill, target: vip-holder, id: k }
          - wait: 1.5s
          - recover: k
        expectations:

        """ + expectations + "\n");

    [Fact]
    public void A_failed_expectation_says_by_how_much_and_that_the_runbook_is_why_when_predicted()
    {
        // vip_tcp: fine until 1.0 s, refused 1.0-2.5 s (the fault until its undo), then fine: 15 of 30 failed.
        var pattern = new string('+', 10) + new string('-', 15) + new string('+', 5);
        var prediction = FailoverPredictor.Predict(Seed, FaultKind.HaproxyKill, "m01", "m01", []);
        var run = Run(pattern, Fault(prediction, 1.0, 2.5, new Dictionary<string, FailoverFigure> { ["vip_tcp"] = new(1.5, true, true) }));
        var s = Scenario("  - availability.vip_tcp >= 0.95\n  - failover_seconds < 1\n  - vip_holder_after: not initial\n  - outages.vip_tcp <= 1");
        var results = HaKubeLab.Chaos.Analysis.ExpectationChecker.Check(s, run);

        var availability = results[0];
        Assert.Equal(ExpectationStatus.Failed, availability.Status);
        Assert.Equal(0.5, availability.Measured!.Value, 9);
        Assert.Contains("0.45 (45 percentage points) under the threshold", availability.Message);
        Assert.True(availability.PredictedToFail);
        Assert.Contains("the runbook's settings are why", availability.Message);
        Assert.Contains("nopreempt", availability.Message);

        var failover = results[1];
        Assert.Equal(ExpectationStatus.Failed, failover.Status);
        Assert.Contains("0.5 s over the threshold", failover.Message);
        Assert.Contains("only after the fault was undone", failover.Message);
        Assert.True(failover.PredictedToFail);

        Assert.Equal(ExpectationStatus.Failed, results[2].Status);
        Assert.True(results[2].PredictedToFail);
        Assert.Equal(ExpectationStatus.Passed, results[3].Status);
    }

    [Fact]
    public void A_failure_the_prediction_did_not_expect_says_so()
    {
        // A partition of a non-holder should not disturb vip_tcp; here it did.
        var pattern = new string('+', 10) + new string('-', 15) + new string('+', 5);
        var prediction = FailoverPredictor.Predict(Seed, FaultKind.NetworkPartition, "m03", "m01", []);
        var run = Run(pattern, Fault(prediction, 1.0, 2.5, new Dictionary<string, FailoverFigure> { ["vip_tcp"] = new(1.5, true, false) }));
        var r = HaKubeLab.Chaos.Analysis.ExpectationChecker.Check(Scenario("  - availability.vip_tcp >= 0.95"), run).Single();
        Assert.Equal(ExpectationStatus.Failed, r.Status);
        Assert.False(r.PredictedToFail);
        Assert.Contains("Not predicted", r.Message);
    }

    [Fact]
    public void A_slow_failover_threshold_below_the_master_down_window_is_predicted_to_fail()
    {
        // node-kill: at least 2.57 s - 0.05 s (the call) without the load balancer; 'failover_seconds < 2' cannot hold.
        var pattern = new string('+', 10) + new string('-', 28) + new string('+', 12);
        var prediction = FailoverPredictor.Predict(Seed, FaultKind.NodeKill, "m01", "m01", []);
        var run = Run(pattern, Fault(prediction, 1.0, 4.5, new Dictionary<string, FailoverFigure> { ["vip_tcp"] = new(2.8, true, false) }));
        var r = HaKubeLab.Chaos.Analysis.ExpectationChecker.Check(Scenario("  - failover_seconds < 2\n  - failover_seconds < 5"), run);
        Assert.Equal(ExpectationStatus.Failed, r[0].Status);
        Assert.True(r[0].PredictedToFail);
        Assert.Contains("master-down interval", r[0].Message);
        Assert.Equal(ExpectationStatus.Passed, r[1].Status);
        Assert.False(r[1].PredictedToFail);
    }

    [Fact]
    public void Holder_expectations_use_the_host_arp_view_when_a_frozen_holder_still_carries_the_vip()
    {
        var prediction = FailoverPredictor.Predict(Seed, FaultKind.NodePause, "m01", "m01", []);
        HolderSample[] holders =
        [
            new(0, ["m01"], "m01"),
            new(2.0, ImmutableArray.Create("m01", "m02"), "m02"), // m01 frozen with the VIP, traffic goes to m02
        ];
        var run = Run(new string('+', 30), Fault(prediction, 1.0, 2.5, new Dictionary<string, FailoverFigure> { ["vip_tcp"] = new(0.1, false, false) }), holders);
        var r = HaKubeLab.Chaos.Analysis.ExpectationChecker.Check(Scenario("  - vip_holder_after: not initial\n  - vip_changes == 1"), run);
        Assert.Equal(ExpectationStatus.Passed, r[0].Status);
        Assert.Contains("host ARP: m02", r[0].Message);
        Assert.Equal(ExpectationStatus.Passed, r[1].Status);
    }

    [Fact]
    public void Expectations_on_probes_that_do_not_apply_are_skipped()
    {
        var prediction = FailoverPredictor.Predict(Seed, FaultKind.NodeKill, "m01", "m01", []);
        var run = Run(new string('+', 30), Fault(prediction, 1.0, 2.5, new Dictionary<string, FailoverFigure>()));
        run = run with { Probes = [.. run.Probes, new ProbeResult("api_write", "", 0, 0, false, "no Kubernetes", 0, 0, null, [], 0, null, null, null, [])] };
        var r = HaKubeLab.Chaos.Analysis.ExpectationChecker.Check(Scenario("  - availability.api_write >= 0.9"), run).Single();
        Assert.Equal(ExpectationStatus.Skipped, r.Status);
        Assert.Contains("no Kubernetes", r.Message);
        Assert.True(run.Passed);
    }
}
