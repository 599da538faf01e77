using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Runtime;

namespace HaKubeLab.Chaos.Probes;

/// <summary>One look at one leader during a run; lease times are on the run clock (seconds since its start).</summary>
/// <param name="T">When the look started.</param>
/// <param name="Component">etcd, kube-controller-manager or kube-scheduler.</param>
/// <param name="Holder">The node that leads; null when none does or nothing could be read (<paramref name="Problem"/>).</param>
/// <param name="Identity">The lease's holderIdentity (a restarted process has a new one).</param>
/// <param name="Term">etcd's raft term.</param>
/// <param name="Renew">The lease's renewTime on the run clock.</param>
/// <param name="Acquire">The lease's acquireTime on the run clock.</param>
/// <param name="LeaseSeconds">The lease's duration.</param>
public sealed record LeaderSample(double T, string Component, string? Holder, string? Identity = null, long? Term = null, double? Renew = null, double? Acquire = null,
    int? LeaseSeconds = null, string? Problem = null);

/// <summary>
/// Samples the lab's leaders during a chaos run from the lab's one <see cref="LeaderSource"/>: the controller-manager and
/// scheduler leases (one API read each, through the VIP) every <see cref="LeaseInterval"/>, etcd's leader (etcdctl endpoint
/// status in a master) every <see cref="EtcdInterval"/>. The leases carry their own renewTime and acquireTime, so a
/// handover is timed by the leaders themselves, not by the sampling.
/// </summary>
public sealed class LeaderMonitor(LeaderSource source, RunClock clock, TimeSpan? leaseInterval = null, TimeSpan? etcdInterval = null) : IAsyncDisposable
{
    private readonly List<LeaderSample> _samples = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _tasks = [];

    public TimeSpan LeaseInterval { get; } = leaseInterval ?? TimeSpan.FromMilliseconds(500);
    public TimeSpan EtcdInterval { get; } = etcdInterval ?? TimeSpan.FromSeconds(1);

    public IReadOnlyList<LeaderSample> Samples
    {
        get { lock (_samples) return [.. _samples.OrderBy(s => s.T)]; }
    }

    public string Source =>
        $"leases kube-system/kube-controller-manager and kube-scheduler read through the VIP every {Durations(LeaseInterval)} (their renewTime and acquireTime are the leaders' own clocks); " +
        $"etcd's leader from 'etcdctl endpoint status' in a running master every {Durations(EtcdInterval)}";

    private static string Durations(TimeSpan t) => Scenarios.Durations.Format(t);

    public void Start()
    {
        _tasks.Add(Task.Run(() => LoopAsync(LeaseInterval, LookLeasesAsync, _stop.Token), CancellationToken.None));
        _tasks.Add(Task.Run(() => LoopAsync(EtcdInterval, LookEtcdAsync, _stop.Token), CancellationToken.None));
    }

    private static async Task LoopAsync(TimeSpan interval, Func<CancellationToken, Task> look, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var started = Environment.TickCount64;
            try { await look(ct).ConfigureAwait(false); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { break; }
            catch (Exception) { /* one failed look is a gap in the samples, not the end */ }
            var wait = interval.TotalMilliseconds - (Environment.TickCount64 - started);
            if (wait > 0)
            {
                try { await Task.Delay(TimeSpan.FromMilliseconds(wait), ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { break; }
            }
        }
    }

    private async Task LookLeasesAsync(CancellationToken ct)
    {
        var t = Math.Round(clock.Now, 4);
        var (cm, scheduler) = await source.LeasesAsync(ct).ConfigureAwait(false);
        lock (_samples)
        {
            _samples.Add(FromLease(t, cm));
            _samples.Add(FromLease(t, scheduler));
        }
    }

    private LeaderSample FromLease(double t, Leader l) =>
        new(t, l.Role, l.Holder, l.Identity, null, l.RenewTime is { } r ? Math.Round(clock.At(r), 4) : null, l.Since is { } a ? Math.Round(clock.At(a), 4) : null, l.LeaseDurationSeconds, l.Problem);

    private async Task LookEtcdAsync(CancellationToken ct)
    {
        var t = Math.Round(clock.Now, 4);
        var etcd = await source.EtcdAsync(history: false, ct).ConfigureAwait(false);
        lock (_samples) _samples.Add(new LeaderSample(t, "etcd", etcd.Holder, null, etcd.Term, Problem: etcd.Problem));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try { await Task.WhenAll(_tasks).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false); }
        catch (Exception) { /* stopping */ }
        _stop.Dispose();
    }
}
