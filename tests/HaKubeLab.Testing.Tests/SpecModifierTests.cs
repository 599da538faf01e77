#nullable disable warnings
using Docker.DotNet.Models;
using HaKubeLab.Rendering;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using Xunit;

namespace HaKubeLab.Testing.Tests;

/// <summary>The Testcontainers modifiers carry the runtime's spec into the create parameters (no Docker).</summary>
public class SpecModifierTests
{
    private static readonly LabImageSet Images = new("b", "hakubelab/haproxy:x", "hakubelab/keepalived:x", "hakubelab/node:x", LabVersions.Kubernetes, "", LabVersions.ImageRepository, LabVersions.Etcd);
    private static readonly LabTopology Topology = LabTopology.Default.Relocate("hkl-qa-unit", System.Net.IPNetwork.Parse("192.168.171.0/24"));

    /// <summary>What Testcontainers builds before modifiers run: one endpoint instance shared across networks, its own host config.</summary>
    private static CreateContainerParameters AsTestcontainersBuildsIt(string network)
    {
        var shared = new EndpointSettings { Aliases = ["x"] };
        return new CreateContainerParameters
        {
            HostConfig = new HostConfig { NetworkMode = network, Privileged = false, PublishAllPorts = false },
            NetworkingConfig = new NetworkingConfig { EndpointsConfig = new Dictionary<string, EndpointSettings> { [network] = shared, ["other"] = shared } },
        };
    }

    [Fact]
    public void A_node_gets_its_fixed_ip_in_a_new_endpoint_and_every_host_setting_of_the_spec()
    {
        var node = Topology.Nodes[1];
        var spec = ContainerSpecs.Node(Topology, node, Images, new ContainerSpecs.NodeSecurity(false, ["SYS_RESOURCE"]));
        var created = AsTestcontainersBuildsIt(Topology.Name);
        var shared = created.NetworkingConfig.EndpointsConfig["other"];

        SpecModifiers.ApplyAll(created, spec);

        var endpoint = created.NetworkingConfig.EndpointsConfig[Topology.Name];
        Assert.Equal(node.Ip.ToString(), endpoint.IPAMConfig.IPv4Address);
        Assert.NotSame(shared, endpoint);
        Assert.Null(shared.IPAMConfig); // the shared instance is not mutated
        Assert.Equal(spec.HostConfig.CapAdd, created.HostConfig.CapAdd);
        Assert.Equal(spec.HostConfig.CapDrop, created.HostConfig.CapDrop);
        Assert.Equal("private", created.HostConfig.CgroupnsMode);
        Assert.Equal(spec.HostConfig.SecurityOpt, created.HostConfig.SecurityOpt);
        Assert.Equal(spec.HostConfig.DeviceCgroupRules, created.HostConfig.DeviceCgroupRules);
        Assert.Equal(spec.HostConfig.Tmpfs, created.HostConfig.Tmpfs);
        Assert.Equal(spec.HostConfig.Mounts.Select(m => m.Target), created.HostConfig.Mounts.Select(m => m.Target));
        Assert.Empty(created.HostConfig.MaskedPaths);
    }

    [Fact]
    public void A_sidecar_joins_its_node_namespace_with_no_endpoint_hostname_or_ports()
    {
        var node = Topology.Nodes[0];
        var spec = ContainerSpecs.Keepalived(Topology, node, Images, "conf");
        var created = AsTestcontainersBuildsIt(Topology.Name);
        created.Hostname = "random";

        SpecModifiers.ApplyAll(created, spec);

        Assert.Equal($"container:{LabNames.Container(Topology.Name, node.Name, LabRole.Node)}", created.HostConfig.NetworkMode);
        Assert.Null(created.NetworkingConfig);
        Assert.Null(created.Hostname);
        Assert.Equal(["NET_ADMIN", "NET_BROADCAST", "NET_RAW"], created.HostConfig.CapAdd);
        Assert.Equal(RestartPolicyKind.Always, created.HostConfig.RestartPolicy.Name);
        Assert.Single(created.HostConfig.Binds, b => b.EndsWith(":/container/service/keepalived/assets/keepalived.conf:ro", StringComparison.Ordinal));
    }

    [Fact]
    public void A_node_spec_is_refused_as_a_sidecar_with_the_reason()
    {
        var spec = ContainerSpecs.Node(Topology, Topology.Nodes[0], Images, new ContainerSpecs.NodeSecurity(true, []));
        var e = Assert.Throws<ArgumentException>(() => SpecModifiers.SharedNetworkNamespace(new CreateContainerParameters(), spec));
        Assert.Contains("not container:<node>", e.Message);
    }

    [Fact]
    public void Profiles_and_subnet_ranges_are_checked_with_the_fix()
    {
        Assert.Equal(RenderProfile.Recommended, LabOptions.FromProfile("Recommended").Profile);
        var e = Assert.Throws<ArgumentException>(() => LabOptions.FromProfile("kind"));
        Assert.Contains("use 'seed', 'recommended' or 'fast'", e.Message);
        Assert.Equal(RenderProfile.Fast, LabOptions.FromProfile("fast").Profile);
        Environment.SetEnvironmentVariable("HAKUBELAB_TEST_SUBNETS", "192.168.170.0/24-192.168.172.0/24");
        try { Assert.Equal(["192.168.170.0/24", "192.168.171.0/24", "192.168.172.0/24"], TestLabNaming.Subnets().Select(s => s.ToString())); }
        finally { Environment.SetEnvironmentVariable("HAKUBELAB_TEST_SUBNETS", "192.168.170.0/24-192.168.179.0/24"); }
    }
}
