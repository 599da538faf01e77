using PacketDotNet;

namespace HaKubeLab.Chaos.Wire;

/// <summary>Turns an Ethernet frame from the lab's bridge into a <see cref="WireEvent"/> (PacketDotNet for Ethernet, ARP, IPv4 and TCP; VRRP by hand).</summary>
public static class WirePacketDecoder
{
    /// <summary>IP protocol number of VRRP.</summary>
    public const int VrrpProtocol = 112;

    /// <summary>The frame as a wire event at run time <paramref name="t"/>; null for anything the timeline does not use.</summary>
    public static WireEvent? Decode(byte[] frame, double t)
    {
        ArgumentNullException.ThrowIfNull(frame);
        // PacketDotNet parses lazily: a truncated or odd frame can throw at any property, not only in ParsePacket.
        try { return Decode(Packet.ParsePacket(LinkLayers.Ethernet, frame), t); }
        catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or InvalidOperationException or NotImplementedException or NullReferenceException) { return null; }
    }

    private static WireEvent? Decode(Packet packet, double t)
    {
        if (packet.Extract<ArpPacket>() is { } arp)
        {
            var sender = arp.SenderProtocolAddress.ToString();
            var target = arp.TargetProtocolAddress.ToString();
            return new ArpFrame(t, sender, Mac(arp.SenderHardwareAddress), target, arp.Operation == ArpOperation.Response, sender == target);
        }
        if (packet.Extract<IPv4Packet>() is not { } ip) return null;
        if (ip.Extract<TcpPacket>() is { } tcp)
            return new TcpSegment(t, ip.SourceAddress.ToString(), tcp.SourcePort, ip.DestinationAddress.ToString(), tcp.DestinationPort, (WireTcpFlags)(tcp.Flags & 0x1f));
        if ((int)ip.Protocol == VrrpProtocol) return Vrrp(ip.PayloadData, t, ip.SourceAddress.ToString(), ip.DestinationAddress.ToString());
        return null;
    }

    /// <summary>
    /// A VRRP advertisement from an IP payload (RFC 3768 v2: byte 5 is the interval in seconds; RFC 5798 v3: the low 12 bits of
    /// bytes 4-5 are the interval in centiseconds); null when it is not an advertisement.
    /// </summary>
    public static VrrpAdvert? Vrrp(ReadOnlySpan<byte> payload, double t, string source, string destination)
    {
        if (payload.Length < 8) return null;
        var version = payload[0] >> 4;
        var type = payload[0] & 0x0f;
        if (type != 1 || version is not (2 or 3)) return null;
        var interval = version == 2 ? payload[5] : ((payload[4] & 0x0f) << 8 | payload[5]) / 100.0;
        return new VrrpAdvert(t, source, payload[1], payload[2], interval, version, destination);
    }

    private static string Mac(System.Net.NetworkInformation.PhysicalAddress mac) =>
        string.Join(":", mac.GetAddressBytes().Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
}
