using System.Net;
using System.Net.NetworkInformation;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Probes;
using HaKubeLab.Chaos.Reports;
using HaKubeLab.Chaos.Wire;
using HaKubeLab.Topology;
using PacketDotNet;

namespace HaKubeLab.Tests.Unit;

/// <summary>The wire-timeline analysis on hand-made packet sequences: takeover, collision, cross-check, missing capture, decoding.</summary>
public class ChaosWireTimelineTests
{
    private const string Vip = "192.168.100.190", Host = "192.168.100.1", M01 = "192.168.100.191", M02 = "192.168.100.192", M03 = "192.168.100.193";
    private const int Port = 9443;

    private static readonly WireLab Lab = WireRun.Lab(LabTopology.Default);

    private static IEnumerable<WireEvent> Adverts(string source, double from, double to, int priority = 111, double interval = 1)
    {
        for (var t = from; t <= to + 1e-9; t += interval)
        {
            // unicast_peer: one packet per peer, a few microseconds apart.
            yield return new VrrpAdvert(t, source, 51, priority, interval, 2, M02);
            yield return new VrrpAdvert(t + 0.00002, source, 51, priority, interval, 2, M03);
        }
    }

    /// <summary>A probe's SYNs every 0.3 s from <paramref name="from"/>; answered (SYN-ACK after 0.3 ms) from <paramref name="answeredFrom"/> on.</summary>
    private static IEnumerable<WireEvent> Syns(double from, double to, double answeredFrom, double notAnsweredFrom = double.MaxValue, int firstPort = 40000)
    {
        var port = firstPort;
        for (var t = from; t <= to + 1e-9; t += 0.3, port++)
        {
            yield return new TcpSegment(t, Host, port, Vip, Port, WireTcpFlags.Syn);
            if (t >= answeredFrom || t < notAnsweredFrom)
            {
                yield return new TcpSegment(t + 0.0003, Vip, Port, Host, port, WireTcpFlags.Syn | WireTcpFlags.Ack);
                yield return new TcpSegment(t + 0.0005, Host, port, Vip, Port, WireTcpFlags.Rst | WireTcpFlags.Ack);
            }
        }
    }

    private static WireCaptureData Capture(IEnumerable<WireEvent> events) => new(true, null, "br-000000000000", WireCapture.KernelFilter(Vip), [.. events]);

    /// <summary>m01 holds the VIP and dies at 4.459 s; m03 takes over at 7.392 s with gratuitous ARPs; the probe's SYNs go unanswered in between.</summary>
    private static List<WireEvent> Takeover() =>
    [
        .. Adverts(M01, 0.821, 3.821),
        .. Adverts(M03, 7.392, 20.392),
        new ArpFrame(7.3925, Vip, "02:42:c0:a8:64:c1", Vip, false, true),
        new ArpFrame(7.3926, Vip, "02:42:c0:a8:64:c1", Vip, false, true),
        .. Syns(0.5, 20, answeredFrom: 7.4, notAnsweredFrom: 4.46),
    ];

    [Fact]
    public void A_takeover_shows_the_old_masters_last_advert_the_new_masters_first_advert_garp_and_first_syn_ack()
    {
        var fault = new WireFaultInput("kill", "m01", 4.459, 21);
        var r = WireTimeline.Analyse(Capture(Takeover()), Lab, [fault], 0.25);
        Assert.True(r.Available);
        var f = Assert.Single(r.Faults);
        Assert.Equal("m01", f.OldMaster);
        Assert.Equal(3.821, f.OldMasterLastAdvert!.Value, 3);
        Assert.Equal("m03", f.NewMaster);
        Assert.Equal(["m03"], f.NewMasters);
        Assert.Equal(7.392, f.NewMasterFirstAdvert!.Value, 6);
        Assert.Equal(7.3925, f.FirstGarp!.Value, 6);
        Assert.Equal("m03", f.FirstGarpNode);
        Assert.True(f.Interrupted);
        // SYNs at 0.5 + 0.3 k: the first answered one after the fault is at 7.7 s, its SYN-ACK 0.3 ms later.
        Assert.Equal(7.7, f.FirstSyn!.Value, 6);
        Assert.Equal(7.7003 - 4.459, f.Seconds!.Value, 6);
        Assert.Equal(10, f.UnansweredSyns); // 4.7 .. 7.4
        Assert.Empty(r.DualMasters);
        Assert.Equal(2, r.Sources.Count);
        Assert.Equal(1.0, r.Sources[0].MeasuredIntervalSeconds!.Value, 6); // one round = two unicast packets
        Assert.Equal(2, r.Spells.Count);
        Assert.Equal(2, r.GratuitousArps.Count);
    }

    [Fact]
    public void A_collision_at_the_takeover_is_a_dual_master_moment_and_only_the_lasting_node_is_the_new_master()
    {
        // Both backups' master-down timers expire together (equal priorities): m02 sends one advert, hears m03's (higher address) and yields.
        var events = Takeover();
        events.Add(new VrrpAdvert(7.3931, M02, 51, 111, 1, 2, M03));
        var r = WireTimeline.Analyse(Capture(events), Lab, [new WireFaultInput("kill", "m01", 4.459, 21)], 0.25);
        var moment = Assert.Single(r.DualMasters);
        Assert.Equal(["m02", "m03"], moment.Nodes);
        Assert.Equal(7.3931, moment.From, 6); // m02's one advert, while m03 was already master
        Assert.Equal(7.3931, moment.To, 6);
        var f = Assert.Single(r.Faults);
        Assert.Equal(["m03"], f.NewMasters);
        Assert.Equal(["m03", "m02"], f.Contenders);
        Assert.Equal("m03", f.NewMaster);
    }

    [Fact]
    public void The_probes_own_figure_counts_only_its_own_syns_while_another_probes_syn_may_be_answered_one_slot_earlier()
    {
        // Two probes' SYNs every 0.3 s to VIP:9443: vip_tcp (ports 40000+) and, 4 ms after each, another probe (ports 50000+).
        // m03's gratuitous ARP lands at 7.3925 s: vip_tcp's SYN at 7.4 - 0.0045 s left before it (went to the dead node),
        // the other probe's SYN 4 ms later was answered.
        var events = Takeover().Where(e => e is not TcpSegment).ToList();
        events.AddRange(Syns(0.5 - 0.0075, 20, answeredFrom: 7.395, notAnsweredFrom: 4.46));          // vip_tcp: 7.3925 unanswered, 7.6925 answered
        events.AddRange(Syns(0.5 - 0.0035, 20, answeredFrom: 7.395, notAnsweredFrom: 4.46, firstPort: 50000)); // other: 7.3965 answered
        var vipTcpPorts = Enumerable.Range(40000, 100).ToHashSet();
        var r = WireTimeline.Analyse(Capture(events.OrderBy(e => e.T)), Lab, [new WireFaultInput("kill", "m01", 4.459, 21)], 0.25, vipTcpPorts);
        var f = Assert.Single(r.Faults);
        Assert.Equal(7.3965 + 0.0003 - 4.459, f.Seconds!.Value, 6);      // the VIP's first answer (the other probe)
        Assert.Equal(7.6925 + 0.0003 - 4.459, f.ProbeSeconds!.Value, 6); // vip_tcp's own: one slot later
        Assert.Equal(7.6928, f.ProbeFirstSynAck!.Value, 6);
        // Without ports the probe's figure is unknown.
        Assert.Null(Assert.Single(WireTimeline.Analyse(Capture(events.OrderBy(e => e.T)), Lab, [new WireFaultInput("kill", "m01", 4.459, 21)], 0.25).Faults).ProbeSeconds);
    }

    [Fact]
    public void A_frozen_master_that_comes_back_advertising_beside_the_new_one_is_a_long_dual_master_moment()
    {
        // m01 is paused at 2.5 s, m02 takes over at 6 s, m01 is unpaused at 10 s and advertises until it hears m02 (at 12 s).
        var events = new List<WireEvent>([.. Adverts(M01, 0, 2), .. Adverts(M02, 6, 15), .. Adverts(M01, 10.2, 12.2)]);
        var r = WireTimeline.Analyse(Capture(events), Lab, [new WireFaultInput("pause", "m01", 2.5, 15)], 0.25);
        var moment = Assert.Single(r.DualMasters);
        Assert.Equal(["m01", "m02"], moment.Nodes);
        Assert.Equal(10.2, moment.From, 6);
        Assert.Equal(12.2, moment.To, 3); // its last round (two unicast packets)
        Assert.Equal(["m02"], r.Faults[0].NewMasters);
    }

    [Fact]
    public void A_priority_zero_advert_is_a_master_giving_up_not_a_second_master()
    {
        var events = new List<WireEvent>([.. Adverts(M01, 0, 3), new VrrpAdvert(3.2, M01, 51, 0, 1), .. Adverts(M02, 3.25, 8)]);
        var r = WireTimeline.Analyse(Capture(events), Lab, [new WireFaultInput("stop", "m01", 3.19, 8)], 0.25);
        Assert.Empty(r.DualMasters);
        Assert.Equal(["m02"], r.Faults[0].NewMasters);
        Assert.Equal([111, 0], r.Sources.Single(s => s.Node == "m01").Priorities);
    }

    [Fact]
    public void Another_vrid_is_another_router()
    {
        var events = new List<WireEvent>([.. Adverts(M01, 0, 5), new VrrpAdvert(2.1, M02, 52, 100, 1)]);
        var r = WireTimeline.Analyse(Capture(events), Lab, [], 0.25);
        Assert.Empty(r.DualMasters);
        Assert.Single(r.Sources);
    }

    [Fact]
    public void A_fault_that_never_interrupted_the_vip_has_the_first_answer_as_its_figure()
    {
        var events = new List<WireEvent>([.. Adverts(M01, 0, 10), .. Syns(0.5, 10, answeredFrom: 0)]);
        var f = WireTimeline.Analyse(Capture(events), Lab, [new WireFaultInput("kill", "m02", 3.0, 10)], 0.25).Faults.Single();
        Assert.False(f.Interrupted);
        Assert.Equal(0, f.UnansweredSyns);
        Assert.Equal(3.2003 - 3.0, f.Seconds!.Value, 6);
        Assert.Empty(f.NewMasters);
        Assert.Null(f.NewMaster);
        Assert.Equal("m01", f.OldMaster);
    }

    [Fact]
    public void Handshakes_pair_syn_with_syn_ack_by_client_port_and_count_a_retransmitted_syn_once()
    {
        var segments = new[]
        {
            new TcpSegment(1.0, Host, 50000, Vip, Port, WireTcpFlags.Syn),
            new TcpSegment(2.0, Host, 50000, Vip, Port, WireTcpFlags.Syn), // retransmission
            new TcpSegment(2.0004, Vip, Port, Host, 50000, WireTcpFlags.Syn | WireTcpFlags.Ack),
            new TcpSegment(3.0, Host, 50001, Vip, Port, WireTcpFlags.Syn),
            new TcpSegment(3.0002, Vip, Port, Host, 50001, WireTcpFlags.Rst | WireTcpFlags.Ack), // refused
            new TcpSegment(4.0, Host, 50000, Vip, Port, WireTcpFlags.Syn), // the port reused: a new connection
        };
        var h = WireTimeline.Handshakes(segments, Vip);
        Assert.Equal(3, h.Count);
        Assert.Equal(1.0, h[0].SynT);
        Assert.Equal(2.0004, h[0].SynAckT);
        Assert.True(h[1].RefusedByVip);
        Assert.Null(h[1].SynAckT);
        Assert.Equal(4.0, h[2].SynT);
        Assert.Null(h[2].SynAckT);
    }

    [Fact]
    public void A_probe_timeout_whose_syn_the_vip_answered_in_time_is_not_an_outage()
    {
        // The runner recorded a timeout at 61.14 s (250 ms) but the SYN got its SYN-ACK after 0.4 ms: the runner was starved.
        var samples = new List<ProbeSample>
        {
            new(60.84, 0.5, true, null, 41000),
            new(61.14, 251, false, "timeout", 41001),
            new(61.44, 0.5, true, null, 41002),
            new(70.00, 251, false, "timeout", 41003), // a real one: no answer on the wire
            new(70.30, 0.5, true, null, 41004),
        };
        var handshakes = WireTimeline.Handshakes(
        [
            new TcpSegment(61.1405, Host, 41001, Vip, Port, WireTcpFlags.Syn),
            new TcpSegment(61.1409, Vip, Port, Host, 41001, WireTcpFlags.Syn | WireTcpFlags.Ack),
            new TcpSegment(70.0003, Host, 41003, Vip, Port, WireTcpFlags.Syn),
        ], Vip);
        var found = WireTimeline.CrossCheck("vip_tcp", samples, handshakes, Port, 0.25);
        var f = Assert.Single(found);
        Assert.Equal(61.14, f.T);
        Assert.Equal(0.4, f.AnsweredMs, 3);
        Assert.Contains("not an outage (answered on the wire in 0.4 ms; runner was late)", f.Note, StringComparison.Ordinal);
        var corrected = WireTimeline.Corrected(samples, found);
        Assert.True(corrected[1].Ok);
        Assert.Equal(0.4, corrected[1].LatencyMs, 3);
        Assert.Contains("runner recorded timeout", corrected[1].Error, StringComparison.Ordinal);
        Assert.Equal(2, SeriesMath.Outages(samples).Count);
        Assert.Single(SeriesMath.Outages(corrected)); // only the real one is left
        Assert.Equal(0.8, SeriesMath.Availability(corrected)!.Value, 9);
    }

    [Fact]
    public void A_syn_answered_later_than_the_probe_timeout_confirms_the_outage()
    {
        var samples = new List<ProbeSample> { new(5.0, 251, false, "timeout", 42000) };
        var handshakes = WireTimeline.Handshakes(
        [
            new TcpSegment(5.0002, Host, 42000, Vip, Port, WireTcpFlags.Syn),
            new TcpSegment(5.4, Vip, Port, Host, 42000, WireTcpFlags.Syn | WireTcpFlags.Ack),
        ], Vip);
        Assert.Empty(WireTimeline.CrossCheck("vip_tcp", samples, handshakes, Port, 0.25));
        // A failed sample without a client port (an HTTP probe) is not checked.
        Assert.Empty(WireTimeline.CrossCheck("readyz_vip", [new(5.0, 251, false, "timeout")], handshakes, Port, 0.25));
    }

    [Fact]
    public void A_missing_capture_says_why_and_leaves_the_probes_as_they_were()
    {
        var missing = WireCaptureData.Missing("libpcap is not installed (Debian: apt-get install libpcap0.8, or scripts/ensure-host.sh capture)", "br-0123456789ab");
        var samples = new List<ProbeSample> { new(1, 251, false, "timeout", 43000), new(1.3, 0.4, true, null, 43001) };
        var analysis = WireRun.Analyse(missing, LabTopology.Default, [new WireFaultInput("kill", "m01", 0.9, 5)], [new WireProbeInput("vip_tcp", Port, 0.25, samples)], 0.25);
        Assert.False(analysis.Result.Available);
        Assert.Contains("libpcap is not installed", analysis.Result.Reason, StringComparison.Ordinal);
        Assert.Empty(analysis.Result.Faults);
        Assert.Empty(analysis.Result.FalseOutages);
        Assert.Same(samples, analysis.SamplesOf("vip_tcp", samples));

        var result = ChaosReportSample.Result() with { Wire = analysis.Result };
        var md = ReportWriter.Markdown(result);
        Assert.Contains("No capture in this run: libpcap is not installed", md, StringComparison.Ordinal);
        Assert.Contains("wire: no capture", TimelineSvg.Render(result), StringComparison.Ordinal);
    }

    [Fact]
    public void The_report_puts_the_runner_and_the_wire_figure_side_by_side()
    {
        var wire = WireTimeline.Analyse(Capture(Takeover()), Lab, [new WireFaultInput("kill", "m01", 4.459, 21)], 0.25);
        var result = ChaosReportSample.Result() with { Wire = wire };
        var md = ReportWriter.Markdown(result);
        Assert.Contains("## On the wire", md, StringComparison.Ordinal);
        // No probe ports given: the runner is set beside the VIP's first answer.
        Assert.Contains("| node-kill (kill) | m01 | 3.242 s | - | 0.7 ms | 3.241 s |", md, StringComparison.Ordinal);
        var svg = TimelineSvg.Render(result);
        Assert.Contains("first SYN-ACK through the VIP after kill", svg, StringComparison.Ordinal);
        Assert.Contains("gratuitous ARP for the VIP from m03", svg, StringComparison.Ordinal);
        System.Xml.Linq.XDocument.Parse(svg); // well-formed
    }

    [Fact]
    public void Vrrp_adverts_decode_v2_seconds_and_v3_centiseconds()
    {
        // v2: version 2 / type 1, VRID 51, priority 111, 1 address, auth none, advert 1 s, checksum, address.
        var v2 = WirePacketDecoder.Vrrp([0x21, 51, 111, 1, 0, 1, 0, 0, 192, 168, 100, 190], 1.5, M01, M02)!;
        Assert.Equal((51, 111, 1.0, 2), (v2.Vrid, v2.Priority, v2.AdvertIntervalSeconds, v2.Version));
        // v3: version 3 / type 1, VRID 51, priority 100, 1 address, max advert interval 50 cs = 0.5 s.
        var v3 = WirePacketDecoder.Vrrp([0x31, 51, 100, 1, 0x00, 50, 0, 0, 192, 168, 100, 190], 1.5, M01, "224.0.0.18")!;
        Assert.Equal((3, 0.5), (v3.Version, v3.AdvertIntervalSeconds));
        Assert.Null(WirePacketDecoder.Vrrp([0x22, 51, 111, 1, 0, 1, 0, 0], 1.5, M01, M02)); // type 2 is not an advert
    }

    [Fact]
    public void Frames_decode_to_arp_tcp_and_vrrp_events()
    {
        var hostMac = PhysicalAddress.Parse("02-42-C0-A8-64-01");
        var m03Mac = PhysicalAddress.Parse("02-42-C0-A8-64-C1");
        var broadcast = PhysicalAddress.Parse("FF-FF-FF-FF-FF-FF");
        var garp = new EthernetPacket(m03Mac, broadcast, EthernetType.Arp)
        {
            PayloadPacket = new ArpPacket(ArpOperation.Request, broadcast, IPAddress.Parse(Vip), m03Mac, IPAddress.Parse(Vip)),
        };
        var arp = Assert.IsType<ArpFrame>(WirePacketDecoder.Decode(garp.Bytes, 2));
        Assert.True(arp.Gratuitous);
        Assert.Equal("02:42:c0:a8:64:c1", arp.SenderMac);
        Assert.Equal("m03", Lab.Macs![arp.SenderMac]);

        var ip = new IPv4Packet(IPAddress.Parse(Vip), IPAddress.Parse(Host)) { PayloadPacket = new TcpPacket(Port, 45000) { Synchronize = true, Acknowledgment = true } };
        var synAck = new EthernetPacket(m03Mac, hostMac, EthernetType.IPv4) { PayloadPacket = ip };
        ip.UpdateCalculatedValues();
        var tcp = Assert.IsType<TcpSegment>(WirePacketDecoder.Decode(synAck.Bytes, 3));
        Assert.True(tcp.IsSynAck);
        Assert.Equal((Vip, Port, Host, 45000), (tcp.Source, tcp.SourcePort, tcp.Destination, tcp.DestinationPort));

        var vrrpIp = new IPv4Packet(IPAddress.Parse(M03), IPAddress.Parse(M02)) { Protocol = (PacketDotNet.ProtocolType)112, TimeToLive = 255, PayloadData = [0x21, 51, 111, 1, 0, 1, 0, 0, 192, 168, 100, 190] };
        var vrrp = new EthernetPacket(m03Mac, hostMac, EthernetType.IPv4) { PayloadPacket = vrrpIp };
        vrrpIp.UpdateCalculatedValues();
        var advert = Assert.IsType<VrrpAdvert>(WirePacketDecoder.Decode(vrrp.Bytes, 4));
        Assert.Equal((M03, 51, 111, M02), (advert.Source, advert.Vrid, advert.Priority, advert.Destination));
        Assert.Null(WirePacketDecoder.Decode([1, 2, 3], 5));
    }
}

/// <summary>A hand-made run: m01 killed at 4.459 s, vip_tcp back at 7.701 s (runner failover 3.242 s).</summary>
internal static class ChaosReportSample
{
    public static RunResult Result()
    {
        var samples = Enumerable.Range(0, 70).Select(i => i * 0.3 + 0.5).Select(t => new ProbeSample(t, t is > 4.46 and < 7.6 ? 251 : 0.4, t is not (> 4.46 and < 7.6), t is > 4.46 and < 7.6 ? "timeout" : null)).ToList();
        var outages = SeriesMath.Outages(samples);
        var prediction = FailoverPredictor.Predict(LabTopology.Default, HaKubeLab.Failover.FaultKind.NodeKill, "m01", "m01", []);
        var fault = new FaultResult("kill", "node-kill", "m01", "vip-holder", "docker kill", 3, 4.2, 4.459, 19.5, null, "m01", prediction,
            new Dictionary<string, FailoverFigure> { ["vip_tcp"] = new(3.242, true, false, 4.7, 3.0) }, 2.93, "m03", prediction.Window, null, "Docker engine event", 4.6);
        HolderSample[] holders = [new(0, ["m01"], "m01"), new(7.5, ["m03"], "m03")];
        return new RunResult
        {
            Scenario = "node-kill-vip-holder",
            ScenarioFile = "node-kill-vip-holder.yaml",
            Lab = new LabInfo("lab", "192.168.100.0/24", "192.168.100.190", 9443, 6443, false, "seed", "", true, ["m01", "m02", "m03"]),
            RunFolder = "/tmp/x",
            StartedAt = DateTimeOffset.UnixEpoch,
            Seed = 1,
            DurationSeconds = 21,
            MeasuredUntil = 21,
            Probes = [new ProbeResult("vip_tcp", "192.168.100.190:9443", 300, 250, true, null, samples.Count, samples.Count(s => !s.Ok), SeriesMath.Availability(samples), outages, SeriesMath.OutageSeconds(outages), 1, 1, 300, samples)],
            VipHolder = new VipHolderResult("test", "test", 100, "m01", "m03", HaKubeLab.Chaos.Probes.VipHolderMonitor.Changes(holders), [], holders),
            Faults = [fault],
            Steps = [],
            Cpu = new CpuResult(0.3, 21, 2, "test"),
        };
    }
}
