using System.Diagnostics;
using System.Globalization;
using HaKubeLab.Chaos.Reports;
using HaKubeLab.Chaos;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>
/// Real chaos runs against the shared load-balancer lab, in-process against the runner's typed result: the node-kill
/// scenario fails over as the VRRP rules predict; the haproxy-kill scenario's expectations fail as predicted and the
/// report says the runbook is why. Through the CLI (exit codes, Ctrl-C): a delay fault is refused on a kernel without
/// netem; Ctrl-C undoes the fault.
/// </summary>
[Collection("lb-seed")]
public class ChaosTests(SeedLoadBalancerLab shared, ITestOutputHelper output)
{
    private string[] Args(string scenario) => ["chaos", "run", scenario, "--lab", shared.Name, "--out", shared.RunsDir];

    private static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);

    [Fact]
    public async Task Node_kill_of_the_vip_holder_fails_over_within_the_prediction_and_the_lab_is_restored()
    {
        await shared.RestoreAsync(output);
        var before = (await shared.Running.VipHolderAsync()).Holder;
        var r = await shared.ChaosAsync("node-kill-vip-holder", output);
        var fault = Assert.Single(r.Faults);
        var failover = fault.Failover["vip_tcp"];
        TestLab.Log(output, $"node-kill of {before}: vip_tcp failover {F(failover.Seconds ?? -1)} s (predicted {fault.PredictedFailover}; docker kill took {F(fault.CallSeconds)} s), " +
                            $"VIP moved to {fault.VipMovedTo}, availability {F(r.Probes[0].Availability ?? -1)}, runner CPU {F(r.Cpu.ProcessCpuSeconds)} s ({r.Cpu.PercentOfOneCore:0.0} % of one core)");

        Assert.True(r.Passed, string.Join("; ", r.Expectations.Where(e => e.Status == ExpectationStatus.Failed).Select(e => $"{e.Text}: {e.Message}")) + r.Error);
        Assert.Equal("node-kill", fault.Kind);
        Assert.Equal(before, fault.Node);
        Assert.True(failover.Interrupted);
        // The fault time is the engine's own stamp of the node's death, inside the kill call's window.
        Assert.StartsWith("Docker engine event 'die'", fault.FaultTimeSource);
        Assert.InRange(fault.FaultTime, fault.InjectStarted - 0.05, fault.CallEnded!.Value + 0.05);
        Assert.InRange(failover.Seconds!.Value, 0.5, 10); // generous: predicted about 2.3-3.6 s
        TestLab.Log(output, $"measured beside predicted: {fault.Verdict}");
        Assert.NotEqual(before, fault.VipMovedTo);
        Assert.Equal(3.57, fault.Prediction.Window!.Value.MaxSeconds, 2);
        Assert.NotEmpty(r.Probes[0].Samples);
        Assert.True(r.Restore!.Ok, r.Restore.Detail);

        // The same kill on the wire (capture on the lab's bridge): one new master, and the takeover figure close to the runner's.
        var wire = r.Wire!;
        Assert.True(wire.Available, $"no capture: {wire.Reason}");
        var w = Assert.Single(wire.Faults);
        TestLab.Log(output, $"wire: {wire.Packets} packets on {wire.Interface} ({wire.Dropped} dropped); old master {w.OldMaster} last advert {F(w.LastAdvertBefore ?? -1)} s before the fault; " +
                            $"new master {w.NewMaster} (contenders {string.Join(", ", w.Contenders)}) first advert +{F(w.NewMasterAfter ?? -1)} s, first GARP +{F(w.GarpAfter ?? -1)} s; " +
                            $"wire failover {F(w.Seconds ?? -1)} s (vip_tcp's own SYNs {F(w.ProbeSeconds ?? -1)} s) beside the runner's {F(failover.Seconds!.Value)} s ({(failover.Seconds - w.ProbeSeconds) * 1000:0.0} ms apart); " +
                            $"dual-master moments: {wire.DualMasters.Count}; false outages: {wire.FalseOutages.Count}; runner CPU {r.Cpu.PercentOfOneCore:0.0} % of one core");
        Assert.Equal(before, w.OldMaster);
        Assert.Equal(fault.VipMovedTo, Assert.Single(w.NewMasters));
        Assert.InRange(w.NewMasterAfter!.Value, 0.5, 10);
        Assert.InRange(w.GarpAfter!.Value, 0.5, 10);
        Assert.True(w.Interrupted);
        Assert.InRange(w.Seconds!.Value, 0.5, 10);
        // Like for like: the wire's figure over vip_tcp's own SYNs (the only probe through the VIP in this lab, so both agree).
        Assert.NotNull(w.ProbeSeconds);
        Assert.InRange(failover.Seconds!.Value - w.ProbeSeconds!.Value, -0.05, 0.05); // generous; the report shows both
        Assert.Contains("## On the wire", await File.ReadAllTextAsync(Path.Combine(r.RunFolder, "summary.md")));

        var junit = System.Xml.Linq.XDocument.Load(Path.Combine(r.RunFolder, "junit.xml"));
        Assert.Equal(6, junit.Descendants("testcase").Count()); // 4 expectations + steps + restore
        Assert.Equal("0", (string)junit.Descendants("testsuite").Single().Attribute("failures")!);
        Assert.Contains("failover measured beside predicted", await File.ReadAllTextAsync(Path.Combine(r.RunFolder, "summary.md")));
        Assert.Contains("node-kill", await File.ReadAllTextAsync(Path.Combine(r.RunFolder, "timeline.svg")));
        Assert.True((await shared.Running.SnapshotAsync()).Healthy);
    }

    [Fact]
    public async Task Haproxy_kill_fails_its_availability_expectation_as_predicted_and_says_the_runbook_is_why()
    {
        // As on a fresh lab: the runbook's MASTER m01 holds the VIP, the case the runbook's settings do not cover.
        // (On m02 or m03 the run shows m01 preempting instead: keepalived clears nopreempt on a MASTER.)
        var initial = VrrpElection.Initial(shared.Topology).Holder!;
        await shared.MakeHolderAsync(initial, output);
        var r = await shared.ChaosAsync("haproxy-kill-vip-holder", output);
        var vip = r.Probes[0];
        TestLab.Log(output, $"haproxy-kill on {initial}: vip_tcp availability {F(vip.Availability ?? -1)}, longest outage {F(vip.Outages.Max(o => o.Length))} s, VIP holder {r.VipHolder.Initial} -> {r.VipHolder.Final}");

        Assert.False(r.Passed); // an expectation failed ...
        var availability = r.Expectations.Single(e => e.Text.StartsWith("availability.vip_tcp >= 0.95", StringComparison.Ordinal));
        Assert.Equal(ExpectationStatus.Failed, availability.Status);
        Assert.True(availability.PredictedToFail); // ... as predicted
        Assert.Contains("the runbook's settings are why", availability.Message);
        Assert.Contains("nopreempt", availability.Message);
        Assert.Contains("The runbook is why.", await File.ReadAllTextAsync(Path.Combine(r.RunFolder, "summary.md")));
        Assert.InRange(vip.Availability!.Value, 0.2, 0.8); // about half the run: 15 s of 30 s refused

        // Exactly what the election math says: the VIP stays on the holder whose haproxy is dead.
        Assert.Equal(initial, r.VipHolder.Final);
        Assert.Empty(r.VipHolder.Changes);
        Assert.True(r.Faults[0].Prediction.DownUntilUndone);
        var kill = r.Faults[0];
        // On failure, say what the verdict stood on: the fault time's source and the probe's attempts around it.
        var around = string.Join(", ", vip.Samples.Where(s => Math.Abs(s.T - kill.FaultTime) < 0.3).Select(s => $"{s.T:0.0000} {(s.Ok ? "ok" : s.Error)}"));
        Assert.True(kill.Verdict?.StartsWith("as predicted", StringComparison.Ordinal) == true,
            $"{kill.Verdict}; fault time {kill.FaultTime:0.0000} s from {kill.FaultTimeSource}; {r.ClockCheck?.Describe()}; vip_tcp attempts within 0.3 s of it: {around}");
        Assert.True(r.Restore!.Ok, r.Restore.Detail);
    }

    [Fact]
    public async Task Cli_a_delay_fault_on_a_kernel_without_netem_is_refused_with_exit_code_4_before_anything_is_injected()
    {
        await shared.RestoreAsync(output);
        var netem = await shared.ShAsync("m01", "unshare -n sh -c 'ip link set lo up && tc qdisc add dev lo root netem delay 1ms'");
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
        foreach (var n in shared.Topology.Nodes)
            Assert.DoesNotContain("netem", (await shared.ShAsync(n.Name, "tc qdisc show dev eth0")).Stdout);
        Assert.True((await shared.Running.SnapshotAsync()).Healthy);
    }

    [Fact]
    public async Task Cli_Ctrl_C_during_a_fault_undoes_it_and_restores_the_lab_with_exit_code_130()
    {
        await shared.RestoreAsync(output);
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
        Assert.True((await shared.Running.SnapshotAsync()).Healthy);
    }
}
