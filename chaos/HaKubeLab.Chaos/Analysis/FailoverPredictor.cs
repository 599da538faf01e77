using System.Collections.Immutable;
using HaKubeLab.Chaos.Scenarios;
using Explainer = HaKubeLab.Explain.Explainer;
using HaKubeLab.Topology;

namespace HaKubeLab.Chaos.Analysis;

/// <summary>Seconds from/to, for JSON and reports (a <see cref="TimeWindow"/> in plain numbers).</summary>
public sealed record SecondsWindow(double Min, double Max)
{
    public static SecondsWindow From(TimeWindow w) => new(Math.Round(w.Min.TotalSeconds, 4), Math.Round(w.Max.TotalSeconds, 4));

    public bool Contains(double seconds, double slack = 0) => seconds >= Min - slack && seconds <= Max + slack;

    public override string ToString() => Math.Abs(Min - Max) < 1e-9 ? $"{Max:0.##} s" : $"{Min:0.##}-{Max:0.##} s";
}

/// <summary>What the VRRP rules (and Docker's restart policy) say a fault does to the VIP and the load balancer.</summary>
/// <param name="HolderBefore">Who held the VIP when the fault came.</param>
/// <param name="HoldersAfter">Who may hold it afterwards (several on a priority tie).</param>
/// <param name="VipMoves">Whether the VIP is expected to leave <paramref name="HolderBefore"/>.</param>
/// <param name="LoadBalancerAnswers">Whether VIP:load-balancer port answers once the lab settled with the fault in place.</param>
/// <param name="Window">Predicted failover time for vip_tcp; [0, 0] when the probe should not notice; null when VRRP does not predict it.</param>
/// <param name="DownUntilUndone">VIP:load-balancer port stays unreachable until the fault is undone.</param>
/// <param name="FromRunbookSettings">The lab's keepalived settings are the runbook's (so "the runbook is why").</param>
/// <param name="Reason">The election's reasoning, in words.</param>
/// <param name="Basis">The timing arithmetic, in words.</param>
public sealed record FailoverPrediction(
    string? HolderBefore,
    ImmutableArray<string> HoldersAfter,
    bool VipMoves,
    bool LoadBalancerAnswers,
    SecondsWindow? Window,
    bool DownUntilUndone,
    bool FromRunbookSettings,
    string Reason,
    string Basis)
{
    /// <summary>A short line for tables: "VIP to m02 or m03 after 2.57-3.57 s".</summary>
    public string Summary =>
        DownUntilUndone ? $"VIP stays on {HolderBefore}; {(LoadBalancerAnswers ? "" : "load balancer refuses ")}until the fault is undone"
        : VipMoves ? $"VIP to {(HoldersAfter.IsEmpty ? "no node" : string.Join(" or ", HoldersAfter))}{(Window is null ? "" : $" after {Window}")}"
        : Window is { Max: 0 } ? $"no failover: VIP stays on {HolderBefore ?? "its holder"}"
        : Window is null && HolderBefore is not null && HoldersAfter.Length == 1 && HoldersAfter[0] == HolderBefore ? $"VIP stays on {HolderBefore} (timing not a VRRP figure)"
        : Window is null ? "not predicted by VRRP" : $"back after {Window}";
}

/// <summary>
/// Predicts a fault's effect from the VRRP settings the lab's profile really renders
/// (<see cref="Explainer.AsRendered"/>) with <see cref="VrrpElection"/>: the master-down interval
/// (3 x advert_int + (256 - priority)/256 s, up to one advert sooner), plus the track script's detection
/// (check interval x fall) where the script must fail first. Unlike <see cref="Explainer"/>, which explains
/// one fault on a healthy lab, it carries earlier faults of a run forward and knows the chaos runner's
/// faults (stop, pause, partition, crashes).
/// </summary>
public static class FailoverPredictor
{
    /// <summary>The runbook's keepalived settings (the topology defaults) with the seed profile.</summary>
    public static bool HasRunbookSettings(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var d = new KeepalivedSettings();
        var k = Explainer.AsRendered(topology).Keepalived;
        return topology.Profile == RenderProfile.Seed && k.AdvertInterval == d.AdvertInterval && k.CheckInterval == d.CheckInterval && k.Weight == d.Weight
               && k.Fall == d.Fall && k.Rise == d.Rise && k.Nopreempt == d.Nopreempt && topology.Nodes.All(n => n.Priority == 100);
    }

    /// <summary>How a fault changes what the election sees; transient faults (crashes, restarts) heal by themselves.</summary>
    public static (NodeCondition During, bool Transient)? Effect(FaultKind kind, NodeCondition before) => kind switch
    {
        FaultKind.NodeKill or FaultKind.NodeStop or FaultKind.NodePause or FaultKind.NetworkPartition => (before with { NodeUp = false }, false),
        FaultKind.NodeRestart => (before with { NodeUp = false }, true),
        FaultKind.HaproxyKill or FaultKind.HaproxyStop => (before with { HaproxyUp = false }, false),
        FaultKind.HaproxyCrash => (before with { HaproxyUp = false }, true),
        FaultKind.KeepalivedKill or FaultKind.KeepalivedStop => (before with { KeepalivedUp = false }, false),
        FaultKind.KeepalivedCrash => (before with { KeepalivedUp = false }, true),
        FaultKind.ApiServerKill => (before with { ApiServerUp = false }, true),
        FaultKind.EtcdKill or FaultKind.KubeletKill => (before, true),
        _ => null,
    };

    /// <summary>
    /// Predicts one fault on <paramref name="node"/> while <paramref name="holderBefore"/> holds the VIP and
    /// <paramref name="conditions"/> describe earlier faults still in place (updated for this fault on return).
    /// </summary>
    /// <param name="apiServersRunning">Whether the lab runs Kubernetes (the recommended profile's track script asks the API).</param>
    public static FailoverPrediction Predict(LabTopology topology, FaultKind kind, string node, string? holderBefore, Dictionary<string, NodeCondition> conditions, bool apiServersRunning = true)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(conditions);
        var runbook = HasRunbookSettings(topology);
        topology = Explainer.AsRendered(topology);
        var healthy = new NodeCondition(ApiServerUp: apiServersRunning);
        var before = conditions.GetValueOrDefault(node, healthy);
        var effect = Effect(kind, before);
        if (effect is null)
            return new(holderBefore, holderBefore is null ? [] : [holderBefore], false, true, null, false, runbook,
                $"{FaultKinds.Name(kind)} does not change what VRRP sees outright; whether adverts get lost is chance",
                "not predicted: depends on which packets are lost or slowed");
        var (during, transient) = effect.Value;
        if (!transient) conditions[node] = during;
        if (holderBefore is null)
            return new(null, [], false, false, null, false, runbook, "no node held the VIP before the fault", "not predicted");

        var duringMap = topology.Nodes.ToDictionary(n => n.Name, n => conditions.GetValueOrDefault(n.Name, healthy));
        duringMap[node] = during;
        // The recommended profile's track script asks the API through the local haproxy: resolve what it sees.
        var outcome = VrrpElection.After(topology, holderBefore, Explainer.Resolve(topology, duringMap));
        var k = topology.Keepalived;
        var holders = outcome.PossibleHolders;
        var moves = !holders.Contains(holderBefore) || holders.Length > 1;
        var bestPriority = holders.Length == 0 ? 0 : holders.Max(h => outcome.EffectivePriorities.GetValueOrDefault(h));
        string Mdi(int p)
        {
            var mdi = VrrpElection.MasterDownInterval(topology, p).TotalSeconds;
            return $"master-down interval 3 x {k.AdvertInterval} s + (256 - {p})/256 s = {mdi:0.##} s, up to one advert interval ({k.AdvertInterval} s) sooner because a backup's timer runs from the last advert it heard";
        }

        if (node != holderBefore)
        {
            var why = $"the fault is on {node}, not on the VIP holder {holderBefore}: {outcome.Reason}";
            return new(holderBefore, holders, moves, outcome.LoadBalancerAnswers, moves ? null : new(0, 0), false, runbook, why,
                moves ? "not predicted" : "vip_tcp should not notice: no failover");
        }

        switch (kind)
        {
            case FaultKind.KeepalivedStop:
            {
                // A stopping keepalived sends priority 0: backups wait only their skew time, not the master-down interval.
                var skew = (256 - bestPriority) / 256.0;
                return new(holderBefore, holders, moves, outcome.LoadBalancerAnswers, new(0, Math.Round(skew, 4)), false, runbook, outcome.Reason,
                    $"keepalived stopping gracefully sends a priority-0 advert and removes the VIP; a backup takes over after its skew time (256 - {bestPriority})/256 s = {skew:0.##} s");
            }
            case FaultKind.KeepalivedCrash:
                return new(holderBefore, [holderBefore], false, true, null, false, runbook,
                    $"keepalived on {holderBefore} dies without a priority-0 advert and Docker's restart policy starts it again within about a second, before the backups' master-down interval runs out; the VIP stays configured on {holderBefore} meanwhile",
                    $"not a VRRP figure: Docker's restart delay; a takeover would need {Mdi(bestPriority)}");
            case FaultKind.HaproxyCrash:
                return new(holderBefore, [holderBefore], false, false, null, false, runbook,
                    $"haproxy on {holderBefore} dies and Docker's restart policy starts it again; the VIP stays (the track script runs every {k.CheckInterval} s and may not even see it, and with its weight lost {outcome.Reason})",
                    "not a VRRP figure: VIP:port refuses until Docker has restarted haproxy (its restart delay plus haproxy's start, well under a second here)");
            case FaultKind.ApiServerKill or FaultKind.EtcdKill or FaultKind.KubeletKill:
                return new(holderBefore, [holderBefore], false, true, new(0, 0), false, runbook,
                    $"the runbook's track script only checks that something listens on port {topology.LoadBalancer.Port}, so the VIP stays on {holderBefore}; API probes through the VIP see the kubelet restart the process",
                    "vip_tcp should not notice; API probes: until the kubelet has restarted it (not a VRRP figure)");
        }

        var holderOut = !during.InElection;
        if (holderOut)
        {
            var window = VrrpElection.TakeoverWindow(topology, Math.Max(bestPriority, 1));
            return new(holderBefore, holders, true, outcome.LoadBalancerAnswers, holders.IsEmpty ? null : SecondsWindow.From(window), false, runbook, outcome.Reason,
                holders.IsEmpty ? "no node is left to take the VIP" : Mdi(bestPriority));
        }

        // The holder still runs VRRP but its track script fails (haproxy gone): detection first, then maybe a preempting backup.
        var detection = VrrpElection.TrackScriptDetection(topology);
        var detectionText = $"the track script fails after {SecondsWindow.From(detection)} (runs every {k.CheckInterval} s, fall {Math.Max(1, k.Fall)})";
        if (!moves)
        {
            var answers = outcome.LoadBalancerAnswers;
            return new(holderBefore, holders, false, answers, answers ? new(0, 0) : null, !answers && !transient, runbook, outcome.Reason,
                answers ? detectionText : $"{detectionText}; nobody takes the VIP, so nothing answers on {topology.Vip}:{topology.LoadBalancer.Port} until the fault is undone");
        }
        var total = detection + VrrpElection.TakeoverWindow(topology, bestPriority);
        return new(holderBefore, holders, true, outcome.LoadBalancerAnswers, SecondsWindow.From(total), false, runbook, outcome.Reason,
            $"{detectionText}; then the preempting backup ignores the lower adverts and takes over after the {Mdi(bestPriority)}");
    }
}
