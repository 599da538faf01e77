using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Chaos.Wire;

/// <summary>A TCP connect probe through the VIP, for the cross-check against the wire.</summary>
public sealed record WireProbeInput(string Probe, int Port, double TimeoutSeconds, IReadOnlyList<ProbeSample> Samples);

/// <summary>The wire analysis of one run: the timeline, and each TCP probe's samples with the false outages the wire contradicts taken out.</summary>
public sealed record WireAnalysis(WireResult Result, IReadOnlyDictionary<string, IReadOnlyList<ProbeSample>> Corrected)
{
    /// <summary>A probe's samples as the report counts them: corrected by the wire where it could check them, else as recorded.</summary>
    public IReadOnlyList<ProbeSample> SamplesOf(string probe, IReadOnlyList<ProbeSample> recorded) => Corrected.TryGetValue(probe, out var c) ? c : recorded;
}

/// <summary>Glue between a run and the pure wire analysis: the topology as a <see cref="WireLab"/>, the cross-check of every TCP probe.</summary>
public static class WireRun
{
    /// <summary>The lab as the wire analysis sees it: VIP, load-balancer port, VRID, node addresses and Docker's MACs.</summary>
    public static WireLab Lab(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        return new WireLab(topology.Vip.ToString(), topology.LoadBalancer.Port, topology.Keepalived.VirtualRouterId,
            topology.Nodes.ToDictionary(n => n.Ip.ToString(), n => n.Name),
            topology.Nodes.ToDictionary(n => VipHolderSource.DockerMac(n.Ip), n => n.Name));
    }

    /// <summary>Analyses the capture and cross-checks each TCP probe; <paramref name="synTimeout"/> is the failover probe's timeout (a SYN unanswered that long interrupts the VIP).</summary>
    /// <param name="failoverProbe">The probe whose failover figure the wire's is set beside (its own SYNs give <see cref="WireFailover.ProbeSeconds"/>).</param>
    public static WireAnalysis Analyse(WireCaptureData capture, LabTopology topology, IReadOnlyList<WireFaultInput> faults, IReadOnlyList<WireProbeInput> tcpProbes, double synTimeout,
        string failoverProbe = Scenarios.ProbeNames.VipTcp)
    {
        ArgumentNullException.ThrowIfNull(capture);
        ArgumentNullException.ThrowIfNull(tcpProbes);
        var lab = Lab(topology);
        var ports = tcpProbes.FirstOrDefault(p => p.Probe == failoverProbe)?.Samples.Where(s => s.LocalPort is not null).Select(s => s.LocalPort!.Value).ToHashSet();
        var result = WireTimeline.Analyse(capture, lab, faults, synTimeout, ports);
        if (!result.Available) return new WireAnalysis(result, new Dictionary<string, IReadOnlyList<ProbeSample>>());
        var handshakes = WireTimeline.Handshakes(capture.Events.OfType<TcpSegment>(), lab.Vip);
        var corrected = new Dictionary<string, IReadOnlyList<ProbeSample>>();
        var all = new List<FalseOutage>();
        foreach (var p in tcpProbes)
        {
            var false_ = WireTimeline.CrossCheck(p.Probe, p.Samples, handshakes, p.Port, p.TimeoutSeconds);
            all.AddRange(false_);
            corrected[p.Probe] = WireTimeline.Corrected(p.Samples, false_);
        }
        return new WireAnalysis(result with { FalseOutages = all }, corrected);
    }
}
