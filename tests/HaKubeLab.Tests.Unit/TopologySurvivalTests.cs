using System.Collections.Immutable;
using System.Net;
using HaKubeLab.Explain;
using HaKubeLab.Failover;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Tests.Unit;

/// <summary>What each HA topology survives: members, quorum, which losses stop writes, leaders.</summary>
public class TopologySurvivalTests
{
    private static readonly LabTopology Stacked = LabTopology.Default;
    private static readonly LabTopology StackedRecommended = LabTopology.Default with { Profile = RenderProfile.Recommended };

    private static LabTopology External(int members = 3, LabTopology? from = null)
    {
        var t = from ?? LabTopology.Default;
        return t with
        {
            Etcd = new EtcdSettings
            {
                Topology = EtcdTopology.External,
                Nodes = [.. Enumerable.Range(1, members).Select(i => new EtcdNodeSpec { Name = $"e0{i}", Ip = IPAddress.Parse($"192.168.100.{180 + i}") })],
            },
        };
    }

    private static LabTopology StackedWith(int masters) => LabTopology.Default with
    {
        Nodes = [.. Enumerable.Range(1, masters).Select(i => new NodeSpec { Name = $"m0{i}", Ip = IPAddress.Parse($"192.168.100.{190 + i}"), State = i == 1 ? VrrpState.Master : VrrpState.Backup })],
    };

    private static SurvivalPrediction Lose(LabTopology t, params string[] parts) => TopologySurvival.Predict(t, parts.Select(p => LostPart.Parse(p, t)));

    [Theory]
    [InlineData(1, 1, 0)]
    [InlineData(2, 2, 0)]
    [InlineData(3, 2, 1)]
    [InlineData(4, 3, 1)]
    [InlineData(5, 3, 2)]
    public void Quorum_is_a_majority_and_an_even_count_tolerates_no_more(int members, int quorum, int tolerates)
    {
        Assert.Equal(quorum, TopologySurvival.QuorumOf(members));
        var t = members >= 2 ? StackedWith(members) : External(1);
        var p = TopologySurvival.Predict(t, []);
        Assert.Equal(tolerates, p.Tolerates);
    }

    [Fact]
    public void A_healthy_stacked_lab_writes_and_every_leader_is_possible()
    {
        var p = Lose(Stacked);
        Assert.Equal(["m01", "m02", "m03"], p.Members.ToArray());
        Assert.True(p.QuorumKept);
        Assert.True(p.WritesThroughVip);
        Assert.True(p.ApiThroughLoadBalancer);
        Assert.Equal(3, p.ControllerManagerCandidates.Length);
        Assert.Equal(3, p.SchedulerCandidates.Length);
        Assert.Contains("Nothing is lost.", p.Story);
    }

    [Theory]
    [InlineData("m01")]
    [InlineData("m02")]
    [InlineData("m03")]
    public void Stacked_one_master_of_three_lost_keeps_quorum_and_writes(string master)
    {
        var p = Lose(Stacked, master);
        Assert.Equal(2, p.MembersLeft.Length);
        Assert.True(p.QuorumKept);
        Assert.True(p.WritesThroughVip, string.Join(" ", p.Story));
        Assert.DoesNotContain(master, p.ServingApiServers);
        Assert.DoesNotContain(master, p.Vip.PossibleHolders);
        Assert.True(p.ControllerManagerLeaderPossible);
    }

    [Theory]
    [InlineData("m01", "m02")]
    [InlineData("m01", "m03")]
    [InlineData("m02", "m03")]
    public void Stacked_two_masters_of_three_lost_loses_quorum_and_writes_but_the_vip_still_answers(string a, string b)
    {
        var p = Lose(Stacked, a, b);
        Assert.Single(p.MembersLeft);
        Assert.False(p.QuorumKept);
        Assert.False(p.WritesThroughVip);
        Assert.False(p.ApiThroughLoadBalancer);
        Assert.Empty(p.ServingApiServers);
        Assert.True(p.Vip.LoadBalancerAnswers); // the last master holds the VIP; haproxy accepts, nothing serves
        Assert.False(p.ControllerManagerLeaderPossible);
        Assert.False(p.SchedulerLeaderPossible);
        Assert.Contains(p.Story, s => s.Contains("Quorum is LOST (1 < 2)", StringComparison.Ordinal));
        Assert.Contains("LOST", p.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void Stacked_etcd_member_lost_takes_its_own_apiserver_with_it_but_not_quorum()
    {
        var p = Lose(Stacked, "etcd:m01");
        Assert.True(p.QuorumKept);
        Assert.Equal(["m02", "m03"], p.ServingApiServers.ToArray());
        Assert.Contains(p.Story, s => s.Contains("m01 runs an apiserver whose own etcd member is gone", StringComparison.Ordinal));
        // The seed's endpoint is the holder's own apiserver (VIP:6443, bypassing haproxy): writes through it fail.
        Assert.False(p.WritesThroughVip);
        // haproxy's TCP check keeps m01's apiserver in rotation: the API through 9443 answers only partly.
        Assert.True(p.ApiThroughLoadBalancer);
        Assert.Equal(["m01"], p.DeadApiServersInRotation.ToArray());
        // The recommended profile goes through haproxy with /healthz checks: writes go on.
        var r = Lose(StackedRecommended, "etcd:m01");
        Assert.True(r.WritesThroughVip);
        Assert.Empty(r.DeadApiServersInRotation);
    }

    [Fact]
    public void Stacked_all_masters_lost_leaves_no_vip()
    {
        var p = Lose(Stacked, "m01", "m02", "m03");
        Assert.Empty(p.Vip.PossibleHolders);
        Assert.False(p.Vip.LoadBalancerAnswers);
        Assert.False(p.WritesThroughVip);
        Assert.Contains(p.Story, s => s.Contains("No master is left to hold the VIP", StringComparison.Ordinal));
    }

    [Fact]
    public void External_one_etcd_node_and_one_master_lost_keeps_writes()
    {
        var t = External();
        var p = Lose(t, "e01", "m01");
        Assert.Equal(["e01", "e02", "e03"], p.Members.ToArray());
        Assert.Equal(["e02", "e03"], p.MembersLeft.ToArray());
        Assert.True(p.QuorumKept);
        Assert.Equal(["m02", "m03"], p.ServingApiServers.ToArray());
        Assert.True(p.WritesThroughVip);
        Assert.True(p.ControllerManagerLeaderPossible);
    }

    [Fact]
    public void External_two_etcd_nodes_lost_stops_writes_with_every_master_up()
    {
        var p = Lose(External(), "e01", "e02");
        Assert.False(p.QuorumKept);
        Assert.False(p.WritesThroughVip);
        Assert.True(p.Vip.LoadBalancerAnswers);
        Assert.Empty(p.ServingApiServers);
        Assert.False(p.SchedulerLeaderPossible);
    }

    [Fact]
    public void External_two_masters_lost_keeps_writes_where_stacked_loses_them()
    {
        Assert.True(Lose(External(), "m01", "m02").WritesThroughVip);
        Assert.False(Lose(Stacked, "m01", "m02").WritesThroughVip);
    }

    [Fact]
    public void External_with_four_members_tolerates_one_like_three()
    {
        var t = External(4);
        Assert.Equal(3, TopologySurvival.Predict(t, []).Quorum);
        Assert.True(Lose(t, "e01").QuorumKept);
        Assert.False(Lose(t, "e01", "e02").QuorumKept);
        Assert.Contains(TopologySurvival.Predict(t, []).Story, s => s.Contains("an even count buys nothing", StringComparison.Ordinal));
    }

    [Fact]
    public void Stacked_with_two_masters_tolerates_no_loss()
    {
        var t = StackedWith(2);
        Assert.Equal(0, TopologySurvival.Predict(t, []).Tolerates);
        Assert.False(Lose(t, "m02").WritesThroughVip);
    }

    [Fact]
    public void Leaders_need_their_own_apiserver_and_a_live_process()
    {
        var p = Lose(Stacked, "controller-manager:m01", "controller-manager:m02", "apiserver:m03");
        Assert.Empty(p.ControllerManagerCandidates); // m03's controller-manager talks to m03's dead apiserver
        Assert.Equal(["m01", "m02"], p.SchedulerCandidates.ToArray());
        Assert.True(p.QuorumKept);
    }

    [Fact]
    public void What_stops_writes_stacked_any_two_masters_external_two_etcd_nodes_or_all_masters()
    {
        var stacked = TopologySurvival.WhatStopsWrites(StackedRecommended);
        Assert.Equal(3, stacked.Length);
        Assert.All(stacked, s => Assert.Equal(2, s.Length));
        Assert.Equal(["any 2 of the 3 masters"], TopologySurvival.DescribeWhatStopsWrites(StackedRecommended));

        var external = TopologySurvival.WhatStopsWrites(External(from: StackedRecommended));
        Assert.Equal(4, external.Length); // e01+e02, e01+e03, e02+e03, m01+m02+m03
        Assert.Equal(["any 2 of the 3 etcd nodes", "all 3 masters"], TopologySurvival.DescribeWhatStopsWrites(External(from: StackedRecommended)));
    }

    [Fact]
    public void Lost_parts_parse_with_clear_errors()
    {
        Assert.Equal(new LostPart(ControlPlanePart.Master, "m02"), LostPart.Parse("m02", Stacked));
        Assert.Equal(new LostPart(ControlPlanePart.EtcdNode, "e02"), LostPart.Parse("e02", External()));
        Assert.Equal(new LostPart(ControlPlanePart.EtcdMember, "m01"), LostPart.Parse("etcd:m01", Stacked));
        Assert.Equal(new LostPart(ControlPlanePart.Haproxy, "m03"), LostPart.Parse("haproxy:m03", Stacked));
        Assert.Contains("Known: m01, m02, m03", Assert.Throws<FormatException>(() => LostPart.Parse("m09", Stacked)).Message, StringComparison.Ordinal);
        Assert.Contains("no external etcd members", Assert.Throws<FormatException>(() => LostPart.Parse("etcd-node:e01", Stacked)).Message, StringComparison.Ordinal);
        Assert.Contains("lose an etcd member by its name", Assert.Throws<FormatException>(() => LostPart.Parse("etcd:m01", External())).Message, StringComparison.Ordinal);
        Assert.Contains("Unknown part", Assert.Throws<FormatException>(() => LostPart.Parse("disk:m01", Stacked)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Faults_map_to_lost_parts()
    {
        Assert.Equal(new LostPart(ControlPlanePart.Master, "m01"), TopologySurvival.LostBy(FaultKind.NodeKill, "m01"));
        Assert.Equal(new LostPart(ControlPlanePart.EtcdMember, "m02"), TopologySurvival.LostBy(FaultKind.EtcdKill, "m02"));
        Assert.Equal(new LostPart(ControlPlanePart.EtcdNode, "e01"), TopologySurvival.LostBy(FaultKind.EtcdNodeKill, "e01"));
        Assert.Equal(new LostPart(ControlPlanePart.ControllerManager, "m03"), TopologySurvival.LostBy(FaultKind.ControllerManagerKill, "m03"));
        Assert.Null(TopologySurvival.LostBy(FaultKind.NetworkLoss, "m01"));
        Assert.Null(TopologySurvival.LostBy(FaultKind.KubeletKill, "m01"));
    }

    [Fact]
    public void Leader_election_and_etcd_windows()
    {
        var w = LeaderElectionSettings.Default.GapAfterLeaderLoss;
        Assert.Equal(13, w.MinSeconds, 3);
        Assert.Equal(19.4, w.MaxSeconds, 3);
        Assert.Equal(0.9, EtcdElection.Default.GapAfterLeaderLoss.MinSeconds, 3);
        Assert.Equal(2.5, EtcdElection.Default.GapAfterLeaderLoss.MaxSeconds, 3);
    }

    [Fact]
    public void The_fast_profiles_stacked_etcd_predicts_a_shorter_election_external_members_keep_the_default()
    {
        var fast = Stacked.WithProfile(RenderProfile.Fast);
        Assert.Same(EtcdElection.Fast, EtcdElection.For(fast));
        Assert.Equal(0.4, EtcdElection.For(fast).GapAfterLeaderLoss.MinSeconds, 3);
        Assert.Equal(1.5, EtcdElection.For(fast).GapAfterLeaderLoss.MaxSeconds, 3);
        Assert.Contains("500-1000 ms", EtcdElection.For(fast).Basis, StringComparison.Ordinal);
        Assert.Same(EtcdElection.Default, EtcdElection.For(Stacked));
        Assert.Same(EtcdElection.Default, EtcdElection.For(External().WithProfile(RenderProfile.Fast)));
    }

    [Fact]
    public void Etcd_node_kill_is_predicted_on_the_external_topology_and_refused_on_the_stacked_one()
    {
        var o = FailoverModel.Predict(External(), FaultKind.EtcdNodeKill, "e02");
        Assert.Equal("e02", o.Node);
        Assert.False(o.VipMoves);
        Assert.True(o.After.LoadBalancerAnswers);
        Assert.Contains("etcd member on a container of its own", o.Reason, StringComparison.Ordinal);
        Assert.Contains("needs the external etcd topology", Assert.Throws<ArgumentException>(() => FailoverModel.Predict(Stacked, FaultKind.EtcdNodeKill, "m01")).Message, StringComparison.Ordinal);
        Assert.Contains("Known members: e01, e02, e03", Assert.Throws<ArgumentException>(() => FailoverModel.Predict(External(), FaultKind.EtcdNodeKill, "e09")).Message, StringComparison.Ordinal);
        var e = Explainer.Predict(External(), new Fault(FaultKind.EtcdNodeKill, "e01"));
        Assert.Contains(e.Story, s => s.Contains("external etcd member e01 dies", StringComparison.Ordinal));
    }

    [Fact]
    public void Explain_quotes_the_survival_prediction()
    {
        var e = Explainer.Explain(Stacked, [new Fault(FaultKind.NodeKill)]);
        Assert.NotNull(e.Survival);
        Assert.Contains(e.Survival!.Story, s => s.Contains("a majority, 2 of 3 members", StringComparison.Ordinal));
        Assert.Contains("any 2 of the 3 masters", e.Survival.WhatStopsWrites);
        Assert.True(e.Predictions[0].Survival!.WritesThroughVip);
    }
}
