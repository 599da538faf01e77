using System.Diagnostics;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Telemetry;

namespace HaKubeLab.Chaos.Probes;

/// <summary>
/// One probe on a fixed schedule (attempt n starts at start + n x interval) with every attempt recorded on the run's monotonic
/// clock; the <see cref="ProbeReactor"/> runs it. Attempts overlap: a slot starts its attempt even while earlier ones still wait
/// for their timeout (at most <see cref="MaxInFlight"/> at once; beyond that a slot is skipped). So an attempt that hangs because
/// it was sent to a node that just died does not hide the moment the service answers again: the first success after a failover
/// is seen within one interval, not one timeout. In steady state an attempt ends long before the next slot and nothing overlaps.
/// A loop made with <c>onAnswer</c> is a look, not a probe (the leader monitor's reads): every attempt goes to that callback
/// with what its answer said, and nothing to the probe samples or the probe metrics.
/// </summary>
/// <param name="onAnswer">For a look: called on the reactor's thread with each finished attempt and its answer (null on failure).</param>
public sealed class ProbeLoop(IProbe probe, TimeSpan interval, TimeSpan timeout, RunClock clock, string scenario, Action<ProbeSample, object?>? onAnswer = null)
{
    private readonly List<ProbeSample> _samples = new(4096);
    private readonly TagList _tags = new() { { "probe", probe.Name }, { "scenario", scenario } };
    private bool _outOfOrder;

    public IProbe Probe { get; } = probe;
    public TimeSpan Interval { get; } = interval;
    public TimeSpan Timeout { get; } = timeout;
    internal RunClock Clock { get; } = clock;

    /// <summary>How many attempts may be in flight at once: enough to start one every slot while earlier ones time out.</summary>
    public int MaxInFlight => Math.Max(1, (int)Math.Ceiling(Timeout.TotalSeconds / Interval.TotalSeconds) + 1);

    /// <summary>A copy of the samples so far, in attempt start order.</summary>
    public IReadOnlyList<ProbeSample> Samples
    {
        get
        {
            lock (_samples)
            {
                // Overlapping attempts finish out of start order only around an outage; keep the list sorted for the analysis.
                if (_outOfOrder)
                {
                    var sorted = _samples.OrderBy(x => x.T).ToList();
                    _samples.Clear();
                    _samples.AddRange(sorted);
                    _outOfOrder = false;
                }
                return [.. _samples];
            }
        }
    }

    /// <summary>The attempt that finished last, or null before the first.</summary>
    public ProbeSample? Last { get; private set; }

    /// <summary>Runs this loop alone on a reactor of its own (several loops share one: <see cref="ProbeReactor.RunAsync"/>).</summary>
    /// <param name="cancellationToken">Stops the loop; attempts in flight are abandoned and not recorded.</param>
    /// <param name="origin">The grid's start on the run clock (default: now).</param>
    public Task RunAsync(CancellationToken cancellationToken, double? origin = null) => ProbeReactor.RunAsync([this], cancellationToken, origin);

    /// <summary>Records one finished attempt: started at <paramref name="start"/>, over at <paramref name="end"/> (run clock).</summary>
    internal void Record(double start, double end, string? error, int? localPort, object? answer = null)
    {
        var ms = Math.Max(0, (end - start) * 1000);
        var sample = new ProbeSample(Math.Round(start, 6), Math.Round(ms, 3), error is null, error, localPort);
        if (onAnswer is not null)
        {
            Last = sample;
            onAnswer(sample, answer);
            return;
        }
        lock (_samples)
        {
            if (_samples.Count > 0 && _samples[^1].T > sample.T) _outOfOrder = true;
            _samples.Add(sample);
            Last = sample;
        }
        if (error is null)
        {
            ChaosTelemetry.ProbeSuccesses.Add(1, _tags);
            ChaosTelemetry.ProbeLatency.Record(ms, _tags);
        }
        else ChaosTelemetry.ProbeFailures.Add(1, _tags);
    }
}
