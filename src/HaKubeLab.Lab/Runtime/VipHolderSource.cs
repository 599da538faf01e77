using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using Docker.DotNet;
using HaKubeLab.Topology;

namespace HaKubeLab.Runtime;

/// <summary>One look at who carries the VIP.</summary>
/// <param name="At">When the look was taken (wall clock).</param>
/// <param name="OnInterface">Nodes whose interface carries the VIP. More than one: a dual-master moment, or an old holder that is frozen
/// or lost its keepalived and still has the address configured.</param>
/// <param name="Arp">The node whose MAC the host's neighbour table has for the VIP (where the host sends VIP traffic); null when unknown.</param>
public sealed record VipHolderReading(DateTimeOffset At, ImmutableArray<string> OnInterface, string? Arp)
{
    /// <summary>The holder that counts: the one node carrying the VIP, or, when several carry it, the one the host's ARP entry points at; else null.</summary>
    public string? Holder => OnInterface.Length == 1 ? OnInterface[0]
        : OnInterface.Length > 1 && Arp is { } arp && OnInterface.Contains(arp) ? arp
        : null;

    /// <summary>More than one node carries the VIP on its interface.</summary>
    public bool DualMaster => OnInterface.Length > 1;

    /// <summary>"m01", "m01+m02" or "none".</summary>
    public string Label => OnInterface.IsEmpty ? "none" : string.Join("+", OnInterface);

    /// <summary>The holder(s) that count: <see cref="Holder"/> when there is one, else everything on the interfaces.</summary>
    public ImmutableArray<string> Effective => Holder is { } h ? [h] : OnInterface;

    public static VipHolderReading None(DateTimeOffset at) => new(at, [], null);
}

/// <summary>
/// The one way the lab finds who holds the VIP: each node's interfaces, read from the host through a process in the node's
/// network namespace: its address events (an rtnetlink socket made inside the namespace, see <see cref="NetlinkAddresses"/>)
/// or, where the namespace cannot be entered, its <c>/proc/&lt;pid&gt;/net/fib_trie</c> (a file read, no process started),
/// with the host's ARP entry only to break ties. Where the host's /proc of the nodes cannot be read (not root, or a
/// remote engine) it falls back to <c>docker exec ip addr</c> in each node, and says so in <see cref="Method"/>.
/// Cheap enough to call every 50 ms; call <see cref="RefreshAsync"/> after a node restarted (new PIDs).
/// </summary>
public sealed partial class VipHolderSource(IDockerClient docker, LabTopology topology) : IDisposable
{
    private readonly Dictionary<string, NodeHandle> _nodes = [];
    private readonly ProcReader _proc = new();
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private bool _initialized;
    private long _lastRefresh;

    private readonly record struct NodeHandle(int Pid, string Id, string? Mac);

    /// <summary>True when the source reads interfaces by docker exec (slower; about 4 looks a second at most).</summary>
    public bool UsesExec { get; private set; }

    /// <summary>How the interfaces are read, for reports.</summary>
    public string Method => UsesExec
        ? $"docker exec 'ip -4 addr show dev {topology.Keepalived.Interface}' in each node (the host's /proc of the nodes cannot be read)"
        : AddressEvents()
            ? "each node's IPv4 address events (an rtnetlink socket inside its network namespace), read from the host"
            : "each node's /proc/<pid>/net/fib_trie read from the host";

    private bool AddressEvents()
    {
        lock (_proc) return _proc.UsesAddressEvents;
    }

    /// <summary>Finds each node's PID and MAC; picks the method. Called by the first <see cref="ReadAsync"/> when not called before.</summary>
    public async Task InitializeAsync(CancellationToken ct)
    {
        await RefreshAsync(ct).ConfigureAwait(false);
        lock (_nodes) UsesExec = !_nodes.Values.Any(n => n.Pid > 0 && File.Exists($"/proc/{n.Pid}/net/fib_trie") && OwnedBy(n.Pid, n.Id));
        _initialized = true;
    }

    /// <summary>Re-reads each node's PID and MAC (after a node or sidecar started or died).</summary>
    public async Task RefreshAsync(CancellationToken ct)
    {
        await _refresh.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            foreach (var node in topology.Nodes)
            {
                var entry = new NodeHandle(0, "", null);
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
                            entry = new NodeHandle(0, c.ID, string.IsNullOrEmpty(mac) ? null : mac.ToLowerInvariant());
                        }
                        if (c.State is { Running: true, Pid: > 0 })
                        {
                            entry = entry with { Pid = (int)c.State.Pid, Id = c.ID };
                            break;
                        }
                    }
                    catch (DockerContainerNotFoundException) { }
                }
                lock (_nodes) _nodes[node.Name] = entry;
            }
            Interlocked.Exchange(ref _lastRefresh, Environment.TickCount64);
        }
        finally
        {
            _refresh.Release();
        }
    }

    /// <summary>One look: who carries the VIP now.</summary>
    public async Task<VipHolderReading> ReadAsync(CancellationToken ct)
    {
        if (!_initialized) await InitializeAsync(ct).ConfigureAwait(false);
        if (!UsesExec) return Read();
        var at = DateTimeOffset.UtcNow;
        var nodes = Snapshot();
        var holders = ImmutableArray.CreateBuilder<string>();
        var vip = topology.Vip.ToString();
        var stale = false;
        foreach (var node in topology.Nodes)
        {
            if (nodes.GetValueOrDefault(node.Name).Pid <= 0)
            {
                stale = true; // a stopped node: notice its restart soon
                continue;
            }
            try
            {
                var r = await DockerExec.RunAsync(docker, LabNames.Container(topology.Name, node.Name, LabRole.Node), ["ip", "-4", "-o", "addr", "show", "dev", topology.Keepalived.Interface], ct).ConfigureAwait(false);
                if (r.Succeeded && r.Stdout.Contains($" {vip}/", StringComparison.Ordinal)) holders.Add(node.Name);
            }
            catch (DockerApiException) { /* stopped, paused or gone: it cannot hold a reachable VIP */ }
        }
        if (stale) RequestRefresh();
        return new VipHolderReading(at, holders.ToImmutable(), ArpOwner(nodes, vip));
    }

    /// <summary>
    /// One look read from the host's /proc without waiting on anything (a few file reads), for a caller that looks from a
    /// thread of its own, such as the chaos runner's probe thread. Only after <see cref="InitializeAsync"/> found /proc readable.
    /// </summary>
    public VipHolderReading Read()
    {
        if (!_initialized || UsesExec)
            throw new InvalidOperationException("VipHolderSource.Read needs the nodes' /proc: call InitializeAsync first, and use ReadAsync when UsesExec is true");
        var at = DateTimeOffset.UtcNow;
        var nodes = Snapshot();
        var holders = ImmutableArray.CreateBuilder<string>();
        var vip = topology.Vip.ToString();
        var stale = false;
        lock (_proc)
        {
            foreach (var node in topology.Nodes)
            {
                var n = nodes.GetValueOrDefault(node.Name);
                if (n.Pid <= 0)
                {
                    stale = true; // a stopped node: notice its restart soon
                    continue;
                }
                switch (_proc.HasLocalAddress(n.Pid, topology.Vip))
                {
                    case true: holders.Add(node.Name); break;
                    case null: stale = true; break; // the process went away: it carries nothing now; find its next incarnation
                }
            }
            _proc.CloseAllBut([.. nodes.Values.Select(n => n.Pid)]);
        }
        if (stale) RequestRefresh();
        return new VipHolderReading(at, holders.ToImmutable(), ArpOwner(nodes, vip));
    }

    private Dictionary<string, NodeHandle> Snapshot()
    {
        lock (_nodes) return new(_nodes);
    }

    /// <summary>Refreshes in the background, at most every 500 ms.</summary>
    private void RequestRefresh()
    {
        var last = Interlocked.Read(ref _lastRefresh);
        if (Environment.TickCount64 - last < 500 || _refresh.CurrentCount == 0) return;
        Interlocked.Exchange(ref _lastRefresh, Environment.TickCount64);
        _ = Task.Run(async () =>
        {
            try { await RefreshAsync(CancellationToken.None).ConfigureAwait(false); }
            catch (Exception) { /* the next look asks again */ }
        });
    }

    private string? ArpOwner(Dictionary<string, NodeHandle> nodes, string vip)
    {
        string? mac;
        lock (_proc) mac = _proc.ArpMac(vip);
        return NodeOfMac(nodes, mac);
    }

    private string? NodeOfMac(Dictionary<string, NodeHandle> nodes, string? mac)
    {
        if (mac is null) return null;
        foreach (var node in topology.Nodes)
            if (nodes.GetValueOrDefault(node.Name).Mac == mac || DockerMac(node.Ip) == mac) return node.Name;
        return "?";
    }

    /// <summary>Closes the /proc files kept open between looks.</summary>
    public void Dispose()
    {
        lock (_proc) _proc.Dispose();
    }

    /// <summary>Makes sure a PID still belongs to the node's container (PIDs are reused) before trusting its /proc.</summary>
    private static bool OwnedBy(int pid, string containerId)
    {
        try { return File.ReadAllText($"/proc/{pid}/cgroup").Contains(containerId, StringComparison.Ordinal); }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    /// <summary>Whether a fib_trie dump lists <paramref name="address"/> as a local /32 (an address of an interface in that namespace).</summary>
    public static bool FibTrieHasLocal(string fibTrie, string address)
    {
        ArgumentNullException.ThrowIfNull(fibTrie);
        ArgumentNullException.ThrowIfNull(address);
        return FibTrieHasLocal(fibTrie.AsSpan(), address);
    }

    /// <inheritdoc cref="FibTrieHasLocal(string, string)"/>
    public static bool FibTrieHasLocal(ReadOnlySpan<char> fibTrie, string address)
    {
        // Without splitting into strings: this runs for every node on every look.
        var leaf = false;
        foreach (var line in fibTrie.EnumerateLines())
        {
            var l = line.TrimEnd();
            if (l.EndsWith(address, StringComparison.Ordinal) && l[..^address.Length].EndsWith("-- ", StringComparison.Ordinal))
            {
                leaf = true;
                continue;
            }
            if (!leaf) continue;
            if (!l.TrimStart().StartsWith("/", StringComparison.Ordinal)) leaf = false;
            else if (l.Contains("host LOCAL", StringComparison.Ordinal)) return true;
        }
        return false;
    }

    /// <summary>The MAC the neighbour table (<c>/proc/net/arp</c>) has for <paramref name="address"/>; null when absent or incomplete.</summary>
    public static string? ArpMac(string procNetArp, string address)
    {
        ArgumentNullException.ThrowIfNull(procNetArp);
        return ArpMac(procNetArp.AsSpan(), address);
    }

    /// <inheritdoc cref="ArpMac(string, string)"/>
    public static string? ArpMac(ReadOnlySpan<char> procNetArp, string address)
    {
        // Columns: IP address, HW type, Flags, HW address, Mask, Device; the first line is the header.
        var first = true;
        Span<Range> fields = stackalloc Range[5];
        foreach (var line in procNetArp.EnumerateLines())
        {
            if (first)
            {
                first = false;
                continue;
            }
            if (!line.StartsWith(address, StringComparison.Ordinal) || line.Length == address.Length || line[address.Length] != ' ') continue;
            if (line.Split(fields, ' ', StringSplitOptions.RemoveEmptyEntries) < 4) continue;
            var flags = line[fields[2]];
            var mac = line[fields[3]];
            if (!flags.SequenceEqual("0x0") && !mac.SequenceEqual("00:00:00:00:00:00")) return mac.ToString().ToLowerInvariant();
        }
        return null;
    }

    /// <summary>Docker 20.10's MAC for a container address on a bridge: 02:42 followed by the IPv4 bytes.</summary>
    public static string DockerMac(System.Net.IPAddress ip) =>
        "02:42:" + string.Join(":", ip.GetAddressBytes().Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));

    [GeneratedRegex(@"HAKUBELAB-VRRP time=(?<time>\S+) type=\S* name=\S* state=(?<state>\S+) priority=(?<prio>\S*)")]
    private static partial Regex VrrpLine();

    /// <summary>Parses one HAKUBELAB-VRRP line (keepalived's notify script, see the keepalived image); null for any other line.</summary>
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
}
