using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Probes;

namespace HaKubeLab.Testing;

/// <summary>
/// One of the chaos runner's probes (<see cref="ProbeLoop"/>) running against the lab, with the runner's
/// VIP-holder monitor beside it, both on the lab's clock. Start it before the fault, measure after.
/// </summary>
public sealed class LabProbe : IAsyncDisposable
{
    private readonly EphemeralLab _lab;
    private readonly ProbeLoop _loop;
    private readonly VipHolderMonitor _holders;
    private readonly CancellationTokenSource _stop = new();
    private Task _running = Task.CompletedTask;

    private LabProbe(EphemeralLab lab, ProbeLoop loop, VipHolderMonitor holders)
    {
        _lab = lab;
        _loop = loop;
        _holders = holders;
    }

    /// <summary>The probe's name (<c>vip_tcp</c>, <c>api_write</c>).</summary>
    public string Name => _loop.Probe.Name;

    /// <summary>What it talks to.</summary>
    public string Target => _loop.Probe.Target;

    /// <summary>Time between attempt starts.</summary>
    public TimeSpan Interval => _loop.Interval;

    /// <summary>How long one attempt may take before it counts as failed.</summary>
    public TimeSpan Timeout => _loop.Timeout;

    /// <summary>A safe bound on the probe's resolution (interval + timeout): attempts overlap, so an outage's end is usually known to within one interval.</summary>
    public TimeSpan Resolution => Interval + Timeout;

    /// <summary>Every attempt so far, in start order.</summary>
    public IReadOnlyList<ProbeSample> Samples => _loop.Samples;

    internal static async Task<LabProbe> StartAsync(EphemeralLab lab, IProbe probe, TimeSpan interval, TimeSpan timeout, CancellationToken ct)
    {
        var holders = new VipHolderMonitor(lab.Docker, lab.Topology, lab.Clock, TimeSpan.FromMilliseconds(50));
        var result = new LabProbe(lab, new ProbeLoop(probe, interval, timeout, lab.Clock, lab.Name), holders);
        await holders.StartAsync(ct).ConfigureAwait(false);
        result._running = Task.Run(() => result._loop.RunAsync(result._stop.Token), CancellationToken.None);
        // One good attempt first: a baseline, so an outage after the fault is the fault's.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (result._loop.Last?.Ok != true)
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                await result.DisposeAsync().ConfigureAwait(false);
                throw new FailoverAssertionException($"{probe.Name} ({probe.Target}) did not succeed once within 30 s before any fault (last error: {result._loop.Last?.Error ?? "no attempt"}); the lab is not healthy.");
            }
            await Task.Delay(20, ct).ConfigureAwait(false);
        }
        return result;
    }

    /// <summary>
    /// Watches the fault's effect and returns the figures. Observes at least <paramref name="observe"/> (default:
    /// the predicted window's end plus the resolution plus 2 s, at least 3 s) after the fault, then until the probe
    /// has succeeded for one second in a row, at most <paramref name="deadline"/> (default 60 s) after the fault.
    /// A fault predicted to last until undone is observed for <paramref name="observe"/> only.
    /// </summary>
    public async Task<FailoverResult> MeasureAsync(FaultHandle fault, TimeSpan? observe = null, TimeSpan? deadline = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fault);
        var clock = _lab.Clock;
        var minimum = observe?.TotalSeconds ?? Math.Max(3, (fault.Prediction.Window?.Max.TotalSeconds ?? 0) + Resolution.TotalSeconds + 2);
        var limit = Math.Max(minimum, (deadline ?? TimeSpan.FromSeconds(60)).TotalSeconds);
        while (true)
        {
            var elapsed = clock.Now - fault.FaultTime;
            if (elapsed >= limit) break;
            if (elapsed >= minimum)
            {
                if (fault.Prediction.DownUntilUndone) break;
                var samples = _loop.Samples;
                var lastFailure = samples.LastOrDefault(s => !s.Ok && s.T >= fault.InjectStarted);
                var recovered = lastFailure is null || samples.Any(s => s.Ok && s.T >= lastFailure.T + 1.0);
                if (recovered) break;
            }
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
        var until = clock.Now;
        var reading = await _lab.ReadVipAsync(cancellationToken).ConfigureAwait(false);
        return FailoverResult.From(this, fault, _loop.Samples, _holders.Samples, _holders.Interval, until, reading);
    }

    /// <summary>Stops the probe and the holder monitor.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try { await _running.ConfigureAwait(false); } catch (OperationCanceledException) { }
        await _holders.DisposeAsync().ConfigureAwait(false);
        _loop.Probe.Dispose();
        _stop.Dispose();
    }
}
