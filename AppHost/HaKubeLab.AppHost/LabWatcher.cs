using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Docker.DotNet;
using Docker.DotNet.Models;
using HaKubeLab.Chaos.Probes;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.AppHost;

/// <summary>One container of the lab as last seen: Docker's state (running, exited, paused, missing ...) and exit code.</summary>
public sealed record PartView(LabRole Role, string Container, string State, long? ExitCode);

/// <summary>One node: its container, its sidecars, and whether its interface carries the VIP.</summary>
public sealed record NodeView(string Name, string Ip, PartView Node, PartView Haproxy, PartView Keepalived, bool HasVip)
{
    public PartView Part(LabRole role) => role switch { LabRole.Node => Node, LabRole.Haproxy => Haproxy, _ => Keepalived };
}

/// <summary>The lab at one moment: every part, the nodes carrying the VIP, and the one effective holder (null when none or ambiguous).</summary>
public sealed record LabView(DateTimeOffset At, IReadOnlyList<NodeView> Nodes, IReadOnlyList<string> VipOnInterface, string? Holder)
{
    /// <summary>More than one node carries the VIP (a split brain, or a frozen old holder that still has it configured).</summary>
    public bool DualMaster => VipOnInterface.Count > 1;

    /// <summary>A string that changes exactly when something shown changes.</summary>
    public string Signature => string.Join(";", Nodes.Select(n => $"{n.Name}:{n.Node.State}/{n.Node.ExitCode}:{n.Haproxy.State}/{n.Haproxy.ExitCode}:{n.Keepalived.State}/{n.Keepalived.ExitCode}:{n.HasVip}")) + "|" + Holder;
}

/// <summary>
/// Scaffold of the live lab watcher until <c>RunningLab.WatchAsync</c> lands on main: polls Docker's container
/// list (one API call) and each running node's <c>/proc/PID/net/fib_trie</c> (a file read, as the chaos runner's
/// VIP monitor does; <c>docker exec ip addr</c> where /proc is not readable) every <see cref="Interval"/>,
/// and yields a view whenever something changed.
/// </summary>
public sealed partial class LabWatcher(IDockerClient docker, LabTopology topology)
{
    /// <summary>Poll interval: well inside the one second the dashboard promises.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(250);

    private readonly Dictionary<string, int> _pids = [];

    public async IAsyncEnumerable<LabView> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? last = null;
        using var timer = new PeriodicTimer(Interval);
        do
        {
            LabView? view = null;
            try { view = await SnapshotAsync(cancellationToken).ConfigureAwait(false); }
            catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException) { /* engine busy: next tick */ }
            if (view is not null && view.Signature != last)
            {
                last = view.Signature;
                yield return view;
            }
        }
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>The lab as it is now.</summary>
    public async Task<LabView> SnapshotAsync(CancellationToken ct)
    {
        var containers = await docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{LabLabels.Lab}={topology.Name}"] = true } },
        }, ct).ConfigureAwait(false);
        var byName = containers.ToDictionary(c => c.Names.FirstOrDefault()?.TrimStart('/') ?? c.ID, c => c);
        PartView Part(string node, LabRole role)
        {
            var name = LabNames.Container(topology.Name, node, role);
            if (!byName.TryGetValue(name, out var c)) return new PartView(role, name, "missing", null);
            long? exit = c.State == "exited" && ExitedRegex().Match(c.Status ?? "") is { Success: true } m ? long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : null;
            return new PartView(role, name, c.State ?? "unknown", exit);
        }

        var vip = topology.Vip.ToString();
        var nodes = new List<NodeView>();
        var holders = new List<string>();
        foreach (var n in topology.Nodes)
        {
            var node = Part(n.Name, LabRole.Node);
            var hasVip = node.State == "running" && byName.TryGetValue(node.Container, out var c) && await CarriesVipAsync(c.ID, node.Container, vip, ct).ConfigureAwait(false);
            if (hasVip) holders.Add(n.Name);
            nodes.Add(new NodeView(n.Name, n.Ip.ToString(), node, Part(n.Name, LabRole.Haproxy), Part(n.Name, LabRole.Keepalived), hasVip));
        }
        // Two carriers: the one whose keepalived still runs (a frozen or keepalived-less old holder keeps the address configured).
        var effective = holders.Count == 1 ? holders[0]
            : holders.Where(h => nodes.First(n => n.Name == h).Keepalived.State == "running").ToList() is { Count: 1 } live ? live[0] : null;
        return new LabView(DateTimeOffset.UtcNow, nodes, holders, effective);
    }

    private async Task<bool> CarriesVipAsync(string id, string container, string vip, CancellationToken ct)
    {
        // The node's main PID, re-read when the container restarted (its cgroup no longer names the ID).
        if (!_pids.TryGetValue(id, out var pid) || !Owns(pid, id))
        {
            var inspect = await docker.Containers.InspectContainerAsync(id, ct).ConfigureAwait(false);
            pid = (int)inspect.State.Pid;
            _pids[id] = pid;
        }
        var fib = $"/proc/{pid}/net/fib_trie";
        try
        {
            if (pid > 0 && Owns(pid, id)) return VipHolderMonitor.FibTrieHasLocal(await File.ReadAllTextAsync(fib, ct).ConfigureAwait(false), vip);
        }
        catch (IOException) { _pids.Remove(id); }
        catch (UnauthorizedAccessException) { }
        // Not root or a remote engine: ask the node itself.
        var r = await DockerExec.RunAsync(docker, container, ["ip", "-4", "-o", "addr", "show", "dev", topology.Keepalived.Interface], ct).ConfigureAwait(false);
        return r.Succeeded && r.Stdout.Contains($" {vip}/", StringComparison.Ordinal);
    }

    private static bool Owns(int pid, string containerId)
    {
        try { return pid > 0 && File.ReadAllText($"/proc/{pid}/cgroup").Contains(containerId, StringComparison.Ordinal); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    [GeneratedRegex(@"^Exited \((-?\d+)\)")]
    private static partial Regex ExitedRegex();
}
