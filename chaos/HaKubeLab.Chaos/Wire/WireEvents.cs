namespace HaKubeLab.Chaos.Wire;

/// <summary>One packet seen on the lab's bridge, decoded. <c>T</c> is run time (seconds since the run's t = 0, see <see cref="WireCapture"/>).</summary>
[System.Text.Json.Serialization.JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[System.Text.Json.Serialization.JsonDerivedType(typeof(VrrpAdvert), "vrrp")]
[System.Text.Json.Serialization.JsonDerivedType(typeof(ArpFrame), "arp")]
[System.Text.Json.Serialization.JsonDerivedType(typeof(TcpSegment), "tcp")]
public abstract record WireEvent(double T);

/// <summary>A VRRP advertisement (IP protocol 112).</summary>
/// <param name="Source">The sender's IP address (the node's own address; keepalived sends from it).</param>
/// <param name="Vrid">The virtual router id.</param>
/// <param name="Priority">The advertised priority; 0 means "I am giving up being master".</param>
/// <param name="AdvertIntervalSeconds">The advert interval in the packet: VRRPv2 carries whole seconds, VRRPv3 centiseconds (converted here to seconds).</param>
/// <param name="Version">2 or 3.</param>
/// <param name="Destination">224.0.0.18 (multicast) or a peer's address (unicast_peer).</param>
public sealed record VrrpAdvert(double T, string Source, int Vrid, int Priority, double AdvertIntervalSeconds, int Version = 2, string Destination = "") : WireEvent(T);

/// <summary>An ARP frame.</summary>
/// <param name="Gratuitous">Sender address = target address (the announcement a new VRRP master sends for the VIP).</param>
public sealed record ArpFrame(double T, string SenderIp, string SenderMac, string TargetIp, bool Reply, bool Gratuitous) : WireEvent(T);

/// <summary>TCP control flags as on the wire.</summary>
[Flags]
public enum WireTcpFlags { None = 0, Fin = 1, Syn = 2, Rst = 4, Psh = 8, Ack = 16 }

/// <summary>A TCP segment to or from the VIP (the kernel filter passes only those with SYN or RST set).</summary>
public sealed record TcpSegment(double T, string Source, int SourcePort, string Destination, int DestinationPort, WireTcpFlags Flags) : WireEvent(T)
{
    public bool IsSyn => (Flags & (WireTcpFlags.Syn | WireTcpFlags.Ack)) == WireTcpFlags.Syn;
    public bool IsSynAck => (Flags & (WireTcpFlags.Syn | WireTcpFlags.Ack)) == (WireTcpFlags.Syn | WireTcpFlags.Ack);
    public bool IsRst => (Flags & WireTcpFlags.Rst) != 0;
}

/// <summary>What a capture of one run produced: the decoded packets, or why there are none.</summary>
/// <param name="Available">The capture ran for the whole run.</param>
/// <param name="Reason">Why it did not (no libpcap, not root, no bridge ...); null when it ran.</param>
/// <param name="Interface">The host-side bridge captured on, e.g. br-1a2b3c4d5e6f.</param>
/// <param name="Filter">The kernel (BPF) filter.</param>
/// <param name="Received">Packets the kernel passed the filter (pcap statistics).</param>
/// <param name="Dropped">Packets the kernel dropped because the runner did not read them fast enough.</param>
/// <param name="ClockNote">How packet timestamps were put on the run's clock.</param>
public sealed record WireCaptureData(bool Available, string? Reason, string Interface, string Filter, IReadOnlyList<WireEvent> Events, long Received = 0, long Dropped = 0, string ClockNote = "")
{
    public static WireCaptureData Missing(string reason, string iface = "", string filter = "") => new(false, reason, iface, filter, []);
}
