using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Failover;
using HaKubeLab.Runtime;

namespace HaKubeLab.Tests.Unit;

/// <summary>Scenario files: the shipped ones parse; bad input is refused with the line and a fix.</summary>
public class ChaosScenarioLoaderTests
{
    private static readonly string[] Nodes = ["m01", "m02", "m03"];

    private static ScenarioError Single(string yaml)
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(yaml, "bad.yaml", Nodes));
        return Assert.Single(e.Errors);
    }

    [Fact]
    public void A_full_scenario_parses()
    {
        var s = ScenarioLoader.Parse("""
            name: kill-it
            description: kills the holder
            duration: 1m30s
            seed: 7
            probes: { interval: 20ms, api_write: { interval: 200ms, timeout: 3s }, off: [readyz_nodes] }
            steps:
              - wait: 3s
              - { fault: node-kill, target: vip-holder, id: k }
              - { fault: network-loss, target: m02, probability: 30%, for: 5s }
              - wait_until: vip_tcp
              - recover: k
            expectations:
              - failover_seconds < 5
              - availability.vip_tcp >= 95%
              - max_outage_seconds.readyz.m01 <= 500ms
              - vip_holder_after: not m01
              - vip_holder_end: initial
            """, "s.yaml", Nodes);
        Assert.Equal("kill-it", s.Name);
        Assert.Equal(TimeSpan.FromSeconds(90), s.Duration);
        Assert.Equal(7, s.Seed);
        Assert.Equal(TimeSpan.FromMilliseconds(20), s.Probes.IntervalOf("vip_tcp"));
        Assert.Equal(TimeSpan.FromMilliseconds(200), s.Probes.IntervalOf("api_write"));
        Assert.Equal(TimeSpan.FromSeconds(3), s.Probes.TimeoutOf("api_write"));
        Assert.True(s.Probes.IsOff("readyz.m02"));
        Assert.Equal(5, s.Steps.Length);
        var kill = Assert.IsType<FaultStep>(s.Steps[1]);
        Assert.Equal((FaultKind.NodeKill, TargetRole.VipHolder, "k", 8), (kill.Kind, kill.Target.Role, kill.Id, kill.Line));
        var loss = Assert.IsType<FaultStep>(s.Steps[2]);
        Assert.Equal(0.3, loss.Parameters.Probability!.Value, 9);
        Assert.Equal("m02", loss.Target.Node);
        Assert.Equal(TimeSpan.FromSeconds(5), loss.For);
        Assert.Equal("fault2", loss.Id);
        var avail = Assert.IsType<MetricExpectation>(s.Expectations[1]);
        Assert.Equal((Metric.Availability, "vip_tcp", Comparison.GreaterOrEqual), (avail.Metric, avail.Probe, avail.Op));
        Assert.Equal(0.95, avail.Threshold, 9);
        var outage = Assert.IsType<MetricExpectation>(s.Expectations[2]);
        Assert.Equal(("readyz.m01", 0.5), (outage.Probe, outage.Threshold));
        var holder = Assert.IsType<HolderExpectation>(s.Expectations[3]);
        Assert.Equal((HolderMoment.AfterFaults, true, "m01", 16), (holder.Moment, holder.Negated, holder.Node, holder.Line));
        Assert.False(s.RequiresKubernetes);
    }

    [Fact]
    public void Every_shipped_scenario_parses_against_the_runbooks_nodes()
    {
        var dir = Path.Combine(RepositoryLayout.Root(), "chaos", "scenarios");
        var files = Directory.GetFiles(dir, "*.yaml");
        Assert.True(files.Length >= 8, $"only {files.Length} scenarios in {dir}");
        foreach (var f in files)
        {
            var s = ScenarioLoader.LoadFile(f, Nodes);
            Assert.Equal(Path.GetFileNameWithoutExtension(f), s.Name);
            Assert.NotEmpty(s.Description);
        }
        foreach (var required in new[] { "node-kill-vip-holder", "haproxy-kill-vip-holder", "keepalived-stop-vip-holder", "pause-vip-holder", "partition-non-holder", "kill-two-of-three", "rolling-restart" })
            Assert.Contains(files, f => Path.GetFileNameWithoutExtension(f) == required);
    }

    [Fact]
    public void An_unknown_fault_names_its_line_and_the_known_faults()
    {
        var e = Single("""
            name: x
            steps:
              - wait: 1s
              - { fault: node-explode, target: m01 }
            """);
        Assert.Equal(4, e.Line);
        Assert.Equal("steps[2].fault", e.Field);
        Assert.Contains("unknown fault 'node-explode'", e.Problem);
        Assert.Contains("node-kill", e.Fix);
        Assert.StartsWith("bad.yaml:4: ", e.ToString());
    }

    [Fact]
    public void An_unknown_target_names_its_line_the_nodes_and_the_roles()
    {
        var e = Single("""
            name: x
            steps:
              - fault: node-kill
                target: m09
            """);
        Assert.Equal(4, e.Line);
        Assert.Equal("steps[1].target", e.Field);
        Assert.Contains("unknown target 'm09'", e.Problem);
        Assert.Contains("m01, m02, m03", e.Fix);
        Assert.Contains("vip-holder", e.Fix);
    }

    [Fact]
    public void An_address_is_not_a_target()
    {
        var e = Single("""
            name: x
            steps:
              - { fault: node-kill, target: 192.168.100.191 }
            """);
        Assert.Contains("unknown target '192.168.100.191'", e.Problem);
        Assert.Contains("never an address", e.Fix);
    }

    [Theory]
    [InlineData("failover_seconds << 5", "is malformed")]
    [InlineData("availability.vip_tcp >= lots", "not a fraction")]
    [InlineData("availability >= 0.9", "needs a probe")]
    [InlineData("availability.vip_tpc >= 0.9", "unknown probe 'vip_tpc'")]
    [InlineData("avail.vip_tcp >= 0.9", "unknown metric 'avail'")]
    [InlineData("availability.vip_tcp >= 1.5", "outside 0-1")]
    [InlineData("outages.vip_tcp < 1.5", "not a whole number")]
    [InlineData("failover_seconds.readyz.m01 < 5", "not a probe through the VIP")]
    [InlineData("availability.readyz.m07 > 0.5", "unknown probe 'readyz.m07'")]
    public void A_malformed_expectation_names_its_line(string expectation, string problem)
    {
        var e = Single($"""
            name: x
            steps:
              - wait: 1s
            expectations:
              - failover_seconds < 5
              - {expectation}
            """);
        Assert.Equal(6, e.Line);
        Assert.Equal("expectations[2]", e.Field);
        Assert.Contains(problem, e.Problem);
        Assert.Contains("<metric>", e.Fix);
    }

    [Theory]
    [InlineData("vip_holder_after: maybe m01", "malformed")]
    [InlineData("vip_holder_after: not m07", "unknown node 'm07'")]
    [InlineData("vip_holder_later: m01", "unknown expectation 'vip_holder_later'")]
    public void A_malformed_holder_expectation_names_its_line(string expectation, string problem)
    {
        var e = Single($"""
            name: x
            steps:
              - wait: 1s
            expectations:
              - {expectation}
            """);
        Assert.Equal(5, e.Line);
        Assert.Contains(problem, e.Problem);
    }

    [Fact]
    public void Every_error_is_reported_at_once()
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse("""
            name: Bad Name
            duration: soon
            colour: red
            steps:
              - { fault: network-loss, target: m01 }
              - { fault: network-rate, target: m02, rate: fast }
              - recover: nothing
            """, "bad.yaml", Nodes));
        var lines = e.Errors.Select(x => (x.Line, x.Field)).ToList();
        Assert.Contains((1, "name"), lines);
        Assert.Contains((2, "duration"), lines);
        Assert.Contains((3, "colour"), lines);
        Assert.Contains((5, "steps[1].probability"), lines);
        Assert.Contains((6, "steps[2].rate"), lines);
        Assert.Contains((7, "steps[3].recover"), lines);
        Assert.Contains("bad.yaml:7:", e.Message);
    }

    [Fact]
    public void Kubernetes_faults_and_roles_make_a_scenario_need_kubernetes()
    {
        var s = ScenarioLoader.Parse("""
            name: x
            steps:
              - { fault: node-kill, target: etcd-leader }
            """);
        Assert.True(s.RequiresKubernetes);
        Assert.True(ScenarioLoader.Parse("name: y\nsteps:\n  - { fault: kube-apiserver-kill, target: m01 }\n").RequiresKubernetes);
    }

    [Fact]
    public void Self_healing_faults_refuse_for_and_parameters_must_fit_the_fault()
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse("""
            name: x
            steps:
              - { fault: haproxy-crash, target: m01, for: 5s }
              - { fault: node-kill, target: m02, probability: 0.5 }
            """));
        Assert.Contains(e.Errors, x => x.Field == "steps[1].for" && x.Line == 3);
        Assert.Contains(e.Errors, x => x.Field == "steps[2].probability" && x.Problem.Contains("does not apply to node-kill"));
    }

    [Fact]
    public void Invalid_yaml_names_its_line()
    {
        var e = Single("name: x\nsteps:\n  - { fault: node-kill, target: m01\n");
        Assert.Equal("(file)", e.Field);
        Assert.Contains("not valid YAML", e.Problem);
        Assert.NotNull(e.Line);
    }

    [Theory]
    [InlineData("50ms", 0.05)]
    [InlineData("10s", 10)]
    [InlineData("1m30s", 90)]
    [InlineData("2.5", 2.5)]
    [InlineData("1h", 3600)]
    public void Durations_parse(string text, double seconds)
    {
        Assert.True(Durations.TryParse(text, out var d));
        Assert.Equal(seconds, d.TotalSeconds, 9);
    }

    [Theory]
    [InlineData("")]
    [InlineData("10 s")]
    [InlineData("s")]
    [InlineData("-1")]
    [InlineData("5x")]
    public void Bad_durations_do_not_parse(string text) => Assert.False(Durations.TryParse(text, out _));
}
