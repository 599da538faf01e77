using System.Net;
using System.Text.RegularExpressions;

namespace HaKubeLab.Topology;

/// <summary>
/// Checks a topology before anything is created. The VIP must lie inside the lab subnet: a packet
/// to an address outside every local subnet would leave the machine through the default route.
/// </summary>
public static partial class TopologyValidator
{
    /// <summary>VRRP PASS authentication carries at most 8 characters; keepalived truncates longer ones.</summary>
    public const int MaxAuthPassLength = 8;

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    // Docker's reference grammar for a repository (host[:port]/path), without tag or digest.
    [GeneratedRegex(@"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$")]
    private static partial Regex ImageRepository();

    /// <summary>Every error in <paramref name="topology"/>; empty when it is valid.</summary>
    /// <param name="lineOf">Maps a field path to its line in the source file, when there is one.</param>
    public static IReadOnlyList<TopologyError> Validate(LabTopology topology, Func<string, int?>? lineOf = null, string? file = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var errors = new List<TopologyError>();
        void Error(string field, string problem, string fix) => errors.Add(new(field, problem, fix, file, lineOf?.Invoke(field)));

        if (!DnsLabel().IsMatch(topology.Name))
            Error("name", $"'{topology.Name}' is not a valid lab name.", "use 1-40 lower-case letters, digits and '-', starting and ending with a letter or digit (e.g. hakubelab).");

        var subnet = topology.Subnet;
        if (subnet.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            Error("subnet", $"{subnet} is not IPv4.", "use an IPv4 CIDR such as 192.168.100.0/24.");
        else if (subnet.PrefixLength is < 16 or > 29)
            Error("subnet", $"prefix /{subnet.PrefixLength} is outside /16../29.", "use a subnet between /16 and /29, e.g. 192.168.100.0/24.");
        else if (IPAddress.IsLoopback(subnet.BaseAddress))
            Error("subnet", $"{subnet} is a loopback range.", "use a private range such as 192.168.100.0/24.");

        if (!subnet.Contains(topology.Vip))
            Error("vip", $"{topology.Vip} is outside the lab subnet {subnet}; traffic to it would leave the machine through the default route.", $"pick a free address inside {subnet}.");
        else if (IpMath.IsNetworkOrBroadcast(topology.Vip, subnet) || topology.Vip.Equals(topology.Gateway))
            Error("vip", $"{topology.Vip} is the network, broadcast or gateway address of {subnet}.", "pick an unused host address, not .0, .1 or the broadcast address.");

        if (topology.Nodes.Length < 2)
            Error("nodes", $"{topology.Nodes.Length} node(s) given; VRRP failover needs at least 2.", "list at least two nodes (the runbook uses three: m01-m03).");

        var names = new HashSet<string>();
        var ips = new Dictionary<IPAddress, string>();
        for (var i = 0; i < topology.Nodes.Length; i++)
        {
            var node = topology.Nodes[i];
            var at = $"nodes[{i}]";
            if (!DnsLabel().IsMatch(node.Name))
                Error($"{at}.name", $"'{node.Name}' is not a valid node name.", "use lower-case letters, digits and '-', e.g. m01.");
            else if (!names.Add(node.Name))
                Error($"{at}.name", $"'{node.Name}' is used by more than one node.", "give every node its own name.");

            if (!subnet.Contains(node.Ip))
                Error($"{at}.ip", $"{node.Ip} is outside the lab subnet {subnet}.", $"pick an address inside {subnet}.");
            else if (IpMath.IsNetworkOrBroadcast(node.Ip, subnet) || node.Ip.Equals(topology.Gateway))
                Error($"{at}.ip", $"{node.Ip} is the network, broadcast or gateway address of {subnet}.", "pick an unused host address.");
            if (node.Ip.Equals(topology.Vip))
                Error($"{at}.ip", $"{node.Ip} is also the VIP; the VIP must be an address no node owns.", "give the node or the VIP another address.");
            else if (ips.TryGetValue(node.Ip, out var other))
                Error($"{at}.ip", $"{node.Ip} is already used by {other}.", "give every node its own address.");
            else
                ips[node.Ip] = node.Name;

            if (node.Priority is < 1 or > 254)
                Error($"{at}.priority", $"{node.Priority} is outside VRRP's 1..254.", "use a priority from 1 to 254 (the runbook uses 100).");
        }

        CheckEtcd(topology, ips, Error);

        CheckPort(topology.LoadBalancer.Port, "loadBalancer.port", Error);
        CheckPort(topology.Kubernetes.ApiServerPort, "kubernetes.apiServerPort", Error);
        if (topology.LoadBalancer.Port == topology.Kubernetes.ApiServerPort)
            Error("loadBalancer.port", $"haproxy and the apiserver would both bind {topology.LoadBalancer.Port} on every node.", "use another port for haproxy (the runbook uses 9443).");

        var k = topology.Keepalived;
        if (k.VirtualRouterId is < 1 or > 255)
            Error("keepalived.virtualRouterId", $"{k.VirtualRouterId} is outside 1..255.", "use a virtual router id from 1 to 255 (the runbook uses 51).");
        var ai = k.AdvertInterval.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (topology.Profile == RenderProfile.Fast)
        {
            // VRRPv3 carries the interval in centiseconds (12 bits): 0.01 .. 40.95 s.
            if (!(k.AdvertInterval is >= 0.01 and <= 40.95) || Math.Abs(k.AdvertInterval * 100 - Math.Round(k.AdvertInterval * 100)) > 1e-9)
                Error("keepalived.advertInterval", $"{ai} s cannot be carried by VRRPv3 (hundredths of a second from 0.01 to 40.95).", "use e.g. 0.1 (the fast profile's default).");
            if (k.AuthPass is not null)
                Error("keepalived.authPass", "is set, but the fast profile speaks VRRPv3, which has no authentication (keepalived refuses it).",
                    "leave authPass out: the fast profile accepts adverts only from the other nodes' addresses (unicast_peer with check_unicast_src) on the lab's private bridge.");
        }
        else if (k.AdvertInterval is < 1 or > 255 || k.AdvertInterval != Math.Floor(k.AdvertInterval))
            Error("keepalived.advertInterval", k.AdvertInterval < 1
                    ? $"{ai} s is below 1 s: VRRPv2 (profile {topology.Profile.ToString().ToLowerInvariant()}) carries whole seconds only."
                    : $"{ai} s is not a whole number of seconds from 1 to 255 (VRRPv2).",
                k.AdvertInterval < 1 ? "set 'profile: fast' (VRRPv3, sub-second adverts), or use whole seconds from 1 to 255." : "use whole seconds from 1 to 255, or 'profile: fast' for hundredths.");
        if (k.CheckInterval is < 1 or > 3600)
            Error("keepalived.checkInterval", $"{k.CheckInterval} s is outside 1..3600 (keepalived 2.2.7 runs track scripts at whole seconds only).", "use whole seconds, e.g. 2 (the fast profile uses 1).");
        if (k.Weight is < -253 or > 253)
            Error("keepalived.weight", $"{k.Weight} is outside -253..253.", "use a weight from -253 to 253.");
        if (k.Fall < 1) Error("keepalived.fall", $"{k.Fall} must be at least 1.", "use 1 or more.");
        if (k.Rise < 1) Error("keepalived.rise", $"{k.Rise} must be at least 1.", "use 1 or more.");
        if (string.IsNullOrWhiteSpace(k.Interface))
            Error("keepalived.interface", "is empty.", "name the node interface on the lab network (eth0).");
        if (k.AuthPass is { } pass && (pass.Length is 0 or > MaxAuthPassLength || pass.Any(char.IsWhiteSpace)))
            Error("keepalived.authPass", $"must be 1-{MaxAuthPassLength} characters without spaces (VRRP PASS authentication carries 8).", "shorten it, or leave it out to have one generated per lab.");

        var kube = topology.Kubernetes;
        if (IpMath.Overlaps(kube.PodSubnet, kube.ServiceSubnet))
            Error("kubernetes.podSubnet", $"{kube.PodSubnet} overlaps the service subnet {kube.ServiceSubnet}.", "use disjoint ranges (runbook: pods 172.18.0.0/16, services 172.19.0.0/16).");
        if (IpMath.Overlaps(kube.PodSubnet, subnet))
            Error("kubernetes.podSubnet", $"{kube.PodSubnet} overlaps the lab subnet {subnet}.", "use a pod range apart from the node network.");
        if (IpMath.Overlaps(kube.ServiceSubnet, subnet))
            Error("kubernetes.serviceSubnet", $"{kube.ServiceSubnet} overlaps the lab subnet {subnet}.", "use a service range apart from the node network.");
        // The lab builds one Kubernetes line from Debian's source; it renders the patch release it built (the runbook's v1.20.0 becomes v1.20.2).
        var minor = Runtime.LabVersions.KubernetesMinor;
        if (!kube.Version.StartsWith(minor + ".", StringComparison.Ordinal) && kube.Version != minor)
            Error("kubernetes.version", $"'{kube.Version}' cannot be provided: the lab builds Kubernetes {Runtime.LabVersions.Kubernetes} from Debian's source package and nothing else.",
                $"use a {minor}.x version (the runbook's v1.20.0 is rendered as {Runtime.LabVersions.Kubernetes}), or leave it out.");
        if (!ImageRepository().IsMatch(kube.ImageRepository))
            Error("kubernetes.imageRepository", $"'{kube.ImageRepository}' is not an image repository name.",
                $"use a name such as {Runtime.LabVersions.ImageRepository} (lower case, host/path, no tag); the lab tags its locally built images under it.");
        return errors;
    }

    /// <summary>Throws <see cref="TopologyException"/> listing every error, or returns the topology unchanged.</summary>
    public static LabTopology EnsureValid(LabTopology topology)
    {
        var errors = Validate(topology);
        return errors.Count == 0 ? topology : throw new TopologyException(errors);
    }

    /// <summary>The most members an external etcd cluster may have here (etcd's guidance: 3, 5 or 7).</summary>
    public const int MaxEtcdMembers = 7;

    /// <summary>The etcd section: stacked takes no nodes; external takes an odd number of members of their own.</summary>
    private static void CheckEtcd(LabTopology topology, Dictionary<IPAddress, string> masterIps, Action<string, string, string> error)
    {
        var etcd = topology.Etcd;
        var subnet = topology.Subnet;
        if (etcd.Topology == EtcdTopology.Stacked)
        {
            if (etcd.Nodes.Length > 0)
                error("etcd.nodes", $"{etcd.Nodes.Length} etcd node(s) given, but etcd.topology is stacked: stacked etcd runs one member on each master and has no nodes of its own.",
                    "set 'etcd: { topology: external }' to run etcd on these nodes, or remove etcd.nodes to keep the runbook's stacked etcd.");
            return;
        }

        var n = etcd.Nodes.Length;
        if (n == 0)
            error("etcd.nodes", "is empty, but etcd.topology is external: there is no etcd cluster for the apiservers.",
                "list 3 (or 5) etcd nodes, or leave etcd.nodes out for e01-e03 at .181-.183.");
        else if (n % 2 == 0)
            error("etcd.nodes", $"{n} members: quorum is {n / 2 + 1}, so {n} members tolerate {(n - 1) / 2} failure(s), no more than {n - 1} would, and a network split can leave no side with quorum.",
                $"use an odd number of members: {n - 1} or {n + 1}.");
        else if (n > MaxEtcdMembers)
            error("etcd.nodes", $"{n} members: every write waits for a majority, and more than {MaxEtcdMembers} members slow writes without a useful gain on one machine.",
                "use 3 or 5 members (etcd's guidance), at most 7.");

        var masterNames = topology.Nodes.Select(m => m.Name).ToHashSet();
        var names = new HashSet<string>();
        var ips = new Dictionary<IPAddress, string>();
        for (var i = 0; i < n; i++)
        {
            var node = etcd.Nodes[i];
            var at = $"etcd.nodes[{i}]";
            if (!DnsLabel().IsMatch(node.Name))
                error($"{at}.name", $"'{node.Name}' is not a valid etcd node name.", "use lower-case letters, digits and '-', e.g. e01.");
            else if (masterNames.Contains(node.Name))
                error($"{at}.name", $"'{node.Name}' is also a master's name; its container would be the master's.", "give the etcd node its own name, e.g. e01.");
            else if (!names.Add(node.Name))
                error($"{at}.name", $"'{node.Name}' is used by more than one etcd node.", "give every etcd node its own name (e01, e02, e03).");

            if (!subnet.Contains(node.Ip))
                error($"{at}.ip", $"{node.Ip} is outside the lab subnet {subnet}.", $"pick an address inside {subnet} (the default members use .181-.183).");
            else if (IpMath.IsNetworkOrBroadcast(node.Ip, subnet) || node.Ip.Equals(topology.Gateway))
                error($"{at}.ip", $"{node.Ip} is the network, broadcast or gateway address of {subnet}.", "pick an unused host address.");
            else if (node.Ip.Equals(topology.Vip))
                error($"{at}.ip", $"{node.Ip} is the VIP; the VIP must be an address no node owns.", "give the etcd node another address.");
            else if (masterIps.TryGetValue(node.Ip, out var master))
                error($"{at}.ip", $"{node.Ip} is master {master}'s address.", "give the etcd node an address of its own (the default members use .181-.183).");
            else if (ips.TryGetValue(node.Ip, out var other))
                error($"{at}.ip", $"{node.Ip} is already used by etcd node {other}.", "give every etcd node its own address.");
            else
                ips[node.Ip] = node.Name;
        }
    }

    private static void CheckPort(int port, string field, Action<string, string, string> error)
    {
        if (port is < 1 or > 65535)
            error(field, $"{port} is not a TCP port.", "use a port from 1 to 65535.");
    }
}
