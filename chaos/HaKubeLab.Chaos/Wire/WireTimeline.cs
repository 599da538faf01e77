using HaKubeLab.Chaos.Analysis;

namespace HaKubeLab.Chaos.Wire;

/// <summary>What the analysis needs to know about the lab: the VIP, the ports probed through it, which IP is which node.</summary>
/// <param name="Vip">The VIP.</param>
/// <param name="Port">The load balancer's port on the VIP (the failover figure's port: the <c>vip_tcp</c> probe's).</param>
/// <param name="Vrid">The lab's VRRP virtual router id.</param>
/// <param name="Nodes">Node IP address to node name (from the topology).</param>
/// <param name="Macs">Node MAC address (lower case) to node name, where known.</param>
public sealed record WireLab(string Vip, int Port, int Vrid, IReadOnlyDictionary<string, string> Nodes, IReadOnlyDictionary<string, string>? Macs = null)
{
    public string NodeOf(string ip) => Nodes.TryGetValue(ip, out var n) ? n : ip;
}

/// <summary>A fault to measure on the wire.</summary>
/// <param name="FaultTime">Run time the fault took effect (the engine's event).</param>
/// <param name="Until">Where what this fault caused ends (the next fault's start, or the end of the run).</param>
public sealed record WireFaultInput(string Id, string Node, double FaultTime, double Until);

/// <summary>One TCP handshake to the VIP: the client's first SYN and the VIP's answer.</summary>
/// <param name="SynT">The first SYN of this client port.</param>
/// <param name="SynAckT">The VIP's SYN-ACK; null when none came.</param>
/// <param name="RstT">A reset on this connection (the TCP probe closes with RST; a refused port answers with one).</param>
public sealed record WireHandshake(double SynT, string Client, int ClientPort, int ServerPort, double? SynAckT, double? RstT, bool RefusedByVip)
{
    /// <summary>SYN to SYN-ACK in ms, or null.</summary>
    public double? AnsweredMs => SynAckT is { } a ? Math.Round((a - SynT) * 1000, 3) : null;
}

/// <summary>One source of VRRP adverts over the run.</summary>
/// <param name="Node">The node (or the address when no node has it).</param>
/// <param name="Priorities">The priorities it advertised, in order of first appearance.</param>
/// <param name="AdvertIntervalSeconds">The interval the adverts declare (v2: seconds; v3: centiseconds, given here in seconds).</param>
/// <param name="MeasuredIntervalSeconds">The median gap between its adverts (one advert round: unicast peers get one packet each).</param>
public sealed record WireMaster(string Node, string Ip, int Vrid, int Adverts, IReadOnlyList<int> Priorities, double AdvertIntervalSeconds, double? MeasuredIntervalSeconds, double First, double Last);

/// <summary>A stretch of time in which one source advertised as master (adverts at priority &gt; 0 no further apart than 3 intervals).</summary>
/// <param name="From">Its first advert.</param>
/// <param name="To">Its last advert at priority &gt; 0.</param>
/// <param name="ResignedAt">A priority-0 advert that ended it (the master gave up: keepalived stopping), if one did.</param>
/// <param name="Interval">The advert interval it declared, in seconds.</param>
public sealed record WireAdvertSpell(string Node, string Ip, double From, double To, int Adverts, int Priority, double? ResignedAt = null, double Interval = 1)
{
    /// <summary>Until when the source counts as master: its resignation, else one interval after its last advert (its next one was due then).</summary>
    public double MasterUntil => ResignedAt ?? To + Interval;
}

/// <summary>A gratuitous ARP (sender address = target address).</summary>
public sealed record WireGarp(double T, string Node, string Ip, string Mac);

/// <summary>Two (or more) sources advertising for the same VRID at priority &gt; 0 within one advert interval of each other.</summary>
public sealed record DualMasterMoment(double From, double To, int Vrid, IReadOnlyList<string> Nodes);

/// <summary>One fault as the wire saw it. All times are run time; the "...After" figures are seconds from the fault time.</summary>
/// <param name="OldMaster">The node whose adverts were the last before the fault.</param>
/// <param name="OldMasterLastAdvert">Its last advert (at or before the fault time, or after it while the fault still took effect).</param>
/// <param name="NewMasters">Nodes that began advertising after the fault and kept at it for at least two advert rounds (more than one: two masters stayed).</param>
/// <param name="NewMaster">The one whose adverts went on longest: the master after the takeover.</param>
/// <param name="FirstSyn">The SYN whose SYN-ACK ends the failover (sent after the fault, after the first unanswered one).</param>
/// <param name="FirstSynAck">That SYN-ACK: the first answer through the VIP.</param>
/// <param name="Seconds">The wire failover figure: fault time to <paramref name="FirstSynAck"/>.</param>
/// <param name="Interrupted">Some SYN sent after the fault went unanswered within the probe timeout.</param>
public sealed record WireFailover(
    string FaultId,
    string Node,
    double FaultTime,
    string? OldMaster,
    double? OldMasterLastAdvert,
    IReadOnlyList<string> NewMasters,
    string? NewMaster,
    double? NewMasterFirstAdvert,
    double? FirstGarp,
    string? FirstGarpNode,
    double? FirstSyn,
    double? FirstSynAck,
    double? Seconds,
    bool Interrupted,
    int UnansweredSyns)
{
    /// <summary>Every node that began advertising after the fault, also those that sent a single advert and yielded (a collision at the takeover).</summary>
    public IReadOnlyList<string> Contenders { get; init; } = [];

    /// <summary>
    /// The same figure over the failover probe's own SYNs only (matched by its client ports): the like-for-like check of the
    /// runner's figure. It can be one probe interval later than <see cref="Seconds"/>: another probe's SYN, sent a few
    /// milliseconds after the new master's gratuitous ARP, may be answered while the failover probe's SYN of the same slot
    /// left just before it and went to the dead node. Null when the probe's ports are unknown.
    /// </summary>
    public double? ProbeSeconds => ProbeFirstSynAck is { } t ? Math.Round(t - FaultTime, 6) : null;

    /// <summary>The SYN-ACK behind <see cref="ProbeSeconds"/> (run time).</summary>
    public double? ProbeFirstSynAck { get; init; }

    public double? NewMasterAfter => NewMasterFirstAdvert is { } t ? Math.Round(t - FaultTime, 4) : null;
    public double? GarpAfter => FirstGarp is { } t ? Math.Round(t - FaultTime, 4) : null;
    public double? LastAdvertBefore => OldMasterLastAdvert is { } t ? Math.Round(FaultTime - t, 4) : null;
}

/// <summary>A probe failure the wire contradicts: its SYN got the VIP's SYN-ACK within the probe's timeout.</summary>
/// <param name="T">The attempt's start (run time).</param>
/// <param name="AnsweredMs">SYN to SYN-ACK on the wire.</param>
/// <param name="RunnerError">What the runner recorded (e.g. timeout).</param>
public sealed record FalseOutage(string Probe, double T, int ClientPort, double AnsweredMs, string? RunnerError)
{
    public string Note => $"not an outage (answered on the wire in {AnsweredMs:0.###} ms; runner was late)";
}

/// <summary>The wire timeline of a run: what the lab's bridge carried (VRRP, ARP, handshakes to the VIP), and per fault the takeover as packets show it.</summary>
public sealed record WireResult(
    bool Available,
    string? Reason,
    string Interface,
    string Filter,
    string ClockNote,
    long Packets,
    long Dropped,
    IReadOnlyList<WireMaster> Sources,
    IReadOnlyList<WireAdvertSpell> Spells,
    IReadOnlyList<WireGarp> GratuitousArps,
    IReadOnlyList<DualMasterMoment> DualMasters,
    IReadOnlyList<WireFailover> Faults,
    int Handshakes,
    int UnansweredHandshakes)
{
    /// <summary>Probe failures the wire contradicts (excluded from availability, outages and failover figures).</summary>
    public IReadOnlyList<FalseOutage> FalseOutages { get; init; } = [];

    /// <summary>The capture could not run: what the report says instead.</summary>
    public static WireResult Missing(string reason) => new(false, reason, "", "", "", 0, 0, [], [], [], [], [], 0, 0);
}

/// <summary>
/// The wire-timeline analysis: pure functions of decoded packets (unit-tested on hand-made sequences),
/// separate from the capture (<see cref="WireCapture"/>).
/// </summary>
public static class WireTimeline
{
    /// <summary>Analyses a capture. <paramref name="synTimeout"/> is the TCP probe's timeout: a SYN not answered within it counts as unanswered.</summary>
    /// <param name="probePorts">The failover probe's client ports (one per attempt), for <see cref="WireFailover.ProbeSeconds"/>; null: unknown.</param>
    public static WireResult Analyse(WireCaptureData capture, WireLab lab, IReadOnlyList<WireFaultInput> faults, double synTimeout, IReadOnlySet<int>? probePorts = null)
    {
        ArgumentNullException.ThrowIfNull(capture);
        ArgumentNullException.ThrowIfNull(lab);
        ArgumentNullException.ThrowIfNull(faults);
        if (!capture.Available)
            return WireResult.Missing(capture.Reason ?? "no capture") with { Interface = capture.Interface, Filter = capture.Filter };
        var events = capture.Events.OrderBy(e => e.T).ToList();
        var adverts = events.OfType<VrrpAdvert>().Where(a => a.Vrid == lab.Vrid).ToList();
        var live = adverts.Where(a => a.Priority > 0).ToList();
        var spells = Spells(adverts, lab);
        var garps = events.OfType<ArpFrame>().Where(a => a.Gratuitous && a.SenderIp == lab.Vip)
            .Select(a => new WireGarp(a.T, MacNode(lab, a.SenderMac), a.SenderIp, a.SenderMac)).ToList();
        var handshakes = Handshakes(events.OfType<TcpSegment>(), lab.Vip);
        var onPort = handshakes.Where(h => h.ServerPort == lab.Port).ToList();
        return new WireResult(true, null, capture.Interface, capture.Filter, capture.ClockNote, capture.Received == 0 ? events.Count : capture.Received, capture.Dropped,
            Sources(adverts, lab), spells, garps, DualMasters(spells, lab.Vrid),
            [.. faults.Select(f => Failover(f, live, spells, garps, onPort, lab, synTimeout, probePorts))],
            handshakes.Count, handshakes.Count(h => h.SynAckT is null || h.SynAckT - h.SynT > synTimeout));
    }

    private static string MacNode(WireLab lab, string mac) => lab.Macs is not null && lab.Macs.TryGetValue(mac.ToLowerInvariant(), out var n) ? n : mac;

    /// <summary>Each source's adverts summed up.</summary>
    public static IReadOnlyList<WireMaster> Sources(IReadOnlyList<VrrpAdvert> adverts, WireLab lab)
    {
        ArgumentNullException.ThrowIfNull(adverts);
        ArgumentNullException.ThrowIfNull(lab);
        return [.. adverts.GroupBy(a => (a.Source, a.Vrid)).Select(g =>
        {
            var list = g.OrderBy(a => a.T).ToList();
            var declared = list[^1].AdvertIntervalSeconds;
            // One advert round can be several packets (unicast_peer sends one per peer): gaps under a fifth of the interval are the same round.
            var gaps = list.Zip(list.Skip(1), (a, b) => b.T - a.T).Where(d => d > declared * 0.2).Order().ToList();
            return new WireMaster(lab.NodeOf(g.Key.Source), g.Key.Source, g.Key.Vrid, list.Count, [.. list.Select(a => a.Priority).Distinct()], declared,
                gaps.Count == 0 ? null : Math.Round(gaps[gaps.Count / 2], 4), list[0].T, list[^1].T);
        }).OrderBy(m => m.First)];
    }

    /// <summary>Master spells: a source's adverts at priority &gt; 0, split where it fell silent for more than 3 intervals or resigned (priority 0).</summary>
    public static IReadOnlyList<WireAdvertSpell> Spells(IReadOnlyList<VrrpAdvert> adverts, WireLab lab)
    {
        ArgumentNullException.ThrowIfNull(adverts);
        ArgumentNullException.ThrowIfNull(lab);
        var result = new List<WireAdvertSpell>();
        foreach (var g in adverts.Where(a => a.Vrid == lab.Vrid).GroupBy(a => a.Source))
        {
            WireAdvertSpell? open = null;
            foreach (var a in g.OrderBy(a => a.T))
            {
                var interval = Math.Max(a.AdvertIntervalSeconds, 0.01);
                if (open is not null && (a.Priority == 0 || a.T - open.To > 3 * interval))
                {
                    result.Add(a.Priority == 0 ? open with { ResignedAt = a.T } : open);
                    open = null;
                }
                if (a.Priority == 0) continue;
                open = open is null ? new WireAdvertSpell(lab.NodeOf(g.Key), g.Key, a.T, a.T, 1, a.Priority, null, interval)
                    : open with { To = a.T, Adverts = open.Adverts + 1, Priority = a.Priority, Interval = interval };
            }
            if (open is not null) result.Add(open);
        }
        return [.. result.OrderBy(s => s.From)];
    }

    /// <summary>
    /// Dual-master moments: two sources advertising for the VRID at priority &gt; 0 within one advert interval of each other, that is two
    /// master spells that overlap when each counts until its next advert was due (or until it resigned with priority 0). A moment runs from
    /// the later spell's first advert to the last moment both evidently advertised; overlapping pairs merge into one moment.
    /// </summary>
    public static IReadOnlyList<DualMasterMoment> DualMasters(IReadOnlyList<WireAdvertSpell> spells, int vrid = 0)
    {
        ArgumentNullException.ThrowIfNull(spells);
        var pairs = new List<(double From, double To, string A, string B)>();
        for (var i = 0; i < spells.Count; i++)
            for (var j = i + 1; j < spells.Count; j++)
            {
                var (a, b) = (spells[i], spells[j]);
                if (a.Ip == b.Ip) continue;
                var from = Math.Max(a.From, b.From);
                if (from >= Math.Min(a.MasterUntil, b.MasterUntil)) continue;
                pairs.Add((from, Math.Max(from, Math.Min(a.To, b.To)), a.Node, b.Node));
            }
        var result = new List<DualMasterMoment>();
        foreach (var p in pairs.OrderBy(p => p.From))
        {
            if (result.Count > 0 && p.From <= result[^1].To)
            {
                var last = result[^1];
                result[^1] = last with { To = Math.Max(last.To, p.To), Nodes = [.. last.Nodes.Union([p.A, p.B]).Order(StringComparer.Ordinal)] };
            }
            else result.Add(new DualMasterMoment(p.From, p.To, vrid, [.. new[] { p.A, p.B }.Distinct().Order(StringComparer.Ordinal)]));
        }
        return result;
    }

    /// <summary>Pairs each client's SYN to the VIP with the VIP's SYN-ACK (and any reset) by the client's address and port.</summary>
    public static IReadOnlyList<WireHandshake> Handshakes(IEnumerable<TcpSegment> segments, string vip)
    {
        ArgumentNullException.ThrowIfNull(segments);
        var open = new Dictionary<(string, int, int), int>();
        var result = new List<WireHandshake>();
        foreach (var s in segments.OrderBy(s => s.T))
        {
            if (s.Destination == vip && s.IsSyn)
            {
                var key = (s.Source, s.SourcePort, s.DestinationPort);
                // A retransmitted SYN belongs to the open handshake; a SYN after an answer or a reset is a new connection (port reuse).
                if (open.TryGetValue(key, out var i) && result[i].SynAckT is null && result[i].RstT is null) continue;
                open[key] = result.Count;
                result.Add(new WireHandshake(s.T, s.Source, s.SourcePort, s.DestinationPort, null, null, false));
            }
            else if (s.Source == vip && s.IsSynAck && open.TryGetValue((s.Destination, s.DestinationPort, s.SourcePort), out var a) && result[a].SynAckT is null)
                result[a] = result[a] with { SynAckT = s.T };
            else if (s.IsRst)
            {
                var fromVip = s.Source == vip;
                var key = fromVip ? (s.Destination, s.DestinationPort, s.SourcePort) : (s.Source, s.SourcePort, s.DestinationPort);
                if (open.TryGetValue(key, out var r) && result[r].RstT is null)
                    result[r] = result[r] with { RstT = s.T, RefusedByVip = fromVip && result[r].SynAckT is null };
            }
        }
        return result;
    }

    /// <summary>
    /// One fault on the wire. The takeover figure mirrors the runner's: among SYNs to the VIP sent after the fault time, the first
    /// one answered after the first one left unanswered (within <paramref name="synTimeout"/>); its SYN-ACK time minus the fault time.
    /// When no SYN went unanswered the fault did not interrupt the VIP, and the figure is the first answer after the fault.
    /// </summary>
    public static WireFailover Failover(WireFaultInput fault, IReadOnlyList<VrrpAdvert> live, IReadOnlyList<WireAdvertSpell> spells, IReadOnlyList<WireGarp> garps,
        IReadOnlyList<WireHandshake> handshakes, WireLab lab, double synTimeout, IReadOnlySet<int>? probePorts = null)
    {
        ArgumentNullException.ThrowIfNull(fault);
        ArgumentNullException.ThrowIfNull(live);
        ArgumentNullException.ThrowIfNull(spells);
        ArgumentNullException.ThrowIfNull(garps);
        ArgumentNullException.ThrowIfNull(handshakes);
        ArgumentNullException.ThrowIfNull(lab);
        // The old master: whose spell ran at the fault time (adverts can still leave the node while Docker tears it down).
        var before = live.Where(a => a.T <= fault.FaultTime).OrderBy(a => a.T).LastOrDefault();
        var oldSource = before?.Source;
        var oldLast = before is null ? null
            : live.Where(a => a.Source == before.Source && a.T <= Math.Min(fault.Until, fault.FaultTime + 3 * before.AdvertIntervalSeconds)).Select(a => (double?)a.T).LastOrDefault();
        // New masters: spells that start after the fault (and inside its window) from sources that were not advertising at the fault time.
        var fresh = spells.Where(s => s.From > fault.FaultTime && s.From < fault.Until && s.Ip != oldSource).OrderBy(s => s.From).ToList();
        var lasting = fresh.OrderByDescending(s => s.To).FirstOrDefault();
        // A contender that sent one advert and yielded to a higher one is a collision, not a new master.
        var newMasters = fresh.Where(s => s.To - s.From >= 0.9 * s.Interval).Select(s => s.Node).Distinct().ToList();
        var garp = garps.FirstOrDefault(g => g.T >= fault.FaultTime && g.T < fault.Until);

        var after = handshakes.Where(h => h.SynT >= fault.FaultTime && h.SynT < fault.Until).OrderBy(h => h.SynT).ToList();
        var (answer, firstUnanswered, unanswered) = FirstAnswer(after, synTimeout);
        var own = probePorts is null ? null : FirstAnswer([.. after.Where(h => probePorts.Contains(h.ClientPort))], synTimeout).Answer;
        return new WireFailover(fault.Id, fault.Node, fault.FaultTime, oldSource is null ? null : lab.NodeOf(oldSource), oldLast,
            newMasters, lasting?.Node, lasting is null ? null : fresh.Where(s => s.Node == lasting.Node).Min(s => s.From),
            garp?.T, garp?.Node, answer?.SynT, answer?.SynAckT,
            answer?.SynAckT is { } sa ? Math.Round(sa - fault.FaultTime, 6) : null, firstUnanswered >= 0, unanswered)
        {
            Contenders = [.. fresh.Select(s => s.Node).Distinct()],
            ProbeFirstSynAck = own?.SynAckT,
        };
    }

    /// <summary>Among handshakes in SYN order: the first answered after the first unanswered one (or the first answered when none went unanswered).</summary>
    private static (WireHandshake? Answer, int FirstUnanswered, int Unanswered) FirstAnswer(List<WireHandshake> after, double synTimeout)
    {
        bool Answered(WireHandshake h) => h.SynAckT is { } a && a - h.SynT <= synTimeout;
        var firstUnanswered = after.FindIndex(h => !Answered(h));
        var answer = firstUnanswered < 0 ? after.FirstOrDefault(Answered) : after.Skip(firstUnanswered).FirstOrDefault(Answered);
        return (answer, firstUnanswered, after.Count(h => !Answered(h) && (answer is null || h.SynT < answer.SynT)));
    }

    /// <summary>
    /// Probe failures the wire contradicts: a failed TCP connect attempt whose SYN (matched by the probe's own client port) got the
    /// VIP's SYN-ACK within the probe's timeout. The runner, not the lab, was late (starved of CPU, or its continuation ran late).
    /// </summary>
    public static IReadOnlyList<FalseOutage> CrossCheck(string probe, IReadOnlyList<ProbeSample> samples, IReadOnlyList<WireHandshake> handshakes, int serverPort, double timeoutSeconds)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(handshakes);
        var byPort = handshakes.Where(h => h.ServerPort == serverPort).GroupBy(h => h.ClientPort).ToDictionary(g => g.Key, g => g.OrderBy(h => h.SynT).ToList());
        var result = new List<FalseOutage>();
        foreach (var s in samples)
        {
            if (s.Ok || s.LocalPort is not { } port || !byPort.TryGetValue(port, out var list)) continue;
            // The attempt's own SYN: from its start (less a little clock skew) to its end.
            var h = list.FirstOrDefault(h => h.SynT >= s.T - 0.005 && h.SynT <= s.T + timeoutSeconds + 0.005);
            if (h?.SynAckT is { } a && a - h.SynT <= timeoutSeconds)
                result.Add(new FalseOutage(probe, s.T, port, h.AnsweredMs!.Value, s.Error));
        }
        return result;
    }

    /// <summary>The samples with the wire's corrections: a false outage becomes a success (latency = the wire's SYN to SYN-ACK, error = the note).</summary>
    public static IReadOnlyList<ProbeSample> Corrected(IReadOnlyList<ProbeSample> samples, IReadOnlyList<FalseOutage> falseOutages)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(falseOutages);
        if (falseOutages.Count == 0) return samples;
        var byT = falseOutages.ToDictionary(f => (f.T, f.ClientPort));
        return [.. samples.Select(s => !s.Ok && s.LocalPort is { } p && byT.TryGetValue((s.T, p), out var f)
            ? s with { Ok = true, LatencyMs = f.AnsweredMs, Error = $"{f.Note}; runner recorded {s.Error} after {s.LatencyMs:0.#} ms" }
            : s)];
    }
}
