using System.Diagnostics;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>Real failovers on real labs, checked against the VRRP election math.</summary>
public class NodeKillFailoverTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Killing_the_holders_node_moves_the_vip_and_the_load_balancer_answers_again()
    {
        await using var lab = await TestLab.CreateAsync("nodekill");
        await lab.UpAsync(output);
        var holder = (await lab.Runtime.StatusAsync(CancellationToken.None)).VipHolder;
        Assert.NotNull(holder);

        var predicted = VrrpElection.After(lab.Topology, holder, new Dictionary<string, NodeCondition> { [holder] = new(NodeUp: false) });
        await lab.Runtime.KillAsync(holder, LabRole.Node, CancellationToken.None);
        var faultTime = Stopwatch.StartNew();
        var failover = await TestLab.WaitForAsync(lab.VipAnswersAsync, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50));
        var predictedSeconds = VrrpElection.MasterDownInterval(lab.Topology, predicted.EffectivePriorities.Values.Max()).TotalSeconds;
        TestLab.Log(output, $"failover after node kill: measured {failover?.TotalSeconds:0.00} s, predicted master-down interval {predictedSeconds:0.00} s");
        Assert.NotNull(failover);

        var newHolder = await lab.Runtime.VipHolderAsync(CancellationToken.None);
        Assert.NotEqual(holder, newHolder);
        Assert.Contains(newHolder, predicted.PossibleHolders);
    }
}

public class HaproxyKillTests(ITestOutputHelper output)
{
    /// <summary>Longest time the track script and VRRP need to act: check interval x fall, plus the master-down interval, plus slack.</summary>
    private static TimeSpan SettleTime(LabTopology t) =>
        TimeSpan.FromSeconds(t.Keepalived.CheckInterval * (t.Keepalived.Fall + 1)) + VrrpElection.MasterDownInterval(t, 1) + TimeSpan.FromSeconds(3);

    [Fact]
    public async Task With_the_runbooks_settings_the_vip_stays_on_a_holder_whose_haproxy_died()
    {
        await using var lab = await TestLab.CreateAsync("hapseed");
        await lab.UpAsync(output);
        var holder = (await lab.Runtime.StatusAsync(CancellationToken.None)).VipHolder!;
        var predicted = VrrpElection.After(lab.Topology, holder, new Dictionary<string, NodeCondition> { [holder] = new(HaproxyUp: false) });
        TestLab.Log(output, $"prediction: {predicted.Reason}");
        Assert.Equal(holder, predicted.Holder);      // the runbook's nopreempt keeps it there...
        Assert.False(predicted.LoadBalancerAnswers); // ...where nothing listens any more

        await lab.Runtime.KillAsync(holder, LabRole.Haproxy, CancellationToken.None);
        await Task.Delay(SettleTime(lab.Topology));

        Assert.Equal(predicted.Holder, await lab.Runtime.VipHolderAsync(CancellationToken.None));
        Assert.Equal(predicted.LoadBalancerAnswers, await lab.VipAnswersAsync());
    }

    [Fact]
    public async Task Without_nopreempt_the_vip_moves_to_the_highest_backup_and_the_load_balancer_answers()
    {
        // Same lab, settings that let a backup preempt; m03 lower so the winner is determined.
        await using var lab = await TestLab.CreateAsync("happre", t => t with
        {
            Keepalived = t.Keepalived with { Nopreempt = false },
            Nodes = [t.Nodes[0], t.Nodes[1], t.Nodes[2] with { Priority = 90 }],
        });
        await lab.UpAsync(output);
        var holder = (await lab.Runtime.StatusAsync(CancellationToken.None)).VipHolder!;
        var predicted = VrrpElection.After(lab.Topology, holder, new Dictionary<string, NodeCondition> { [holder] = new(HaproxyUp: false) });
        TestLab.Log(output, $"prediction: {predicted.Reason}");
        Assert.NotEqual(holder, predicted.Holder);
        Assert.True(predicted.LoadBalancerAnswers);

        await lab.Runtime.KillAsync(holder, LabRole.Haproxy, CancellationToken.None);
        var moved = await TestLab.WaitForAsync(async () => await lab.Runtime.VipHolderAsync(CancellationToken.None) == predicted.Holder, SettleTime(lab.Topology) * 2);
        TestLab.Log(output, $"VIP moved to {predicted.Holder} after {moved?.TotalSeconds:0.0} s");
        Assert.NotNull(moved);
        Assert.NotNull(await TestLab.WaitForAsync(lab.VipAnswersAsync, TimeSpan.FromSeconds(10)));
    }
}
