using HaKubeLab.Topology;

namespace HaKubeLab.Tests.Unit;

public class TopologyLoaderTests
{
    private const string IssueExample = """
        name: hakubelab
        subnet: 192.168.100.0/24
        vip: 192.168.100.190
        loadBalancer: { port: 9443 }
        keepalived: { virtualRouterId: 51, advertInterval: 1, checkInterval: 2, weight: 11, nopreempt: true }
        nodes:
          - { name: m01, ip: 192.168.100.191, state: MASTER, priority: 100 }
          - { name: m02, ip: 192.168.100.192 }   # state BACKUP, priority 100 unless given
          - { name: m03, ip: 192.168.100.193 }
        kubernetes: { podSubnet: 172.18.0.0/16, serviceSubnet: 172.19.0.0/16 }
        """;

    private static TopologyError SingleError(string yaml)
    {
        var e = Assert.Throws<TopologyException>(() => TopologyLoader.Parse(yaml, "lab.yaml"));
        return Assert.Single(e.Errors);
    }

    [Fact]
    public void The_documented_example_equals_the_runbook_defaults()
    {
        var t = TopologyLoader.Parse(IssueExample);
        var d = LabTopology.Default;
        Assert.Equal(d.Name, t.Name);
        Assert.Equal(d.Subnet, t.Subnet);
        Assert.Equal(d.Vip, t.Vip);
        Assert.Equal(d.Keepalived, t.Keepalived);
        Assert.Equal(d.LoadBalancer, t.LoadBalancer);
        Assert.Equal(d.Nodes.ToArray(), t.Nodes.ToArray());
        Assert.Equal(d.Kubernetes, t.Kubernetes);
    }

    [Fact]
    public void An_empty_file_is_the_runbook_lab() => Assert.Equal(LabTopology.Default.Nodes.ToArray(), TopologyLoader.Parse("").Nodes.ToArray());

    [Fact]
    public void Defaults_are_valid() => Assert.Empty(TopologyValidator.Validate(LabTopology.Default));

    [Fact]
    public void Vip_outside_the_subnet_is_refused_with_the_network_rule()
    {
        var e = SingleError(IssueExample.Replace("vip: 192.168.100.190", "vip: 10.0.0.190"));
        Assert.Equal("vip", e.Field);
        Assert.Contains("outside the lab subnet", e.Problem);
        Assert.Contains("default route", e.Problem);
        Assert.Equal(3, e.Line);
    }

    [Fact]
    public void Vip_equal_to_a_node_ip_is_refused()
    {
        var e = SingleError(IssueExample.Replace("vip: 192.168.100.190", "vip: 192.168.100.192"));
        Assert.Equal("nodes[1].ip", e.Field);
        Assert.Contains("also the VIP", e.Problem);
    }

    [Fact]
    public void Duplicate_names_are_refused()
    {
        var e = SingleError(IssueExample.Replace("name: m03", "name: m02"));
        Assert.Equal("nodes[2].name", e.Field);
        Assert.Contains("more than one node", e.Problem);
    }

    [Fact]
    public void Duplicate_ips_are_refused()
    {
        var e = SingleError(IssueExample.Replace("ip: 192.168.100.193", "ip: 192.168.100.192"));
        Assert.Equal("nodes[2].ip", e.Field);
        Assert.Contains("already used by m02", e.Problem);
    }

    [Fact]
    public void Node_ip_outside_the_subnet_is_refused()
    {
        var e = SingleError(IssueExample.Replace("ip: 192.168.100.193", "ip: 192.168.101.193"));
        Assert.Equal("nodes[2].ip", e.Field);
        Assert.Contains("outside the lab subnet", e.Problem);
        Assert.Equal(9, e.Line);
    }

    [Theory]
    [InlineData("subnet: 192.168.100.0", "subnet", "not an IPv4 CIDR")]
    [InlineData("subnet: 192.168.300.0/24", "subnet", "not an IPv4 CIDR")]
    [InlineData("subnet: 192.168.100.0/33", "subnet", "not an IPv4 CIDR")]
    [InlineData("vip: 192.168.100", "vip", "not an IPv4 address")]
    [InlineData("vip: fe80::1", "vip", "not an IPv4 address")]
    public void Malformed_addresses_name_the_field(string line, string field, string problem)
    {
        var key = line.Split(':')[0];
        var yaml = string.Join('\n', IssueExample.Split('\n').Select(l => l.StartsWith(key + ":") ? line : l));
        var e = SingleError(yaml);
        Assert.Equal(field, e.Field);
        Assert.Contains(problem, e.Problem);
    }

    [Fact]
    public void A_host_address_given_as_a_subnet_gets_the_network_as_fix()
    {
        // The runbook's own POD_SUBNET=172.18.0.1/16 is such a host address.
        var e = SingleError(IssueExample.Replace("podSubnet: 172.18.0.0/16", "podSubnet: 172.18.0.1/16"));
        Assert.Equal("kubernetes.podSubnet", e.Field);
        Assert.Contains("host bits", e.Problem);
        Assert.Contains("172.18.0.0/16", e.Fix);
    }

    [Fact]
    public void Unknown_keys_are_refused_with_their_line_and_a_hint()
    {
        var e = SingleError(IssueExample.Replace("loadBalancer: { port: 9443 }", "loadBalancer: { Port: 9443 }"));
        Assert.Equal("loadBalancer.Port", e.Field);
        Assert.Equal(4, e.Line);
        Assert.Contains("'port'", e.Fix);

        var top = SingleError(IssueExample + "\nvips: 192.168.100.189\n");
        Assert.Equal("vips", top.Field);
        Assert.Contains("name, subnet, vip", top.Fix);
    }

    [Fact]
    public void Fewer_than_two_nodes_are_refused()
    {
        var e = SingleError("nodes:\n  - { name: m01, ip: 192.168.100.191 }\n");
        Assert.Equal("nodes", e.Field);
        Assert.Contains("at least 2", e.Problem);
    }

    [Theory]
    [InlineData("loadBalancer: { port: 0 }", "loadBalancer.port")]
    [InlineData("loadBalancer: { port: 70000 }", "loadBalancer.port")]
    [InlineData("kubernetes: { apiServerPort: 65536 }", "kubernetes.apiServerPort")]
    public void Ports_out_of_range_are_refused(string line, string field)
    {
        var e = SingleError(line);
        Assert.Equal(field, e.Field);
        Assert.Contains("not a TCP port", e.Problem);
    }

    [Fact]
    public void Every_error_is_reported_at_once()
    {
        var e = Assert.Throws<TopologyException>(() => TopologyLoader.Parse("vip: 10.1.1.1\nloadBalancer: { port: 0 }\nkeepalived: { authPass: waytoolongpassword }\n"));
        Assert.Equal(["vip", "loadBalancer.port", "keepalived.authPass"], e.Errors.Select(x => x.Field));
        Assert.Contains("lab.yaml", new TopologyException(e.Errors.Select(x => x with { File = "lab.yaml" }).ToList()).Message);
    }

    [Fact]
    public void Wrong_types_and_bad_yaml_say_where()
    {
        var typeError = SingleError("keepalived: { weight: eleven }");
        Assert.Equal("keepalived.weight", typeError.Field);
        Assert.Contains("whole number", typeError.Problem);

        var syntax = SingleError("nodes:\n  - { name: m01, ip: 192.168.100.191\n");
        Assert.Equal("(file)", syntax.Field);
        Assert.NotNull(syntax.Line);
    }

    [Fact]
    public void A_missing_file_names_the_option()
    {
        var e = Assert.Throws<TopologyException>(() => TopologyLoader.LoadFile("/nonexistent/lab.yaml"));
        Assert.Equal("--topology", Assert.Single(e.Errors).Field);
    }

    [Fact]
    public void Relocate_keeps_host_parts_and_stays_valid()
    {
        var moved = LabTopology.Default.Relocate("hkl-test", System.Net.IPNetwork.Parse("192.168.231.0/24"));
        Assert.Equal("192.168.231.190", moved.Vip.ToString());
        Assert.Equal(["192.168.231.191", "192.168.231.192", "192.168.231.193"], moved.Nodes.Select(n => n.Ip.ToString()));
        Assert.Empty(TopologyValidator.Validate(moved));
    }
}
