using HaKubeLab.Topology;

namespace HaKubeLab.Tests.Unit;

public class VrrpElectionTests
{
    private static readonly LabTopology Seed = LabTopology.Default;
    private static Dictionary<string, NodeCondition> Only(string node, NodeCondition c) => new() { [node] = c };

    [Fact]
    public void Runbook_settings_put_the_vip_on_the_master()
    {
        var o = VrrpElection.Initial(Seed);
        Assert.Equal("m01", o.Holder);
        Assert.True(o.LoadBalancerAnswers);
        Assert.Equal(111, o.EffectivePriorities["m01"]);
    }

    [Fact]
    public void Runbook_settings_keep_the_vip_on_a_holder_whose_haproxy_died()
    {
        // m01 drops to 100, m02/m03 stay at 111, but nopreempt keeps them from taking the VIP:
        // the VIP stays where nothing listens on 9443. This is the runbook's defect.
        var o = VrrpElection.After(Seed, "m01", Only("m01", new NodeCondition(HaproxyUp: false)));
        Assert.Equal("m01", o.Holder);
        Assert.False(o.LoadBalancerAnswers);
        Assert.Equal(100, o.EffectivePriorities["m01"]);
        Assert.Equal(111, o.EffectivePriorities["m02"]);
        Assert.Contains("nopreempt", o.Reason);
    }

    [Fact]
    public void Without_nopreempt_a_higher_priority_backup_takes_the_vip()
    {
        var t = Seed with
        {
            Keepalived = Seed.Keepalived with { Nopreempt = false },
            Nodes = [Seed.Nodes[0], Seed.Nodes[1], Seed.Nodes[2] with { Priority = 90 }],
        };
        Assert.Equal("m01", VrrpElection.Initial(t).Holder);
        var o = VrrpElection.After(t, "m01", Only("m01", new NodeCondition(HaproxyUp: false)));
        Assert.Equal("m02", o.Holder);
        Assert.True(o.LoadBalancerAnswers);
    }

    [Fact]
    public void Killing_the_holder_node_moves_the_vip_to_a_tied_backup()
    {
        var o = VrrpElection.After(Seed, "m01", Only("m01", new NodeCondition(NodeUp: false)));
        Assert.Null(o.Holder);
        Assert.Equal(["m02", "m03"], o.PossibleHolders.ToArray());
        Assert.True(o.LoadBalancerAnswers);
        Assert.Contains("tie", o.Reason);
    }

    [Fact]
    public void Stopping_keepalived_on_the_holder_moves_the_vip()
    {
        var t = Seed with { Nodes = [Seed.Nodes[0], Seed.Nodes[1] with { Priority = 120 }, Seed.Nodes[2]] };
        var o = VrrpElection.After(t, "m01", Only("m01", new NodeCondition(KeepalivedUp: false)));
        Assert.Equal("m02", o.Holder);
    }

    [Fact]
    public void A_negative_weight_lowers_the_failing_node()
    {
        var t = Seed with { Keepalived = Seed.Keepalived with { Weight = -20, Nopreempt = false } };
        var o = VrrpElection.After(t, "m01", Only("m01", new NodeCondition(HaproxyUp: false)));
        Assert.Equal(80, o.EffectivePriorities["m01"]);
        Assert.Equal(["m02", "m03"], o.PossibleHolders.ToArray());
    }

    [Fact]
    public void With_weight_zero_a_failing_script_puts_the_holder_in_fault()
    {
        var t = Seed with { Keepalived = Seed.Keepalived with { Weight = 0 } };
        var o = VrrpElection.After(t, "m01", Only("m01", new NodeCondition(HaproxyUp: false)));
        Assert.DoesNotContain("m01", o.PossibleHolders);
        Assert.Contains("FAULT", o.Reason);
    }

    [Fact]
    public void Keepalived_clears_nopreempt_on_the_initial_master()
    {
        Assert.True(VrrpElection.MayPreempt(Seed, Seed.Node("m01")));
        Assert.False(VrrpElection.MayPreempt(Seed, Seed.Node("m02")));
    }

    [Fact]
    public void When_every_node_is_down_nobody_holds_the_vip()
    {
        var all = Seed.Nodes.ToDictionary(n => n.Name, _ => new NodeCondition(NodeUp: false));
        var o = VrrpElection.After(Seed, "m01", all);
        Assert.Null(o.Holder);
        Assert.Empty(o.PossibleHolders);
        Assert.False(o.LoadBalancerAnswers);
    }

    [Fact]
    public void Master_down_interval_follows_rfc3768() =>
        Assert.Equal(3 + 145 / 256.0, VrrpElection.MasterDownInterval(Seed, 111).TotalSeconds, 6);
}
