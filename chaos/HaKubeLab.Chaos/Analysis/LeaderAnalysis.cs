using System.Collections.Immutable;
using HaKubeLab.Chaos.Probes;
using HaKubeLab.Failover;
using HaKubeLab.Topology;

namespace HaKubeLab.Chaos.Analysis;

/// <summary>A fault as the leader analysis needs it: what, where, when it took effect and when it was undone.</summary>
/// <param name="UndoStarted">When the step that undid it started (a recover step), where known: the part comes back during the undo.</param>
public sealed record FaultMoment(string Id, FaultKind Kind, string Node, double FaultTime, double? UndoneAt, double? UndoStarted = null);

/// <summary>A time without a leader of one component.</summary>
/// <param name="Component">etcd, kube-controller-manager or kube-scheduler.</param>
/// <param name="From">The leader before (holder node), null when none was known.</param>
/// <param name="To">The leader after; null when the gap was still open at the end of the run.</param>
/// <param name="Start">When leading stopped (run clock): the fault that killed the leader, else the leader's last renewal (leases) or last sighting (etcd).</param>
/// <param name="End">When a leader led again: the new lease's acquireTime (or a renewal after expiry), or etcd's first sighting of a leader; null while open.</param>
/// <param name="Seconds">End - Start (to the end of the run while open).</param>
/// <param name="StartBasis">Where Start comes from.</param>
/// <param name="EndBasis">Where End comes from.</param>
/// <param name="Fault">The fault id that made it, when one of the run's faults hit the leader.</param>
/// <param name="Predicted">What leader election predicts for it (from the fault), when a fault killed the leader.</param>
/// <param name="PredictedBasis">The arithmetic of <paramref name="Predicted"/>, or why nothing is predicted (e.g. no quorum).</param>
public sealed record LeaderGap(string Component, string? From, string? To, double Start, double? End, double Seconds, string StartBasis, string EndBasis,
    string? Fault, TimeWindow? Predicted, string PredictedBasis)
{
    public bool Open => End is null;
}

/// <summary>What the survival predictor said at one fault, beside what the probes measured until the next fault or the fault's undo.</summary>
/// <param name="Fault">The fault id.</param>
/// <param name="Lost">The parts lost at that moment (this fault plus earlier ones still in place).</param>
/// <param name="Prediction">The predictor's summary line.</param>
/// <param name="Story">The predictor's sentences.</param>
/// <param name="WritesPredicted">Writes through the VIP predicted possible.</param>
/// <param name="From">Start of the window measured (fault time + settle).</param>
/// <param name="To">End of the window measured.</param>
/// <param name="WriteAttempts">api_write attempts in the window (0: the probe did not run).</param>
/// <param name="WriteSuccesses">Of those, successes.</param>
/// <param name="Measured">What was seen, in words.</param>
/// <param name="Verdict">"as predicted" or how it differs.</param>
public sealed record SurvivalCheck(string Fault, IReadOnlyList<string> Lost, string Prediction, IReadOnlyList<string> Story, bool WritesPredicted,
    double From, double To, int WriteAttempts, int WriteSuccesses, string Measured, string Verdict);

/// <summary>The leaders during a run: every look, the gaps, and the survival prediction per fault.</summary>
public sealed record LeadersResult(string Source, IReadOnlyList<LeaderGap> Gaps, IReadOnlyList<SurvivalCheck> Survival, IReadOnlyList<LeaderSample> Samples)
{
    /// <summary>How long etcd's election predicts it has no leader after its leader dies, with this lab's timers.</summary>
    public TimeWindow EtcdGapPredicted { get; init; } = EtcdElection.Default.GapAfterLeaderLoss;

    /// <summary>The longest gap of <paramref name="component"/> (seconds), or null when it always had a leader.</summary>
    public double? LongestGap(string component) => Gaps.Where(g => g.Component == component).Select(g => (double?)g.Seconds).Max();
}

/// <summary>Turns leader samples into gaps, and quotes the survival predictor beside the measured writes; pure.</summary>
public static class LeaderAnalysis
{
    public static readonly ImmutableArray<string> Components = ["etcd", "kube-controller-manager", "kube-scheduler"];

    /// <summary>Whether <paramref name="kind"/> on a node stops <paramref name="component"/>'s process there.</summary>
    /// <remarks>The controller-manager and the scheduler talk to their own master's apiserver: killing it (or, stacked, its etcd) stops them leading too.</remarks>
    public static bool Stops(FaultKind kind, string component) => kind switch
    {
        FaultKind.NodeKill or FaultKind.NodeStop or FaultKind.NodePause or FaultKind.NodeRestart or FaultKind.NetworkPartition => true,
        FaultKind.EtcdKill => true,
        FaultKind.ApiServerKill => component != "etcd",
        FaultKind.EtcdNodeKill => component == "etcd",
        FaultKind.ControllerManagerKill => component == "kube-controller-manager",
        FaultKind.SchedulerKill => component == "kube-scheduler",
        _ => false,
    };

    /// <summary>The gaps of every component, each with the fault that hit the leader (if any) and the prediction for it.</summary>
    public static IReadOnlyList<LeaderGap> Gaps(IReadOnlyList<LeaderSample> samples, IReadOnlyList<FaultMoment> faults, double measuredUntil, LeaderElectionSettings? election = null, EtcdElection? etcd = null)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(faults);
        election ??= LeaderElectionSettings.Default;
        etcd ??= EtcdElection.Default;
        var gaps = new List<LeaderGap>();
        gaps.AddRange(LeaseGaps(samples.Where(s => s.Component == "kube-controller-manager").OrderBy(s => s.T).ToList(), "kube-controller-manager", faults, measuredUntil, election));
        gaps.AddRange(LeaseGaps(samples.Where(s => s.Component == "kube-scheduler").OrderBy(s => s.T).ToList(), "kube-scheduler", faults, measuredUntil, election));
        gaps.AddRange(EtcdGaps(samples.Where(s => s.Component == "etcd").OrderBy(s => s.T).ToList(), faults, measuredUntil, etcd));
        return [.. gaps.OrderBy(g => g.Start)];
    }

    private static FaultMoment? Killer(IReadOnlyList<FaultMoment> faults, string component, string? leader, double from, double to) =>
        leader is null ? null : faults.Where(f => f.Node == leader && Stops(f.Kind, component) && f.FaultTime >= from - 0.5 && f.FaultTime <= to).OrderBy(f => f.FaultTime).FirstOrDefault();

    private static IEnumerable<LeaderGap> LeaseGaps(List<LeaderSample> samples, string component, IReadOnlyList<FaultMoment> faults, double measuredUntil, LeaderElectionSettings election)
    {
        // Only what the lease itself proves: a new holderIdentity (its acquireTime ends the gap), or a look at a lease whose
        // renewTime is older than its duration (nobody led then; a later renewal ends the gap). Looks that could not read the
        // lease prove nothing, so a slow API never makes a gap up.
        LeaderSample? current = null; // the last readable, unexpired sample of the current holder
        LeaderSample? expired = null;  // the first look that found the lease run out
        foreach (var s in samples.Where(s => s.Identity is not null && s.Renew is not null))
        {
            var lease = s.LeaseSeconds ?? (int)election.LeaseDuration.TotalSeconds;
            if (current is null) { if (s.T - s.Renew!.Value <= lease) current = s; continue; }
            if (s.Identity != current.Identity)
            {
                yield return Gap(component, current, s.Holder, s.Acquire ?? s.Renew!.Value, $"acquireTime of {s.Identity}", faults, election);
                current = s;
                expired = null;
                continue;
            }
            if (s.T - s.Renew!.Value > lease) { expired ??= s; continue; }
            if (expired is not null)
            {
                yield return Gap(component, current, s.Holder, s.Renew.Value, $"renewTime of {s.Identity}, which had let its lease run out", faults, election);
                expired = null;
            }
            current = s;
        }
        if (current is not null && expired is not null)
        {
            var gap = Gap(component, current, null, null, "still no leader at the end of the run (the last lease read had run out)", faults, election);
            yield return gap with { Seconds = Math.Round(measuredUntil - gap.Start, 3) };
        }
    }

    private static LeaderGap Gap(string component, LeaderSample before, string? to, double? end, string endBasis, IReadOnlyList<FaultMoment> faults, LeaderElectionSettings election)
    {
        var lastRenew = before.Renew!.Value;
        var killer = Killer(faults, component, before.Holder, lastRenew - election.RetryPeriod.TotalSeconds, end ?? double.MaxValue);
        var start = killer is not null && killer.FaultTime > lastRenew ? killer.FaultTime : lastRenew;
        var startBasis = killer is not null && killer.FaultTime > lastRenew
            ? $"{killer.Id} ({FaultKinds.Name(killer.Kind)} on {killer.Node}) took effect"
            : $"last renewal by {before.Identity}";
        var predicted = killer is not null ? election.GapAfterLeaderLoss : (TimeWindow?)null;
        var basis = killer is not null ? election.Basis : "no fault of the run killed the leader: the lease ran out (e.g. its apiserver or etcd quorum was gone, so it could not renew)";
        return new LeaderGap(component, before.Holder, to, Math.Round(start, 3), end is { } e ? Math.Round(e, 3) : null, end is { } e2 ? Math.Round(e2 - start, 3) : 0,
            startBasis, endBasis, killer?.Id, predicted, basis);
    }

    private static IEnumerable<LeaderGap> EtcdGaps(List<LeaderSample> samples, IReadOnlyList<FaultMoment> faults, double measuredUntil, EtcdElection etcd)
    {
        string? leader = null;
        double lastSeen = 0;
        double? gapStart = null;
        string? gapFrom = null;
        FaultMoment? gapKiller = null;
        // A look that could not ask etcd (no member answered, the exec failed) proves nothing; "no leader among ..." does.
        foreach (var s in samples.Where(s => s.Holder is not null || s.Problem?.StartsWith("no leader", StringComparison.Ordinal) == true))
        {
            if (leader is null && gapStart is null)
            {
                if (s.Holder is not null) { leader = s.Holder; lastSeen = s.T; }
                continue;
            }
            if (gapStart is null)
            {
                if (s.Holder == leader) { lastSeen = s.T; continue; }
                // The leader is gone (none, or another): the gap starts at the fault that killed it, else at its last sighting.
                gapKiller = Killer(faults, "etcd", leader, lastSeen, s.T);
                gapStart = gapKiller?.FaultTime ?? lastSeen;
                gapFrom = leader;
                if (s.Holder is null) continue;
            }
            if (s.Holder is null) continue;
            yield return EtcdGap(gapFrom, s.Holder, gapStart!.Value, s.T, gapKiller, etcd);
            leader = s.Holder;
            lastSeen = s.T;
            gapStart = null;
            gapKiller = null;
        }
        if (gapStart is { } open)
        {
            var g = EtcdGap(gapFrom, null, open, null, gapKiller, etcd);
            yield return g with { Seconds = Math.Round(measuredUntil - open, 3) };
        }
    }

    private static LeaderGap EtcdGap(string? from, string? to, double start, double? end, FaultMoment? killer, EtcdElection etcd) =>
        new("etcd", from, to, Math.Round(start, 3), end is { } e ? Math.Round(e, 3) : null, end is { } e2 ? Math.Round(e2 - start, 3) : 0,
            killer is not null ? $"{killer.Id} ({FaultKinds.Name(killer.Kind)} on {killer.Node}) took effect" : $"last sighting of {from} as leader",
            to is null ? "still no leader at the end of the run" : $"first sighting of {to} as leader (etcdctl endpoint status)",
            killer?.Id, killer is not null ? etcd.GapAfterLeaderLoss : null,
            killer is not null ? etcd.Basis + "; measured to the first look that saw the new leader (etcd's poll interval adds up to one interval)" : "no fault of the run killed the leader");

    /// <summary>
    /// The survival predictor at each fault (this fault's part plus earlier ones still in place that do not heal by themselves),
    /// beside the api_write probe over the rest of the fault's window (from 3 s after it took effect to the next fault, its undo or the end).
    /// </summary>
    public static IReadOnlyList<SurvivalCheck> Survival(LabTopology topology, IReadOnlyList<FaultMoment> faults, IReadOnlyList<ProbeSample>? writes, double measuredUntil, IReadOnlyDictionary<string, string?>? holders = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(faults);
        var checks = new List<SurvivalCheck>();
        for (var i = 0; i < faults.Count; i++)
        {
            var f = faults[i];
            var lost = faults.Take(i)
                .Where(o => (o.UndoneAt is null || o.UndoneAt > f.FaultTime) && FailoverModel.Recovery(o.Kind) == FaultRecovery.UntilUndone)
                .Append(f)
                .Select(o => TopologySurvival.LostBy(o.Kind, o.Node))
                .OfType<LostPart>()
                .Distinct()
                .ToList();
            if (lost.Count == 0) continue;
            SurvivalPrediction p;
            try { p = TopologySurvival.Predict(topology, lost, holders?.GetValueOrDefault(f.Id)); }
            catch (ArgumentException) { continue; }
            var next = i + 1 < faults.Count ? faults[i + 1].FaultTime : measuredUntil;
            var to = Math.Min(Math.Min(next, f.UndoStarted ?? f.UndoneAt ?? measuredUntil), measuredUntil);
            // A fault that heals by itself (the kubelet restarts the process) is judged over its first seconds only.
            if (FailoverModel.Recovery(f.Kind) == FaultRecovery.RestartsByItself) to = Math.Min(to, f.FaultTime + 12);
            var from = Math.Min(f.FaultTime + 3, to);
            var window = (writes ?? []).Where(s => s.T >= from && s.T < to).ToList();
            var ok = window.Count(s => s.Ok);
            var measured = writes is null || writes.Count == 0 ? "api_write did not run"
                : window.Count == 0 ? "no api_write attempt in the window"
                : $"{ok} of {window.Count} writes through the VIP succeeded between {from:0.0} and {to:0.0} s" +
                  (window.Count > 0 && ok > 0 ? $" (last: {(window[^1].Ok ? "ok" : "failed")})" : "");
            var verdict = window.Count == 0 ? "not measured"
                : p.WritesThroughVip
                    ? window.TakeLast(Math.Max(1, window.Count / 3)).Any(s => s.Ok) ? "as predicted: writes went on" : "NOT as predicted: writes failed although predicted possible"
                    : ok <= 0.2 * window.Count ? "as predicted: writes stopped" : "NOT as predicted: writes succeeded although predicted lost";
            checks.Add(new SurvivalCheck(f.Id, [.. lost.Select(l => l.ToString())], p.Summary, p.Story, p.WritesThroughVip, Math.Round(from, 3), Math.Round(to, 3), window.Count, ok, measured, verdict));
        }
        return checks;
    }
}

/// <summary>Builds a run's <see cref="LeadersResult"/> from the leader monitor and the run's faults and probes (the runner's one hook).</summary>
public static class LeaderResults
{
    public static LeadersResult Build(LabTopology topology, LeaderMonitor monitor, IReadOnlyList<Reports.FaultResult> faults, IReadOnlyList<Reports.ProbeResult> probes,
        IReadOnlyList<Reports.StepResult> steps, double measuredUntil)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(monitor);
        ArgumentNullException.ThrowIfNull(faults);
        ArgumentNullException.ThrowIfNull(probes);
        ArgumentNullException.ThrowIfNull(steps);
        var recovers = steps.Where(s => s.Description.StartsWith("recover", StringComparison.Ordinal)).Select(s => s.Start).Order().ToList();
        var moments = faults.Select(f => FaultKinds.Parse(f.Kind) is { } k
            ? new FaultMoment(f.Id, k, f.Node, f.FaultTime, f.UndoneAt, f.UndoneAt is { } u ? recovers.Where(t => t > f.FaultTime && t <= u).Select(t => (double?)t).FirstOrDefault() : null)
            : null).OfType<FaultMoment>().ToList();
        var samples = monitor.Samples;
        var writes = probes.FirstOrDefault(p => p.Name == Scenarios.ProbeNames.ApiWrite && p.Applicable)?.Samples;
        return new LeadersResult(monitor.Source, LeaderAnalysis.Gaps(samples, moments, measuredUntil, etcd: EtcdElection.For(topology)),
            LeaderAnalysis.Survival(topology, moments, writes, measuredUntil, faults.ToDictionary(f => f.Id, f => f.HolderBefore)), samples)
        {
            EtcdGapPredicted = EtcdElection.For(topology).GapAfterLeaderLoss,
        };
    }
}
