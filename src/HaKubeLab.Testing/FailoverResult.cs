using System.Collections.Immutable;
using System.Globalization;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Probes;
using HaKubeLab.Runtime;

namespace HaKubeLab.Testing;

/// <summary>
/// What a probe measured around one fault, beside the failover model's prediction. All times are seconds on
/// the lab's clock; durations are seconds. Assert on it with <see cref="FailoverAssertions"/>.
/// </summary>
public sealed record FailoverResult
{
    /// <summary>The probe's name, e.g. <c>vip_tcp</c>.</summary>
    public required string Probe { get; init; }

    /// <summary>What the probe talked to.</summary>
    public required string Target { get; init; }

    /// <summary>Interval and timeout of the probe; an outage's edges are known to within their sum.</summary>
    public required TimeSpan ProbeInterval { get; init; }

    /// <inheritdoc cref="ProbeInterval"/>
    public required TimeSpan ProbeTimeout { get; init; }

    /// <summary>The probe's resolution: interval + timeout.</summary>
    public TimeSpan Resolution => ProbeInterval + ProbeTimeout;

    /// <summary>The fault as injected.</summary>
    public required string Fault { get; init; }

    /// <summary>When the injector's call started and returned.</summary>
    public required double InjectStarted { get; init; }

    /// <inheritdoc cref="InjectStarted"/>
    public required double FaultTime { get; init; }

    /// <summary>When measuring stopped.</summary>
    public required double MeasuredUntil { get; init; }

    /// <summary>The failover model's prediction.</summary>
    public required FailoverPrediction Prediction { get; init; }

    /// <summary>
    /// Whether the probe was interrupted after the fault: an outage of more than one attempt or longer than the resolution
    /// (false: the probe did not notice it; a single failed attempt within the resolution is a blip, listed in <see cref="Outages"/>).
    /// </summary>
    public required bool Interrupted { get; init; }

    /// <summary>
    /// Fault time (the injector's call returned) to the first successful attempt after the last failed one: when the
    /// service was back for good. 0 when the probe was not interrupted; null when it had not recovered when measuring stopped.
    /// </summary>
    public required double? FailoverSeconds { get; init; }

    /// <summary>The outages from the start of the injector's call on.</summary>
    public required ImmutableArray<Outage> Outages { get; init; }

    /// <summary>
    /// Successful attempts / all attempts from the start of the injector's call to the end of measuring. An attempt starts
    /// every interval even while earlier ones hang, so this is about the share of time the service answered.
    /// </summary>
    public required double? Availability { get; init; }

    /// <summary>Attempts in the measured window, and how many failed.</summary>
    public required int Attempts { get; init; }

    /// <inheritdoc cref="Attempts"/>
    public required int FailedAttempts { get; init; }

    /// <summary>Who held the VIP before the fault and at the end of measuring.</summary>
    public required string? HolderBefore { get; init; }

    /// <inheritdoc cref="HolderBefore"/>
    public required VipHolderReading HolderAfter { get; init; }

    /// <summary>Seconds from the fault to the first look that found the VIP on another node than before (holder monitor); null when none did.</summary>
    public required double? HolderChangedAfter { get; init; }

    /// <summary>The holder monitor's polling interval (its resolution).</summary>
    public required TimeSpan HolderResolution { get; init; }

    /// <summary>The probe's samples in the measured window (for custom checks and plots).</summary>
    public required ImmutableArray<ProbeSample> Samples { get; init; }

    internal static FailoverResult From(LabProbe probe, FaultHandle fault, IReadOnlyList<ProbeSample> all, IReadOnlyList<HolderSample> holders, TimeSpan holderInterval, double until, VipHolderReading after)
    {
        var window = all.Where(s => s.T >= fault.InjectStarted && s.T < until).ToList();
        var outages = SeriesMath.Outages(window);
        // A single failed attempt cannot tell a lost packet from a prober stalled on a loaded machine (a real outage at
        // this interval fails several attempts in a row): such blips are listed but are not an interruption.
        var real = outages.Where(o => !IsBlip(o)).ToList();
        var interrupted = real.Count > 0;
        // Back for good: the start of the first success after the last real outage.
        double? recoveredAt = interrupted ? real[^1].End : null;
        // The VIP reached a new holder (the old one merely vanishing when its node dies is not a takeover).
        var takeover = holders.FirstOrDefault(h => h.T >= fault.InjectStarted && !h.Effective.IsEmpty && (fault.HolderBefore is null || !h.Effective.Contains(fault.HolderBefore)));
        return new FailoverResult
        {
            Probe = probe.Name,
            Target = probe.Target,
            ProbeInterval = probe.Interval,
            ProbeTimeout = probe.Timeout,
            Fault = fault.ToString(),
            InjectStarted = fault.InjectStarted,
            FaultTime = fault.FaultTime,
            MeasuredUntil = until,
            Prediction = fault.Prediction,
            Interrupted = interrupted,
            FailoverSeconds = !interrupted ? 0 : recoveredAt is { } r ? Math.Round(Math.Max(0, r - fault.FaultTime), 3) : null,
            Outages = [.. outages],
            Availability = SeriesMath.Availability(window),
            Attempts = window.Count,
            FailedAttempts = window.Count(s => !s.Ok),
            HolderBefore = fault.HolderBefore,
            HolderAfter = after,
            HolderChangedAfter = takeover is null ? null : Math.Round(takeover.T - fault.FaultTime, 3),
            HolderResolution = holderInterval,
            Samples = [.. window],
        };
    }

    /// <summary>The measured figures in one line, as assertion messages quote them.</summary>
    public string Measured
    {
        get
        {
            var outage = LongestOutage;
            var failover = FailoverSeconds switch
            {
                null => $"no recovery within {MeasuredUntil - FaultTime:0.00} s",
                0 when !Interrupted => Outages.IsEmpty ? "no interruption" : $"no interruption ({Outages.Length} one-attempt blip{(Outages.Length > 1 ? "s" : "")})",
                { } s => $"failover {s:0.00} s",
            };
            return $"{Probe} measured {failover}" +
                   (outage is null || !Interrupted ? "" : $" ({(Outages.Length > 1 ? $"longest of {Outages.Length} outages" : "outage")} {outage.Length:0.00} s, {outage.FailedSamples} failed attempts, first error '{outage.FirstError}')") +
                   $", availability {Percent(Availability)} over {MeasuredUntil - InjectStarted:0.0} s ({FailedAttempts}/{Attempts} attempts failed)" +
                   $"; VIP holder {HolderBefore ?? "none"} -> {HolderAfter.Holder ?? "none (on the interfaces: " + HolderAfter.Label + ")"}" +
                   (HolderChangedAfter is { } c ? $" (new holder {c:0.00} s after the fault)" : " (no new holder seen)");
        }
    }

    /// <summary>The longest outage (the fault's; a one-attempt blip around it is not), or null.</summary>
    public Outage? LongestOutage => Outages.Where(o => !IsBlip(o)).MaxBy(o => o.Length);

    /// <summary>Whether <paramref name="outage"/> is only a blip: a single failed attempt, followed by a success.</summary>
    public static bool IsBlip(Outage outage) => outage is { FailedSamples: <= 1, Open: false };

    /// <summary>The prediction in one line, with its reasoning.</summary>
    public string Predicted => $"{Prediction.Summary} — {Prediction.Basis}";

    /// <summary>The probe's resolution in words.</summary>
    public string ResolutionText =>
        $"probe resolution {Resolution.TotalMilliseconds:0} ms (interval {ProbeInterval.TotalMilliseconds:0} ms + timeout {ProbeTimeout.TotalMilliseconds:0} ms), holder monitor every {HolderResolution.TotalMilliseconds:0} ms";

    public override string ToString() =>
        $"{Fault}: {Measured}. Prediction: {Predicted}. {char.ToUpperInvariant(ResolutionText[0])}{ResolutionText[1..]}.";

    private static string Percent(double? v) => v is { } x ? (x * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %" : "n/a";
}
