using System.Globalization;
using HaKubeLab.Chaos.Reports;
using HaKubeLab.Chaos.Scenarios;

namespace HaKubeLab.Chaos.Analysis;

/// <summary>
/// Checks a scenario's expectations against a run's figures and, for each one the VRRP prediction already
/// rules out, says so (and that the runbook's settings are why, when they are the runbook's).
/// </summary>
public static class ExpectationChecker
{
    /// <summary>The holder sample just before the first recover step (or the last one), for <c>vip_holder_after</c>.</summary>
    public static double AfterFaultsMoment(Scenario scenario, IReadOnlyList<StepResult> steps, double measuredUntil)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(steps);
        for (var i = 0; i < scenario.Steps.Length && i < steps.Count; i++)
            if (scenario.Steps[i] is RecoverStep) return steps[i].Start;
        // 'for:' on a fault undoes it at the end of its step.
        for (var i = 0; i < scenario.Steps.Length && i < steps.Count; i++)
            if (scenario.Steps[i] is FaultStep { For: not null } f) return steps[i].Start + (f.For ?? TimeSpan.Zero).TotalSeconds;
        return measuredUntil;
    }

    public static IReadOnlyList<ExpectationResult> Check(Scenario scenario, RunResult run)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(run);
        return [.. scenario.Expectations.Select(e => e switch
        {
            MetricExpectation m => CheckMetric(scenario, run, m),
            HolderExpectation h => CheckHolder(scenario, run, h),
            _ => throw new ArgumentOutOfRangeException(nameof(scenario)),
        })];
    }

    private static ExpectationResult CheckMetric(Scenario scenario, RunResult run, MetricExpectation e)
    {
        var probeName = e.Probe ?? (e.Metric == Metric.FailoverSeconds ? scenario.FailoverProbe : null);
        var probe = probeName is null ? null : run.Probes.FirstOrDefault(p => p.Name == probeName);
        if (probeName is not null && (probe is null || !probe.Applicable))
            return new(e.Line, e.Text, ExpectationStatus.Skipped, null,
                $"skipped: probe {probeName} is not applicable here ({probe?.NotApplicableReason ?? "not run"})", false, null);

        double? measured;
        string detail;
        switch (e.Metric)
        {
            case Metric.FailoverSeconds:
            {
                if (run.Faults.Count == 0) return new(e.Line, e.Text, ExpectationStatus.Skipped, null, "skipped: the run injected no fault", false, null);
                var figures = run.Faults.Select(f => (Fault: f, Figure: f.Failover.GetValueOrDefault(probeName!))).ToList();
                var missing = figures.FirstOrDefault(x => x.Figure?.Seconds is null);
                if (missing.Fault is not null)
                {
                    measured = null;
                    detail = $"no successful {probeName} probe after the {missing.Fault.Kind} on {missing.Fault.Node} at t={missing.Fault.FaultTime:0.00} s until the run ended";
                }
                else
                {
                    var worst = figures.MaxBy(x => x.Figure!.Seconds)!;
                    measured = worst.Figure!.Seconds;
                    detail = $"worst {measured:0.00} s ({worst.Fault.Kind} on {worst.Fault.Node}{(worst.Figure.AfterUndo ? ", only after the fault was undone" : "")}{(worst.Figure.Interrupted ? "" : ", the probe was not interrupted")})" +
                             (figures.Count > 1 ? $"; all: {string.Join(", ", figures.Select(x => x.Figure!.Seconds!.Value.ToString("0.00", CultureInfo.InvariantCulture)))} s" : "");
                }
                break;
            }
            case Metric.Availability:
                measured = probe!.Availability;
                detail = $"{probe.Attempts - probe.Failures} of {probe.Attempts} probes succeeded";
                break;
            case Metric.MaxOutageSeconds:
                measured = probe!.Outages.Count == 0 ? 0 : probe.Outages.Max(o => o.Length);
                detail = $"{probe.Outages.Count} outage(s)";
                break;
            case Metric.Outages:
                measured = probe!.Outages.Count;
                detail = probe.Outages.Count == 0 ? "no outage" : $"lengths {string.Join(", ", probe.Outages.Select(o => o.Length.ToString("0.00", CultureInfo.InvariantCulture)))} s";
                break;
            default:
                measured = run.VipHolder.Changes.Count;
                detail = run.VipHolder.Changes.Count == 0 ? "the VIP never moved" : string.Join(", ", run.VipHolder.Changes.Select(c => $"{c.From}->{c.To} at {c.T:0.00} s"));
                break;
        }

        var (predictedFail, why) = Predicted(e, run, probeName);
        if (measured is null)
            return new(e.Line, e.Text, ExpectationStatus.Failed, null, Fail(detail, predictedFail, why, run), predictedFail, why);
        var holds = e.Holds(measured.Value);
        var unit = e.Metric is Metric.Availability ? "" : e.Metric is Metric.Outages or Metric.VipChanges ? "" : " s";
        var shown = e.Metric is Metric.Availability ? measured.Value.ToString("0.####", CultureInfo.InvariantCulture) : measured.Value.ToString("0.###", CultureInfo.InvariantCulture) + unit;
        if (holds)
            return new(e.Line, e.Text, ExpectationStatus.Passed, measured, $"measured {shown} ({detail}){(predictedFail ? "; the prediction said it would fail" : "")}", predictedFail, why);
        var by = e.Shortfall(measured.Value);
        var byText = e.Metric is Metric.Availability ? $"{by:0.####} ({by * 100:0.##} percentage points)" : $"{by:0.###}{unit}";
        var side = e.Op is Comparison.Less or Comparison.LessOrEqual ? "over" : e.Op is Comparison.Greater or Comparison.GreaterOrEqual ? "under" : "off";
        return new(e.Line, e.Text, ExpectationStatus.Failed, measured, Fail($"measured {shown}, {byText} {side} the threshold ({detail})", predictedFail, why, run), predictedFail, why);
    }

    private static string Fail(string detail, bool predicted, string? why, RunResult run) =>
        predicted
            ? $"{detail}. Failed as predicted{(run.Lab.RunbookSettings ? " — the runbook's settings are why" : " by this lab's VRRP settings")}: {why}"
            : detail + ". Not predicted by the VRRP rules: look at the timeline and the keepalived transitions.";

    /// <summary>
    /// Whether the predicted best case already breaks the threshold. For vip_tcp: each fault contributes its
    /// predicted outage (the low end of its failover window, or all the time until it was undone when
    /// nothing takes over); a fault VRRP does not predict makes the whole check "not predicted".
    /// </summary>
    private static (bool, string?) Predicted(MetricExpectation e, RunResult run, string? probe)
    {
        if (probe is not ProbeNames.VipTcp || run.Faults.Count == 0) return (false, null);
        double bestOutageSum = 0;
        double bestMaxOutage = 0;
        var reasons = new List<string>();
        foreach (var f in run.Faults)
        {
            var p = f.Prediction;
            // Down until the undo call starts at least: the fault can end inside the call.
            double? best = p.DownUntilUndone ? (f.UndoStarted ?? f.UndoneAt ?? run.MeasuredUntil) - f.FaultTime : f.PredictedFailover?.MinSeconds;
            if (best is null) return (false, null);
            bestOutageSum += best.Value;
            bestMaxOutage = Math.Max(bestMaxOutage, best.Value);
            if (best > 0) reasons.Add($"{f.Kind} on {f.Node}: {p.Reason}; {p.Basis}");
        }
        double bestCase = e.Metric switch
        {
            // Time-based: the share of the window the prediction leaves the load balancer unreachable at least.
            Metric.Availability => 1 - bestOutageSum / run.MeasuredUntil,
            Metric.FailoverSeconds or Metric.MaxOutageSeconds => bestMaxOutage,
            _ => double.NaN,
        };
        if (double.IsNaN(bestCase) || e.Holds(bestCase) || reasons.Count == 0) return (false, null);
        var shown = e.Metric == Metric.Availability ? $"at best {bestCase:0.###}" : $"at least {bestCase:0.##} s";
        return (true, $"predicted {shown}: {string.Join(" | ", reasons.Distinct())}");
    }

    private static ExpectationResult CheckHolder(Scenario scenario, RunResult run, HolderExpectation e)
    {
        var at = e.Moment == HolderMoment.AfterFaults
            ? AfterFaultsMoment(scenario, run.Steps, run.MeasuredUntil)
            : run.MeasuredUntil;
        var sample = run.VipHolder.Samples.LastOrDefault(s => s.T <= at);
        if (sample is null) return new(e.Line, e.Text, ExpectationStatus.Failed, null, $"no VIP-holder look before t={at:0.00} s", false, null);
        var wanted = e.Node == HolderExpectation.Initial ? run.VipHolder.Initial ?? "none" : e.Node;
        // Where several interfaces carry it (a frozen old holder), the host's ARP entry decides which one counts.
        var holders = sample.Effective;
        bool match = wanted == HolderExpectation.None ? holders.IsEmpty : holders.Length == 1 && holders[0] == wanted;
        if (e.Negated) match = wanted == HolderExpectation.None ? !holders.IsEmpty : !holders.Contains(wanted);
        var what = $"holder {(holders.IsEmpty ? "none" : string.Join("+", holders))}{(holders.Length != sample.Holders.Length ? $" (interfaces: {sample.Label}; host ARP: {sample.Arp})" : "")} at t={sample.T:0.00} s{(e.Node == HolderExpectation.Initial ? $" (initial holder {wanted})" : "")}";
        var predictedHolders = run.Faults.LastOrDefault(f => f.FaultTime <= at)?.Prediction.HoldersAfter;
        var predictedFail = false;
        string? why = null;
        if (e.Moment == HolderMoment.AfterFaults && predictedHolders is { Length: > 0 } ph && run.Faults.LastOrDefault(f => f.FaultTime <= at) is { } last)
        {
            var allMatch = ph.All(h => e.Negated ? h != wanted : h == wanted);
            var noneMatch = ph.All(h => e.Negated ? h == wanted : h != wanted);
            if (noneMatch) { predictedFail = true; why = $"{last.Prediction.Reason}"; }
            else if (!allMatch) why = $"the prediction allows {string.Join(" or ", ph)}";
        }
        return match
            ? new(e.Line, e.Text, ExpectationStatus.Passed, null, what + (predictedFail ? "; the prediction said otherwise" : ""), predictedFail, why)
            : new(e.Line, e.Text, ExpectationStatus.Failed, null, Fail(what, predictedFail, why, run), predictedFail, why);
    }
}
