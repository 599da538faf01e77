using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Probes;
using HaKubeLab.Chaos.Reports;
using HaKubeLab.Chaos.Wire;
using HaKubeLab.Topology;

namespace HaKubeLab.Tests.Unit;

/// <summary>The profile comparison's analysis: spreads over repeats, the side-by-side report, the wire placeholder.</summary>
public class ProfileComparisonTests
{
    [Fact]
    public void Spread_gives_min_median_max_and_counts_repeats_without_a_figure()
    {
        var s = Spread.From([0.4, null, 0.2, 0.3, 0.9]);
        Assert.Equal((4, 5, 0.2, 0.35, 0.9), (s.N, s.Of, s.Min!.Value, s.Median!.Value, s.Max!.Value));
        Assert.Equal("0.20 / 0.35 / 0.90 s (4 of 5)", s.Text);
        Assert.Equal("0.30 s (1)", Spread.From([0.3]).Text);
        Assert.Equal("none (2 runs)", Spread.From([null, null]).Text);
    }

    private static RunResult Run(string profile, double vipMoved, double readyz, double write, string folder, int dualLooks = 0)
    {
        var prediction = new FailoverPrediction("m01", ["m02", "m03"], true, true, profile == "fast" ? TimeWindow.FromSeconds(0.26, 0.36) : TimeWindow.FromSeconds(2.57, 3.57), false, profile == "seed", "m01 is down", "mdi");
        var figures = new Dictionary<string, FailoverFigure>
        {
            ["vip_tcp"] = new(vipMoved + 0.1, true, false, 2.0, vipMoved),
            ["readyz_vip"] = new(readyz, true, false, 2.0, readyz - 0.05),
            ["api_write"] = new(write, true, false, 2.0, write - 0.05),
        };
        var fault = new FaultResult("kill", "node-kill", "m01", "vip-holder", "docker kill", 1, 1.9, 2.0, 10, null, "m01", prediction, figures, vipMoved, "m02", prediction.Window);
        HolderSample[] holders = [new(0, ["m01"], "m01"), .. Enumerable.Range(0, dualLooks).Select(i => new HolderSample(1 + i * 0.05, ["m01", "m02"], "m01")), new(12, ["m01"], "m01")];
        return new RunResult
        {
            Scenario = "compare-node-kill",
            ScenarioFile = "node-kill.yaml",
            Lab = new LabInfo("lab", "192.168.185.0/24", "192.168.185.190", 9443, 6443, true, profile, "", profile == "seed", ["m01", "m02", "m03"]),
            RunFolder = folder,
            StartedAt = DateTimeOffset.UnixEpoch,
            Seed = 1,
            DurationSeconds = 12,
            MeasuredUntil = 12,
            Probes = [],
            VipHolder = new VipHolderResult("test", "test", 50, "m01", "m02", VipHolderMonitor.Changes(holders), [], holders),
            Faults = [fault],
            Steps = [],
            Cpu = new CpuResult(0, 12, 2, ""),
        };
    }

    [Fact]
    public void The_report_puts_the_profiles_side_by_side_with_predictions_and_a_wire_placeholder()
    {
        List<ComparisonRun> runs =
        [
            new("seed", "compare-node-kill", 1, Run("seed", 3.2, 3.4, 3.9, "/r/s1"), "m01"),
            new("seed", "compare-node-kill", 2, Run("seed", 3.0, 3.3, 3.5, "/r/s2"), "m02"),
            new("fast", "compare-node-kill", 1, Run("fast", 0.35, 0.6, 0.9, "/r/f1"), "m01"),
            new("fast", "compare-node-kill", 2, Run("fast", 0.31, 0.5, 0.7, "/r/f2"), "m01"),
            new("fast", "compare-node-kill", 3, Run("fast", 0.40, 0.7, 0.8, "/r/f3"), "m03"),
        ];
        var steady = new List<ComparisonRun> { new("fast", "compare-steady-state", 1, Run("fast", 0, 0, 0, "/r/steady") with { Faults = [] }) };
        var c = ProfileComparison.Build(runs, steady, new Dictionary<string, string> { ["fast"] = "VRRPv3" });

        var fast = c.Cells.Single(x => x.Profile == "fast");
        Assert.Equal(3, fast.Runs);
        Assert.Equal((0.31, 0.35, 0.40), (fast.VipTakeover.Min!.Value, fast.VipTakeover.Median!.Value, fast.VipTakeover.Max!.Value));
        Assert.Equal(0.6, fast.Failover["readyz_vip"].Median!.Value, 6);
        Assert.Equal("0.26-0.36 s", fast.Predicted);
        Assert.Equal((2, 3), (fast.EtcdLeaderWasHolder, fast.EtcdLeaderKnown));
        Assert.Null(fast.WireArp); // no capture in these runs

        var md = ProfileComparison.Markdown(c);
        Assert.Contains("| seed | 2 | 2.57-3.57 s | 3.00 / 3.10 / 3.20 s (2) |", md);
        Assert.Contains("| fast | 3 | 0.26-0.36 s | 0.31 / 0.35 / 0.40 s (3) | 0.50 / 0.60 / 0.70 s (3) | 0.70 / 0.80 / 0.90 s (3) |", md);
        Assert.Contains($"| wire: first gratuitous ARP | {WireFigures.NoCapture} | {WireFigures.NoCapture} |", md);
        Assert.Contains("n/a (no capture)", md);
        Assert.Contains("| fast | 12 | 0 | 0 of 2 | 0 |", md);
        var words = ProfileComparison.Sentences(c);
        Assert.Contains(words, w => w.StartsWith("Killing the VIP holder's node (3 times per profile)", StringComparison.Ordinal) && w.Contains("with **fast** the VIP moved after 0.35 s typically (0.31 to 0.40 s)"));
        Assert.Contains(words, w => w.Contains("**fast** never moved the VIP"));
    }

    [Fact]
    public void With_a_capture_the_report_sets_the_runner_beside_the_wire_for_the_probes_own_syns()
    {
        // The runner's vip_tcp figure is vipMoved + 0.1 s from the fault (2.0 s); the wire's first SYN-ACK to vip_tcp's own SYNs
        // came 1.2 ms (first run) and 6.5 ms (second run) earlier, the first SYN-ACK to any SYN 50 ms before that.
        static RunResult WithWire(RunResult r, double ownSynAckAfter)
        {
            var wire = new WireFailover("kill", "m01", 2.0, "m01", 1.9, ["m02"], "m02", 2.3, 2.3, "m02", 2.3, 2.0 + ownSynAckAfter - 0.05, ownSynAckAfter - 0.05, true, 3)
            { ProbeFirstSynAck = 2.0 + ownSynAckAfter };
            return r with { Wire = WireResult.Missing("-") with { Available = true, Reason = null, Faults = [wire] } };
        }
        List<ComparisonRun> runs =
        [
            new("fast", "compare-node-kill", 1, WithWire(Run("fast", 0.30, 0.5, 0.6, "/r/f1"), 0.4 - 0.0012)),
            new("fast", "compare-node-kill", 2, WithWire(Run("fast", 0.32, 0.5, 0.6, "/r/f2"), 0.42 - 0.0065)),
        ];
        var cell = Assert.Single(ProfileComparison.Build(runs, []).Cells);
        Assert.Equal([1.2, 6.5], cell.RunnerMinusWireMs!.Select(d => Math.Round(d, 1)));
        Assert.Equal(0.3988, cell.WireProbeSynAck!.Min!.Value, 4);
        Assert.Equal(0.3488, cell.WireSynAck!.Min!.Value, 4); // any probe's SYN: earlier
        var md = ProfileComparison.Markdown(ProfileComparison.Build(runs, []));
        Assert.Contains("| wire: first SYN-ACK to TCP to VIP:port's own SYNs | 0.40 / 0.41 / 0.41 s (2) |", md);
        Assert.Contains("| runner - wire, TCP to VIP:port (largest difference) | +6.5 ms (1 of 2 within 5 ms) |", md);
        Assert.Equal("—", ProfileComparison.RunnerVsWire([]));
    }

    [Fact]
    public void The_comparison_fault_set_loads_with_the_same_fine_probes_everywhere()
    {
        var dir = Path.Combine(HaKubeLab.Chaos.Scenarios.ScenarioCatalog.Directory(), "profile-comparison");
        var files = Directory.GetFiles(dir, "*.yaml").Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["apiserver-kill", "haproxy-kill", "keepalived-stop", "node-kill", "node-pause", "steady-state"], files.Select(Path.GetFileNameWithoutExtension));
        foreach (var f in files)
        {
            var s = HaKubeLab.Chaos.Scenarios.ScenarioLoader.LoadFile(f, ["m01", "m02", "m03"]);
            Assert.True(s.RequiresKubernetes, f);
            Assert.Equal(TimeSpan.FromMilliseconds(150), s.Probes.TimeoutOf("vip_tcp"));
            Assert.Equal(TimeSpan.FromMilliseconds(300), s.Probes.TimeoutOf("readyz_vip"));
            Assert.Equal(TimeSpan.FromMilliseconds(400), s.Probes.TimeoutOf("api_write"));
        }
    }
}
