using System.Net;
using HaKubeLab.Runtime;

namespace HaKubeLab.Tests.Unit;

/// <summary>The subnet check against the host's own routes and interfaces (the route table is injected).</summary>
public class HostNetworkGuardTests
{
    // /proc/net/route of a laptop: default via 192.168.1.1 on wlan0, its LAN, Docker's default bridge, a lab's bridge.
    private const string ProcNetRoute =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       \n" +
        "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0                                                                               \n" +
        "wlan0\t0001A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0                                                                               \n" +
        "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0                                                                            \n" +
        "br-0123456789ab\t0064A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0                                                                    \n" +
        "tun0\t0000000A\t00000000\t0000\t0\t0\t0\t000000FF\t0\t0\t0                                                                               \n";

    private static readonly IReadOnlySet<string> DockerBridges = HostNetworkGuard.DockerBridges(
    [
        ("f00dfeedbeef00112233", "bridge", new Dictionary<string, string> { [HostNetworkGuard.BridgeNameOption] = "docker0" }),
        ("0123456789abcdef0123", "bridge", null), // the lab's own network from an earlier up: bridge br-0123456789ab
        ("aaaaaaaaaaaa00000000", "host", null),
    ]);

    [Fact]
    public void Proc_net_route_is_read_with_interface_network_and_prefix_and_only_routes_that_are_up()
    {
        var routes = HostNetworkGuard.ParseProcNetRoute(ProcNetRoute);
        Assert.Equal(
            ["wlan0 0.0.0.0/0", "wlan0 192.168.1.0/24", "docker0 172.17.0.0/16", "br-0123456789ab 192.168.100.0/24"],
            routes.Select(r => $"{r.Interface} {r.Network}"));
    }

    [Fact]
    public void A_subnet_overlapping_a_host_route_is_refused_naming_the_route_and_the_fix()
    {
        var problem = HostNetworkGuard.Check(IPNetwork.Parse("192.168.1.0/24"), HostNetworkGuard.ParseProcNetRoute(ProcNetRoute), DockerBridges);
        Assert.NotNull(problem);
        Assert.StartsWith("subnet: 192.168.1.0/24 overlaps the host's route 192.168.1.0/24 dev wlan0.", problem);
        Assert.Contains("Fix: set another 'subnet'", problem);

        var error = Assert.Throws<LabException>(() => HostNetworkGuard.EnsureFree(IPNetwork.Parse("192.168.0.0/16"), HostNetworkGuard.ParseProcNetRoute(ProcNetRoute), DockerBridges));
        Assert.Contains("route 192.168.1.0/24 dev wlan0", error.Message);
    }

    [Fact]
    public void A_subnet_overlapping_an_interface_address_is_refused_naming_the_interface()
    {
        HostRoute[] host = [new("eth1", IPNetwork.Parse("10.20.0.0/16"), IPAddress.Parse("10.20.3.4"))];
        var problem = HostNetworkGuard.Check(IPNetwork.Parse("10.20.30.0/24"), host, DockerBridges);
        Assert.Contains("the host's address 10.20.3.4/16 of interface eth1", problem);
    }

    [Fact]
    public void A_subnet_overlapping_only_dockers_bridge_of_the_same_lab_is_accepted()
    {
        // 192.168.100.0/24 is routed to br-0123456789ab, the bridge of the lab's own Docker network (a second 'up').
        HostRoute[] host = [.. HostNetworkGuard.ParseProcNetRoute(ProcNetRoute), new("br-0123456789ab", IPNetwork.Parse("192.168.100.0/24"), IPAddress.Parse("192.168.100.1"))];
        Assert.Null(HostNetworkGuard.Check(IPNetwork.Parse("192.168.100.0/24"), host, DockerBridges));
    }

    [Fact]
    public void A_bridge_of_no_existing_docker_network_counts_like_any_interface()
    {
        HostRoute[] host = [new("br-ffffffffffff", IPNetwork.Parse("192.168.157.0/24"))];
        Assert.Contains("dev br-ffffffffffff", HostNetworkGuard.Check(IPNetwork.Parse("192.168.157.0/24"), host, DockerBridges));
    }

    [Fact]
    public void The_default_route_does_not_count_as_an_overlap()
    {
        HostRoute[] host = [new("wlan0", IPNetwork.Parse("0.0.0.0/0"))];
        Assert.Null(HostNetworkGuard.Check(IPNetwork.Parse("192.168.155.0/24"), host, DockerBridges));
        Assert.Null(HostNetworkGuard.Check(IPNetwork.Parse("192.168.155.0/24"), HostNetworkGuard.ParseProcNetRoute(ProcNetRoute), DockerBridges));
    }

    [Fact]
    public void A_wider_route_such_as_a_vpns_is_an_overlap_too()
    {
        HostRoute[] host = [new("tun0", IPNetwork.Parse("192.168.0.0/16"))];
        Assert.Contains("route 192.168.0.0/16 dev tun0", HostNetworkGuard.Check(IPNetwork.Parse("192.168.155.0/24"), host, DockerBridges));
    }

    [Fact]
    public void Dockers_bridges_are_docker0_and_br_id_or_the_named_bridge_of_bridge_networks_only()
    {
        Assert.Equal(["br-0123456789ab", "docker0"], DockerBridges.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void This_hosts_routes_are_read_without_error()
    {
        var host = HostNetworkGuard.ReadHost();
        Assert.NotEmpty(host); // at least the loopback interface
        Assert.All(host, r => Assert.False(string.IsNullOrEmpty(r.Interface)));
    }
}
