using System.Diagnostics;
using Docker.DotNet;
using HaKubeLab.Failover;
using HaKubeLab.Bootstrap;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Faults;
using HaKubeLab.Chaos.Probes;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Rendering;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Testing;

/// <summary>How long each part of a test lab's bring-up took.</summary>
/// <param name="Images">Building or finding the lab's images (cached: a fraction of a second).</param>
/// <param name="Containers">Network, volumes and containers through Testcontainers, until VIP:port answered.</param>
/// <param name="Kubernetes">The project's kubeadm bootstrap (null without Kubernetes).</param>
/// <param name="Total">Everything, from the sweep to a ready lab.</param>
public sealed record LabStartup(TimeSpan Images, TimeSpan Containers, TimeSpan? Kubernetes, TimeSpan Total)
{
    public override string ToString() =>
        $"{Total.TotalSeconds:0.0} s (images {Images.TotalSeconds:0.0} s, containers {Containers.TotalSeconds:0.0} s{(Kubernetes is { } k ? $", kubernetes {k.TotalSeconds:0.0} s" : "")})";
}

/// <summary>
/// A lab of its own for a test collection: a unique name, a free subnet, the runbook's containers made through
/// Testcontainers from the runtime's container specifications, optionally Kubernetes by the project's own
/// bootstrap. Disposing it removes everything (reverse order, then a sweep by label).
/// Read it as a test does: note the holder, inject, measure, assert.
/// </summary>
public sealed class EphemeralLab : IAsyncDisposable
{
    /// <summary>Images per image repository, built (or found cached) once per test process.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<Task<LabImageSet>>> SharedImages = new();

    private static Task<LabImageSet> ImagesFor(LabTopology topology) =>
        SharedImages.GetOrAdd(topology.Kubernetes.ImageRepository, repository => new(() =>
            ImagesFromEnvironment() is { } given ? Task.FromResult(given) : LabImages.EnsureAsync(repository, null, CancellationToken.None))).Value;

    /// <summary>
    /// HAKUBELAB_IMAGES (<c>base=...,haproxy=...,keepalived=...,node=...</c>, as scripts/images/build.sh prints them):
    /// images to use as they are, e.g. in CI after an earlier build step; otherwise the images are built or found cached.
    /// </summary>
    internal static LabImageSet? ImagesFromEnvironment()
    {
        var text = Environment.GetEnvironmentVariable("HAKUBELAB_IMAGES");
        if (string.IsNullOrWhiteSpace(text)) return null;
        var tags = text.Split([',', '\n', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        string Tag(string key) => tags.TryGetValue(key, out var v) ? v
            : throw new ArgumentException($"HAKUBELAB_IMAGES: no '{key}=' in '{text}'. Fix: give base=, haproxy=, keepalived= and node= as scripts/images/build.sh prints them.");
        return new LabImageSet(Tag("base"), Tag("haproxy"), Tag("keepalived"), Tag("node"), tags.GetValueOrDefault("kubernetes", LabVersions.Kubernetes),
            tags.GetValueOrDefault("busybox", ""), tags.GetValueOrDefault("imageRepository", LabVersions.ImageRepository), tags.GetValueOrDefault("etcd", LabVersions.Etcd));
    }

    private readonly TestcontainersLabDriver _driver;
    private RunningLab? _running;
    private int _disposed;

    private EphemeralLab(DockerClient docker, LabTopology topology, LabImageSet images, bool kubernetes, TestcontainersLabDriver driver)
    {
        Docker = docker;
        Images = images;
        Topology = topology;
        Kubernetes = kubernetes;
        _driver = driver;
    }

    /// <summary>The lab through the project's running-lab API (its record, snapshots, watcher, VIP-holder source), as <c>RunningLab.OpenAsync(Name)</c> gives it to any other tool.</summary>
    public RunningLab Running => _running ?? throw new InvalidOperationException($"Lab {Name} is not up yet.");

    /// <summary>The lab's name (also its Docker network's and the prefix of its containers').</summary>
    public string Name => Topology.Name;

    /// <summary>The topology as started (relocated to the lab's name and subnet).</summary>
    public LabTopology Topology { get; }

    /// <summary>The Docker engine the lab runs on.</summary>
    public IDockerClient Docker { get; }

    /// <summary>The images the lab runs.</summary>
    public LabImageSet Images { get; }

    /// <summary>Whether Kubernetes was bootstrapped.</summary>
    public bool Kubernetes { get; }

    /// <summary>The admin kubeconfig (server: the VIP) when <see cref="Kubernetes"/>; null otherwise.</summary>
    public string? KubeconfigPath => Kubernetes ? LabPaths.KubeconfigPath(Name) : null;

    /// <summary>The lab's monotonic clock: fault times and probe samples are seconds on it.</summary>
    public RunClock Clock { get; } = new();

    /// <summary>How long bring-up took, by part.</summary>
    public LabStartup Startup { get; private set; } = new(TimeSpan.Zero, TimeSpan.Zero, null, TimeSpan.Zero);

    /// <summary>Where the lab's log lines go (default: standard output); tests may point it at their output helper.</summary>
    public Action<string> Output { get; set; } = Console.WriteLine;

    /// <summary>The name of one part's container, e.g. <c>hkl-test-seed-1a2b3c-m01-haproxy</c>.</summary>
    public string Container(string node, LabRole role = LabRole.Node) => LabNames.Container(Name, Topology.Node(node).Name, role);

    /// <summary>
    /// Brings a lab up: sweeps labs of dead test processes, builds (or finds cached) the images, reserves a
    /// free subnet by creating the network, writes the runbook's files, starts the containers through
    /// Testcontainers and, with <see cref="LabOptions.Kubernetes"/>, runs the kubeadm bootstrap.
    /// Whatever fails or is cancelled half-way is removed before the exception leaves.
    /// </summary>
    public static async Task<EphemeralLab> StartAsync(LabOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        TestcontainersEnvironment.Apply();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.StartupTimeout);
        var ct = timeout.Token;
        var total = Stopwatch.StartNew();
        var docker = await DockerConnection.ConnectAsync(ct).ConfigureAwait(false);
        EphemeralLab? lab = null;
        try
        {
            var stale = await LabSweeper.SweepStaleAsync(docker, ct).ConfigureAwait(false);
            if (stale.Count > 0) Console.WriteLine($"HaKubeLab.Testing: removed labs of test runs that no longer run: {string.Join(", ", stale)}");

            var imageClock = Stopwatch.StartNew();
            var images = await ImagesFor(options.BaseTopology()).WaitAsync(ct).ConfigureAwait(false);
            if (options.Kubernetes) LabLifecycle.EnsureImagesFit(options.BaseTopology(), images);
            var imagesTook = imageClock.Elapsed;

            var containerClock = Stopwatch.StartNew();
            lab = await TestLabNaming.WithFreeSubnetAsync(docker, async subnet =>
            {
                var topology = TopologyValidator.EnsureValid(options.BaseTopology().Relocate(TestLabNaming.NewName(options.Purpose), subnet));
                LabSweeper.Track(topology.Name);
                var driver = new TestcontainersLabDriver(docker, topology, images, LabSweeper.Labels, line => Console.WriteLine(line));
                var created = new EphemeralLab(docker, topology, images, options.Kubernetes, driver);
                await driver.CreateNetworkAsync(ct).ConfigureAwait(false);
                return created;
            }, ct).ConfigureAwait(false);

            // The runbook's files, secrets and SSH identity exactly as up writes them (the runtime's own code).
            var runtime = new LabRuntime(docker, lab.Topology);
            var secrets = runtime.LoadOrCreateSecrets();
            SshIdentity.LoadOrCreate(LabPaths.SshKeyPath(lab.Name), $"hakubelab-{lab.Name}");
            var files = runtime.WriteRunbookFiles(secrets);
            // The record first, as up writes it: the running-lab API (RunningLab.OpenAsync, LabFaults, status) then works on this lab too.
            runtime.WriteRecord(images, options.Kubernetes);
            await lab._driver.StartAsync(files, ContainerSpecs.NodeSecurity.Detect(), ct).ConfigureAwait(false);
            if (await TcpProbe.WaitForAsync(lab.Topology.Vip, lab.Topology.LoadBalancer.Port, TimeSpan.FromSeconds(60), ct).ConfigureAwait(false) is null)
                throw new LabException($"{lab.Topology.Vip}:{lab.Topology.LoadBalancer.Port} did not answer within 60 s after the containers started; see: docker logs {lab.Container(lab.Topology.Nodes[0].Name, LabRole.Keepalived)}");
            var containersTook = containerClock.Elapsed;
            lab._running = await RunningLab.OpenAsync(docker, lab.Name, ct).ConfigureAwait(false);

            TimeSpan? kubernetesTook = null;
            if (options.Kubernetes)
            {
                var k8sClock = Stopwatch.StartNew();
                // The project's bootstrap, as LabLifecycle runs it after the load-balancer tier.
                var bootstrap = new KubeadmBootstrap(lab.Topology, Inventory.ForLab(lab.Topology), images.Versions, LabPaths.LabDir(lab.Name),
                    new Progress<LabProgress>(p => { if (p.Done) Console.WriteLine($"[{lab.Name}] {p.Action} {(p.Failed ? "FAILED " + p.Detail : "")} {p.Elapsed.TotalSeconds:0.0} s"); }));
                await bootstrap.RunAsync(ct).ConfigureAwait(false);
                (lab.Running.Record with { KubernetesReadyAt = DateTimeOffset.UtcNow }).Write();
                kubernetesTook = k8sClock.Elapsed;
            }
            lab.Startup = new LabStartup(imagesTook, containersTook, kubernetesTook, total.Elapsed);
            lab.Log($"lab up in {lab.Startup}; {lab.Topology.Subnet}, VIP {lab.Topology.Vip}:{lab.Topology.LoadBalancer.Port}");
            return lab;
        }
        catch (Exception e)
        {
            // Nothing half-made is left behind, also when cancelled.
            try
            {
                if (lab is not null) await lab.DisposeAsync().ConfigureAwait(false);
                else docker.Dispose();
            }
            catch (Exception cleanup)
            {
                // The bring-up's own error matters more; the next fixture start sweeps what is left.
                Console.WriteLine($"HaKubeLab.Testing: cleanup after a failed bring-up: {cleanup.Message}");
            }
            // Testcontainers' wait strategies report a cancelled wait in their own way: say what happened.
            if (cancellationToken.IsCancellationRequested && e is not OperationCanceledException)
                throw new OperationCanceledException($"Bring-up of the test lab was cancelled; what it had made was removed ({e.GetType().Name}: {e.Message}).", e, cancellationToken);
            if (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                throw new LabException($"The test lab did not come up within {options.StartupTimeout.TotalMinutes:0.#} min (LabOptions.StartupTimeout); what it had made was removed. Last error: {e.GetType().Name}: {e.Message}", e);
            throw;
        }
    }

    /// <summary>Who holds the VIP now (the lab's one VIP-holder source: interfaces, ARP to break ties).</summary>
    public Task<VipHolderReading> ReadVipAsync(CancellationToken cancellationToken = default) => Running.VipHolderAsync(cancellationToken);

    /// <summary>The node holding the VIP; waits up to 10 s for a single holder, then throws saying what it saw.</summary>
    public async Task<string> VipHolderAsync(CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        VipHolderReading reading;
        do
        {
            reading = await ReadVipAsync(cancellationToken).ConfigureAwait(false);
            if (reading.Holder is { } holder) return holder;
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        } while (clock.Elapsed < TimeSpan.FromSeconds(10));
        throw new FailoverAssertionException($"No single VIP holder in lab {Name} within 10 s: on the interfaces {reading.Label}, ARP {reading.Arp ?? "unknown"}.");
    }

    /// <summary>
    /// The failover model's prediction for <paramref name="kind"/> on <paramref name="node"/> while
    /// <paramref name="holder"/> holds the VIP, on a lab with no other fault in place.
    /// </summary>
    public FailoverPrediction Predict(FaultKind kind, string node, string? holder) =>
        FailoverPredictor.Predict(Topology, kind, Topology.Node(node).Name, holder, [], apiServersRunning: Kubernetes);

    /// <summary>
    /// Injects a fault with the chaos runner's injector (after its preflight) and returns the undo handle:
    /// dispose it (<c>await using</c>) or call <see cref="FaultHandle.UndoAsync"/> to put the lab back.
    /// The VIP holder and the prediction are taken just before the fault.
    /// </summary>
    public async Task<FaultHandle> InjectAsync(FaultKind kind, string node, FaultParameters? parameters = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        var holder = (await ReadVipAsync(cancellationToken).ConfigureAwait(false)).Holder;
        var prediction = Predict(kind, node, holder);
        // The chaos runner's injectors and preflight, through the running-lab API.
        var injected = await LabFaults.InjectAsync(Running, kind, node, parameters, Log, cancellationToken).ConfigureAwait(false);
        var handle = new FaultHandle(this, injected, holder, prediction, Clock.At(injected.CallStarted), Clock.At(injected.FaultTime));
        Log($"fault {handle}; holder before: {holder ?? "none"}; predicted: {prediction.Summary}");
        return handle;
    }

    /// <summary>SIGKILL the node container (a host losing power).</summary>
    public Task<FaultHandle> KillNodeAsync(string node, CancellationToken cancellationToken = default) => InjectAsync(FaultKind.NodeKill, node, null, cancellationToken);

    /// <summary>Freeze the node and its sidecars (docker pause).</summary>
    public Task<FaultHandle> PauseNodeAsync(string node, CancellationToken cancellationToken = default) => InjectAsync(FaultKind.NodePause, node, null, cancellationToken);

    /// <summary>Pull the node's cable (its lab interface down inside its namespace).</summary>
    public Task<FaultHandle> PartitionAsync(string node, CancellationToken cancellationToken = default) => InjectAsync(FaultKind.NetworkPartition, node, null, cancellationToken);

    /// <summary>SIGKILL one sidecar (docker kill: the restart policy leaves it down until undone).</summary>
    public Task<FaultHandle> KillSidecarAsync(string node, LabRole sidecar, CancellationToken cancellationToken = default) => sidecar switch
    {
        LabRole.Haproxy => InjectAsync(FaultKind.HaproxyKill, node, null, cancellationToken),
        LabRole.Keepalived => InjectAsync(FaultKind.KeepalivedKill, node, null, cancellationToken),
        _ => throw new ArgumentException($"sidecar: {sidecar} is not a sidecar. Fix: use LabRole.Haproxy or LabRole.Keepalived (KillNodeAsync for the node).", nameof(sidecar)),
    };

    /// <summary>SIGKILL the node's haproxy container (docker kill; left down until undone).</summary>
    public Task<FaultHandle> KillHaproxyAsync(string node, CancellationToken cancellationToken = default) => InjectAsync(FaultKind.HaproxyKill, node, null, cancellationToken);

    /// <summary>SIGKILL the node's keepalived container (no priority-0 advert; left down until undone).</summary>
    public Task<FaultHandle> KillKeepalivedAsync(string node, CancellationToken cancellationToken = default) => InjectAsync(FaultKind.KeepalivedKill, node, null, cancellationToken);

    /// <summary>
    /// Starts the <c>vip_tcp</c> probe: a TCP connect to VIP:load-balancer port every 50 ms (250 ms timeout, as the
    /// chaos runner), with the VIP-holder timeline beside it. Dispose it to stop.
    /// </summary>
    public Task<LabProbe> StartVipProbeAsync(CancellationToken cancellationToken = default) =>
        LabProbe.StartAsync(this, new TcpConnectProbe(ProbeNames.VipTcp, Topology.Vip, Topology.LoadBalancer.Port), TimeSpan.FromMilliseconds(50), ProbeNames.DefaultTimeout(ProbeNames.VipTcp), cancellationToken);

    /// <summary>Starts the <c>api_write</c> probe: a ConfigMap write through the VIP every 100 ms (needs Kubernetes).</summary>
    public Task<LabProbe> StartApiWriteProbeAsync(CancellationToken cancellationToken = default)
    {
        var kubeconfig = KubeconfigPath ?? throw new InvalidOperationException($"api_write needs Kubernetes and lab {Name} has none. Fix: bring it up with LabOptions.Kubernetes = true (e.g. KubernetesLabFixture).");
        var config = k8s.KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig);
        return LabProbe.StartAsync(this, new ApiWriteProbe(ProbeNames.ApiWrite, config), TimeSpan.FromMilliseconds(100), ProbeNames.DefaultTimeout(ProbeNames.ApiWrite), cancellationToken);
    }

    /// <summary>Throws unless the VIP's holder is one of <paramref name="expected"/>; the message says who holds it.</summary>
    public async Task AssertVipHolderAsync(params string[] expected)
    {
        ArgumentNullException.ThrowIfNull(expected);
        var reading = await ReadVipAsync().ConfigureAwait(false);
        if (reading.Holder is { } h && expected.Contains(h)) return;
        throw new FailoverAssertionException($"VIP holder: expected {string.Join(" or ", expected)}, measured {reading.Holder ?? "none"} (on the interfaces {reading.Label}, ARP {reading.Arp ?? "unknown"}; lab {Name}).");
    }

    /// <summary>
    /// Waits until the lab is whole again: every container running, one VIP holder that stays for four advert
    /// intervals, VIP:port answering (and, with Kubernetes, /readyz through the VIP).
    /// </summary>
    public async Task WaitUntilSettledAsync(TimeSpan? deadline = null, CancellationToken cancellationToken = default)
    {
        var limit = deadline ?? TimeSpan.FromSeconds(90);
        var stable = TimeSpan.FromSeconds(4 * Math.Max(1, Topology.Keepalived.AdvertInterval));
        var clock = Stopwatch.StartNew();
        string? holder = null;
        var since = TimeSpan.Zero;
        var last = "";
        while (clock.Elapsed < limit)
        {
            var reading = await ReadVipAsync(cancellationToken).ConfigureAwait(false);
            var answers = await TcpProbe.ConnectAsync(Topology.Vip, Topology.LoadBalancer.Port, TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
            last = $"VIP on {reading.Label} (ARP {reading.Arp ?? "unknown"}); VIP:port {(answers ? "answers" : "does not answer")}";
            if (reading.Holder is { } h && !reading.DualMaster && answers)
            {
                if (h != holder) (holder, since) = (h, clock.Elapsed);
                else if (clock.Elapsed - since >= stable) break;
            }
            else holder = null;
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
        if (clock.Elapsed >= limit) throw new LabException($"Lab {Name} did not settle within {limit.TotalSeconds:0} s: {last}.");
        if (KubeconfigPath is not { } kubeconfig) return;
        using var client = ClusterReadiness.Client(kubeconfig, TimeSpan.FromSeconds(3));
        while (true)
        {
            try
            {
                if (await ClusterReadiness.ReadyzAsync(client, cancellationToken).ConfigureAwait(false) == "ok") return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested) { }
            if (clock.Elapsed >= limit + TimeSpan.FromMinutes(2)) throw new LabException($"Lab {Name}: the API did not answer /readyz through the VIP within {(limit + TimeSpan.FromMinutes(2)).TotalSeconds:0} s.");
            await Task.Delay(500, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The last <paramref name="lines"/> lines one part of a node logged (for failure messages).</summary>
    public async Task<string> LogTailAsync(string node, int lines = 20, CancellationToken cancellationToken = default, LabRole role = LabRole.Node)
    {
        try
        {
            using var stream = await Docker.Containers.GetContainerLogsAsync(Container(node, role),
                new Docker.DotNet.Models.ContainerLogsParameters { ShowStdout = true, ShowStderr = true, Tail = lines.ToString(System.Globalization.CultureInfo.InvariantCulture) }, cancellationToken).ConfigureAwait(false);
            var text = new System.Text.StringBuilder();
            var buffer = new byte[8192];
            while (true)
            {
                var r = await stream.ReadOutputAsync(buffer, 0, buffer.Length, cancellationToken).ConfigureAwait(false);
                if (r.EOF) break;
                text.Append(System.Text.Encoding.UTF8.GetString(buffer, 0, r.Count));
            }
            return text.ToString().TrimEnd();
        }
        catch (DockerApiException e) { return $"(no logs: {e.Message})"; }
    }

    internal void Log(string line)
    {
        var text = $"[{Name} {Clock.Now,7:0.00} s] {line}";
        try { Output(text); } catch (InvalidOperationException) { Console.WriteLine(text); } // a test's output helper after the test ended
    }

    /// <summary>Removes the lab: Testcontainers' resources in reverse order, then everything labelled with the lab, and its host folder.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        var clock = Stopwatch.StartNew();
        try
        {
            if (_running is not null) await _running.DisposeAsync().ConfigureAwait(false);
            await _driver.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            await LabSweeper.SweepLabAsync(Docker, Name, CancellationToken.None).ConfigureAwait(false);
            LabSweeper.Untrack(Name);
            Console.WriteLine($"[{Name}] removed in {clock.Elapsed.TotalSeconds:0.0} s");
            Docker.Dispose();
        }
    }
}
