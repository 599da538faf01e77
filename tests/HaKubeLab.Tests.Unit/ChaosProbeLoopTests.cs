using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Probes;

namespace HaKubeLab.Tests.Unit;

/// <summary>The probe loop's schedule: overlapping attempts around an outage, none in steady state.</summary>
public class ChaosProbeLoopTests
{
    /// <summary>
    /// A service that does not answer until <see cref="RecoversAt"/>: an attempt started before hangs until its timeout
    /// (a SYN to a node that died), one started after succeeds at once. Counts attempts in flight.
    /// </summary>
    private sealed class RecoveringService(RunClock clock, double recoversAt) : IProbe
    {
        private int _inFlight;
        public double RecoversAt { get; } = recoversAt;
        public int MaxSeenInFlight { get; private set; }
        public string Name => "fake";
        public string Target => "127.0.0.1:1";

        public IProbeAttempt Start(Action wake)
        {
            var now = Interlocked.Increment(ref _inFlight);
            lock (this) MaxSeenInFlight = Math.Max(MaxSeenInFlight, now);
            return new Attempt(this, answers: clock.Now >= RecoversAt);
        }

        /// <summary>No socket: the reactor asks on every turn; a hung one never answers and meets its deadline.</summary>
        private sealed class Attempt(RecoveringService service, bool answers) : IProbeAttempt
        {
            public System.Runtime.InteropServices.SafeHandle? Handle => null;
            public bool AwaitsWrite => false;
            public int? LocalPort => null;
            public ProbeOutcome? Advance() => answers ? ProbeOutcome.Success : null;
            public void Dispose() => Interlocked.Decrement(ref service._inFlight);
        }

        public void Dispose() { }
    }

    [Fact]
    public async Task A_hung_attempt_does_not_hide_the_recovery_the_next_slots_start_anyway()
    {
        var clock = new RunClock();
        var service = new RecoveringService(clock, recoversAt: 0.3);
        // A hung attempt lasts 1 s: one at a time, the attempt started just before 0.3 s would hold the loop until ~1.3 s.
        var loop = new ProbeLoop(service, TimeSpan.FromMilliseconds(20), TimeSpan.FromSeconds(1), clock, "test");
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(1.6));
        await loop.RunAsync(stop.Token, origin: 0);

        var samples = loop.Samples;
        var firstSuccess = samples.First(s => s.Ok);
        var recoveredAfter = firstSuccess.T - service.RecoversAt;
        Console.WriteLine($"first success {recoveredAfter * 1000:0.0} ms after the service answered again; at most {service.MaxSeenInFlight} attempts in flight (limit {loop.MaxInFlight})");
        Assert.InRange(recoveredAfter, 0, 0.5); // generous for a loaded host; ~1 s without overlapping attempts
        Assert.True(samples.Where(s => s.T < service.RecoversAt).All(s => !s.Ok && s.Error == "timeout"));
        Assert.True(service.MaxSeenInFlight > 1, "attempts overlapped while the service hung");
        Assert.InRange(service.MaxSeenInFlight, 2, loop.MaxInFlight);
        // The analysis gets them in start order, although hung ones finished after later successes.
        Assert.Equal(samples.OrderBy(s => s.T).Select(s => s.T), samples.Select(s => s.T));
        var failover = SeriesMath.Failover(samples, 0.05);
        Assert.Equal(firstSuccess.T, failover.FirstSuccess);
    }

    [Fact]
    public async Task In_steady_state_attempts_do_not_overlap()
    {
        var clock = new RunClock();
        var service = new RecoveringService(clock, recoversAt: 0);
        var loop = new ProbeLoop(service, TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(400), clock, "test");
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var running = loop.RunAsync(stop.Token);
        while (loop.Samples.Count < 10 && !stop.IsCancellationRequested) await Task.Delay(10);
        await stop.CancelAsync();
        await running;

        Assert.Equal(1, service.MaxSeenInFlight);
        Assert.True(loop.Samples.Count >= 10, $"{loop.Samples.Count} attempts in 10 s at 20 ms");
        Assert.All(loop.Samples, s => Assert.True(s.Ok));
    }

    [Fact]
    public void In_flight_limit_covers_one_timeout_of_slots()
    {
        var clock = new RunClock();
        using var service = new RecoveringService(clock, 0);
        Assert.Equal(7, new ProbeLoop(service, TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(300), clock, "t").MaxInFlight);
        Assert.Equal(2, new ProbeLoop(service, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(500), clock, "t").MaxInFlight);
    }

    [Fact]
    public async Task A_periodic_look_runs_on_the_probe_thread_on_its_own_grid_and_a_failing_look_does_not_stop_it()
    {
        var clock = new RunClock();
        var service = new RecoveringService(clock, recoversAt: 0);
        var loop = new ProbeLoop(service, TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(400), clock, "test");
        var looks = new List<(double T, int Thread)>();
        var look = new PeriodicLook(TimeSpan.FromMilliseconds(40), () =>
        {
            lock (looks) looks.Add((clock.Now, Environment.CurrentManagedThreadId));
            if (looks.Count % 3 == 0) throw new IOException("a /proc file went away");
        });
        var probeThread = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var running = ProbeReactor.RunAsync([loop], stop.Token, 0, [look]);
        while (looks.Count < 12 && !stop.IsCancellationRequested) await Task.Delay(10);
        await stop.CancelAsync();
        var stats = await running;

        lock (looks)
        {
            probeThread = looks[0].Thread;
            Assert.True(looks.Count >= 12, $"{looks.Count} looks");
            Assert.All(looks, l => Assert.Equal(probeThread, l.Thread)); // one thread for attempts and looks
            Assert.NotEqual(Environment.CurrentManagedThreadId, probeThread);
            // On the 40 ms grid: look n no earlier than n x 40 ms (a late one shifts nothing after it).
            for (var i = 0; i < looks.Count; i++) Assert.True(looks[i].T >= i * 0.040 - 0.001, $"look {i} at {looks[i].T:0.000} s");
        }
        Assert.True(loop.Samples.Count >= 12, $"{loop.Samples.Count} attempts beside the looks");
        if (OperatingSystem.IsLinux()) Assert.NotNull(stats.Cpu);
    }
}
