using System.Net;
using HaKubeLab.Lint;
using HaKubeLab.Rendering;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Tests.Unit;

/// <summary>The external etcd topology: loader, validator, kubeadm config, container specs and lint.</summary>
public class ExternalEtcdTests
{
    private const string Lab = """
        name: hakubelab
        subnet: 192.168.100.0/24
        vip: 192.168.100.190
        nodes:
          - { name: m01, ip: 192.168.100.191, state: MASTER }
          - { name: m02, ip: 192.168.100.192 }
          - { name: m03, ip: 192.168.100.193 }
        """;

    private static TopologyError SingleError(string yaml)
    {
        var e = Assert.Throws<TopologyException>(() => TopologyLoader.Parse(yaml, "lab.yaml"));
        return Assert.Single(e.Errors);
    }

    private static LabTopology External => TopologyLoader.Parse(Lab + "\netcd: { topology: external }");

    [Fact]
    public void Stacked_is_the_default_and_has_no_etcd_nodes()
    {
        var t = TopologyLoader.Parse(Lab);
        Assert.Equal(EtcdTopology.Stacked, t.Etcd.Topology);
        Assert.Empty(t.Etcd.Nodes);
        Assert.Equal(EtcdTopology.Stacked, TopologyLoader.Parse(Lab + "\netcd: { topology: stacked }").Etcd.Topology);
    }

    [Fact]
    public void External_without_nodes_gets_e01_to_e03_at_181_to_183()
    {
        var t = External;
        Assert.Equal(EtcdTopology.External, t.Etcd.Topology);
        Assert.Equal(["e01", "e02", "e03"], t.Etcd.Nodes.Select(n => n.Name));
        Assert.Equal(["192.168.100.181", "192.168.100.182", "192.168.100.183"], t.Etcd.Nodes.Select(n => n.Ip.ToString()));
    }

    [Fact]
    public void External_nodes_are_read_and_moved_with_the_lab()
    {
        var t = TopologyLoader.Parse(Lab + """

            etcd:
              topology: external
              nodes:
                - { name: x1, ip: 192.168.100.11 }
                - { name: x2, ip: 192.168.100.12 }
                - { name: x3, ip: 192.168.100.13 }
                - { name: x4, ip: 192.168.100.14 }
                - { name: x5, ip: 192.168.100.15 }
            """);
        Assert.Equal(5, t.Etcd.Nodes.Length);
        var moved = t.Relocate("other", IPNetwork.Parse("192.168.201.0/24"));
        Assert.Equal("192.168.201.15", moved.Etcd.Nodes[4].Ip.ToString());
        Assert.Empty(TopologyValidator.Validate(moved));
    }

    [Theory]
    [InlineData("etcd: { topology: externl }", "etcd.topology", "stacked or external")]
    [InlineData("etcd: { topology: external, members: 3 }", "etcd.members", "topology, nodes")]
    [InlineData("etcd: { topology: external, nodes: e01 }", "etcd.nodes", "list")]
    [InlineData("etcd: { topology: external, nodes: [ { name: e01 } ] }", "etcd.nodes[0].ip", "fixed address")]
    [InlineData("etcd: { topology: external, nodes: [ { name: e01, ip: 192.168.100.300 } ] }", "etcd.nodes[0].ip", "IPv4")]
    public void Malformed_etcd_sections_name_the_field(string etcd, string field, string fix)
    {
        var e = SingleError(Lab + "\n" + etcd);
        Assert.Equal(field, e.Field);
        Assert.Contains(fix, e.Problem + " " + e.Fix);
        Assert.Equal(8, e.Line);
    }

    [Fact]
    public void Nodes_with_topology_stacked_are_refused_naming_etcd_nodes_and_the_fix()
    {
        var e = SingleError(Lab + "\netcd: { nodes: [ { name: e01, ip: 192.168.100.181 } ] }");
        Assert.Equal("etcd.nodes", e.Field);
        Assert.Contains("stacked", e.Problem);
        Assert.Contains("topology: external", e.Fix);
    }

    [Fact]
    public void An_even_member_count_is_refused_with_quorum_arithmetic()
    {
        var e = SingleError(Lab + "\netcd: { topology: external, nodes: [ { name: e01, ip: 192.168.100.181 }, { name: e02, ip: 192.168.100.182 } ] }");
        Assert.Equal("etcd.nodes", e.Field);
        Assert.Contains("quorum is 2", e.Problem);
        Assert.Contains("odd number", e.Fix);
    }

    [Fact]
    public void No_members_is_refused() =>
        Assert.Equal("etcd.nodes", SingleError(Lab + "\netcd: { topology: external, nodes: [] }").Field);

    [Theory]
    [InlineData("{ name: m02, ip: 192.168.100.185 }", "etcd.nodes[1].name", "master's name")]
    [InlineData("{ name: e01, ip: 192.168.100.185 }", "etcd.nodes[1].name", "more than one")]
    [InlineData("{ name: e02, ip: 192.168.100.192 }", "etcd.nodes[1].ip", "master m02")]
    [InlineData("{ name: e02, ip: 192.168.100.190 }", "etcd.nodes[1].ip", "VIP")]
    [InlineData("{ name: e02, ip: 192.168.100.1 }", "etcd.nodes[1].ip", "gateway")]
    [InlineData("{ name: e02, ip: 10.1.1.1 }", "etcd.nodes[1].ip", "outside the lab subnet")]
    [InlineData("{ name: e02, ip: 192.168.100.181 }", "etcd.nodes[1].ip", "already used by etcd node e01")]
    [InlineData("{ name: E02, ip: 192.168.100.182 }", "etcd.nodes[1].name", "not a valid")]
    public void Clashing_members_are_refused_naming_the_field(string second, string field, string problem)
    {
        var e = SingleError(Lab + $"\netcd: {{ topology: external, nodes: [ {{ name: e01, ip: 192.168.100.181 }}, {second}, {{ name: e03, ip: 192.168.100.183 }} ] }}");
        Assert.Equal(field, e.Field);
        Assert.Contains(problem, e.Problem);
    }

    [Fact]
    public void The_kubeadm_config_names_every_member_and_the_client_files_and_runs_no_local_etcd()
    {
        var t = External;
        var config = KubeadmConfigRenderer.Render(t, t.Nodes[0], new KubernetesBuild());
        Assert.Contains("""
            etcd:
              external:
                endpoints:
                - https://192.168.100.181:2379
                - https://192.168.100.182:2379
                - https://192.168.100.183:2379
                caFile: /etc/kubernetes/pki/etcd/ca.crt
                certFile: /etc/kubernetes/pki/apiserver-etcd-client.crt
                keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key
            """, config);
        Assert.DoesNotContain("local:", config);
        var doc = new YamlDotNet.RepresentationModel.YamlStream();
        doc.Load(new StringReader(config)); // one etcd key per document: valid YAML
        Assert.Equal(4, doc.Documents.Count);
    }

    [Fact]
    public void The_seed_runbook_part_is_unchanged_but_for_the_etcd_section()
    {
        var stacked = TopologyLoader.Parse(Lab);
        var build = new KubernetesBuild();
        var runbook = KubeadmConfigRenderer.RenderRunbookPart(stacked, build);
        var external = KubeadmConfigRenderer.RenderRunbookPart(External, build);
        Assert.StartsWith(runbook, external);
        Assert.Equal(ExternalEtcd.KubeadmSection(External) + "\n", external[runbook.Length..]);
        Assert.Contains("imageTag", KubeadmConfigRenderer.Render(stacked, stacked.Nodes[0], build)); // stacked keeps etcd.local
    }

    [Fact]
    public void The_etcd_containers_are_named_and_labelled_like_nodes_on_fixed_addresses()
    {
        var t = External;
        var images = new LabImageSet("b", "h", "k", "n", "v1.20.2", "busybox", "repo", "3.4.23");
        var spec = ContainerSpecs.Etcd(t, t.Etcd.Nodes[1], images);
        Assert.Equal("hakubelab-e02", spec.Name);
        Assert.Equal("repo/etcd:3.4.23", spec.Image);
        Assert.Equal("hakubelab", spec.Labels[LabLabels.Lab]);
        Assert.Equal("etcd", spec.Labels[LabLabels.Role]);
        Assert.Equal("e02", spec.Labels[LabLabels.Node]);
        Assert.Equal("192.168.100.182", spec.Labels["io.hakubelab.ip"]);
        Assert.Equal("192.168.100.182", spec.NetworkingConfig!.EndpointsConfig!["hakubelab"].IPAMConfig!.IPv4Address);
        Assert.Contains("--initial-cluster=e01=https://192.168.100.181:2380,e02=https://192.168.100.182:2380,e03=https://192.168.100.183:2380", spec.Cmd);
        Assert.Contains("--client-cert-auth=true", spec.Cmd);
        Assert.Null(spec.HostConfig!.RestartPolicy); // a killed member stays down, like a dead host
    }

    private static IEnumerable<Finding> KubeadmFindings(LabTopology? topology, string config) =>
        Linter.Lint([new LintSource("kubeadm-config.yaml", config)], new LintOptions(topology, "v1.20.2")).Findings;

    private static string ClusterConfig(string etcd) => $"""
        apiVersion: kubeadm.k8s.io/v1beta2
        kind: ClusterConfiguration
        kubernetesVersion: v1.20.2
        networking:
          podSubnet: "172.18.0.0/16"
          serviceSubnet: "172.19.0.0/16"
        {etcd}
        """;

    private const string GoodEtcd = """
        etcd:
          external:
            endpoints:
            - https://192.168.100.181:2379
            - https://192.168.100.182:2379
            - https://192.168.100.183:2379
            caFile: /etc/kubernetes/pki/etcd/ca.crt
            certFile: /etc/kubernetes/pki/apiserver-etcd-client.crt
            keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key
        """;

    [Fact]
    public void Lint_passes_the_rendered_external_configuration()
    {
        var t = External;
        var report = Linter.LintTopology(t, new LintOptions(InstalledKubernetesVersion: "v1.20.2"));
        Assert.DoesNotContain(report.Findings, f => f.Id is "KD009" or "KD010" or "KD011");
        Assert.DoesNotContain(KubeadmFindings(t, ClusterConfig(GoodEtcd)), f => f.Id.StartsWith("KD", StringComparison.Ordinal));
    }

    [Fact]
    public void Lint_reports_endpoints_that_are_not_the_etcd_nodes()
    {
        var findings = KubeadmFindings(External, ClusterConfig(GoodEtcd.Replace("192.168.100.183", "192.168.100.184"))).Where(f => f.Id == "KD009").ToList();
        Assert.Equal(2, findings.Count);
        Assert.Contains(findings, f => f.Problem.Contains("https://192.168.100.184:2379 is not one of the topology's etcd nodes"));
        Assert.Contains(findings, f => f.Problem.Contains("etcd node e03 (192.168.100.183) is not among"));
    }

    [Fact]
    public void Lint_reports_external_etcd_against_a_stacked_topology_and_the_reverse()
    {
        Assert.Contains(KubeadmFindings(TopologyLoader.Parse(Lab), ClusterConfig(GoodEtcd)), f => f.Id == "KD009" && f.Problem.Contains("stacked"));
        Assert.Contains(KubeadmFindings(External, ClusterConfig("")), f => f.Id == "KD009" && f.Problem.Contains("no etcd.external"));
    }

    [Theory]
    [InlineData("    caFile: /etc/kubernetes/pki/etcd/ca.crt", "caFile")]
    [InlineData("    keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key", "keyFile")]
    public void Lint_reports_missing_tls_files(string line, string name)
    {
        var f = Assert.Single(KubeadmFindings(null, ClusterConfig(GoodEtcd.Replace(line, ""))), f => f.Id == "KD010");
        Assert.Contains(name, f.Problem);
        Assert.Equal(LintSeverity.Error, f.Severity);
    }

    [Fact]
    public void Lint_reports_local_and_external_together_plain_http_and_an_even_count()
    {
        var both = GoodEtcd.Replace("etcd:\n", "etcd:\n  local:\n    imageTag: \"3.4.23\"\n");
        Assert.Contains(KubeadmFindings(null, ClusterConfig(both)), f => f.Id == "KD010" && f.Problem.Contains("both"));
        var plain = "etcd:\n  external:\n    endpoints: [ \"http://10.0.0.5:2379\" ]";
        Assert.Contains(KubeadmFindings(null, ClusterConfig(plain)), f => f.Id == "KD010" && f.Problem.Contains("plain http"));
        var even = GoodEtcd.Replace("    - https://192.168.100.183:2379\n", "");
        var warning = Assert.Single(KubeadmFindings(null, ClusterConfig(even)), f => f.Id == "KD011");
        Assert.Equal(LintSeverity.Warning, warning.Severity);
        Assert.Contains("quorum is 2", warning.Problem);
    }

    [Fact]
    public void Etcd_kill_on_a_master_says_it_does_not_apply_to_external_etcd()
    {
        var e = Assert.Throws<ArgumentException>(() => HaKubeLab.Failover.FailoverModel.Predict(External, HaKubeLab.Failover.FaultKind.EtcdKill, "m01"));
        Assert.Contains("does not apply", e.Message);
        Assert.Contains("hakubelab-e01", e.Message);
        HaKubeLab.Failover.FailoverModel.Predict(TopologyLoader.Parse(Lab), HaKubeLab.Failover.FaultKind.EtcdKill, "m01"); // stacked: predicted as before
    }
}
