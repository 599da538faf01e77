using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using YamlDotNet.RepresentationModel;

namespace HaKubeLab.Tests.Unit;

/// <summary>
/// docker-compose.lab.yml against the runtime's own container specs: the nodes and sidecars compose makes
/// get the settings <c>./hakubelab up</c> gives them, every object carries the lab's label, and the file
/// stays within what Debian's docker-compose 1.29 (v1, file format 2.4) understands.
/// </summary>
public class ComposeFileTests
{
    private static readonly YamlMappingNode Root = Load();
    private static readonly string[] NodeNames = ["m01", "m02", "m03"];
    private const string LabLabelValue = "${HAKUBELAB_LAB:-hakubelab}";

    private static YamlMappingNode Load()
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(Path.Combine(RepositoryLayout.Root(), "docker-compose.lab.yml"));
        stream.Load(reader);
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    /// <summary>A service with its YAML merge keys (<c>&lt;&lt;: *node</c>) applied, as compose reads it.</summary>
    private static Dictionary<string, YamlNode> Service(string name)
    {
        var raw = (YamlMappingNode)((YamlMappingNode)Root["services"])[name];
        var merged = new Dictionary<string, YamlNode>();
        if (raw.Children.TryGetValue(new YamlScalarNode("<<"), out var template))
            foreach (var (k, v) in (YamlMappingNode)template) merged[((YamlScalarNode)k).Value!] = v;
        foreach (var (k, v) in raw.Children.Where(c => ((YamlScalarNode)c.Key).Value != "<<")) merged[((YamlScalarNode)k).Value!] = v;
        return merged;
    }

    private static List<string> Strings(YamlNode node) => [.. ((YamlSequenceNode)node).Children.Select(n => ((YamlScalarNode)n).Value!)];

    private static string Scalar(YamlNode node) => ((YamlScalarNode)node).Value!;

    private static string Label(YamlNode labels, string key) => Scalar(((YamlMappingNode)labels)[key]);

    [Fact]
    public void Uses_file_format_2_4_which_compose_v1_and_v2_both_read_and_no_key_v1_lacks()
    {
        Assert.Equal("2.4", Scalar(Root["version"]));
        foreach (var name in ((YamlMappingNode)Root["services"]).Children.Keys.Select(k => ((YamlScalarNode)k).Value!))
            Assert.DoesNotContain("cgroup", Service(name).Keys); // compose v1 has no cgroup key: never a silent difference
    }

    [Fact]
    public void Nodes_get_the_runtimes_kind_style_settings()
    {
        var topology = LabTopology.Default;
        foreach (var name in NodeNames)
        {
            var spec = ContainerSpecs.Node(topology, topology.Node(name), new LabImageSet("b", "h", "k", "n", "v1.20.2", "busybox", "repo", "3.4.23"), new ContainerSpecs.NodeSecurity(false, ["SYS_RESOURCE"]));
            var s = Service(name);
            Assert.Equal(spec.HostConfig!.CapAdd, Strings(s["cap_add"]));
            Assert.Contains("SYS_RESOURCE", Strings(s["cap_drop"]).Select(c => c.Split(":-").Last().TrimEnd('}')));
            Assert.Equal(spec.HostConfig!.SecurityOpt!.Order(), Strings(s["security_opt"]).Order());
            Assert.Equal(spec.HostConfig!.DeviceCgroupRules, Strings(s["device_cgroup_rules"]));
            Assert.Equal(spec.HostConfig!.Devices!.Select(d => $"{d.PathOnHost}:{d.PathInContainer}"), Strings(s["devices"]));
            Assert.Equal(spec.HostConfig!.Tmpfs!.Keys.Order(), Strings(s["tmpfs"]).Order());
            Assert.Contains(Strings(s["volumes"]), v => v == $"{name}-var:/var");
            Assert.Equal(spec.Env, Strings(s["environment"]));
            Assert.Equal("SIGRTMIN+3", Scalar(s["stop_signal"]));
            Assert.Equal(spec.Hostname, Scalar(s["hostname"]));
            Assert.Equal($"{LabLabelValue}-{name}", Scalar(s["container_name"]));
            Assert.Equal("node", Label(s["labels"], LabLabels.Role));
            Assert.Equal(name, Label(s["labels"], LabLabels.Node));
            // systempaths=unconfined is a CLI option the engine refuses: the compose entrypoint does its work.
            Assert.Equal("/usr/local/bin/hakubelab-compose-node-entrypoint", Strings(s["entrypoint"]).Single());
            Assert.Contains(Strings(s["volumes"]), v => v.EndsWith("scripts/compose/node-entrypoint.sh:/usr/local/bin/hakubelab-compose-node-entrypoint:ro", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Sidecars_live_in_their_nodes_network_namespace_as_the_runtime_makes_them()
    {
        var topology = LabTopology.Default;
        var images = new LabImageSet("b", "h", "k", "n", "v1.20.2", "busybox", "repo", "3.4.23");
        foreach (var name in NodeNames)
        {
            var haproxy = Service($"{name}-haproxy");
            var keepalived = Service($"{name}-keepalived");
            Assert.Equal($"service:{name}", Scalar(haproxy["network_mode"]));
            Assert.Equal($"service:{name}", Scalar(keepalived["network_mode"]));
            Assert.Equal("always", Scalar(haproxy["restart"]));
            Assert.Equal(ContainerSpecs.Keepalived(topology, topology.Node(name), images, "").HostConfig!.CapAdd!.Order(), Strings(keepalived["cap_add"]).Order());
            Assert.Contains(Strings(haproxy["volumes"]), v => v.EndsWith($"/{name}/etc/haproxy:/usr/local/etc/haproxy:ro", StringComparison.Ordinal));
            Assert.Contains(Strings(keepalived["volumes"]), v => v.EndsWith($"/{name}/etc/keepalived/keepalived.conf:/container/service/keepalived/assets/keepalived.conf:ro", StringComparison.Ordinal));
            Assert.Equal($"{LabLabelValue}-{name}-haproxy", Scalar(haproxy["container_name"]));
            Assert.Equal($"{LabLabelValue}-{name}-keepalived", Scalar(keepalived["container_name"]));
        }
    }

    [Fact]
    public void Every_service_network_and_volume_carries_the_lab_label_so_down_finds_it()
    {
        foreach (var (key, value) in (YamlMappingNode)Root["services"])
            Assert.Equal(LabLabelValue, Label(Service(((YamlScalarNode)key).Value!)["labels"], LabLabels.Lab));
        foreach (var (_, value) in (YamlMappingNode)Root["networks"])
            Assert.Equal(LabLabelValue, Label(((YamlMappingNode)value)["labels"], LabLabels.Lab));
        foreach (var (_, value) in (YamlMappingNode)Root["volumes"])
            Assert.Equal(LabLabelValue, Label(((YamlMappingNode)value)["labels"], LabLabels.Lab));
        // The network carries what `status` reads from it: VIP, ports, subnet.
        var labels = (YamlMappingNode)((YamlMappingNode)((YamlMappingNode)Root["networks"])["lab"])["labels"];
        foreach (var k in new[] { "io.hakubelab.vip", "io.hakubelab.lb-port", "io.hakubelab.apiserver-port", "io.hakubelab.subnet" })
            Assert.True(labels.Children.ContainsKey(new YamlScalarNode(k)), $"network label {k} missing");
    }

    [Fact]
    public void Defaults_are_the_runbooks_addresses_and_every_one_can_be_moved()
    {
        var t = LabTopology.Default;
        var text = File.ReadAllText(Path.Combine(RepositoryLayout.Root(), "docker-compose.lab.yml"));
        Assert.Contains($"${{HAKUBELAB_SUBNET:-{t.Subnet}}}", text);
        Assert.Contains($"${{HAKUBELAB_VIP:-{t.Vip}}}", text);
        foreach (var n in t.Nodes) Assert.Contains($"${{HAKUBELAB_{n.Name.ToUpperInvariant()}_IP:-{n.Ip}}}", text);
        Assert.Contains($"${{HAKUBELAB_GATEWAY:-{t.Gateway}}}", text);
    }
}
