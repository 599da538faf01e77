using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HaKubeLab.Runtime;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>One load-balancer lab (three nodes, haproxy, keepalived, the VIP; no Kubernetes) for the chaos runs.</summary>
public sealed class ChaosLoadBalancerLab : IAsyncLifetime
{
    public TestLab Lab { get; private set; } = null!;
    public string TopologyFile { get; private set; } = null!;
    /// <summary>Run folders go under the repository's artifacts, so CI keeps them with the test results.</summary>
    public string OutDir { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Lab = await TestLab.CreateAsync("chaos");
        await Lab.UpAsync(new NullOutput());
        var dir = Path.Combine(RepositoryLayout.Root(), "artifacts", "chaos-test-runs", Lab.Topology.Name);
        TopologyFile = ChaosCli.WriteTopology(Lab.Topology, dir);
        OutDir = Path.Combine(dir, "runs");
    }

    public async Task DisposeAsync() => await Lab.DisposeAsync();

    /// <summary>The lab as a scenario must leave it: every container running, one VIP holder, VIP:port answering.</summary>
    public async Task AssertHealthyAsync()
    {
        var status = await Lab.Runtime.StatusAsync(CancellationToken.None);
        Assert.All(status.Nodes, n =>
        {
            Assert.Equal("running", n.State);
            Assert.All(n.Sidecars, s => Assert.Equal("running", s.State));
        });
        Assert.NotNull(status.VipHolder);
        Assert.True(await Lab.VipAnswersAsync());
    }

    private sealed class NullOutput : ITestOutputHelper
    {
        public void WriteLine(string message) => Console.WriteLine(message);
        public void WriteLine(string format, params object[] args) => Console.WriteLine(format, args);
    }
}

/// <summary>
/// Real chaos runs through the CLI against a real lab: the node-kill scenario fails over as the VRRP rules
/// predict; the haproxy-kill scenario's expectations fail as predicted and the report says the runbook is
/// why; a delay fault is refused on a kernel without netem; Ctrl-C undoes the fault.
/// </summary>
[TestCaseOrderer("HaKubeLab.Tests.Integration.ByNameOrderer", "HaKubeLab.Tests.Integration")]
public class ChaosTests(ChaosLoadBalancerLab fixture, ITestOutputHelper output) : IClassFixture<ChaosLoadBalancerLab>
{
    private string[] Args(string scenario) => ["chaos", "run", scenario, "--topology", fixture.TopologyFile, "--out", fixture.OutDir];

    private static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);

    [Fact]
    public async Task T2_Node_kill_of_the_vip_holder_fails_over_within_the_prediction_and_the_lab_is_restored()
    {
        var before = await fixture.Lab.Runtime.VipHolderAsync(CancellationToken.None);
        var run = await ChaosCli.RunAsync(output, Args("node-kill-vip-holder"));
        Assert.NotNull(run.RunFolder);
        var r = run.Result;
        var fault = r.GetProperty("faults")[0];
        var failover = fault.GetProperty("failover").GetProperty("vip_tcp");
        var seconds = failover.Number("seconds");
        var predicted = fault.GetProperty("predictedFailover");
        TestLab.Log(output, $"node-kill of {before}: vip_tcp failover {F(seconds)} s (predicted {F(predicted.Number("min"))}-{F(predicted.Number("max"))} s; docker kill took {F(fault.Number("callSeconds"))} s), " +
                            $"VIP moved to {fault.GetProperty("vipMovedTo").GetString()}, availability {F(r.GetProperty("probes")[0].Number("availability"))}, runner CPU {F(r.GetProperty("cpu").Number("processCpuSeconds"))} s");

        Assert.True(run.ExitCode == 0, "the node-kill scenario should pass:\n" + run.Output);
        Assert.Equal("node-kill", fault.GetProperty("kind").GetString());
        Assert.Equal(before, fault.GetProperty("node").GetString());
        Assert.True(failover.GetProperty("interrupted").GetBoolean());
        Assert.InRange(seconds, 0.5, 10); // generous: predicted about 2.3-3.6 s
        TestLab.Log(output, $"measured beside predicted: {fault.GetProperty("verdict").GetString()}");
        Assert.NotEqual(before, fault.GetProperty("vipMovedTo").GetString());
        Assert.Equal(3.57, fault.GetProperty("prediction").GetProperty("window").Number("max"), 2);
        Assert.NotEmpty(r.GetProperty("probes")[0].GetProperty("samples").EnumerateArray());
        Assert.True(r.GetProperty("restore").GetProperty("ok").GetBoolean());

        var junit = run.JUnit;
        Assert.Equal(6, junit.Descendants("testcase").Count()); // 4 expectations + steps + restore
        Assert.Equal("0", (string)junit.Descendants("testsuite").Single().Attribute("failures")!);
        Assert.Contains("failover measured beside predicted", run.Summary);
        Assert.Contains("<svg", run.Svg);
        Assert.Contains("node-kill", run.Svg);
        await fixture.AssertHealthyAsync();
    }

    [Fact]
    public async Task T1_Haproxy_kill_fails_its_availability_expectation_as_predicted_and_says_the_runbook_is_why()
    {
        // On a fresh lab the runbook's MASTER m01 holds the VIP: the case the runbook's settings do not cover.
        // (On m02 or m03 the run shows m01 preempting instead: keepalived clears nopreempt on a MASTER.)
        var before = await fixture.Lab.Runtime.VipHolderAsync(CancellationToken.None);
        Assert.Equal(HaKubeLab.Topology.VrrpElection.Initial(fixture.Lab.Topology).Holder, before);
        var run = await ChaosCli.RunAsync(output, Args("haproxy-kill-vip-holder"));
        var r = run.Result;
        var vip = r.GetProperty("probes")[0];
        TestLab.Log(output, $"haproxy-kill on {before}: vip_tcp availability {F(vip.Number("availability"))}, longest outage {F(vip.GetProperty("outages")[0].Number("length"))} s, VIP holder {r.GetProperty("vipHolder").GetProperty("initial")} -> {r.GetProperty("vipHolder").GetProperty("final")}");

        Assert.Equal(1, run.ExitCode); // an expectation failed
        var availability = run.JUnit.TestCase("availability.vip_tcp >= 0.95");
        var failure = availability.Element("failure");
        Assert.NotNull(failure);
        Assert.Equal("PredictedFailure", (string)failure.Attribute("type")!);
        Assert.Contains("the runbook's settings are why", (string)failure.Attribute("message")!);
        Assert.Contains("nopreempt", (string)failure.Attribute("message")!);
        Assert.Contains("The runbook is why.", run.Summary);
        Assert.Contains("FAIL  availability.vip_tcp >= 0.95", run.Output);
        Assert.InRange(vip.Number("availability"), 0.2, 0.8); // about half the run: 15 s of 30 s refused

        // Exactly what the election math says: the VIP stays on the holder whose haproxy is dead.
        Assert.Equal(before, r.GetProperty("vipHolder").GetProperty("final").GetString());
        Assert.Empty(r.GetProperty("vipHolder").GetProperty("changes").EnumerateArray());
        Assert.True(r.GetProperty("faults")[0].GetProperty("prediction").GetProperty("downUntilUndone").GetBoolean());
        Assert.StartsWith("as predicted", r.GetProperty("faults")[0].GetProperty("verdict").GetString());
        Assert.True(r.GetProperty("restore").GetProperty("ok").GetBoolean());
        await fixture.AssertHealthyAsync();
    }

    [Fact]
    public async Task T3_A_delay_fault_on_a_kernel_without_netem_is_refused_before_anything_is_injected()
    {
        var node = LabNames.Container(fixture.Lab.Topology.Name, "m01", LabRole.Node);
        var netem = await DockerExec.RunAsync(fixture.Lab.Docker, node, ["sh", "-c", "unshare -n sh -c 'ip link set lo up && tc qdisc add dev lo root netem delay 1ms'"], CancellationToken.None);
        var run = await ChaosCli.RunAsync(output, Args("delay-vip-holder"));
        if (netem.Succeeded)
        {
            TestLab.Log(output, "this kernel has netem: the delay scenario ran for real");
            Assert.NotNull(run.RunFolder);
            return;
        }
        Assert.Equal(4, run.ExitCode);
        Assert.Contains("netem", run.Output);
        Assert.Contains("Nothing was injected", run.Output);
        Assert.Null(run.RunFolder);
        foreach (var n in fixture.Lab.Topology.Nodes)
        {
            var qdisc = await DockerExec.RunAsync(fixture.Lab.Docker, LabNames.Container(fixture.Lab.Topology.Name, n.Name, LabRole.Node), ["tc", "qdisc", "show", "dev", "eth0"], CancellationToken.None);
            Assert.DoesNotContain("netem", qdisc.Stdout);
        }
        await fixture.AssertHealthyAsync();
    }

    [Fact]
    public async Task T4_Ctrl_C_during_a_fault_undoes_it_and_restores_the_lab()
    {
        var sent = false;
        var run = await ChaosCli.RunAsync(output, Args("haproxy-kill-vip-holder"), (process, line) =>
        {
            if (sent || !line.Contains("fault time", StringComparison.Ordinal)) return;
            sent = true;
            // The CLI script execs the binary, so this PID is the runner itself.
            using var kill = Process.Start("kill", ["-INT", process.Id.ToString(CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
        });
        Assert.True(sent, run.Output);
        Assert.Equal(130, run.ExitCode);
        Assert.Contains("Interrupted", run.Output);
        var r = run.Result;
        Assert.True(r.GetProperty("interrupted").GetBoolean());
        Assert.True(r.GetProperty("restore").GetProperty("ok").GetBoolean());
        Assert.Equal("interrupted", r.GetProperty("steps").EnumerateArray().Last().GetProperty("error").GetString());
        await fixture.AssertHealthyAsync();
    }
}
