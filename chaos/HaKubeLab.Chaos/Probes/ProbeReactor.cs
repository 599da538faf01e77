using HaKubeLab.Chaos.Analysis;
using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Net.Sockets;

namespace HaKubeLab.Chaos.Probes;

/// <summary>
/// Runs probe loops on one thread of their own. At each slot it starts the attempts that are due (what they send leaves at
/// once), then sleeps in one ppoll(2) (<see cref="SocketPoller"/>) over every attempt's socket until an answer, a deadline or
/// the next slot, and moves the ready attempts on where they are. Why one thread: with asynchronous I/O every probe at 50 ms
/// cost ~85 thread wake-ups a tick (the timer thread, the socket engine's epoll thread, thread-pool workers waking each other),
/// and on this 2-core VM a wake-up costs more than the request it carries; here a tick costs a few.
/// </summary>
public sealed class ProbeReactor : IDisposable
{
    private readonly IReadOnlyList<ProbeLoop> _loops;
    private readonly IReadOnlyList<PeriodicLook> _looks;
    private readonly Socket _wakeReceiver = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly Socket _wakeSender = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly byte[] _drain = new byte[64];
    private readonly SocketPoller _poller = new();
    private int _woken;

    private ProbeReactor(IReadOnlyList<ProbeLoop> loops, IReadOnlyList<PeriodicLook> looks)
    {
        _loops = loops;
        _looks = looks;
        // Wake-ups from other threads (a TLS handshake done, the stop) arrive as a datagram on loopback.
        _wakeReceiver.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _wakeReceiver.Blocking = false;
        _wakeSender.Connect(_wakeReceiver.LocalEndPoint!);
    }

    /// <summary>Runs <paramref name="loops"/> (sharing one clock) on a new thread until <paramref name="cancellationToken"/>; attempts then in flight are abandoned, not recorded.</summary>
    /// <param name="origin">The grid's start on the run clock (default: now); loops with the same interval start on the same tick.</param>
    /// <param name="looks">Short synchronous looks run on the same thread and grid, after the slot's attempts have left (the VIP-holder
    /// monitor's /proc reads): on a tick the thread is awake anyway, so they cost no wake-up of their own.</param>
    /// <returns>The reactor thread's CPU time and niceness: what measuring cost, apart from the rest of the process.</returns>
    public static Task<ProbeThreadStats> RunAsync(IReadOnlyList<ProbeLoop> loops, CancellationToken cancellationToken, double? origin = null, IReadOnlyList<PeriodicLook>? looks = null)
    {
        ArgumentNullException.ThrowIfNull(loops);
        looks ??= [];
        if (loops.Count == 0 && looks.Count == 0) return Task.FromResult(new ProbeThreadStats(TimeSpan.Zero, null));
        var done = new TaskCompletionSource<ProbeThreadStats>(TaskCreationOptions.RunContinuationsAsynchronously);
        var reactor = new ProbeReactor(loops, looks);
        var start = origin ?? (loops.Count > 0 ? loops[0].Clock.Now : 0);
        var thread = new Thread(() =>
        {
            try
            {
                var nice = RaisePriority();
                reactor.Run(start, cancellationToken);
                done.SetResult(new ProbeThreadStats(ThreadCpu(), nice));
            }
            catch (Exception e) { done.SetException(e); }
            finally { reactor.Dispose(); }
        })
        { IsBackground = true, Name = "hakubelab probes" };
        thread.Start();
        return done.Task;
    }

    /// <summary>Wakes the reactor's thread (from any thread); several calls before it wakes cost one datagram.</summary>
    public void Wake()
    {
        if (Interlocked.Exchange(ref _woken, 1) == 1) return;
        try { _wakeSender.Send([1]); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { /* stopping */ }
    }

    private sealed class InFlight(int loop, IProbeAttempt attempt, double start, double deadline)
    {
        public int Loop { get; } = loop;
        public IProbeAttempt Attempt { get; } = attempt;
        public double Start { get; } = start;
        public double Deadline { get; } = deadline;
        public bool Done { get; set; }
    }

    private void Run(double start, CancellationToken ct)
    {
        var clock = _loops.Count > 0 ? _loops[0].Clock : new RunClock();
        var nextSlot = new long[_loops.Count];
        var nextLook = new long[_looks.Count];
        var inFlightOf = new int[_loops.Count];
        var inFlight = new List<InFlight>();
        var waits = new List<(SafeHandle Handle, bool Write)>();
        var waitsFor = new List<InFlight?>();
        Action wake = Wake;
        using var stopping = ct.Register(Wake);

        void Finish(InFlight f, string? failure, object? answer = null)
        {
            f.Done = true;
            _loops[f.Loop].Record(f.Start, clock.Now, failure, f.Attempt.LocalPort, answer);
            inFlightOf[f.Loop]--;
            f.Attempt.Dispose();
        }

        void Advance(InFlight f)
        {
            ProbeOutcome? outcome;
            try { outcome = f.Attempt.Advance(); }
            catch (Exception e) { outcome = new ProbeOutcome(e.GetType().Name + ": " + e.Message); }
            if (outcome is { } o) Finish(f, o.Error, o.Answer);
        }

        try
        {
            while (!ct.IsCancellationRequested)
            {
                // Start what is due; a slot this thread overslept is skipped, as is one beyond the in-flight limit.
                var now = clock.Now;
                for (var i = 0; i < _loops.Count; i++)
                {
                    var loop = _loops[i];
                    var interval = loop.Interval.TotalSeconds;
                    if (now < start + nextSlot[i] * interval) continue;
                    if (inFlightOf[i] < loop.MaxInFlight)
                    {
                        var t = clock.Now;
                        try
                        {
                            inFlight.Add(new InFlight(i, loop.Probe.Start(wake), t, t + loop.Timeout.TotalSeconds));
                            inFlightOf[i]++;
                        }
                        catch (Exception e) { loop.Record(t, clock.Now, e.GetType().Name + ": " + e.Message, null, null); }
                    }
                    nextSlot[i] = Math.Max(nextSlot[i] + 1, (long)Math.Floor((now - start) / interval) + 1);
                }

                // Attempts not waiting on a socket (a request to send, a handshake that may be done) move on now.
                Volatile.Write(ref _woken, 0);
                foreach (var f in inFlight)
                    if (!f.Done && f.Attempt.Handle is null) Advance(f);

                // Attempts that asked to be looked at by now (a connect past its own timeout), then those past their deadline.
                var stamp = Stopwatch.GetTimestamp();
                foreach (var f in inFlight)
                    if (!f.Done && f.Attempt.CheckAt is { } at && stamp >= at) Advance(f);
                now = clock.Now;
                foreach (var f in inFlight)
                    if (!f.Done && now >= f.Deadline) Finish(f, "timeout");
                inFlight.RemoveAll(f => f.Done);

                // The looks after the requests have left, so that they do not delay what the attempts measure.
                for (var i = 0; i < _looks.Count; i++)
                {
                    var interval = _looks[i].Interval.TotalSeconds;
                    if (now < start + nextLook[i] * interval) continue;
                    try { _looks[i].Look(); }
                    catch (Exception) { /* one failed look is a gap in its timeline, not the end of the probes */ }
                    nextLook[i] = Math.Max(nextLook[i] + 1, (long)Math.Floor((clock.Now - start) / interval) + 1);
                }

                // Sleep until a socket is ready, a deadline, the next slot or a wake-up.
                var until = double.MaxValue;
                for (var i = 0; i < _loops.Count; i++) until = Math.Min(until, start + nextSlot[i] * _loops[i].Interval.TotalSeconds);
                for (var i = 0; i < _looks.Count; i++) until = Math.Min(until, start + nextLook[i] * _looks[i].Interval.TotalSeconds);
                waits.Clear();
                waitsFor.Clear();
                waits.Add((_wakeReceiver.SafeHandle, false));
                waitsFor.Add(null);
                stamp = Stopwatch.GetTimestamp();
                var nowForChecks = clock.Now;
                foreach (var f in inFlight)
                {
                    until = Math.Min(until, f.Deadline);
                    if (f.Attempt.CheckAt is { } at) until = Math.Min(until, nowForChecks + (double)(at - stamp) / Stopwatch.Frequency);
                    if (f.Attempt.Handle is not { } handle) continue;
                    waits.Add((handle, f.Attempt.AwaitsWrite));
                    waitsFor.Add(f);
                }
                // A failed connect is writable too (POLLOUT with POLLERR), a reset connection readable.
                var ready = _poller.Wait(waits, Math.Clamp(until - clock.Now, 0, 1));
                if (ready.Count == 0) continue;
                foreach (var i in ready)
                {
                    if (i == 0) Drain();
                    else if (waitsFor[i] is { Done: false } f) Advance(f);
                }
                inFlight.RemoveAll(f => f.Done);
            }
        }
        finally
        {
            foreach (var f in inFlight)
                if (!f.Done) f.Attempt.Dispose();
        }
    }

    /// <summary>CPU time of the calling thread (getrusage RUSAGE_THREAD, Linux); null elsewhere.</summary>
    private static TimeSpan? ThreadCpu()
    {
        try
        {
            if (!OperatingSystem.IsLinux() || GetRusage(RusageThread, out var usage) != 0) return null;
            return TimeSpan.FromMicroseconds((usage.UtimeSec + usage.StimeSec) * 1_000_000.0 + usage.UtimeUsec + usage.StimeUsec);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
    }

    private const int RusageThread = 1;

    /// <summary>The niceness the probe thread asks for: above the lab's kubelets, apiservers and etcd, so that a busy host delays a probe's SYN or read less.</summary>
    public const int ProbeNice = -10;

    /// <summary>Gives this thread <see cref="ProbeNice"/> (needs CAP_SYS_NICE, which the root runner has); returns the niceness it runs at, null where unknown.</summary>
    private static int? RaisePriority()
    {
        try
        {
            if (!OperatingSystem.IsLinux()) return null;
            var tid = GetTid();
            if (SetPriority(PrioProcess, tid, ProbeNice) == 0) return ProbeNice;
            return 0; // not permitted: the default
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
    }

    private const int PrioProcess = 0;

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();

    /// <summary>setpriority(PRIO_PROCESS, tid, nice): on Linux a thread id sets that one thread's niceness.</summary>
    [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static extern int SetPriority(int which, int who, int prio);

    /// <summary>struct rusage on 64-bit Linux: two timevals, then fourteen longs this class does not read.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Rusage
    {
        public long UtimeSec, UtimeUsec, StimeSec, StimeUsec;
        public long R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, R11, R12, R13;
    }

    [DllImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static extern int GetRusage(int who, out Rusage usage);

    private void Drain()
    {
        try
        {
            while (_wakeReceiver.Available > 0) _wakeReceiver.Receive(_drain);
        }
        catch (SocketException) { /* nothing left */ }
    }

    public void Dispose()
    {
        _wakeReceiver.Dispose();
        _wakeSender.Dispose();
    }
}

/// <summary>A short synchronous look that runs on the <see cref="ProbeReactor"/>'s thread every <paramref name="Interval"/> (it must not block).</summary>
public sealed record PeriodicLook(TimeSpan Interval, Action Look);

/// <summary>What the probe thread cost and how it ran.</summary>
/// <param name="Cpu">Its CPU time (getrusage RUSAGE_THREAD); null where the kernel does not say.</param>
/// <param name="Nice">Its niceness (<see cref="ProbeReactor.ProbeNice"/> when raising it was allowed, 0 when not); null where unknown.</param>
public sealed record ProbeThreadStats(TimeSpan? Cpu, int? Nice);

/// <summary>
/// Waits for several sockets at once: ppoll(2) (Linux, as is the lab) with a reused descriptor array and a nanosecond
/// timeout, where <see cref="Socket.Select(System.Collections.IList?, System.Collections.IList?, System.Collections.IList?, int)"/>
/// rebuilds lists on every call and rounds the timeout down to whole milliseconds (waking early to poll again). Used by one thread.
/// </summary>
internal sealed class SocketPoller
{
    private PollFd[] _fds = new PollFd[32];
    private readonly List<int> _ready = new(32);

    /// <summary>The indexes in <paramref name="sockets"/> that are ready (or failed), after at most <paramref name="timeoutSeconds"/>.</summary>
    public List<int> Wait(List<(SafeHandle Handle, bool Write)> sockets, double timeoutSeconds)
    {
        _ready.Clear();
        if (_fds.Length < sockets.Count) _fds = new PollFd[sockets.Count * 2];
        for (var i = 0; i < sockets.Count; i++)
            _fds[i] = new PollFd { Fd = (int)sockets[i].Handle.DangerousGetHandle(), Events = sockets[i].Write ? PollOut : PollIn };
        var seconds = Math.Floor(timeoutSeconds);
        var timeout = new TimeSpec { Seconds = (long)seconds, Nanoseconds = (long)((timeoutSeconds - seconds) * 1e9) };
        var n = PPoll(_fds, (nuint)sockets.Count, ref timeout, IntPtr.Zero);
        if (n <= 0) return _ready; // timed out, or interrupted by a signal (the runtime's own): the caller looks again
        for (var i = 0; i < sockets.Count; i++)
            if (_fds[i].REvents != 0) _ready.Add(i);
        return _ready;
    }

    private const short PollIn = 0x1;
    private const short PollOut = 0x4;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "ppoll", SetLastError = true)]
    private static extern int PPoll([In, Out] PollFd[] fds, nuint count, ref TimeSpec timeout, IntPtr signalMask);
}
