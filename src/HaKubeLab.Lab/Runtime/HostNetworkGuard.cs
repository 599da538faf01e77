using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using HaKubeLab.Topology;

namespace HaKubeLab.Runtime;

/// <summary>Where the host reaches an IPv4 network: a route of its routing table, or the network of one of its interface addresses.</summary>
/// <param name="Interface">The interface the route goes out of, or that carries the address (eth0, wlan0, docker0, br-1a2b3c4d5e6f).</param>
/// <param name="Network">The route's destination, or the address's network (e.g. 192.168.1.0/24 for 192.168.1.5/24).</param>
/// <param name="Address">For an interface address: the address itself; null for a route.</param>
public sealed record HostRoute(string Interface, IPNetwork Network, IPAddress? Address = null)
{
    /// <summary>How a message names it: "route 192.168.1.0/24 dev wlan0" or "address 192.168.1.5/24 of interface wlan0".</summary>
    public string Describe() => Address is null
        ? $"route {Network} dev {Interface}"
        : $"address {Address}/{Network.PrefixLength} of interface {Interface}";
}

/// <summary>
/// Refuses a lab subnet the host already uses. A lab's bridge adds a route for its subnet; where the host
/// reaches that subnet another way (its LAN, a VPN, libvirt's bridge), the lab's route would take that
/// traffic over and cut the host off from it. Docker's own bridges are left to the Docker-network check
/// (a lab's own bridge from an earlier <c>up</c> must not refuse the next one). The default route never counts.
/// </summary>
public static class HostNetworkGuard
{
    /// <summary>Docker names the bridge of a network br-&lt;first 12 characters of its id&gt; unless this option names it.</summary>
    public const string BridgeNameOption = "com.docker.network.bridge.name";

    /// <summary>The problem with <paramref name="subnet"/> on this host, or null when no route or interface of the host overlaps it.</summary>
    /// <param name="subnet">The lab's subnet (topology key 'subnet').</param>
    /// <param name="host">The host's routes and interface addresses (see <see cref="ReadHost"/>).</param>
    /// <param name="dockerBridges">Interfaces that are Docker's own bridges (docker0 and br-&lt;id&gt; of existing Docker networks); their routes are not counted.</param>
    public static string? Check(IPNetwork subnet, IEnumerable<HostRoute> host, IReadOnlySet<string> dockerBridges)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(dockerBridges);
        var clash = host.FirstOrDefault(r =>
            r.Network.BaseAddress.AddressFamily == AddressFamily.InterNetwork
            && r.Network.PrefixLength > 0 // the default route (0.0.0.0/0) reaches everything and is not a network of the host's
            && !dockerBridges.Contains(r.Interface)
            && IpMath.Overlaps(r.Network, subnet));
        if (clash is null) return null;
        return $"subnet: {subnet} overlaps the host's {clash.Describe()}. A lab's bridge would take that traffic over and cut this machine off from that network. " +
               $"Fix: set another 'subnet' in the topology (and 'vip' and each node's 'ip' inside it), one that 'ip route' and 'ip -4 addr' on this host do not show.";
    }

    /// <summary>Throws <see cref="LabException"/> with <see cref="Check"/>'s message when the subnet clashes.</summary>
    public static void EnsureFree(IPNetwork subnet, IEnumerable<HostRoute> host, IReadOnlySet<string> dockerBridges)
    {
        if (Check(subnet, host, dockerBridges) is { } problem) throw new LabException(problem);
    }

    /// <summary>The bridge interface names of Docker's bridge networks, plus docker0.</summary>
    /// <param name="networks">(id, driver, options) of each Docker network.</param>
    public static IReadOnlySet<string> DockerBridges(IEnumerable<(string Id, string? Driver, IDictionary<string, string>? Options)> networks)
    {
        ArgumentNullException.ThrowIfNull(networks);
        var names = new HashSet<string>(StringComparer.Ordinal) { "docker0" };
        foreach (var (id, driver, options) in networks)
        {
            if (driver != "bridge") continue;
            if (BridgeName(id, options) is { Length: > 0 } name) names.Add(name);
        }
        return names;
    }

    /// <summary>The host interface of a Docker bridge network: the name its options give, else br-&lt;first 12 characters of its id&gt;; "" when neither.</summary>
    public static string BridgeName(string id, IDictionary<string, string>? options)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (options is not null && options.TryGetValue(BridgeNameOption, out var name) && !string.IsNullOrEmpty(name)) return name;
        return id.Length >= 12 ? "br-" + id[..12] : "";
    }

    /// <summary>The host's IPv4 routes (/proc/net/route, the main table) and the networks of its interfaces' IPv4 addresses.</summary>
    public static IReadOnlyList<HostRoute> ReadHost()
    {
        var result = new List<HostRoute>();
        if (File.Exists("/proc/net/route")) result.AddRange(ParseProcNetRoute(File.ReadAllText("/proc/net/route")));
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            if (nic.OperationalStatus == OperationalStatus.Down) continue;
            foreach (var a in nic.GetIPProperties().UnicastAddresses)
                if (a.Address.AddressFamily == AddressFamily.InterNetwork)
                    result.Add(new HostRoute(nic.Name, new IPNetwork(Masked(a.Address, a.PrefixLength), a.PrefixLength), a.Address));
        }
        return result;
    }

    /// <summary>
    /// Parses /proc/net/route: a header, then per route the interface, destination, gateway, flags, ..., mask,
    /// addresses as 8 hex digits in the kernel's byte order. Routes that are not up (flag RTF_UP) are left out.
    /// </summary>
    public static IReadOnlyList<HostRoute> ParseProcNetRoute(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<HostRoute>();
        foreach (var line in text.Split('\n').Skip(1))
        {
            var f = line.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 8) continue;
            if (!uint.TryParse(f[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var dest)
                || !uint.TryParse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var flags)
                || !uint.TryParse(f[7], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var mask)) continue;
            const uint RtfUp = 0x1;
            if ((flags & RtfUp) == 0) continue;
            // The kernel prints the address's bytes as one native-endian number: the native byte order gives them back.
            var prefix = System.Numerics.BitOperations.PopCount(mask);
            var destination = new IPAddress(BitConverter.GetBytes(dest));
            result.Add(new HostRoute(f[0], new IPNetwork(Masked(destination, prefix), prefix)));
        }
        return result;
    }

    private static IPAddress Masked(IPAddress address, int prefix) =>
        IpMath.FromUInt32(IpMath.ToUInt32(address) & (prefix == 0 ? 0u : uint.MaxValue << (32 - prefix)));
}
