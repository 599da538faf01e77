using System.Net;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Probes;
using HaKubeLab.Chaos.Reports;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Failover;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using k8s.Models;

namespace HaKubeLab.Tests.Unit;

/// <summary>The leader source's parsing, the leader gaps and survival checks of a chaos run, and the side-by-side report.</summary>
public class LeaderTests
{
    private static readonly LabTopology Stacked = LabTopology.Default;

    private static LabTopology External => LabTopology.Default with
    {
        Etcd = new EtcdSettings { Topology = EtcdTopology.External, Nodes = EtcdSettings.DefaultNodes(LabTopology.Default.Subnet) },
    };

    // Seen on a lab: etcd 3.4.23's etcdctl endpoint status -w json (two endpoints).
    private const string StatusJson = """
        [{"Endpoint":"https://192.168.100.191:2379","Status":{"header":{"cluster_id":12262859226567130351,"member_id":17288681740195524921,"revision":1847,"raft_term":4},"version":"3.4.23","dbSize":2326528,"leader":17288681740195524921,"raftIndex":2612,"raftTerm":4,"raftAppliedIndex":2612,"dbSizeInUse":1277952}},{"Endpoint":"https://192.168.100.192:2379","Status":{"header":{"cluster_id":12262859226567130351,"member_id":4551977088311107384,"revision":1847,"raft_term":4},"version":"3.4.23","dbSize":2293760,"leader":17288681740195524921,"raftIndex":2612,"raftTerm":4,"raftAppliedIndex":2612,"dbSizeInUse":1257472}}]
        """;

    [Fact]
    public void Etcd_status_names_the_leader_by_its_address_and_the_term()
    {
        var s = LeaderSource.ParseEndpointStatus(StatusJson, Stacked);
        Assert.Equal(["m01", "m02"], s.Members);
        Assert.Equal("m01", s.Leader);
        Assert.Equal(4, s.Term);
    }

    [Fact]
    public void A_leader_that_did_not_answer_is_no_leader_and_zero_means_none()
    {
        // m02 alone answered and still names m01 (dead) as leader: nobody leads that can be asked.
        var onlyM02 = StatusJson[(StatusJson.IndexOf("{\"Endpoint\":\"https://192.168.100.192", StringComparison.Ordinal))..].TrimEnd().TrimEnd(']');
        Assert.Null(LeaderSource.ParseEndpointStatus("[" + onlyM02 + "]", Stacked).Leader);
        var none = StatusJson.Replace("\"leader\":17288681740195524921", "\"leader\":0", StringComparison.Ordinal);
        Assert.Null(LeaderSource.ParseEndpointStatus(none, Stacked).Leader);
        // etcdctl prints warnings before the JSON when an endpoint is down.
        Assert.Equal("m01", LeaderSource.ParseEndpointStatus("{\"level\":\"warn\"}\nFailed to get the status of endpoint https://192.168.100.193:2379\n" + StatusJson.Trim(), Stacked).Leader);
        Assert.Empty(LeaderSource.ParseEndpointStatus("Error: context deadline exceeded", Stacked).Members);
    }

    // Seen on a lab: etcd 3.4.23's HTTP gateway, POST /v3/maintenance/status on m01 and m02 (64-bit numbers as strings); m03 leads.
    private const string GatewayM01 = """{"header":{"cluster_id":"16242771336376017897","member_id":"348114206745813940","revision":"12305","raft_term":"7"},"version":"3.4.23","dbSize":"7426048","leader":"2322119355174059004","raftIndex":"13453","raftTerm":"7","raftAppliedIndex":"13453","dbSizeInUse":"3366912"}""";
    private const string GatewayM03 = """{"header":{"cluster_id":"16242771336376017897","member_id":"2322119355174059004","revision":"12305","raft_term":"7"},"version":"3.4.23","dbSize":"7426048","leader":"2322119355174059004","raftIndex":"13453","raftTerm":"7","raftAppliedIndex":"13453","dbSizeInUse":"3366912"}""";

    [Fact]
    public void The_gateways_status_is_read_as_etcdctls_a_leader_that_did_not_answer_is_none()
    {
        var both = LeaderSource.ParseGatewayStatus([("m01", GatewayM01), ("m03", GatewayM03)]);
        Assert.Equal(["m01", "m03"], both.Members);
        Assert.Equal("m03", both.Leader);
        Assert.Equal(7, both.Term);
        Assert.Equal(348114206745813940UL, both.MemberIds["m01"]);
        // m01 alone answered and names m03, which did not: nobody leads that can be asked.
        var alone = LeaderSource.ParseGatewayStatus([("m01", GatewayM01)]);
        Assert.Null(alone.Leader);
        Assert.Contains("no leader among m01", LeaderSource.EtcdLeaderOf(alone).Problem);
        Assert.Equal("no etcd member answered: m01: timeout", LeaderSource.EtcdLeaderOf(null, "m01: timeout").Problem);
        Assert.Equal("m03", LeaderSource.EtcdLeaderOf(both).Holder);
    }

    [Fact]
    public void Concatenated_pem_files_split_into_their_blocks_in_order()
    {
        const string ca = "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----";
        const string cert = "-----BEGIN CERTIFICATE-----\nREVG\n-----END CERTIFICATE-----";
        const string key = "-----BEGIN RSA PRIVATE KEY-----\nR0hJ\n-----END RSA PRIVATE KEY-----";
        var blocks = LeaderSource.SplitPem(ca + "\n" + cert + "\n\n" + key + "\n");
        Assert.Equal([ca + "\n", cert + "\n", key + "\n"], blocks);
        Assert.Empty(LeaderSource.SplitPem("cat: /etc/kubernetes/pki/etcd/ca.crt: No such file or directory"));
    }

    [Fact]
    public void A_lease_list_read_as_json_names_both_leaders_and_a_missing_lease_says_so()
    {
        const string list = """{"kind":"LeaseList","apiVersion":"coordination.k8s.io/v1","metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":"kube-controller-manager","namespace":"kube-system"},"spec":{"holderIdentity":"m02_5d0c","leaseDurationSeconds":15,"acquireTime":"2026-12-01T06:00:00.000000Z","renewTime":"2026-12-01T06:10:00.500000Z","leaseTransitions":3}}]}""";
        var (cm, scheduler) = LeaderSource.LeasesOf(list);
        Assert.Equal("m02", cm.Holder);
        Assert.Equal("m02_5d0c", cm.Identity);
        Assert.Equal(15, cm.LeaseDurationSeconds);
        Assert.Equal(3, cm.Transitions);
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 6, 10, 0, 500, TimeSpan.Zero), cm.RenewTime);
        Assert.Null(scheduler.Holder);
        Assert.Contains("no lease kube-system/kube-scheduler", scheduler.Problem);
        Assert.All([LeaderSource.LeasesUnread("timeout").ControllerManager, LeaderSource.LeasesUnread("timeout").Scheduler],
            l => Assert.Equal("the API did not answer through the VIP: timeout", l.Problem));
    }

    [Fact]
    public void External_members_are_named_by_their_etcd_node_and_asked_with_the_apiserver_client_certificate()
    {
        var json = StatusJson.Replace("192.168.100.191", "192.168.100.181", StringComparison.Ordinal).Replace("192.168.100.192", "192.168.100.182", StringComparison.Ordinal);
        var s = LeaderSource.ParseEndpointStatus(json, External);
        Assert.Equal(["e01", "e02"], s.Members);
        Assert.Equal("e01", s.Leader);
        var cmd = LeaderSource.EtcdctlStatusCommand(External);
        Assert.Contains("--endpoints=https://192.168.100.181:2379,https://192.168.100.182:2379,https://192.168.100.183:2379", cmd);
        Assert.Contains("--cert=/etc/kubernetes/pki/apiserver-etcd-client.crt", cmd);
        Assert.Contains("--endpoints=https://192.168.100.191:2379,https://192.168.100.192:2379,https://192.168.100.193:2379", LeaderSource.EtcdctlStatusCommand(Stacked));
    }

    [Fact]
    public void The_latest_election_comes_from_the_highest_term_at_its_earliest_line()
    {
        string[] lines =
        [
            "2026-11-30T14:38:10.048511518Z stderr F raft2026/11/30 14:38:10 INFO: efedbc717f22f139 became leader at term 2",
            "2026-11-30T14:38:49.31381854Z stderr F raft2026/11/30 14:38:49 INFO: raft.node: 3f2bdf0b5e801f38 elected leader efedbc717f22f139 at term 4",
            "2026-11-30T14:38:49.312863491Z stderr F raft2026/11/30 14:38:49 INFO: efedbc717f22f139 became leader at term 4",
            "something else",
        ];
        var e = LeaderSource.LatestElection(lines)!;
        Assert.Equal(4, e.Term);
        Assert.Equal("efedbc717f22f139", e.LeaderId);
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 14, 38, 49, TimeSpan.Zero).AddTicks(3128634), e.At);
        Assert.Null(LeaderSource.LatestElection(["no election here"]));
    }

    [Fact]
    public void A_lease_names_its_node_and_since_when()
    {
        var lease = new V1Lease
        {
            Spec = new V1LeaseSpec
            {
                HolderIdentity = "m02_7845d19b-cff8-4f5a-93af-d911b2341a48",
                AcquireTime = new DateTime(2026, 11, 30, 14, 38, 18, 15, DateTimeKind.Utc),
                RenewTime = new DateTime(2026, 11, 30, 14, 42, 24, 612, DateTimeKind.Utc),
                LeaseDurationSeconds = 15,
                LeaseTransitions = 2,
            },
        };
        var l = LeaderSource.FromLease("kube-scheduler", lease);
        Assert.Equal("m02", l.Holder);
        Assert.Equal(2, l.Transitions);
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 14, 38, 18, 15, TimeSpan.Zero), l.Since);
        Assert.False(l.Expired(new DateTimeOffset(2026, 11, 30, 14, 42, 39, 0, TimeSpan.Zero)));
        Assert.True(l.Expired(new DateTimeOffset(2026, 11, 30, 14, 42, 40, 0, TimeSpan.Zero)));
        Assert.Contains("m02 since 14:38:18.015 UTC (lease acquireTime; 2 transitions)", l.Describe(new DateTimeOffset(2026, 11, 30, 14, 42, 30, TimeSpan.Zero)), StringComparison.Ordinal);
        Assert.Null(LeaderSource.FromLease("kube-scheduler", new V1Lease { Spec = new V1LeaseSpec() }).Holder);
    }

    private static LeaderSample Lease(double t, string id, double renew, double acquire, string component = "kube-controller-manager") =>
        new(t, component, id.Split('_')[0], id, null, renew, acquire, 15);

    [Fact]
    public void A_killed_lease_holder_leaves_a_gap_from_the_fault_to_the_next_acquireTime()
    {
        var samples = new List<LeaderSample>();
        for (var t = 0.0; t < 5; t += 0.5) samples.Add(Lease(t, "m01_a", Math.Floor(t / 2) * 2, -100));
        for (var t = 5.0; t < 20; t += 0.5) samples.Add(Lease(t, "m01_a", 4, -100));                 // stopped renewing at 4
        for (var t = 20.0; t < 30; t += 0.5) samples.Add(Lease(t, "m03_b", t - t % 2, 19.6));        // m03 acquired at 19.6
        var faults = new[] { new FaultMoment("cm", FaultKind.ControllerManagerKill, "m01", 4.8, null) };
        var gaps = LeaderAnalysis.Gaps(samples, faults, 30);
        var g = Assert.Single(gaps);
        Assert.Equal(("kube-controller-manager", "m01", "m03"), (g.Component, g.From, g.To));
        Assert.Equal(4.8, g.Start);
        Assert.Equal(19.6, g.End);
        Assert.Equal(14.8, g.Seconds, 3);
        Assert.Equal("cm", g.Fault);
        Assert.True(g.Predicted!.Value.Contains(g.Seconds));
    }

    [Fact]
    public void A_lease_nobody_renews_to_the_end_is_an_open_gap_without_a_prediction()
    {
        var samples = Enumerable.Range(0, 60).Select(i => Lease(i * 0.5, "m01_a", Math.Min(i * 0.5, 5) - Math.Min(i * 0.5, 5) % 2, 0)).ToList();
        var g = Assert.Single(LeaderAnalysis.Gaps(samples, [], 30));
        Assert.True(g.Open);
        Assert.Equal(4, g.Start);
        Assert.Equal(26, g.Seconds, 3);
        Assert.Null(g.Predicted);
    }

    [Fact]
    public void Etcd_gaps_run_from_the_kill_to_the_first_sighting_of_a_new_leader()
    {
        var samples = new List<LeaderSample>();
        for (var t = 0; t < 5; t++) samples.Add(new LeaderSample(t, "etcd", "m01", Term: 4));
        samples.Add(new LeaderSample(5, "etcd", null, Term: 4, Problem: "no leader"));
        for (var t = 6; t < 10; t++) samples.Add(new LeaderSample(t, "etcd", "m02", Term: 5));
        var gaps = LeaderAnalysis.Gaps(samples, [new FaultMoment("kill", FaultKind.EtcdKill, "m01", 4.3, null)], 10);
        var g = Assert.Single(gaps);
        Assert.Equal(("etcd", "m01", "m02", 4.3, 6.0), (g.Component, g.From, g.To, g.Start, g.End!.Value));
        Assert.Equal(EtcdElection.Default.GapAfterLeaderLoss, g.Predicted);
        // The same leader throughout: no gap.
        Assert.Empty(LeaderAnalysis.Gaps([new LeaderSample(0, "etcd", "m01"), new LeaderSample(1, "etcd", "m01")], [], 2));
    }

    [Fact]
    public void Two_masters_killed_on_a_stacked_lab_is_predicted_to_stop_writes_and_checked_against_api_write()
    {
        var faults = new[]
        {
            new FaultMoment("first", FaultKind.NodeKill, "m01", 3, 30),
            new FaultMoment("second", FaultKind.NodeKill, "m02", 13, 30),
        };
        var writes = Enumerable.Range(0, 150).Select(i => new ProbeSample(i * 0.2, 10, i * 0.2 < 13.5 || i * 0.2 > 30)).ToList();
        var checks = LeaderAnalysis.Survival(Stacked, faults, writes, 31);
        Assert.Equal(2, checks.Count);
        Assert.True(checks[0].WritesPredicted);
        Assert.Equal("as predicted: writes went on", checks[0].Verdict);
        Assert.False(checks[1].WritesPredicted);
        Assert.Equal(["m01", "m02"], checks[1].Lost);
        Assert.Equal("as predicted: writes stopped", checks[1].Verdict);
        Assert.Contains("LOST", checks[1].Prediction, StringComparison.Ordinal);
        // The external topology keeps writing with two masters gone: a failed write would be reported as not predicted.
        var ext = LeaderAnalysis.Survival(External, faults, writes, 31);
        Assert.True(ext[1].WritesPredicted);
        Assert.StartsWith("NOT as predicted", ext[1].Verdict, StringComparison.Ordinal);
    }

    [Fact]
    public void The_shipped_comparison_set_names_shipped_scenarios()
    {
        var set = ComparisonSet.Load(Path.Combine(ScenarioCatalog.Directory(), "sets", "compare-topologies.yaml"));
        Assert.True(set.Scenarios.Length >= 5);
        foreach (var s in set.Scenarios)
            foreach (var name in new[] { s.Stacked, s.External }.OfType<string>())
                Assert.Equal(name, ScenarioLoader.LoadFile(ScenarioCatalog.Resolve(name)).Name);
        Assert.Contains(set.Scenarios, s => s.Stacked is null && s.External == "etcd-two-nodes-kill");
        Assert.Contains(set.Scenarios, s => s.Stacked == "etcd-leader-kill" && s.External == "etcd-node-kill-leader");
    }

    [Fact]
    public void The_side_by_side_report_puts_both_labs_in_one_table_and_in_words()
    {
        var set = new ComparisonSet("t", "d", [new ComparedScenario("Two of three masters are killed", "kill-two-of-three", "kill-two-of-three"), new ComparedScenario("Two etcd nodes", null, "etcd-two-nodes-kill")]);
        ComparedRun Run(string lab, string topology, double writes, double longest, bool open, double? cm) =>
            new("Two of three masters are killed", "kill-two-of-three", lab, topology, true, "/x", 0.98, 3.2, writes, longest, open, writes, 1.2, cm, null, 2,
                ["second: etcd 1/3 members (quorum 2) LOST; writes through the VIP: NO"], ["second: as predicted: writes stopped"]);
        var md = TopologySideBySide.Markdown(set, [("s", "stacked"), ("e", "external")],
            [Run("s", "stacked", 0.55, 21.5, true, 16.2), Run("e", "external", 0.93, 3.1, false, null)],
            new Dictionary<(string, string), string> { [("Two etcd nodes", "s")] = "no such fault in the stacked topology" });
        Assert.Contains("| | stacked `s` | external `e` |", md, StringComparison.Ordinal);
        Assert.Contains("| writes through the VIP (api_write) | 55.0 %, longest outage 21.50 s (still failing at the end) | 93.0 %, longest outage 3.10 s |", md, StringComparison.Ordinal);
        Assert.Contains("| controller-manager without a leader | 16.2 s | none |", md, StringComparison.Ordinal);
        Assert.Contains("On the stacked lab writes stopped and had not come back", md, StringComparison.Ordinal);
        Assert.Contains("On the external lab writes paused for at most 3.1 s", md, StringComparison.Ordinal);
        Assert.Contains("no such fault in the stacked topology", md, StringComparison.Ordinal);
    }

    [Fact]
    public void New_targets_and_faults_parse_in_scenarios()
    {
        var s = ScenarioLoader.Parse("""
            name: t
            duration: 10s
            steps:
              - { fault: kube-controller-manager-kill, target: controller-manager-leader }
              - { fault: kube-scheduler-kill, target: scheduler-leader }
              - { fault: etcd-node-kill, target: etcd-node }
              - { fault: etcd-node-kill, target: e02 }
            """, "t.yaml", ["m01", "m02", "m03", "e01", "e02", "e03"]);
        var steps = s.Steps.OfType<FaultStep>().ToList();
        Assert.Equal([TargetRole.ControllerManagerLeader, TargetRole.SchedulerLeader, TargetRole.EtcdNode, TargetRole.Named], steps.Select(f => f.Target.Role));
        Assert.True(s.RequiresKubernetes);
        Assert.Equal([FaultKind.ControllerManagerKill, FaultKind.SchedulerKill, FaultKind.EtcdNodeKill, FaultKind.EtcdNodeKill], steps.Select(f => f.Kind));
    }
}
