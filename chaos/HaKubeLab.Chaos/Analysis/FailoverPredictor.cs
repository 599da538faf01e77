using System.Collections.Immutable;
using HaKubeLab.Failover;
using HaKubeLab.Topology;

namespace HaKubeLab.Chaos.Analysis;

/// <summary>What the failover model says a fault does to the VIP and the load balancer, as a chaos run records it.</summary>
/// <param name="HolderBefore">Who held the VIP when the fault came.</param>
/// <param name="HoldersAfter">Who may hold it afterwards (several on a priority tie; none when the VIP is gone).</param>
/// <param name="VipMoves">Whether the VIP is expected to leave <paramref name="HolderBefore"/> for another node.</param>
/// <param name="LoadBalancerAnswers">Whether VIP:load-balancer port answers once the lab settled with the fault in place.</param>
/// <param name="Window">Predicted failover time for vip_tcp from the fault taking effect; [0, 0] when the probe should not notice; null when VRRP does not predict it.</param>
/// <param name="DownUntilUndone">VIP:load-balancer port stays unreachable until the fault is undone.</param>
/// <param name="FromRunbookSettings">The lab's keepalived settings are the runbook's (so "the runbook is why").</param>
/// <param name="Reason">The reasoning, in words.</param>
/// <param name="Basis">The timing arithmetic, in words.</param>
public sealed record FailoverPrediction(
    string? HolderBefore,
    ImmutableArray<string> HoldersAfter,
    bool VipMoves,
    bool LoadBalancerAnswers,
    TimeWindow? Window,
    bool DownUntilUndone,
    bool FromRunbookSettings,
    string Reason,
    string Basis)
{
    /// <summary>A short line for tables: "VIP to m02 or m03 after 2.57-3.57 s".</summary>
    public string Summary =>
        HoldersAfter.IsEmpty && HolderBefore is not null ? $"VIP gone: no node is left to take it{(DownUntilUndone ? "; until the fault is undone" : "")}"
        : DownUntilUndone && VipMoves ? $"VIP to {string.Join(" or ", HoldersAfter)}, whose haproxy is down: load balancer refuses until the fault is undone"
        : DownUntilUndone ? $"VIP stays on {HolderBefore}; {(LoadBalancerAnswers ? "" : "load balancer refuses ")}until the fault is undone"
        : VipMoves ? $"VIP to {string.Join(" or ", HoldersAfter)}{(Window is null ? "" : $" after {Window}")}"
        : Window is { } w && w.Max <= TimeSpan.Zero ? $"no failover: VIP stays on {HolderBefore ?? "its holder"}"
        : Window is null && HolderBefore is not null && HoldersAfter.Length == 1 && HoldersAfter[0] == HolderBefore ? $"VIP stays on {HolderBefore} (timing not a VRRP figure)"
        : Window is null ? "not predicted by VRRP" : $"back after {Window}";
}

/// <summary>
/// The chaos runner's view of <see cref="FailoverModel"/>: the model answers for the settings the lab's
/// profile renders; this adds only what is particular to a run — the VIP holder as observed, earlier
/// faults carried over until they are undone (restart policies decide which heal by themselves), and the
/// injector's call, during which the fault takes effect.
/// </summary>
public static class FailoverPredictor
{
    /// <summary>The runbook's keepalived settings (the topology defaults) with the seed profile (<see cref="FailoverModel.HasRunbookSettings"/>).</summary>
    public static bool HasRunbookSettings(LabTopology topology) => FailoverModel.HasRunbookSettings(topology);

    /// <summary>
    /// Predicts one fault on <paramref name="node"/> while <paramref name="holderBefore"/> holds the VIP (as observed) and
    /// <paramref name="conditions"/> describe earlier faults still in place (updated for this fault on return, unless it heals by itself).
    /// </summary>
    /// <param name="topology">The lab; its profile decides the settings the model uses.</param>
    /// <param name="kind">The fault.</param>
    /// <param name="node">The node it hits.</param>
    /// <param name="holderBefore">The VIP holder as the run observed it; null when none was seen (then nothing is predicted).</param>
    /// <param name="conditions">Earlier faults of the run still in place, per node; this fault is added unless it heals by itself.</param>
    /// <param name="apiServersRunning">Whether the lab runs Kubernetes (the recommended profile's track script asks the API).</param>
    public static FailoverPrediction Predict(LabTopology topology, FaultKind kind, string node, string? holderBefore, Dictionary<string, NodeCondition> conditions, bool apiServersRunning = true)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(conditions);
        var runbook = HasRunbookSettings(topology);
        var state = new LabState { ApiServersRunning = apiServersRunning, Conditions = conditions.ToImmutableDictionary(), Holder = holderBefore };
        if (holderBefore is null)
        {
            // Nobody was seen holding the VIP: nothing to fail over from. The fault still counts for the next one.
            if (FailoverModel.Recovery(kind) == FaultRecovery.UntilUndone)
                conditions[node] = FailoverModel.During(kind, state.Of(node));
            return new(null, [], false, false, null, false, runbook, "no node held the VIP before the fault", "not predicted");
        }
        var outcome = FailoverModel.Predict(topology, kind, node, state);
        foreach (var (name, condition) in outcome.StateAfter.Conditions) conditions[name] = condition;
        return From(outcome, runbook);
    }

    /// <summary>The run's record of a model outcome.</summary>
    public static FailoverPrediction From(FailoverOutcome outcome, bool fromRunbookSettings)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        return new(outcome.HolderBefore, outcome.After.PossibleHolders, outcome.VipMoves, outcome.After.LoadBalancerAnswers, outcome.Failover,
            outcome.DownUntilUndone, fromRunbookSettings, outcome.Reason, outcome.Basis);
    }

    /// <summary>
    /// The prediction as a failover time counted from the fault time the injector reported: the VRRP window
    /// runs from the moment the fault took effect, somewhere during the injector's call, so
    /// [window min - call length (not below 0), window max]; null when there is no window.
    /// </summary>
    public static TimeWindow? FromFaultTime(FailoverPrediction prediction, double injectStarted, double faultTime)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        if (prediction.Window is not { } w) return null;
        var min = Math.Round(Math.Max(0, w.MinSeconds - (faultTime - injectStarted)), 4);
        return TimeWindow.FromSeconds(min, w.MaxSeconds);
    }
}
