using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace HaKubeLab.Topology;

/// <summary>IPv4 arithmetic the topology needs (the lab is IPv4-only, like the runbook).</summary>
public static class IpMath
{
    public static uint ToUInt32(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetwork)
            throw new ArgumentException($"'{address}' is not an IPv4 address.", nameof(address));
        return BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());
    }

    public static IPAddress FromUInt32(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }

    public static IPAddress Offset(IPAddress address, uint delta) => FromUInt32(ToUInt32(address) + delta);

    public static uint HostMask(IPNetwork network) => network.PrefixLength == 0 ? uint.MaxValue : (1u << (32 - network.PrefixLength)) - 1;

    /// <summary>Moves <paramref name="address"/>'s host part from network <paramref name="from"/> into <paramref name="to"/>.</summary>
    public static IPAddress Rebase(IPAddress address, IPNetwork from, IPNetwork to)
    {
        var host = ToUInt32(address) & HostMask(from);
        if ((host & ~HostMask(to)) != 0)
            throw new ArgumentException($"Host part of {address} does not fit in {to}.", nameof(to));
        return FromUInt32(ToUInt32(to.BaseAddress) | host);
    }

    public static bool IsNetworkOrBroadcast(IPAddress address, IPNetwork network)
    {
        var host = ToUInt32(address) & HostMask(network);
        return host == 0 || host == HostMask(network);
    }

    public static bool Overlaps(IPNetwork a, IPNetwork b) => a.Contains(b.BaseAddress) || b.Contains(a.BaseAddress);
}
