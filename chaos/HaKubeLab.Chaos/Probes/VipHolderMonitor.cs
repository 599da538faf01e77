using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Chaos.Probes;

/// <summary>One look at who carries the VIP.</summary>
/// <param name="T">Run time of the look (start of the poll).</param>
/// <param name="Holders">Nodes whose interface carries the VIP (more than one: an old holder that is frozen or lost its keepalived still has it configured).</param>
/// <param name="Arp">The node whose MAC the host's neighbour table has for the VIP (where the host sends VIP traffic); null when unknown or incomplete.</param>
public sealed record HolderSample(double T, ImmutableArray<string> Holders, string? Arp)
{
    /// <summary>"m01", "m01+m02" or "none".</summary>
    public string Label => Holders.Length == 0 ? "none" : string.Join("+", Holders);

    /// <summary>
    /// The holder that counts: the one node whose interface carries the VIP, or, when a frozen or
    /// keepalived-less old holder still carries it too, the one the host's ARP entry points at.
    /// </summary>
    public ImmutableArray<string> Effective => Reading.Effective;

    /// <summary>This look as the lab's one VIP-holder reading (which decides the holder and breaks ties).</summary>
    public VipHolderReading Reading => new(default, Holders, Arp);
}

/// <summary>A change of the VIP holder seen on the interfaces: between the previous look and this one.</summary>
public sealed record HolderChange(double T, double PreviousLook, string From, string To);

/// <summary>A VRRP state change as keepalived's notify script logged it (HAKUBELAB-VRRP line).</summary>
/// <param name="T">Run time of the line's own timestamp (keepalived's clock, same host clock as the run's start).</param>
public sealed record KeepalivedTransition(double T, DateTimeOffset Wall, string Node, string State, int? Priority);

/// <summary>
/// Records who holds the VIP over a run, from the lab's one VIP-holder source (<see cref="VipHolderSource"/>: each node's
/// interfaces, the host's ARP entry to break ties) looked at every interval, beside keepalived's own state changes
/// (the HAKUBELAB-VRRP lines its notify script writes, with nanosecond wall-clock stamps).
/// </summary>
public sealed class VipHolderMonitor(IDockerClient docker, LabTopology topology, RunClock clock, TimeSpan interval) : IAsyncDisposable
{
    private readonly List<HolderSample> _samples = new(2048);
    private readonly List<KeepalivedTransition> _transitions = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _tasks = [];
    private readonly VipHolderSource _source = new(docker, topology);
    private TimeSpan _interval = interval;

    /// <summary>How the interface source works in this run, for the report.</summary>
    public string Source => $"interface: {_source.Method} every {Scenarios.Durations.Format(_interval)}";

    /// <summary>The interval the interface is actually polled at.</summary>
    public TimeSpan Interval => _interval;

    public IReadOnlyList<HolderSample> Samples
    {
        get { lock (_samples) return [.. _samples]; }
    }

    public IReadOnlyList<KeepalivedTransition> Transitions
    {
        get { lock (_transitions) return [.. _transitions.OrderBy(t => t.T)]; }
    }

    /// <summary>The latest look, or null before the first.</summary>
    public HolderSample? Current
    {
        get { lock (_samples) return _samples.Count == 0 ? null : _samples[^1]; }
    }

    /// <summary>Starts polling and following keepalived's logs; returns after the first look.</summary>
    /// <param name="onProbeThread">
    /// Leave the interface looks to the caller's probe thread when they can be done there (the /proc source: a few file reads,
    /// no waiting): the result is then the look to hand to <see cref="ProbeReactor.RunAsync"/>, which runs it on the probes' grid
    /// without a thread-pool timer and worker waking up every interval. Null when the monitor polls on its own.
    /// </param>
    public async Task<PeriodicLook?> StartAsync(CancellationToken cancellationToken, bool onProbeThread = false)
    {
        await _source.InitializeAsync(cancellationToken).ConfigureAwait(false);
        if (_source.UsesExec) _interval = TimeSpan.FromMilliseconds(Math.Max(250, _interval.TotalMilliseconds));
        await LookAsync(cancellationToken).ConfigureAwait(false);
        foreach (var node in topology.Nodes)
            _tasks.Add(Task.Run(() => FollowKeepalivedAsync(node.Name, _stop.Token), CancellationToken.None));
        if (onProbeThread && !_source.UsesExec) return new PeriodicLook(_interval, LookNow);
        _tasks.Add(Task.Run(() => PollAsync(_stop.Token), CancellationToken.None));
        return null;
    }

    /// <summary>Re-reads each node's PID and MAC now (after a restart or reconnect the runner knows of).</summary>
    public Task RefreshAsync(CancellationToken cancellationToken) => _source.RefreshAsync(cancellationToken);

    private async Task PollAsync(CancellationToken ct)
    {
        var origin = clock.Now;
        var slot = 0L;
        while (!ct.IsCancellationRequested)
        {
            try { await LookAsync(ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
            catch (Exception) { /* one failed look is a gap, not the end of the timeline */ }
            var now = clock.Now;
            slot = Math.Max(slot + 1, (long)Math.Floor((now - origin) / _interval.TotalSeconds) + 1);
            var wait = origin + slot * _interval.TotalSeconds - now;
            if (wait > 0)
            {
                try { await Task.Delay(TimeSpan.FromSeconds(wait), ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { break; }
            }
        }
    }

    private async Task LookAsync(CancellationToken ct)
    {
        var t = clock.Now;
        Add(t, await _source.ReadAsync(ct).ConfigureAwait(false));
    }

    /// <summary>One look from /proc, on the calling thread.</summary>
    private void LookNow()
    {
        var t = clock.Now;
        Add(t, _source.Read());
    }

    private void Add(double t, VipHolderReading reading)
    {
        lock (_samples) _samples.Add(new HolderSample(Math.Round(t, 6), reading.OnInterface, reading.Arp));
    }

    private async Task FollowKeepalivedAsync(string node, CancellationToken ct)
    {
        var container = LabNames.Container(topology.Name, node, LabRole.Keepalived);
        var since = clock.StartWall;
        var seen = new HashSet<string>();
        while (!ct.IsCancellationRequested)
        {
            try
            {
                using var stream = await docker.Containers.GetContainerLogsAsync(container, new ContainerLogsParameters
                {
                    ShowStdout = true,
                    ShowStderr = true,
                    Follow = true,
                    Since = since.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
                }, ct).ConfigureAwait(false);
                var buffer = new byte[8192];
                var pending = new StringBuilder();
                while (true)
                {
                    var r = await stream.ReadOutputAsync(buffer, 0, buffer.Length, ct).ConfigureAwait(false);
                    if (r.EOF) break;
                    pending.Append(Encoding.UTF8.GetString(buffer, 0, r.Count));
                    var text = pending.ToString();
                    var lastNewline = text.LastIndexOf('\n');
                    if (lastNewline < 0) continue;
                    pending.Clear().Append(text[(lastNewline + 1)..]);
                    foreach (var line in text[..lastNewline].Split('\n'))
                    {
                        if (VipHolderSource.ParseVrrpLine(line) is not { } v || !seen.Add(line.Trim())) continue;
                        if (v.Wall < clock.StartWall) continue;
                        lock (_transitions) _transitions.Add(new KeepalivedTransition(Math.Round(clock.At(v.Wall), 6), v.Wall, node, v.State, v.Priority));
                    }
                }
            }
            catch (OperationCanceledException) { break; }
            catch (Exception) { /* container gone or restarting: follow again */ }
            // The stream ends when the container stops; follow the next incarnation (same name).
            try { await Task.Delay(500, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
        }
    }

    /// <summary>The holder timeline: each change seen on the interfaces, between the previous look and this one.</summary>
    public static IReadOnlyList<HolderChange> Changes(IReadOnlyList<HolderSample> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var result = new List<HolderChange>();
        for (var i = 1; i < samples.Count; i++)
            if (samples[i].Label != samples[i - 1].Label)
                result.Add(new HolderChange(samples[i].T, samples[i - 1].T, samples[i - 1].Label, samples[i].Label));
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try { await Task.WhenAll(_tasks).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); }
        catch (Exception) { /* stopping: whatever a loop threw no longer matters */ }
        _stop.Dispose();
        _source.Dispose();
    }
}
