using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Runtime;

/// <summary>Raised when the lab cannot be brought up; the message says what failed and what to do.</summary>
public sealed class LabException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The lab runtime: creates, inspects and removes a lab through the Docker API. The CLI, the AppHost
/// and the tests all call this one class. Every object it creates carries the label
/// <c>io.hakubelab.lab=&lt;name&gt;</c>, so <see cref="DownAsync"/> finds all of it.
/// </summary>
public sealed class LabRuntime(IDockerClient docker, LabTopology topology)
{
    public IDockerClient Docker { get; } = docker;
    public LabTopology Topology { get; } = TopologyValidator.EnsureValid(topology);

    /// <summary>Reads the host's routes and interface addresses for the subnet check (default: this host's; tests inject their own).</summary>
    public Func<IReadOnlyList<HostRoute>> HostRoutes { get; init; } = HostNetworkGuard.ReadHost;

    /// <summary>Options for <see cref="UpAsync"/>.</summary>
    /// <param name="RemoveOnFailure">When the lab did not exist before, remove what was created if bring-up fails or is cancelled.</param>
    /// <param name="Kubernetes">What the lab's record says about Kubernetes; null keeps what it says already (false for a new lab).</param>
    public sealed record UpOptions(bool RemoveOnFailure = true, TimeSpan? VipDeadline = null, bool? Kubernetes = null);

    /// <summary>
    /// Brings the lab up and returns once a TCP connect to VIP:load-balancer-port succeeds. Idempotent:
    /// objects whose configuration is unchanged are kept as they are.
    /// </summary>
    public async Task<TimeSpan> UpAsync(LabImageSet images, IProgress<LabProgress>? progress = null, UpOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        options ??= new UpOptions();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // Decided before anything is made: only what this call created is removed when it fails.
        var existedBefore = await ExistsAsync(Docker, Topology.Name, cancellationToken).ConfigureAwait(false);
        var actions = new LabActions(progress, cancellationToken);
        try
        {
            // Before anything is created: a subnet that clashes with Docker's networks or the host's own is refused here.
            await actions.RunAsync("check subnet", _ => CheckSubnetAsync(cancellationToken), $"{Topology.Subnet} against Docker's networks and the host's routes").ConfigureAwait(false);
            // The record first: whatever happens next, the lab's objects point at what they were made from.
            WriteRecord(images, options.Kubernetes);
            var secrets = LoadOrCreateSecrets();
            var files = await actions.RunAsync("write runbook files", _ =>
            {
                Bootstrap.SshIdentity.LoadOrCreate(LabPaths.SshKeyPath(Topology.Name), $"hakubelab-{Topology.Name}");
                return Task.FromResult(WriteRunbookFiles(secrets));
            }, LabPaths.LabDir(Topology.Name)).ConfigureAwait(false);
            await actions.RunAsync("create network", _ => EnsureNetworkAsync(cancellationToken), $"{LabNames.Network(Topology.Name)} {Topology.Subnet}").ConfigureAwait(false);

            if (Topology.Etcd.Topology == EtcdTopology.External)
                await StartExternalEtcdAsync(images, actions, cancellationToken).ConfigureAwait(false);

            var security = ContainerSpecs.NodeSecurity.Detect();
            var recreatedNodes = new HashSet<string>();
            // Nodes boot in parallel: systemd start-up dominates and is independent per node.
            await Task.WhenAll(Topology.Nodes.Select(node => actions.RunAsync($"start node {node.Name}", async _ =>
            {
                await EnsureVolumeAsync(node, cancellationToken).ConfigureAwait(false);
                if (await EnsureContainerAsync(ContainerSpecs.Node(Topology, node, images, security), cancellationToken).ConfigureAwait(false))
                    lock (recreatedNodes) recreatedNodes.Add(node.Name);
                await WaitForInitAsync(node, cancellationToken).ConfigureAwait(false);
            }, $"{node.Ip}{(security.Privileged ? " privileged" : " cap-add ALL")}"))).ConfigureAwait(false);

            // Sidecars share the node's network namespace: a recreated node needs recreated sidecars.
            foreach (var node in Topology.Nodes)
            {
                var cfg = files[node.Name];
                await actions.RunAsync($"start haproxy {node.Name}", _ =>
                    EnsureContainerAsync(ContainerSpecs.Haproxy(Topology, node, images, cfg[RunbookFiles.HaproxyConfigPath]), cancellationToken, force: recreatedNodes.Contains(node.Name))).ConfigureAwait(false);
            }

            // keepalived in node order, so the runbook's MASTER is up first and takes the VIP, as on real hosts brought up in order.
            foreach (var node in Topology.Nodes)
            {
                var cfg = files[node.Name];
                await actions.RunAsync($"start keepalived {node.Name}", async _ =>
                {
                    var changed = await EnsureContainerAsync(ContainerSpecs.Keepalived(Topology, node, images, cfg[RunbookFiles.KeepalivedConfigPath]), cancellationToken, force: recreatedNodes.Contains(node.Name)).ConfigureAwait(false);
                    if (changed && node.State == VrrpState.Master)
                        await WaitUntilAsync(async () => await VipHolderAsync(cancellationToken).ConfigureAwait(false) is not null, TimeSpan.FromSeconds(15), cancellationToken).ConfigureAwait(false);
                }).ConfigureAwait(false);
            }

            var deadline = options.VipDeadline ?? TimeSpan.FromSeconds(60);
            await actions.RunAsync("wait for VIP", async _ =>
            {
                var took = await TcpProbe.WaitForAsync(Topology.Vip, Topology.LoadBalancer.Port, deadline, cancellationToken).ConfigureAwait(false);
                if (took is null)
                {
                    var status = await StatusAsync(cancellationToken).ConfigureAwait(false);
                    throw new LabException($"{Topology.Vip}:{Topology.LoadBalancer.Port} did not answer within {deadline.TotalSeconds:0} s (VIP holder: {status.VipHolder ?? "none"}). " +
                        $"See the keepalived logs: docker logs {LabNames.Container(Topology.Name, Topology.Nodes[0].Name, LabRole.Keepalived)}");
                }
            }, $"{Topology.Vip}:{Topology.LoadBalancer.Port}").ConfigureAwait(false);
            return clock.Elapsed;
        }
        catch (Exception e) when (options.RemoveOnFailure && !existedBefore)
        {
            await RemoveUnfinishedAsync(Docker, Topology.Name, progress, e).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Removes a lab that a bring-up created and could not finish (failed or interrupted), as kind does: by label,
    /// with its state folder, never cancelled itself (it runs after Ctrl-C). Reported as a step of its own.
    /// </summary>
    internal static async Task RemoveUnfinishedAsync(IDockerClient docker, string lab, IProgress<LabProgress>? progress, Exception why)
    {
        try
        {
            await new LabActions(progress).RunAsync($"remove unfinished lab {lab}", async _ =>
            {
                await DownAsync(docker, lab, CancellationToken.None).ConfigureAwait(false);
                // A create the engine was still serving when the call was cancelled can land after that listing: look again.
                if (await ExistsAsync(docker, lab, CancellationToken.None).ConfigureAwait(false))
                    await DownAsync(docker, lab, CancellationToken.None).ConfigureAwait(false);
            }, why is OperationCanceledException ? "up was interrupted" : "up failed").ConfigureAwait(false);
        }
        catch (Exception e) when (e is DockerApiException or IOException or HttpRequestException)
        {
            // Reported as a failed step; the caller sees the bring-up's own error, and 'down' removes the rest.
        }
    }

    /// <summary>Writes (or rewrites) the lab's record: this topology and these images; Kubernetes as given or as recorded before.</summary>
    public LabRecord WriteRecord(LabImageSet images, bool? kubernetes = null)
    {
        var previous = LabRecord.TryReadOrNull(Topology.Name);
        var withKubernetes = kubernetes ?? previous?.Kubernetes ?? false;
        // Kubernetes counts as ready only while the lab is made from the same topology, images and choice.
        var unchanged = previous is not null && previous.Images == images && previous.Kubernetes == withKubernetes
                        && TopologyComparison.Differences(previous.Topology, Topology).Count == 0;
        return (LabRecord.For(Topology, images, withKubernetes) with
        {
            CreatedAt = previous?.CreatedAt ?? DateTimeOffset.UtcNow,
            KubernetesReadyAt = unchanged ? previous!.KubernetesReadyAt : null,
        }).Write();
    }

    /// <summary>Renders and writes every node's runbook files into the lab's host folder; returns path -> text per node.</summary>
    public Dictionary<string, Dictionary<string, string>> WriteRunbookFiles(LabSecrets secrets)
    {
        var result = new Dictionary<string, Dictionary<string, string>>();
        foreach (var node in Topology.Nodes)
        {
            var files = RunbookFiles.ForNode(Topology, node, secrets);
            foreach (var f in files)
                LabPaths.WriteAtomically(LabPaths.HostPathOf(Topology.Name, node.Name, f.NodePath), f.Content);
            result[node.Name] = files.ToDictionary(f => f.NodePath, f => f.Content);
        }
        return result;
    }

    /// <summary>The lab's secrets, generated at first bring-up and kept (mode 0600) until <c>down</c>.</summary>
    public LabSecrets LoadOrCreateSecrets()
    {
        var path = Path.Combine(LabPaths.LabDir(Topology.Name), "secrets", "vrrp-auth-pass");
        if (File.Exists(path)) return new LabSecrets(File.ReadAllText(path).Trim());
        var secrets = LabSecrets.Generate();
        LabPaths.WriteAtomically(path, secrets.VrrpAuthPass + "\n", UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return secrets;
    }

    private async Task<NetworkResponse?> FindNetworkAsync(CancellationToken ct)
    {
        var networks = await Docker.Networks.ListNetworksAsync(new NetworksListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["name"] = new Dictionary<string, bool> { [LabNames.Network(Topology.Name)] = true } },
        }, ct).ConfigureAwait(false);
        return networks.FirstOrDefault(n => n.Name == LabNames.Network(Topology.Name));
    }

    /// <summary>
    /// True when anything of lab <paramref name="lab"/> exists: a container, network or volume with its label, a Docker
    /// network of its name, or its state folder. <c>up</c> asks once before it makes anything, so a lab is removed on
    /// failure only by the call that created it.
    /// </summary>
    public static async Task<bool> ExistsAsync(IDockerClient docker, string lab, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(docker);
        ArgumentException.ThrowIfNullOrEmpty(lab);
        if (Directory.Exists(LabPaths.LabDir(lab))) return true;
        if ((await ListContainersAsync(docker, lab, ct).ConfigureAwait(false)).Count > 0) return true;
        var filter = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{LabLabels.Lab}={lab}"] = true } };
        var networks = await docker.Networks.ListNetworksAsync(new NetworksListParameters(), ct).ConfigureAwait(false);
        if (networks.Any(n => n.Name == LabNames.Network(lab) || n.Labels.Label(LabLabels.Lab) == lab)) return true;
        var volumes = await docker.Volumes.ListAsync(new VolumesListParameters { Filters = filter }, ct).ConfigureAwait(false);
        return (volumes.Volumes?.Count ?? 0) > 0;
    }

    /// <summary>
    /// Refuses the topology's subnet when the lab's network exists with other settings or belongs to something else, when it
    /// overlaps another Docker network, or when it overlaps a route or interface of the host (<see cref="HostNetworkGuard"/>).
    /// </summary>
    private async Task CheckSubnetAsync(CancellationToken ct)
    {
        var wanted = ContainerSpecs.Network(Topology);
        var all = await Docker.Networks.ListNetworksAsync(new NetworksListParameters(), ct).ConfigureAwait(false);
        var existing = all.FirstOrDefault(n => n.Name == LabNames.Network(Topology.Name));
        if (existing is not null)
        {
            if (existing.Labels.Label(LabLabels.Lab) != Topology.Name)
                throw new LabException($"A Docker network named '{existing.Name}' exists and is not this lab's. Remove it or choose another lab name (topology key 'name').");
            if (existing.Labels.Label(LabLabels.ConfigHash) != wanted.Labels[LabLabels.ConfigHash])
                throw new LabException($"Lab '{Topology.Name}' exists with another subnet ({existing.Labels.Label("io.hakubelab.subnet")}). Run './hakubelab down' first to change 'subnet'.");
        }
        else
        {
            foreach (var n in all)
                foreach (var cfg in n.IPAM?.Config ?? [])
                    if (IPNetwork.TryParse(cfg.Subnet ?? "", out var other) && other.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && IpMath.Overlaps(other, Topology.Subnet))
                        throw new LabException($"subnet: {Topology.Subnet} overlaps Docker network '{n.Name}' ({other}). Fix: set another 'subnet' (and vip, node ips) in the topology, or remove that network.");
        }
        // Docker's own bridges (this lab's from an earlier up among them) were judged above, as Docker networks.
        var bridges = HostNetworkGuard.DockerBridges(all.Select(n => (n.ID, (string?)n.Driver, (IDictionary<string, string>?)n.Options)));
        HostNetworkGuard.EnsureFree(Topology.Subnet, HostRoutes(), bridges);
    }

    private async Task EnsureNetworkAsync(CancellationToken ct)
    {
        // CheckSubnetAsync judged an existing network already.
        if (await FindNetworkAsync(ct).ConfigureAwait(false) is not null) return;
        await Docker.Networks.CreateNetworkAsync(ContainerSpecs.Network(Topology), ct).ConfigureAwait(false);
    }

    private async Task EnsureVolumeAsync(NodeSpec node, CancellationToken ct)
    {
        try
        {
            await Docker.Volumes.InspectAsync(LabNames.VarVolume(Topology.Name, node.Name), ct).ConfigureAwait(false);
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            await Docker.Volumes.CreateAsync(ContainerSpecs.VarVolume(Topology, node), ct).ConfigureAwait(false);
        }
    }

    /// <summary>Creates and starts a container unless one with the same config hash runs already. Returns true when it (re)created it.</summary>
    private async Task<bool> EnsureContainerAsync(CreateContainerParameters wanted, CancellationToken ct, bool force = false)
    {
        ContainerInspectResponse? existing = null;
        try
        {
            existing = await Docker.Containers.InspectContainerAsync(wanted.Name ?? throw new ArgumentException("a container spec without a name", nameof(wanted)), ct).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException) { }

        if (existing is not null)
        {
            if (existing.Config?.Labels.Label(LabLabels.Lab) != Topology.Name)
                throw new LabException($"A container named '{wanted.Name}' exists and is not this lab's. Remove it or choose another lab name (topology key 'name').");
            var same = existing.Config?.Labels.Label(LabLabels.ConfigHash) == wanted.Labels[LabLabels.ConfigHash];
            if (same && !force && existing.State is not null)
            {
                if (existing.State.Paused) await Docker.Containers.UnpauseContainerAsync(existing.ID, ct).ConfigureAwait(false);
                else if (!existing.State.Running) await Docker.Containers.StartContainerAsync(existing.ID, new ContainerStartParameters(), ct).ConfigureAwait(false);
                return !existing.State.Running;
            }
            await Docker.Containers.RemoveContainerAsync(existing.ID, new ContainerRemoveParameters { Force = true }, ct).ConfigureAwait(false);
        }

        var created = await Docker.Containers.CreateContainerAsync(wanted, ct).ConfigureAwait(false);
        await Docker.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// The external etcd topology's members: their TLS files (<see cref="EtcdPki"/>), one container each (in parallel: a
    /// new member waits for its peers), then a healthy cluster (etcdctl endpoint health on every member, with TLS).
    /// </summary>
    private async Task StartExternalEtcdAsync(LabImageSet images, LabActions actions, CancellationToken ct)
    {
        await actions.RunAsync("make etcd certificates", _ =>
        {
            EtcdPki.EnsureFor(Topology);
            return Task.CompletedTask;
        }, EtcdPki.Dir(Topology.Name)).ConfigureAwait(false);
        await Task.WhenAll(Topology.Etcd.Nodes.Select(member => actions.RunAsync($"start etcd {member.Name}", _ =>
            EnsureContainerAsync(ContainerSpecs.Etcd(Topology, member, images), ct), $"{member.Ip} {ContainerSpecs.EtcdImage(images)}"))).ConfigureAwait(false);
        await actions.RunAsync("wait for etcd quorum", async _ =>
        {
            var health = await EtcdHealth.WaitHealthyAsync(Docker, Topology, TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
            if (!health.AllHealthy)
                throw new LabException($"the external etcd cluster was not healthy within 60 s: {health}. See: docker logs {LabNames.Container(Topology.Name, Topology.Etcd.Nodes[0].Name, LabRole.Etcd)}");
        }, string.Join(",", ExternalEtcd.Endpoints(Topology))).ConfigureAwait(false);
    }

    /// <summary>Waits until systemd in the node reports running or degraded (a unit failed, the system still works).</summary>
    private async Task WaitForInitAsync(NodeSpec node, CancellationToken ct)
    {
        var container = LabNames.Container(Topology.Name, node.Name, LabRole.Node);
        string last = "";
        var ok = await WaitUntilAsync(async () =>
        {
            var inspect = await Docker.Containers.InspectContainerAsync(container, ct).ConfigureAwait(false);
            if (inspect.State is not { Running: true })
                throw new LabException($"Node {node.Name} stopped during start (exit code {inspect.State?.ExitCode}). See: docker logs {container}");
            var r = await DockerExec.RunAsync(Docker, container, ["systemctl", "is-system-running"], ct).ConfigureAwait(false);
            last = r.Stdout.Trim();
            return last is "running" or "degraded";
        }, TimeSpan.FromSeconds(90), ct).ConfigureAwait(false);
        if (!ok) throw new LabException($"systemd in node {node.Name} did not finish starting within 90 s (state '{last}'). See: docker exec {container} systemctl --failed");
    }

    private static async Task<bool> WaitUntilAsync(Func<Task<bool>> condition, TimeSpan deadline, CancellationToken ct)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < deadline)
        {
            if (await condition().ConfigureAwait(false)) return true;
            await Task.Delay(200, ct).ConfigureAwait(false);
        }
        return false;
    }

    /// <summary>Every container of this lab.</summary>
    public Task<IList<ContainerListResponse>> ListAsync(CancellationToken ct) => ListContainersAsync(Docker, Topology.Name, ct);

    private static Task<IList<ContainerListResponse>> ListContainersAsync(IDockerClient docker, string lab, CancellationToken ct) =>
        RunningLab.ListContainersAsync(docker, lab, ct);

    /// <summary>The node that holds the VIP (the one VIP-holder source: interfaces, ARP to break ties); null when none or undecided.</summary>
    public async Task<string?> VipHolderAsync(CancellationToken ct) =>
        (await (_vipHolders ??= new VipHolderSource(Docker, Topology)).ReadAsync(ct).ConfigureAwait(false)).Holder;

    // One source per runtime: it looks up the nodes' PIDs once and again only when a node changed, not on every poll.
    private VipHolderSource? _vipHolders;

    /// <summary>The lab as Docker sees it now (through its record: <see cref="RunningLab"/>).</summary>
    public Task<LabStatus> StatusAsync(CancellationToken ct) => StatusAsync(Docker, Topology.Name, ct);

    /// <summary>
    /// Status of lab <paramref name="lab"/>, opened by name from its record. A lab that does not exist gives a status whose
    /// <see cref="LabStatus.Exists"/> is false; a lab without a (readable) record throws <see cref="LabRecordException"/>.
    /// </summary>
    public static async Task<LabStatus> StatusAsync(IDockerClient docker, string lab, CancellationToken ct)
    {
        try
        {
            await using var running = await RunningLab.OpenAsync(docker, lab, ct).ConfigureAwait(false);
            return await running.StatusAsync(ct).ConfigureAwait(false);
        }
        catch (LabNotFoundException)
        {
            return new LabStatus(lab, null, null, null, null, null, []);
        }
    }

    /// <summary>Removes every container, network and volume labelled with <paramref name="lab"/>, and the lab's host folder.</summary>
    public static async Task<TeardownResult> DownAsync(IDockerClient docker, string lab, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(lab);
        var filter = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{LabLabels.Lab}={lab}"] = true } };
        var containers = await ListContainersAsync(docker, lab, ct).ConfigureAwait(false);
        // Sidecars first: they live in their node's network namespace. Within each group in parallel: each removal
        // waits for the engine to kill and reap its container, so one after another costs seconds per container.
        async Task RemoveAsync(ContainerListResponse c)
        {
            try { await docker.Containers.RemoveContainerAsync(c.ID, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, ct).ConfigureAwait(false); }
            catch (DockerContainerNotFoundException) { }
        }
        var isNode = containers.ToLookup(c => c.Labels.Label(LabLabels.Role) == "node");
        await Task.WhenAll(isNode[false].Select(RemoveAsync)).ConfigureAwait(false);
        await Task.WhenAll(isNode[true].Select(RemoveAsync)).ConfigureAwait(false);
        var networks = await docker.Networks.ListNetworksAsync(new NetworksListParameters { Filters = filter }, ct).ConfigureAwait(false);
        foreach (var n in networks)
        {
            try { await docker.Networks.DeleteNetworkAsync(n.ID, ct).ConfigureAwait(false); }
            catch (DockerNetworkNotFoundException) { }
        }
        var volumes = await docker.Volumes.ListAsync(new VolumesListParameters { Filters = filter }, ct).ConfigureAwait(false);
        await Task.WhenAll((volumes.Volumes ?? []).Select(async v =>
        {
            try { await docker.Volumes.RemoveAsync(v.Name, force: true, ct).ConfigureAwait(false); }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound) { }
        })).ConfigureAwait(false);
        var dir = LabPaths.LabDir(lab);
        var removedDir = Directory.Exists(dir);
        if (removedDir) Directory.Delete(dir, recursive: true);
        return new TeardownResult(containers.Count, networks.Count, volumes.Volumes?.Count ?? 0, removedDir);
    }

    /// <summary>Memory in use by one container of the lab (Docker's stats: cgroup usage), or null when it is not running.</summary>
    public async Task<ulong?> MemoryBytesAsync(string node, LabRole role, CancellationToken ct)
    {
        ContainerStatsResponse? stats = null;
        await Docker.Containers.GetContainerStatsAsync(LabNames.Container(Topology.Name, node, role), new ContainerStatsParameters { Stream = false },
            new SyncProgress<ContainerStatsResponse>(s => stats = s), ct).ConfigureAwait(false);
        return stats?.MemoryStats?.Usage;
    }

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; would post to the thread pool and race the caller).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>Sends SIGKILL to one part of one node (the chaos runner's node and sidecar kill).</summary>
    public Task KillAsync(string node, LabRole role, CancellationToken ct) =>
        Docker.Containers.KillContainerAsync(LabNames.Container(Topology.Name, Topology.Node(node).Name, role), new ContainerKillParameters { Signal = "SIGKILL" }, ct);
}
