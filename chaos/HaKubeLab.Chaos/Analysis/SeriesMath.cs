using System.Diagnostics;

namespace HaKubeLab.Chaos.Analysis;

/// <summary>
/// The run's one clock: a monotonic <see cref="Stopwatch"/> started with the run. Every time in a
/// result is seconds since that start; <see cref="StartWall"/> only translates for humans and traces.
/// </summary>
public sealed class RunClock
{
    private readonly Stopwatch _watch = Stopwatch.StartNew();

    /// <summary>Wall-clock time of t = 0 (UTC), read once at the start.</summary>
    public DateTimeOffset StartWall { get; } = DateTimeOffset.UtcNow;

    /// <summary>Seconds since the start, monotonic.</summary>
    public double Now => _watch.Elapsed.TotalSeconds;

    /// <summary>The wall-clock time of run time <paramref name="t"/> (for traces and reports).</summary>
    public DateTimeOffset WallAt(double t) => StartWall + TimeSpan.FromSeconds(t);

    /// <summary>Run time of a wall-clock instant (e.g. a keepalived log line); only as exact as the two clocks agree.</summary>
    public double At(DateTimeOffset wall) => (wall - StartWall).TotalSeconds;
}

/// <summary>One probe attempt.</summary>
/// <param name="T">When the attempt started, seconds on the run clock.</param>
/// <param name="LatencyMs">How long the attempt took (until success, failure or its timeout).</param>
/// <param name="Ok">Whether it succeeded.</param>
/// <param name="Error">Why it failed (refused, timeout, HTTP 500 ...); null on success.</param>
/// <param name="LocalPort">The TCP connect probe's own client port, to find the attempt's SYN on the wire; null for other probes.</param>
public sealed record ProbeSample(double T, double LatencyMs, bool Ok, string? Error = null, int? LocalPort = null)
{
    /// <summary>When the attempt ended.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public double End => T + LatencyMs / 1000;
}

/// <summary>An outage: a maximal run of failed probes of one kind; its length is first failure to next success.</summary>
/// <param name="Start">Start of the first failed attempt.</param>
/// <param name="End">Start of the next successful attempt; null when the run ended during the outage.</param>
/// <param name="FailedSamples">How many attempts failed in it.</param>
/// <param name="Length">End - Start; for an outage still open at the end, up to the end of the last failed attempt.</param>
/// <param name="FirstError">The first failure's reason.</param>
public sealed record Outage(double Start, double? End, int FailedSamples, double Length, string? FirstError)
{
    public bool Open => End is null;
}

/// <summary>Failover time for one fault on one probe through the VIP.</summary>
/// <param name="FaultTime">When the injector's Docker or shell call returned.</param>
/// <param name="FirstSuccess">Start of the first successful attempt that started at or after the fault time; null if none did.</param>
/// <param name="Interrupted">Whether any attempt failed between the fault time and that success (false: the fault did not disturb this probe).</param>
public sealed record FailoverMeasurement(double FaultTime, double? FirstSuccess, bool Interrupted)
{
    /// <summary>Fault time to the first successful probe after it, in seconds; null when none succeeded before the run ended.</summary>
    public double? Seconds => FirstSuccess - FaultTime;
}

/// <summary>The arithmetic of the report, on plain sample lists (unit-tested on hand-made series).</summary>
public static class SeriesMath
{
    /// <summary>
    /// Successful probes divided by all probes that started in [from, to); null when none did. The probe loop starts one
    /// attempt per slot even while earlier ones hang, so this is about the share of time the target answered.
    /// </summary>
    public static double? Availability(IReadOnlyList<ProbeSample> samples, double from = double.NegativeInfinity, double to = double.PositiveInfinity)
    {
        ArgumentNullException.ThrowIfNull(samples);
        int all = 0, ok = 0;
        foreach (var s in samples)
        {
            if (s.T < from || s.T >= to) continue;
            all++;
            if (s.Ok) ok++;
        }
        return all == 0 ? null : (double)ok / all;
    }

    /// <summary>Every outage, in order. Samples must be in start order (as a probe loop records them).</summary>
    public static IReadOnlyList<Outage> Outages(IReadOnlyList<ProbeSample> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var result = new List<Outage>();
        ProbeSample? first = null;
        ProbeSample? last = null;
        var failed = 0;
        foreach (var s in samples)
        {
            if (!s.Ok)
            {
                first ??= s;
                last = s;
                failed++;
                continue;
            }
            if (first is not null)
            {
                result.Add(new Outage(first.T, s.T, failed, s.T - first.T, first.Error));
                first = null;
                failed = 0;
            }
        }
        if (first is not null)
            result.Add(new Outage(first.T, null, failed, last!.End - first.T, first.Error));
        return result;
    }

    /// <summary>Failover time: fault time to the first successful attempt after the fault interrupted the probe (or, when it never did, the first success after the fault).</summary>
    public static FailoverMeasurement Failover(IReadOnlyList<ProbeSample> samples, double faultTime)
    {
        ArgumentNullException.ThrowIfNull(samples);
        // The first success after the fault interrupted the probe. A success before the first failure says nothing:
        // with the engine's fault time, an attempt can still reach the old holder while Docker tears its network
        // down (the node's sidecars keep the namespace, and haproxy answers in it, for some milliseconds).
        var after = samples.Where(s => s.T >= faultTime).ToList();
        var firstFailure = after.FindIndex(s => !s.Ok);
        if (firstFailure < 0)
            return new FailoverMeasurement(faultTime, after.FirstOrDefault(s => s.Ok)?.T, false);
        var back = after.Skip(firstFailure).FirstOrDefault(s => s.Ok);
        return new FailoverMeasurement(faultTime, back?.T, true);
    }

    /// <summary>Seconds spent in outages within the window (open outages count to their last failed attempt).</summary>
    public static double OutageSeconds(IReadOnlyList<Outage> outages) => outages.Sum(o => o.Length);

    /// <summary>The largest gap between consecutive attempt starts: the worst resolution the probe actually had.</summary>
    public static double? WorstGap(IReadOnlyList<ProbeSample> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        double? worst = null;
        for (var i = 1; i < samples.Count; i++)
        {
            var gap = samples[i].T - samples[i - 1].T;
            if (worst is null || gap > worst) worst = gap;
        }
        return worst;
    }

    /// <summary>A percentile (0-100) of the successful attempts' latency in ms; null without successes.</summary>
    public static double? LatencyPercentile(IReadOnlyList<ProbeSample> samples, double percentile)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var ok = samples.Where(s => s.Ok).Select(s => s.LatencyMs).Order().ToList();
        if (ok.Count == 0) return null;
        var rank = (int)Math.Ceiling(percentile / 100 * ok.Count) - 1;
        return ok[Math.Clamp(rank, 0, ok.Count - 1)];
    }
}
