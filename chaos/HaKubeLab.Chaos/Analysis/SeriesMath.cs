using System.Diagnostics;

namespace HaKubeLab.Chaos.Analysis;

/// <summary>
/// The run's one clock: a monotonic <see cref="Stopwatch"/> started with the run. Every time in a
/// result is seconds since that start; <see cref="StartWall"/> translates wall-clock instants (Docker's event
/// stamps, the capture's packet stamps, keepalived's lines) onto it, so it must be read as exactly as the start.
/// </summary>
public sealed class RunClock
{
    private readonly TimeProvider _time;
    private readonly long _start;

    /// <param name="time">The clocks (default: the system's monotonic and wall clocks); tests pass one that stalls.</param>
    public RunClock(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        var (mono, wall, bracket) = ReadPair(_time);
        _start = mono;
        StartWall = wall;
        StartBracket = bracket;
    }

    /// <summary>Wall-clock time of t = 0 (UTC).</summary>
    public DateTimeOffset StartWall { get; }

    /// <summary>How long the wall-clock read at the start took (between its two monotonic reads): the mapping's uncertainty.</summary>
    public TimeSpan StartBracket { get; }

    /// <summary>Seconds since the start, monotonic.</summary>
    public double Now => _time.GetElapsedTime(_start).TotalSeconds;

    /// <summary>The wall-clock time of run time <paramref name="t"/> (for traces and reports).</summary>
    public DateTimeOffset WallAt(double t) => StartWall + TimeSpan.FromSeconds(t);

    /// <summary>Run time of a wall-clock instant (e.g. a keepalived log line); only as exact as the two clocks agree (see <see cref="WallDrift"/>).</summary>
    public double At(DateTimeOffset wall) => (wall - StartWall).TotalSeconds;

    /// <summary>How far the wall clock has moved against the run clock since the start (a step or a slew of the system clock); zero when they agree.</summary>
    public TimeSpan WallDrift()
    {
        var (mono, wall, _) = ReadPair(_time);
        return wall - StartWall - _time.GetElapsedTime(_start, mono);
    }

    /// <summary>
    /// A monotonic instant and the wall-clock time at it: the wall clock read between two monotonic reads, the tightest of
    /// several tries. A single read can be off by however long the thread was held between the two clocks (descheduled
    /// on a busy host, stopped by another thread's garbage collection: tens of milliseconds in a loaded test host), and
    /// every wall-clock instant mapped onto the run (a fault's engine event) would be off by as much.
    /// </summary>
    internal static (long Mono, DateTimeOffset Wall, TimeSpan Bracket) ReadPair(TimeProvider time, int tries = 16)
    {
        var best = (Mono: 0L, Wall: default(DateTimeOffset), Bracket: TimeSpan.MaxValue);
        for (var i = 0; i < tries; i++)
        {
            var before = time.GetTimestamp();
            var wall = time.GetUtcNow();
            var after = time.GetTimestamp();
            var bracket = time.GetElapsedTime(before, after);
            if (bracket < best.Bracket) best = (before + (after - before) / 2, wall, bracket);
            if (i >= 2 && bracket < TimeSpan.FromMicroseconds(20)) break;
        }
        return best;
    }
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

    /// <summary>
    /// Whether the probe came back only once the fault was being undone: its first success after the interruption started at or
    /// after the undo call's start. The fault ends somewhere during that call (a restarted haproxy listens before Docker's
    /// start call has returned to the runner, all the more on a busy host), so the call's end would be too late a line.
    /// </summary>
    public static bool RecoveredAfterUndo(FailoverMeasurement measured, double? undoStarted, double? undoneAt)
    {
        ArgumentNullException.ThrowIfNull(measured);
        return measured.Interrupted && undoneAt is { } done && measured.FirstSuccess is { } back && back >= (undoStarted ?? done);
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
