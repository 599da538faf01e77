using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
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
    public ImmutableArray<string> Effective => Holders.Length > 1 && Arp is { } arp && Holders.Contains(arp) ? [arp] : Holders;
}

/// <summary>A change of the VIP holder seen on the interfaces: between the previous look and this one.</summary>
public sealed record HolderChange(double T, double PreviousLook, string From, string To);

/// <summary>A VRRP state change as keepalived's notify script logged it (HAKUBELAB-VRRP line).</summary>
/// <param name="T">Run time of the line's own timestamp (keepalived's clock, same host clock as the run's start).</param>
public sealed record KeepalivedTransition(double T, DateTimeOffset Wall, string Node, string State, int? Priority);

/// <summary>
/// Watches who holds the VIP with three sources side by side:
/// <list type="bullet">
/// <item>the interface: each node's network namespace read from the host as <c>/proc/&lt;pid&gt;/net/fib_trie</c>
/// (a file read, no process started) every interval; a change is known to within one interval. Where the
/// runner cannot read the nodes' /proc (not root, or a remote engine) it falls back to <c>docker exec ip addr</c>
/// at a coarser interval and says so;</item>
/// <item>the host's neighbour table (<c>/proc/net/arp</c>): which node's MAC the host sends VIP traffic to;</item>
/// <item>keepalived's own state changes: the HAKUBELAB-VRRP lines its notify script writes, with nanosecond wall-clock stamps.</item>
/// </list>
/// </summary>
public sealed partial class VipHolderMonitor(IDockerClient docker, LabTopology topology, RunClock clock, TimeSpan interval) : IAsyncDisposable
{
    private readonly List<HolderSample> _samples = new(2048);
    private readonly List<KeepalivedTransition> _transitions = [];
    private readonly Dictionary<string, (int Pid, string Id, string? Mac)> _nodes = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _tasks = [];
    private TimeSpan _interval = interval;
    private bool _useExec;

    /// <summary>How the interface source works in this run, for the report.</summary>
    public string Source => _useExec
        ? $"interface: docker exec 'ip -4 addr show dev {topology.Keepalived.Interface}' in each node every {Scenarios.Durations.Format(_interval)} (the runner cannot read the nodes' /proc)"
        : $"interface: each node's /proc/<pid>/net/fib_trie read from the host every {Scenarios.Durations.Format(_interval)}";

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
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await RefreshNodesAsync(cancellationToken).ConfigureAwait(false);
        _useExec = !_nodes.Values.Any(n => n.Pid > 0 && File.Exists($"/proc/{n.Pid}/net/fib_trie") && OwnedBy(n.Pid, n.Id));
        if (_useExec) _interval = TimeSpan.FromMilliseconds(Math.Max(250, _interval.TotalMilliseconds));
        await LookAsync(cancellationToken).ConfigureAwait(false);
        _tasks.Add(Task.Run(() => PollAsync(_stop.Token), CancellationToken.None));
        _tasks.Add(Task.Run(() => RefreshLoopAsync(_stop.Token), CancellationToken.None));
        foreach (var node in topology.Nodes)
            _tasks.Add(Task.Run(() => FollowKeepalivedAsync(node.Name, _stop.Token), CancellationToken.None));
    }

    /// <summary>Re-reads each node's PID and MAC now (after a restart or reconnect the runner knows of).</summary>
    public Task RefreshAsync(CancellationToken cancellationToken) => RefreshNodesAsync(cancellationToken);

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

    private async Task RefreshLoopAsync(CancellationToken ct)
    {
        // PIDs and MACs change only when the runner restarts or reconnects a node, and it calls RefreshAsync
        // then; this slow loop is a safety net (an inspect costs more CPU than a second of fib_trie reads).
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(5000, ct).ConfigureAwait(false);
                await RefreshNodesAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { break; }
            catch (DockerApiException) { }
        }
    }

    private long _lastRefreshRequest;

    /// <summary>Refreshes in the background, at most every 500 ms (a node is down or restarting).</summary>
    private void RequestRefresh()
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastRefreshRequest);
        if (now - last < 500 || Interlocked.CompareExchange(ref _lastRefreshRequest, now, last) != last) return;
        _ = Task.Run(async () =>
        {
            try { await RefreshNodesAsync(_stop.Token).ConfigureAwait(false); }
            catch (Exception) { /* the next look asks again */ }
        });
    }

    private async Task RefreshNodesAsync(CancellationToken ct)
    {
        foreach (var node in topology.Nodes)
        {
            (int, string, string?) entry = (0, "", null);
            // The namespace is the node's; while the node is down its sidecars may still hold it (and whatever
            // address is left in it), so look through them then.
            foreach (var role in new[] { LabRole.Node, LabRole.Keepalived, LabRole.Haproxy })
            {
                try
                {
                    var c = await docker.Containers.InspectContainerAsync(LabNames.Container(topology.Name, node.Name, role), ct).ConfigureAwait(false);
                    if (role == LabRole.Node)
                    {
                        var mac = c.NetworkSettings?.Networks is { } nets && nets.TryGetValue(LabNames.Network(topology.Name), out var ep) ? ep.MacAddress : null;
                        entry = (0, c.ID, string.IsNullOrEmpty(mac) ? null : mac.ToLowerInvariant());
                    }
                    if (c.State.Running && c.State.Pid > 0)
                    {
                        entry = ((int)c.State.Pid, c.ID, entry.Item3);
                        break;
                    }
                }
                catch (DockerContainerNotFoundException) { }
            }
            lock (_nodes) _nodes[node.Name] = entry;
        }
    }

    /// <summary>Makes sure a PID still belongs to the node's container (PIDs are reused) before trusting its /proc.</summary>
    private static bool OwnedBy(int pid, string containerId)
    {
        try { return File.ReadAllText($"/proc/{pid}/cgroup").Contains(containerId, StringComparison.Ordinal); }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    private async Task LookAsync(CancellationToken ct)
    {
        var t = clock.Now;
        Dictionary<string, (int Pid, string Id, string? Mac)> nodes;
        lock (_nodes) nodes = new(_nodes);
        var holders = ImmutableArray.CreateBuilder<string>();
        var vip = topology.Vip.ToString();
        foreach (var node in topology.Nodes)
        {
            var n = nodes.GetValueOrDefault(node.Name);
            if (n.Pid <= 0)
            {
                RequestRefresh(); // a stopped node: notice its restart within half a second
                continue;
            }
            if (_useExec)
            {
                try
                {
                    var r = await DockerExec.RunAsync(docker, LabNames.Container(topology.Name, node.Name, LabRole.Node), ["ip", "-4", "-o", "addr", "show", "dev", topology.Keepalived.Interface], ct).ConfigureAwait(false);
                    if (r.Succeeded && r.Stdout.Contains($" {vip}/", StringComparison.Ordinal)) holders.Add(node.Name);
                }
                catch (DockerApiException) { }
                continue;
            }
            try
            {
                if (FibTrieHasLocal(File.ReadAllText($"/proc/{n.Pid}/net/fib_trie"), vip)) holders.Add(node.Name);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process went away: it carries nothing now; look for its next incarnation soon.
                RequestRefresh();
            }
        }
        var arp = ArpOwner(nodes, vip);
        lock (_samples) _samples.Add(new HolderSample(Math.Round(t, 6), holders.ToImmutable(), arp));
    }

    private string? ArpOwner(Dictionary<string, (int Pid, string Id, string? Mac)> nodes, string vip)
    {
        try
        {
            var mac = ArpMac(File.ReadAllText("/proc/net/arp"), vip);
            if (mac is null) return null;
            foreach (var node in topology.Nodes)
                if (nodes.GetValueOrDefault(node.Name).Mac == mac || DockerMac(node.Ip) == mac) return node.Name;
            return "?";
        }
        catch (IOException) { return null; }
    }

    /// <summary>Whether a fib_trie dump lists <paramref name="address"/> as a local /32 (an address of an interface in that namespace).</summary>
    public static bool FibTrieHasLocal(string fibTrie, string address)
    {
        ArgumentNullException.ThrowIfNull(fibTrie);
        var lines = fibTrie.Split('\n');
        for (var i = 0; i < lines.Length - 1; i++)
        {
            var l = lines[i].TrimEnd();
            if (!l.EndsWith("-- " + address, StringComparison.Ordinal)) continue;
            for (var j = i + 1; j < lines.Length && lines[j].TrimStart().StartsWith('/'); j++)
                if (lines[j].Contains("host LOCAL", StringComparison.Ordinal)) return true;
        }
        return false;
    }

    /// <summary>The MAC the neighbour table (<c>/proc/net/arp</c>) has for <paramref name="address"/>; null when absent or incomplete.</summary>
    public static string? ArpMac(string procNetArp, string address)
    {
        ArgumentNullException.ThrowIfNull(procNetArp);
        foreach (var line in procNetArp.Split('\n').Skip(1))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 4 && f[0] == address && f[2] != "0x0" && f[3] != "00:00:00:00:00:00") return f[3].ToLowerInvariant();
        }
        return null;
    }

    /// <summary>Docker 20.10's MAC for a container address on a bridge: 02:42 followed by the IPv4 bytes.</summary>
    private static string DockerMac(System.Net.IPAddress ip) =>
        "02:42:" + string.Join(":", ip.GetAddressBytes().Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));

    [GeneratedRegex(@"HAKUBELAB-VRRP time=(?<time>\S+) type=\S* name=\S* state=(?<state>\S+) priority=(?<prio>\S*)")]
    private static partial Regex VrrpLine();

    /// <summary>Parses one HAKUBELAB-VRRP line; null for any other line.</summary>
    public static (DateTimeOffset Wall, string State, int? Priority)? ParseVrrpLine(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var m = VrrpLine().Match(line);
        if (!m.Success) return null;
        // date +%N gives nanoseconds; DateTimeOffset keeps 100 ns ticks.
        var text = m.Groups["time"].Value;
        var dot = text.IndexOf('.');
        if (dot > 0 && text.EndsWith('Z') && text.Length - dot - 2 > 7) text = text[..(dot + 8)] + "Z";
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var wall)) return null;
        return (wall, m.Groups["state"].Value, int.TryParse(m.Groups["prio"].Value, out var p) ? p : null);
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
                        if (ParseVrrpLine(line) is not { } v || !seen.Add(line.Trim())) continue;
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
    }
}
