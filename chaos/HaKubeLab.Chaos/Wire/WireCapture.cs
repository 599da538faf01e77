using Docker.DotNet;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using SharpPcap;
using SharpPcap.LibPcap;

namespace HaKubeLab.Chaos.Wire;

/// <summary>
/// Captures the lab's wire during a run: on the host side of the lab's Docker bridge (br-&lt;first 12 characters of the network id&gt;),
/// in promiscuous mode (a Linux bridge hands its own device a copy of frames forwarded between ports only then: the VRRP adverts
/// keepalived sends unicast to its peers), with a kernel BPF filter so that only VRRP, ARP and TCP segments to or from the VIP with
/// SYN or RST set ever reach the runner. libpcap (Debian's libpcap0.8) through SharpPcap; decoding with PacketDotNet.
/// Where capture cannot run (libpcap missing, not root, no bridge), <see cref="StartAsync"/> returns a capture that says why,
/// and the run carries on with probes only.
/// </summary>
public sealed class WireCapture : IDisposable
{
    private readonly List<WireEvent> _events = new(4096);
    private readonly LibPcapLiveDevice? _device;
    private readonly RunClock _clock;
    private WireCaptureData? _stopped;

    /// <summary>How packet timestamps are put on the run's clock (for the report).</summary>
    public const string ClockNote =
        "each packet's kernel timestamp (CLOCK_REALTIME, nanoseconds via pcap's nanosecond resolution) is put on the run's clock as " +
        "wall time minus the run's start wall time, exactly as the engine's fault-time events are: so wire times and fault times share one base and their " +
        "differences (the wire figures) are exact; against the probes' monotonic times they are as close as the wall clock and the monotonic clock agree over the run";

    private WireCapture(LibPcapLiveDevice? device, RunClock clock, string iface, string filter, string? reason)
    {
        _device = device;
        _clock = clock;
        Interface = iface;
        Filter = filter;
        Reason = reason;
    }

    public string Interface { get; }
    public string Filter { get; }

    /// <summary>Why the capture does not run; null when it does.</summary>
    public string? Reason { get; }

    public bool Running => _device is not null && _stopped is null;

    /// <summary>The kernel filter: VRRP, ARP, and the handshakes (SYN, SYN-ACK) and resets to or from the VIP.</summary>
    public static string KernelFilter(string vip) => $"vrrp or arp or (tcp and host {vip} and (tcp[tcpflags] & (tcp-syn|tcp-rst) != 0))";

    /// <summary>Starts capturing on lab <paramref name="topology"/>'s bridge; never throws for a capture that cannot run (see <see cref="Reason"/>).</summary>
    public static async Task<WireCapture> StartAsync(IDockerClient docker, LabTopology topology, RunClock clock, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(docker);
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(clock);
        var filter = KernelFilter(topology.Vip.ToString());
        string iface;
        try
        {
            var network = await docker.Networks.InspectNetworkAsync(LabNames.Network(topology.Name), ct).ConfigureAwait(false);
            iface = HostNetworkGuard.BridgeName(network.ID, network.Options);
        }
        catch (DockerApiException e) { return new WireCapture(null, clock, "", filter, $"the lab's Docker network could not be inspected ({e.Message})"); }
        if (!OperatingSystem.IsLinux()) return new WireCapture(null, clock, iface, filter, "packet capture needs the Linux host the lab's bridge is on");
        if (!Directory.Exists($"/sys/class/net/{iface}"))
            return new WireCapture(null, clock, iface, filter, $"the bridge {iface} is not visible here (a remote Docker engine, or another network namespace)");
        LibPcapLiveDevice? device;
        try
        {
            // A fresh list: the library's singleton is read once per process and misses bridges made after that (a test host runs many labs).
            device = LibPcapLiveDeviceList.New().FirstOrDefault(d => d.Name == iface);
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException or BadImageFormatException)
        {
            return new WireCapture(null, clock, iface, filter, "libpcap is not installed (Debian: apt-get install libpcap0.8, or scripts/ensure-host.sh capture)");
        }
        catch (PcapException e) { return new WireCapture(null, clock, iface, filter, $"libpcap cannot list interfaces: {e.Message}"); }
        if (device is null) return new WireCapture(null, clock, iface, filter, $"libpcap does not list the bridge {iface}");
        var capture = new WireCapture(device, clock, iface, filter, null);
        try
        {
            device.Open(new DeviceConfiguration
            {
                Mode = DeviceModes.Promiscuous,
                // Packets are read in batches (every 100 ms at most): the timestamps are the kernel's, so batching costs no precision.
                ReadTimeout = 100,
                Snaplen = 128,
                TimestampResolution = TimestampResolution.Nanosecond,
            });
            device.Filter = filter;
            device.OnPacketArrival += capture.OnPacket;
            device.StartCapture();
        }
        catch (Exception e) when (e is PcapException or InvalidOperationException or DllNotFoundException)
        {
            try { device.Close(); } catch (Exception) { /* it never opened */ }
            return new WireCapture(null, clock, iface, filter, Environment.IsPrivilegedProcess ? $"capture on {iface} could not start: {e.Message}"
                : $"no permission to capture on {iface}: the runner is not root (run it as root, or give it CAP_NET_RAW and CAP_NET_ADMIN): {e.Message}");
        }
        return capture;
    }

    private void OnPacket(object sender, PacketCapture e)
    {
        // Kernel timestamp (wall clock) -> run time, the same way engine events and keepalived lines are (see ClockNote).
        var wall = DateTimeOffset.UnixEpoch.AddTicks((long)(e.Header.Timeval.Value * 10_000_000m));
        var decoded = WirePacketDecoder.Decode(e.Data.ToArray(), Math.Round(_clock.At(wall), 7));
        if (decoded is not null) lock (_events) _events.Add(decoded);
    }

    /// <summary>Stops the capture (idempotent) and returns what it saw, or why there is nothing.</summary>
    public WireCaptureData Stop()
    {
        if (_stopped is not null) return _stopped;
        if (_device is null) return _stopped = WireCaptureData.Missing(Reason ?? "no capture", Interface, Filter);
        long received = 0, dropped = 0;
        try
        {
            _device.StopCapture();
            var stats = _device.Statistics;
            received = stats.ReceivedPackets;
            dropped = stats.DroppedPackets + stats.InterfaceDroppedPackets;
        }
        catch (Exception e) when (e is PcapException or InvalidOperationException) { /* statistics are a nicety */ }
        finally { _device.Close(); }
        List<WireEvent> events;
        lock (_events) events = [.. _events];
        return _stopped = new WireCaptureData(true, null, Interface, Filter, events, received, dropped, ClockNote);
    }

    public void Dispose()
    {
        if (_device is not null && _stopped is null) Stop();
    }
}
