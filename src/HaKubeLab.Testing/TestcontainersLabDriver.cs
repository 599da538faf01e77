using Docker.DotNet.Models;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Containers;
using DotNet.Testcontainers.Images;
using DotNet.Testcontainers.Networks;
using DotNet.Testcontainers.Volumes;
using HaKubeLab.Rendering;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Testing;

/// <summary>
/// The ephemeral test lab's driver: the same network, volumes and containers as <c>up</c>
/// (<see cref="ContainerSpecs"/>), made through Testcontainers' builders instead of the runtime's
/// idempotent Docker calls. Without Ryuk, <see cref="DisposeAsync"/> removes them in reverse order
/// (keepalived, haproxy, nodes, volumes, network); the caller sweeps by label afterwards.
/// </summary>
public sealed class TestcontainersLabDriver(Docker.DotNet.IDockerClient docker, LabTopology topology, LabImageSet images, IReadOnlyDictionary<string, string> extraLabels, Action<string> log) : IAsyncDisposable
{
    private readonly List<IContainer> _keepaliveds = [];
    private readonly List<IContainer> _haproxies = [];
    private readonly List<IContainer> _nodes = [];
    private readonly List<IVolume> _volumes = [];
    private INetwork? _network;

    /// <summary>The lab's Testcontainers network (null before <see cref="CreateNetworkAsync"/>).</summary>
    public INetwork? Network => _network;

    /// <summary>The lab network with the topology's subnet and gateway (IPAM through a create-parameter modifier).</summary>
    public async Task CreateNetworkAsync(CancellationToken ct)
    {
        var spec = ContainerSpecs.Network(topology);
        _network = new NetworkBuilder()
            .WithName(spec.Name)
            .WithDriver(NetworkDriver.Bridge)
            .WithLabel(Merge(spec.Labels))
            .WithCreateParameterModifier(p => p.IPAM = new IPAM { Driver = "default", Config = [.. (spec.IPAM?.Config ?? []).Select(c => new IPAMConfig { Subnet = c.Subnet, Gateway = c.Gateway })] })
            .Build();
        await _network.CreateAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Volumes, nodes (in parallel: systemd start-up dominates), haproxy, then keepalived in node order with the
    /// runbook's MASTER first, as <c>up</c> does; returns once VIP:load-balancer port answers.
    /// </summary>
    public async Task StartAsync(IReadOnlyDictionary<string, Dictionary<string, string>> runbookFiles, ContainerSpecs.NodeSecurity security, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(runbookFiles);
        ArgumentNullException.ThrowIfNull(security);
        var network = _network ?? throw new InvalidOperationException("Create the network first (CreateNetworkAsync).");

        var nodes = new Dictionary<string, IContainer>();
        foreach (var node in topology.Nodes)
        {
            var volumeSpec = ContainerSpecs.VarVolume(topology, node);
            var volume = new VolumeBuilder().WithName(volumeSpec.Name).WithLabel(Merge(volumeSpec.Labels)).Build();
            _volumes.Add(volume);
            await volume.CreateAsync(ct).ConfigureAwait(false);

            var spec = ContainerSpecs.Node(topology, node, images, security);
            var container = Base(spec)
                .WithHostname(spec.Hostname)
                .WithEnvironment(Env(spec))
                .WithNetwork(network)
                .WithNetworkAliases((spec.NetworkingConfig?.EndpointsConfig?.Values ?? []).SelectMany(e => e.Aliases ?? []))
                .WithPrivileged(spec.HostConfig?.Privileged ?? false)
                .WithCreateParameterModifier(p => SpecModifiers.HostSettings(p, spec))
                .WithCreateParameterModifier(p => SpecModifiers.FixedIp(p, spec))
                .WithWaitStrategy(Wait.ForUnixContainer().AddCustomWaitStrategy(new SystemdRunning(), w => w.WithTimeout(TimeSpan.FromSeconds(90)).WithInterval(TimeSpan.FromMilliseconds(250))))
                .Build();
            _nodes.Add(container);
            nodes[node.Name] = container;
        }
        await Timed("start nodes", () => Task.WhenAll(_nodes.Select(n => n.StartAsync(ct)))).ConfigureAwait(false);

        foreach (var node in topology.Nodes)
        {
            var spec = ContainerSpecs.Haproxy(topology, node, images, runbookFiles[node.Name][RunbookFiles.HaproxyConfigPath]);
            var haproxy = Sidecar(spec, nodes[node.Name])
                .WithWaitStrategy(Wait.ForUnixContainer().UntilInternalTcpPortIsAvailable(topology.LoadBalancer.Port, w => w.WithTimeout(TimeSpan.FromSeconds(30))))
                .Build();
            _haproxies.Add(haproxy);
            await Timed($"start haproxy {node.Name}", () => haproxy.StartAsync(ct)).ConfigureAwait(false);
        }

        foreach (var node in topology.Nodes)
        {
            var spec = ContainerSpecs.Keepalived(topology, node, images, runbookFiles[node.Name][RunbookFiles.KeepalivedConfigPath]);
            var keepalived = Sidecar(spec, nodes[node.Name])
                .WithWaitStrategy(Wait.ForUnixContainer().UntilCommandIsCompleted(["pgrep", "-x", "keepalived"], w => w.WithTimeout(TimeSpan.FromSeconds(30))))
                .Build();
            _keepaliveds.Add(keepalived);
            await Timed($"start keepalived {node.Name}", () => keepalived.StartAsync(ct)).ConfigureAwait(false);
            if (node.State == VrrpState.Master) await WaitForVipOnSomeNodeAsync(TimeSpan.FromSeconds(15), ct).ConfigureAwait(false);
        }
    }

    private ContainerBuilder Base(CreateContainerParameters spec) =>
        new ContainerBuilder(spec.Image)
            .WithName(spec.Name)
            // The lab's images are built locally; nothing can be pulled.
            .WithImagePullPolicy(PullPolicy.Never)
            .WithLabel(Merge(spec.Labels));

    private ContainerBuilder Sidecar(CreateContainerParameters spec, IContainer node) =>
        Base(spec)
            .DependsOn(node)
            .WithCreateParameterModifier(p => SpecModifiers.HostSettings(p, spec))
            .WithCreateParameterModifier(p => SpecModifiers.SharedNetworkNamespace(p, spec));

    private static Dictionary<string, string> Env(CreateContainerParameters spec) =>
        (spec.Env ?? []).Select(e => e.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");

    private Dictionary<string, string> Merge(IDictionary<string, string> labels)
    {
        var all = new Dictionary<string, string>(labels);
        foreach (var (k, v) in extraLabels) all[k] = v;
        return all;
    }

    private async Task WaitForVipOnSomeNodeAsync(TimeSpan deadline, CancellationToken ct)
    {
        var runtime = new LabRuntime(docker, topology);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < deadline)
        {
            if (await runtime.VipHolderAsync(ct).ConfigureAwait(false) is not null) return;
            await Task.Delay(200, ct).ConfigureAwait(false);
        }
    }

    private async Task Timed(string what, Func<Task> action)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await action().ConfigureAwait(false);
        log($"[{topology.Name}] {what} {clock.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>Removes what this driver made, in reverse order; a part already gone (e.g. recreated by a restore) is skipped.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var group in new IEnumerable<IAsyncDisposable>[] { _keepaliveds, _haproxies, _nodes, _volumes })
            await Task.WhenAll(group.Select(DisposeQuietlyAsync)).ConfigureAwait(false);
        if (_network is not null) await DisposeQuietlyAsync(_network).ConfigureAwait(false);
        _keepaliveds.Clear();
        _haproxies.Clear();
        _nodes.Clear();
        _volumes.Clear();
        _network = null;
    }

    private async Task DisposeQuietlyAsync(IAsyncDisposable resource)
    {
        try { await resource.DisposeAsync().ConfigureAwait(false); }
        catch (Exception e)
        {
            // The sweep by label that follows removes whatever is left; say so rather than hide it.
            log($"[{topology.Name}] dispose: {e.GetType().Name}: {e.Message} (the sweep by label removes what is left)");
        }
    }

    /// <summary>systemd in the node reports running or degraded (a unit failed, the system still works), as <c>up</c> waits for.</summary>
    private sealed class SystemdRunning : IWaitUntil
    {
        public async Task<bool> UntilAsync(IContainer container)
        {
            var r = await container.ExecAsync(["systemctl", "is-system-running"]).ConfigureAwait(false);
            return r.Stdout.Trim() is "running" or "degraded";
        }
    }
}
