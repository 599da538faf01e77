using System.Collections.Immutable;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Docker.DotNet;
using Docker.DotNet.Models;
using HaKubeLab.Topology;

namespace HaKubeLab.Runtime;

/// <summary>
/// A lab that <c>up</c> made, opened by name from its record (<see cref="LabRecord"/>) plus Docker. The CLI's status,
/// chaos and explain, the AppHost and the test library all look at a lab through this one type: one snapshot
/// (<see cref="SnapshotAsync"/>), or a stream of them (<see cref="WatchAsync"/>) built from Docker's event stream and
/// the one VIP-holder source.
/// </summary>
/// <example>
/// <code>
/// await using var lab = await RunningLab.OpenAsync("hakubelab", ct);
/// var now = await lab.SnapshotAsync(ct);
/// Console.WriteLine($"VIP on {now.Vip.Holder}");
/// await foreach (var s in lab.WatchAsync(ct)) Console.WriteLine(s.Cause?.ToString() ?? s.Vip.Label);
/// </code>
/// </example>
public sealed partial class RunningLab : IAsyncDisposable
{
    private readonly bool _ownsDocker;
    private readonly VipHolderSource _holder;

    private RunningLab(IDockerClient docker, bool ownsDocker, LabRecord record)
    {
        Docker = docker;
        _ownsDocker = ownsDocker;
        Record = record;
        _holder = new VipHolderSource(docker, record.Topology);
    }

    public LabRecord Record { get; }
    public IDockerClient Docker { get; }
    public LabTopology Topology => Record.Topology;
    public string Name => Record.Name;

    /// <summary>Whether the lab runs Kubernetes (recorded by <c>up</c>, not guessed).</summary>
    public bool Kubernetes => Record.Kubernetes;

    /// <summary>The admin kubeconfig (server: the cluster endpoint through the VIP); null when the lab has no Kubernetes.</summary>
    public string? KubeconfigPath => Kubernetes ? Record.KubeconfigPath : null;

    /// <summary>The one VIP-holder source of this lab.</summary>
    public VipHolderSource VipHolders => _holder;

    private LeaderSource? _leaders;

    /// <summary>The lab's one leader source: etcd's leader, the controller-manager and scheduler leases, the VIP holder.</summary>
    public LeaderSource Leaders => _leaders ??= new LeaderSource(Docker, Topology, KubeconfigPath, _holder);

    /// <summary>Who leads now (etcd, kube-controller-manager, kube-scheduler, the VIP) and since when.</summary>
    public Task<LeaderSnapshot> LeadersAsync(CancellationToken ct = default) => Leaders.ReadAsync(history: true, ct);

    public string Container(string node, LabRole role = LabRole.Node) => LabNames.Container(Name, Topology.Node(node).Name, role);

    /// <summary>Opens lab <paramref name="lab"/> on the local Docker engine (DOCKER_HOST or the default socket).</summary>
    public static async Task<RunningLab> OpenAsync(string lab, CancellationToken ct = default)
    {
        var docker = await DockerConnection.ConnectAsync(ct).ConfigureAwait(false);
        try { return await OpenAsync(docker, lab, ownsDocker: true, ct).ConfigureAwait(false); }
        catch { docker.Dispose(); throw; }
    }

    /// <summary>Opens lab <paramref name="lab"/> through <paramref name="docker"/> (not disposed with the lab).</summary>
    public static Task<RunningLab> OpenAsync(IDockerClient docker, string lab, CancellationToken ct = default) => OpenAsync(docker, lab, ownsDocker: false, ct);

    private static async Task<RunningLab> OpenAsync(IDockerClient docker, string lab, bool ownsDocker, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(docker);
        ArgumentException.ThrowIfNullOrEmpty(lab);
        var record = LabRecord.TryRead(lab);
        if (record is null)
        {
            // The record may live in another state folder (HAKUBELAB_STATE); the lab's network says where.
            var networks = await docker.Networks.ListNetworksAsync(new NetworksListParameters { Filters = LabFilter(lab) }, ct).ConfigureAwait(false);
            var elsewhere = networks.Select(n => n.Labels.Label(LabLabels.Record)).FirstOrDefault(p => p is not null);
            if (elsewhere is not null) record = LabRecord.TryRead(lab, elsewhere);
            if (record is null)
            {
                var containers = await ListContainersAsync(docker, lab, ct).ConfigureAwait(false);
                if (containers.Count == 0 && networks.Count == 0)
                    throw new LabNotFoundException($"Lab '{lab}' does not exist. Bring it up with: ./hakubelab up{(lab == LabTopology.Default.Name ? "" : " --topology FILE")}");
                throw new LabRecordException($"Lab '{lab}' has {containers.Count} container(s) but no record ({Path.Combine(LabPaths.LabDir(lab), LabRecord.FileName)}): " +
                    "it was made by an older HaKubeLab, or its state folder was removed. Remove it with './hakubelab down --lab " + lab + "' and bring it up again.");
            }
        }
        if (record.Name != lab)
            throw new LabRecordException($"The record in {record.RecordPath} is for lab '{record.Name}', not '{lab}'. Remove the lab with './hakubelab down --lab {lab}' and bring it up again.");
        return new RunningLab(docker, ownsDocker, record);
    }

    /// <summary>The lab now: every container's state (one list call) and who holds the VIP.</summary>
    public async Task<LabSnapshot> SnapshotAsync(CancellationToken ct = default)
    {
        var containers = await ListContainersAsync(Docker, Name, ct).ConfigureAwait(false);
        var vip = await _holder.ReadAsync(ct).ConfigureAwait(false);
        return Build(containers, vip, null, null);
    }

    /// <summary>
    /// What <c>status</c> shows: the snapshot, whether VIP:port answers (one TCP connect), and with Kubernetes each master's
    /// apiserver (/readyz at its own address) and etcd member, and the etcd leader.
    /// </summary>
    public async Task<LabStatus> StatusAsync(CancellationToken ct = default)
    {
        var snapshot = await SnapshotAsync(ct).ConfigureAwait(false);
        var answers = await TcpProbe.ConnectAsync(Topology.Vip, Topology.LoadBalancer.Port, TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
        var nodes = snapshot.Nodes.Select(n => new NodeStatus(n.Name, n.Ip.ToString(), n.Node.Text,
            [.. new[] { n.Haproxy, n.Keepalived }.Select(p => new PartStatus(LabNames.RoleLabel(p.Role), p.Container, p.Text))], n.HoldsVip)).ToList();
        var external = Topology.Etcd.Topology == EtcdTopology.External;
        var etcdHealth = external ? await EtcdHealth.CheckAsync(Docker, Topology, ct).ConfigureAwait(false) : null;
        IReadOnlyList<EtcdNodeStatus>? etcdNodes = external
            ? [.. snapshot.EtcdNodes.Select(e => new EtcdNodeStatus(e.Name, e.Ip.ToString(), e.Container.Container, e.Container.Text,
                etcdHealth!.Members.FirstOrDefault(m => m.Name == e.Name)?.Health, etcdHealth.Leader == e.Name))]
            : null;
        var status = new LabStatus(Name, Topology.Subnet.ToString(), Topology.Vip.ToString(), Topology.LoadBalancer.Port, snapshot.Vip.Holder, answers, nodes)
        {
            EtcdTopology = external ? "external" : "stacked",
            EtcdNodes = etcdNodes,
        };
        if (!Kubernetes) return (external ? status with { EtcdLeader = etcdHealth!.Leader } : status) with { Leaders = await LeadersAsync(ct).ConfigureAwait(false) };
        var leaders = LeadersAsync(ct);
        var health = await ControlPlaneHealth.CheckAsync(Docker, Name, [.. snapshot.Nodes.Select(n => (n.Name, n.Ip.ToString(), n.Node.Running))], Topology.Kubernetes.ApiServerPort, ct, etcdHealth).ConfigureAwait(false);
        return status with
        {
            Kubernetes = true,
            EtcdLeader = health.EtcdLeader,
            Leaders = await leaders.ConfigureAwait(false),
            Nodes = [.. nodes.Zip(health.Nodes, (n, h) => n with { ApiServer = h.ApiServer, Etcd = h.Etcd })],
        };
    }

    /// <summary>Who carries the VIP now.</summary>
    public Task<VipHolderReading> VipHolderAsync(CancellationToken ct = default) => _holder.ReadAsync(ct);

    /// <summary>
    /// Snapshots as the lab changes: the first at once, then one per Docker event on the lab's containers (start, die, pause,
    /// unpause, ..., each with the engine's timestamp as <see cref="LabSnapshot.Cause"/>) and one per change of the VIP holder
    /// seen on the interfaces (looked at every <paramref name="holderInterval"/>, default 100 ms: a file read per node).
    /// </summary>
    public async IAsyncEnumerable<LabSnapshot> WatchAsync(TimeSpan? holderInterval = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var interval = holderInterval ?? TimeSpan.FromMilliseconds(100);
        var changes = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // Subscribe before the first look, so nothing between the two is lost.
        var since = DateTimeOffset.UtcNow;
        var events = Task.Run(() => FollowEventsAsync(changes.Writer, since, stop.Token), CancellationToken.None);
        var current = await SnapshotAsync(ct).ConfigureAwait(false);
        var looks = Task.Run(() => LookAsync(changes.Writer, current.Vip, interval, stop.Token), CancellationToken.None);
        try
        {
            yield return current;
            await foreach (var change in changes.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                LabSnapshot next;
                if (change is LabEvent e)
                {
                    if (e.Action is "start" or "die" or "unpause" or "destroy" or "restart") await _holder.RefreshAsync(ct).ConfigureAwait(false);
                    var containers = await ListContainersAsync(Docker, Name, ct).ConfigureAwait(false);
                    next = Build(containers, await _holder.ReadAsync(ct).ConfigureAwait(false), e, current);
                }
                else if (change is VipHolderReading vip)
                {
                    if (vip.Label == current.Vip.Label && vip.Arp == current.Vip.Arp) continue;
                    next = current with { At = vip.At, Vip = vip, Cause = null, Nodes = [.. current.Nodes.Select(n => n with { HoldsVip = vip.Effective.Contains(n.Name) })] };
                }
                else continue;
                current = next;
                yield return next;
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try { await Task.WhenAll(events, looks).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false); }
            catch (Exception) { /* stopping: a loop's last error no longer matters */ }
        }
    }

    /// <summary>
    /// Docker's events on the lab's containers from <paramref name="since"/> on, each with the engine's own timestamp:
    /// the most direct record of when a container died, stopped or was paused.
    /// </summary>
    public async IAsyncEnumerable<LabEvent> EventsAsync(DateTimeOffset? since = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var events = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var follow = Task.Run(() => FollowEventsAsync(events.Writer, since ?? DateTimeOffset.UtcNow, stop.Token), CancellationToken.None);
        try
        {
            await foreach (var e in events.Reader.ReadAllAsync(ct).ConfigureAwait(false))
                if (e is LabEvent labEvent) yield return labEvent;
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try { await follow.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false); }
            catch (Exception) { /* stopping */ }
        }
    }

    private async Task FollowEventsAsync(ChannelWriter<object> writer, DateTimeOffset since, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var parameters = new ContainerEventsParameters
                {
                    Since = since.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
                    Filters = new Dictionary<string, IDictionary<string, bool>>
                    {
                        ["type"] = new Dictionary<string, bool> { ["container"] = true },
                        ["label"] = new Dictionary<string, bool> { [$"{LabLabels.Lab}={Name}"] = true },
                    },
                };
                var seen = new HashSet<(long?, string, string)>();
                await Docker.System.MonitorEventsAsync(parameters, new SyncProgress<Message>(m =>
                {
                    if (ToEvent(m) is { } e && seen.Add((m.TimeNano, m.Actor?.ID ?? "", m.Action ?? ""))) writer.TryWrite(e);
                    if (m.TimeNano is { } nano) since = DateTimeOffset.FromUnixTimeMilliseconds(nano / 1_000_000);
                }), ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { break; }
            catch (Exception) { /* the engine dropped the stream: follow again from the last event */ }
            try { await Task.Delay(500, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
        }
    }

    private async Task LookAsync(ChannelWriter<object> writer, VipHolderReading first, TimeSpan interval, CancellationToken ct)
    {
        var last = first;
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                try
                {
                    var now = await _holder.ReadAsync(ct).ConfigureAwait(false);
                    if (now.Label != last.Label || now.Arp != last.Arp) writer.TryWrite(now);
                    last = now;
                }
                catch (Exception e) when (e is not OperationCanceledException) { /* one failed look is a gap, not the end */ }
            }
        }
        catch (OperationCanceledException) { }
    }

    private LabEvent? ToEvent(Message m)
    {
        var attributes = m.Actor?.Attributes;
        if (attributes is null || !attributes.TryGetValue(LabLabels.Node, out var node) || !attributes.TryGetValue(LabLabels.Role, out var roleText)) return null;
        if (!Enum.TryParse<LabRole>(roleText, ignoreCase: true, out var role)) return null;
        var action = m.Action ?? "";
        var colon = action.IndexOf(':'); // "exec_start: sh -c ...", "health_status: healthy"
        if (colon >= 0) action = action[..colon];
        if (action is "exec_create" or "exec_start" or "exec_die" or "attach" or "resize" or "top" or "export" or "commit" or "copy" or "archive-path" or "extract-to-dir") return null;
        long? exit = attributes.TryGetValue("exitCode", out var code) && long.TryParse(code, out var c) ? c : null;
        var time = m.TimeNano is { } nano ? DateTimeOffset.UnixEpoch.AddTicks(nano / 100) : DateTimeOffset.UtcNow;
        return new LabEvent(time, node, role, attributes.TryGetValue("name", out var name) ? name : LabNames.Container(Name, node, role), action, exit);
    }

    private LabSnapshot Build(IList<ContainerListResponse> containers, VipHolderReading vip, LabEvent? cause, LabSnapshot? previous)
    {
        PartState Part(string node, LabRole role)
        {
            var name = LabNames.Container(Name, node, role);
            var c = containers.FirstOrDefault(x => x.Names.Any(n => n.TrimStart('/') == name));
            var state = c is null ? ContainerState.Missing : ParseState(c.State);
            var old = role == LabRole.Etcd
                ? previous?.EtcdNodes.FirstOrDefault(n => n.Name == node)?.Container
                : previous?.Nodes.FirstOrDefault(n => n.Name == node)?.Part(role);
            var since = cause is not null && cause.Node == node && cause.Role == role ? cause.Time : old?.State == state ? old.Since : null;
            return new PartState(role, name, state, state is ContainerState.Exited or ContainerState.Dead ? ExitCodeOf(c?.Status) : null, since);
        }
        var nodes = Topology.Nodes.Select(n => new NodeSnapshot(n.Name, n.Ip, Part(n.Name, LabRole.Node), Part(n.Name, LabRole.Haproxy), Part(n.Name, LabRole.Keepalived),
            vip.Effective.Contains(n.Name))).ToImmutableArray();
        var etcd = Topology.Etcd.Nodes.Select(e => new EtcdNodeSnapshot(e.Name, e.Ip, Part(e.Name, LabRole.Etcd))).ToImmutableArray();
        return new LabSnapshot(cause?.Time ?? vip.At, Name, nodes, vip, cause) { EtcdNodes = etcd };
    }

    /// <summary>Docker's state word ("running", "exited", ...) as a <see cref="ContainerState"/>.</summary>
    public static ContainerState ParseState(string? state) => state?.ToLowerInvariant() switch
    {
        "created" => ContainerState.Created,
        "running" => ContainerState.Running,
        "paused" => ContainerState.Paused,
        "restarting" => ContainerState.Restarting,
        "exited" => ContainerState.Exited,
        "dead" => ContainerState.Dead,
        "removing" => ContainerState.Removing,
        _ => ContainerState.Missing,
    };

    [GeneratedRegex(@"^Exited \((?<code>-?\d+)\)")]
    private static partial Regex ExitedStatus();

    private static long? ExitCodeOf(string? status) =>
        status is not null && ExitedStatus().Match(status) is { Success: true } m ? long.Parse(m.Groups["code"].Value, System.Globalization.CultureInfo.InvariantCulture) : null;

    internal static Dictionary<string, IDictionary<string, bool>> LabFilter(string lab) =>
        new() { ["label"] = new Dictionary<string, bool> { [$"{LabLabels.Lab}={lab}"] = true } };

    internal static Task<IList<ContainerListResponse>> ListContainersAsync(IDockerClient docker, string lab, CancellationToken ct) =>
        docker.Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = LabFilter(lab) }, ct);

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; would post to the thread pool and reorder events).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    public ValueTask DisposeAsync()
    {
        _leaders?.Dispose();
        _holder.Dispose();
        if (_ownsDocker) Docker.Dispose();
        return ValueTask.CompletedTask;
    }
}
