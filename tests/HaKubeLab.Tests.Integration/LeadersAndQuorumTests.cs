using HaKubeLab.Chaos.Reports;
using HaKubeLab.Failover;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>
/// The leaders of a running stacked lab (etcd, controller-manager, scheduler, VIP holder, each with since-when), a killed
/// controller-manager leader's gap beside its lease, and quorum: two of three masters killed stop writes through the VIP,
/// as the survival predictor says.
/// </summary>
[Collection("k8s-seed")]
public class LeadersAndQuorumTests(SeedKubernetesLab k8s, ITestOutputHelper output)
{
    [Fact]
    public async Task Status_reports_every_leader_with_since_when()
    {
        await k8s.RestoreAsync(output);
        var status = await k8s.Running.StatusAsync();
        var l = status.Leaders!;
        foreach (var leader in l.All) TestLab.Log(output, $"{leader.Role,-24} {leader.Describe(l.At)}");
        var masters = k8s.Topology.Nodes.Select(n => n.Name).ToList();
        Assert.Contains(l.Etcd.Holder, masters);
        Assert.Equal(status.EtcdLeader, l.Etcd.Holder);
        Assert.NotNull(l.Etcd.Term);
        Assert.Contains(l.ControllerManager.Holder, masters);
        Assert.Contains(l.Scheduler.Holder, masters);
        Assert.NotNull(l.ControllerManager.Since);
        Assert.NotNull(l.Scheduler.Since);
        Assert.Equal(15, l.ControllerManager.LeaseDurationSeconds);
        Assert.False(l.ControllerManager.Expired(l.At));
        Assert.Equal(status.VipHolder, l.Vip.Holder);
        Assert.NotNull(l.Vip.Since);
        Assert.True(l.Vip.Since <= l.At);
    }

    [Fact]
    public async Task Killing_the_controller_manager_leader_leaves_no_leader_for_about_a_lease()
    {
        await k8s.RestoreAsync(output);
        var r = await k8s.ChaosAsync("controller-manager-leader-kill", output);
        var fault = Assert.Single(r.Faults);
        var gap = Assert.Single(r.Leaders!.Gaps, g => g.Component == "kube-controller-manager");
        TestLab.Log(output, $"controller-manager leader {gap.From} killed at {fault.FaultTime:0.00} s; {gap.To} leads after {gap.Seconds:0.00} s (predicted {gap.Predicted}); " +
                            $"api_write availability {r.Probes.First(p => p.Name == "api_write").Availability}");
        Assert.Equal(fault.Node, gap.From);
        Assert.Equal(fault.Id, gap.Fault);
        Assert.NotNull(gap.To);
        Assert.InRange(gap.Seconds, 5, 45); // lease duration 15 s: predicted 13-19.4 s; generous for a loaded machine
        Assert.True(r.Restore!.Ok, r.Restore.Detail);
    }

    [Fact]
    public async Task Killing_two_of_three_masters_stops_writes_as_the_predictor_says()
    {
        await k8s.RestoreAsync(output);
        try
        {
            var r = await k8s.ChaosAsync("kill-two-of-three", output);
            Assert.Equal(2, r.Faults.Count);
            var lost = r.Faults.Select(f => new LostPart(ControlPlanePart.Master, f.Node)).ToList();
            var predicted = TopologySurvival.Predict(k8s.Topology, lost);
            TestLab.Log(output, $"predicted with {string.Join(", ", lost)} lost: {predicted.Summary}");
            Assert.False(predicted.QuorumKept);
            Assert.False(predicted.WritesThroughVip);

            var checks = r.Leaders!.Survival;
            foreach (var c in checks) TestLab.Log(output, $"{c.Fault}: {c.Prediction} | measured {c.Measured} | {c.Verdict}");
            foreach (var g in r.Leaders.Gaps) TestLab.Log(output, $"gap {g.Component} {g.From}->{g.To ?? "none"} {g.Seconds:0.0} s{(g.Open ? "+" : "")} from {g.StartBasis}");
            Assert.True(checks[0].WritesPredicted);
            var second = checks[1];
            Assert.False(second.WritesPredicted);
            // Without quorum each write hangs until its timeout: a handful of attempts in the window is all there is.
            Assert.True(second.WriteAttempts >= 2, $"only {second.WriteAttempts} api_write attempts after the second kill");
            Assert.Equal("as predicted: writes stopped", second.Verdict);
            var write = r.Probes.First(p => p.Name == "api_write");
            Assert.Contains(write.Outages, o => o.Length >= 5); // from the second kill until the masters are back
            Assert.True(r.Restore!.Ok, r.Restore.Detail);
        }
        finally
        {
            await k8s.RestoreAsync(output);
        }
    }
}
