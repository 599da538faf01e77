using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using Docker.DotNet;
using Docker.DotNet.Models;
using HaKubeLab.Bootstrap;
using HaKubeLab.Runtime;
using HaKubeLab.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HaKubeLab.AppHost;

/// <summary>
/// Runs the lab for the AppHost's lifetime: sweeps what a killed AppHost left, builds the images, brings the lab up
/// with <see cref="LabLifecycle.UpAsync"/> (the CLI's code; Aspire creates no container), publishes every part's live
/// state, the VIP holder and the cluster's state, streams <c>docker logs</c> while someone watches, and removes what
/// it created when the AppHost stops (unless HAKUBELAB_KEEP=true).
/// </summary>
public sealed class LabSession(
    LabModel model,
    ResourceNotificationService notifications,
    ResourceLoggerService loggers,
    DistributedApplicationOptions appOptions,
    IConfiguration configuration,
    ILogger<LabSession> log) : IHostedService
{
    private static readonly ActivitySource Source = new(TelemetryNames.AppHost);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _logStreams = new();
    private readonly List<Task> _tasks = [];
    private AppHostTelemetry? _telemetry;
    private DockerClient? _docker;
    private bool _owned;
    private volatile bool _upDone;
    private volatile bool _kubernetesReady;
    private string? _lastHolder;
    private bool _reportedAllRunning;

    private Runtime.LabRuntime Runtime => new(_docker!, model.Settings.Topology);
    private string LabName => model.Settings.Topology.Name;
    private string MarkerPath => Path.Combine(LabPaths.LabDir(LabName), "apphost.pid");

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _telemetry = new AppHostTelemetry(configuration, !appOptions.DisableDashboard);
        lock (_tasks) _tasks.Add(Task.Run(() => RunAsync(_stop.Token), CancellationToken.None));
        return Task.CompletedTask;
    }

    private int _stopped;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // Hosts may stop twice (StopAsync, then DisposeAsync): the lab is removed once.
        if (Interlocked.Exchange(ref _stopped, 1) == 1) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var cts in _logStreams.Values) await cts.CancelAsync().ConfigureAwait(false);
        Task[] tasks;
        lock (_tasks) tasks = [.. _tasks];
        try { await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(60), CancellationToken.None).ConfigureAwait(false); }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException) { }
        catch (Exception e) { log.LogWarning("lab session ended with: {Message}", e.Message); }

        if (_docker is not null && _owned && !model.Settings.Keep)
        {
            var clock = Stopwatch.StartNew();
            var removed = await LabRuntime.DownAsync(_docker, LabName, CancellationToken.None).ConfigureAwait(false);
            log.LogInformation("Lab '{Lab}' removed on stop: {Containers} containers, {Networks} networks, {Volumes} volumes ({Seconds:0.0} s). Set HAKUBELAB_KEEP=true to keep it.",
                LabName, removed.Containers, removed.Networks, removed.Volumes, clock.Elapsed.TotalSeconds);
        }
        else if (_docker is not null)
        {
            if (File.Exists(MarkerPath)) File.Delete(MarkerPath);
            log.LogInformation("Lab '{Lab}' left running ({Why}). Remove it with: ./hakubelab down --lab {Lab}", LabName, _owned ? "HAKUBELAB_KEEP=true" : "it existed before the AppHost started", LabName);
        }
        _telemetry?.Dispose();
        _docker?.Dispose();
    }

    private async Task RunAsync(CancellationToken ct)
    {
        var labLog = loggers.GetLogger(model.Lab);
        var t = model.Settings.Topology;
        try
        {
            await PublishAsync(model.Lab, s => s with { State = new(KnownResourceStates.Starting, KnownResourceStateStyles.Info) }).ConfigureAwait(false);
            await WaitForDashboardAsync(labLog, ct).ConfigureAwait(false);
            // One trace for the whole bring-up: the sweep, the runtime's and the bootstrap's step spans are its children.
            // Ended once the lab is up (the cluster loop after it is not part of the bring-up).
            using var up = Source.StartActivity($"up {t.Name}");
            up?.SetTag("hakubelab.lab", t.Name);
            up?.SetTag("hakubelab.kubernetes", model.Settings.Kubernetes);
            _docker = await DockerConnection.ConnectAsync(ct).ConfigureAwait(false);
            using (Source.StartActivity("sweep or adopt"))
                await SweepOrAdoptAsync(labLog, ct).ConfigureAwait(false);
            lock (_tasks) _tasks.Add(Task.Run(() => ForwardLogsAsync(ct), CancellationToken.None));

            LabImageSet images;
            using (Source.StartActivity("build images"))
                images = await StepAsync(model.Images, () => LabImages.EnsureAsync(t.Kubernetes.ImageRepository, new SyncProgress<string>(ImageLine), ct)).ConfigureAwait(false);
            await FinishStepAsync(model.KubernetesBuild, $"node image {images.Node} (Kubernetes {images.KubernetesVersion})").ConfigureAwait(false);
            lock (_tasks) _tasks.Add(Task.Run(() => WatchAsync(ct), CancellationToken.None));

            var progress = new SyncProgress<LabProgress>(p => OnProgress(p));
            await StartStepAsync(model.LoadBalancer).ConfigureAwait(false);
            var result = await LabLifecycle.UpAsync(_docker, t, images, model.Settings.Kubernetes, progress,
                new LabRuntime.UpOptions(RemoveOnFailure: _owned), ct).ConfigureAwait(false);
            _upDone = true;
            LabTelemetry.UpSeconds.Record(result.Total.TotalSeconds, new KeyValuePair<string, object?>("hakubelab.kubernetes", model.Settings.Kubernetes));
            if (model.Bootstrap is not null && result.Kubernetes is { } k)
            {
                _kubernetesReady = true;
                await FinishStepAsync(model.Bootstrap, k.Readiness.ToString()).ConfigureAwait(false);
                foreach (var logger in new[] { labLog, log })
                    logger.LogInformation("Kubernetes ready through the VIP {Seconds:0.0} s after the AppHost started: {Readiness}. Kubeconfig: {Path}", SinceStart().TotalSeconds, k.Readiness, k.KubeconfigPath);
                await PublishAsync(model.Lab, s => s with { Properties = s.Properties.With("startup.api-ready", $"{SinceStart().TotalSeconds:0.0} s after start") }).ConfigureAwait(false);
            }
            foreach (var logger in new[] { labLog, log })
                logger.LogInformation("Lab '{Lab}' is up: load-balancer tier {Lb:0.0} s, total {Total:0.0} s.", t.Name, result.LoadBalancerTier.TotalSeconds, result.Total.TotalSeconds);
            await PublishAsync(model.Lab, s => s with
            {
                State = new(KnownResourceStates.Running, KnownResourceStateStyles.Success),
                StartTimeStamp = DateTime.UtcNow,
                Properties = s.Properties.With("lab.up", $"{result.Total.TotalSeconds:0.0} s (load-balancer tier {result.LoadBalancerTier.TotalSeconds:0.0} s)"),
            }).ConfigureAwait(false);
            up?.Stop();
            Activity.Current = null;
            await ClusterLoopAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        catch (Exception e)
        {
            labLog.LogError("Bring-up failed: {Message}", e.Message);
            log.LogError(e, "Lab '{Lab}' bring-up failed", t.Name);
            foreach (var step in model.Steps)
                await PublishAsync(step, s => s.State?.Text == KnownResourceStates.Running ? s with { State = new(KnownResourceStates.FailedToStart, KnownResourceStateStyles.Error) } : s).ConfigureAwait(false);
            await PublishAsync(model.Lab, s => s with { State = new(KnownResourceStates.FailedToStart, KnownResourceStateStyles.Error), Properties = s.Properties.With("lab.error", e.Message) }).ConfigureAwait(false);
        }
    }

    /// <summary>The AppHost's spans go to the dashboard; ones sent before it listens are lost, so wait (briefly) for its OTLP port.</summary>
    private async Task WaitForDashboardAsync(ILogger labLog, CancellationToken ct)
    {
        if (_telemetry?.Endpoint is not { } otlp) return;
        var addresses = await System.Net.Dns.GetHostAddressesAsync(otlp.Host, ct).ConfigureAwait(false);
        var took = addresses.Length == 0 ? null : await TcpProbe.WaitForAsync(addresses[0], otlp.Port, TimeSpan.FromSeconds(20), ct).ConfigureAwait(false);
        labLog.LogInformation(took is null ? "Dashboard OTLP endpoint {Endpoint} did not answer within 20 s; going on (early spans may be lost)." : "Telemetry goes to the dashboard's OTLP endpoint {Endpoint}.", otlp);
    }

    /// <summary>
    /// A lab this AppHost's predecessor created and could not remove (killed) is found by its marker file and removed
    /// by label; a lab that exists without a marker (made by './hakubelab up', or kept) is adopted and left at stop.
    /// </summary>
    private async Task SweepOrAdoptAsync(ILogger labLog, CancellationToken ct)
    {
        if (File.Exists(MarkerPath))
        {
            var parts = (await File.ReadAllTextAsync(MarkerPath, ct).ConfigureAwait(false)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var alive = parts.Length == 2 && int.TryParse(parts[0], out var pid) && IsSameProcess(pid, parts[1]);
            if (alive) throw new LabException($"Lab '{LabName}' is run by another AppHost (PID {parts[0]}). Stop it, or give this one another lab name (HAKUBELAB_LAB).");
            var removed = await LabRuntime.DownAsync(_docker!, LabName, ct).ConfigureAwait(false);
            foreach (var logger in new[] { labLog, log })
                logger.LogWarning("Swept what a stopped AppHost (PID {Pid}) left of lab '{Lab}': {Containers} containers, {Networks} networks, {Volumes} volumes.", parts.FirstOrDefault(), LabName, removed.Containers, removed.Networks, removed.Volumes);
        }
        var existing = await Runtime.ListAsync(ct).ConfigureAwait(false);
        var network = await _docker!.Networks.ListNetworksAsync(new NetworksListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{LabLabels.Lab}={LabName}"] = true } },
        }, ct).ConfigureAwait(false);
        _owned = existing.Count == 0 && network.Count == 0;
        if (_owned)
        {
            using var self = Process.GetCurrentProcess();
            LabPaths.WriteAtomically(MarkerPath, $"{Environment.ProcessId} {self.StartTime.ToUniversalTime().Ticks}\n");
        }
        else
            foreach (var logger in new[] { labLog, log })
                logger.LogInformation("Lab '{Lab}' exists already ({Count} containers): adopted as it is; the AppHost will not remove it at stop.", LabName, existing.Count);
        await PublishAsync(model.Lab, s => s with { Properties = s.Properties.With("lab.owner", _owned ? $"this AppHost (PID {Environment.ProcessId})" : "adopted (existed before)") }).ConfigureAwait(false);
    }

    private static bool IsSameProcess(int pid, string startTicks)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return p.StartTime.ToUniversalTime().Ticks.ToString(CultureInfo.InvariantCulture) == startTicks;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException) { return false; }
    }

    private static TimeSpan SinceStart()
    {
        using var self = Process.GetCurrentProcess();
        return DateTime.Now - self.StartTime;
    }

    // ---- bring-up steps ----------------------------------------------------------------------------

    private bool _kubernetesLines;

    private void ImageLine(string line)
    {
        // build.sh builds base, haproxy, keepalived, then Kubernetes (binaries, control-plane images, node image):
        // everything after the keepalived line belongs to the Kubernetes build.
        var logger = loggers.GetLogger(_kubernetesLines ? model.KubernetesBuild : model.Images);
        logger.LogInformation("{Line}", line);
        if (!_kubernetesLines && line.Contains(" keepalived ", StringComparison.Ordinal) && (line.EndsWith("cached", StringComparison.Ordinal) || line.EndsWith("built", StringComparison.Ordinal)))
        {
            _kubernetesLines = true;
            _ = FinishStepAsync(model.Images, "base, haproxy, keepalived images ready");
            _ = StartStepAsync(model.KubernetesBuild);
        }
    }

    private async Task<T> StepAsync<T>(LabStepResource step, Func<Task<T>> body)
    {
        await StartStepAsync(step).ConfigureAwait(false);
        var result = await body().ConfigureAwait(false);
        await FinishStepAsync(step, null).ConfigureAwait(false);
        return result;
    }

    private Task StartStepAsync(LabStepResource step) => PublishAsync(step, s => s.State?.Text == KnownResourceStates.NotStarted
        ? s with { State = new(KnownResourceStates.Running, KnownResourceStateStyles.Info), StartTimeStamp = DateTime.UtcNow }
        : s);

    private Task FinishStepAsync(LabStepResource step, string? detail) => PublishAsync(step, s => s.State?.Text == KnownResourceStates.Finished ? s : s with
    {
        State = new(KnownResourceStates.Finished, KnownResourceStateStyles.Success),
        StartTimeStamp = s.StartTimeStamp ?? DateTime.UtcNow,
        StopTimeStamp = DateTime.UtcNow,
        Properties = detail is null ? s.Properties : s.Properties.With("step.result", detail),
    });

    private bool _inBootstrap;

    private void OnProgress(LabProgress p)
    {
        var step = _inBootstrap && model.Bootstrap is not null ? model.Bootstrap : model.LoadBalancer;
        var stepLog = loggers.GetLogger(step);
        if (p.Done) stepLog.Log(p.Failed ? LogLevel.Error : LogLevel.Information, "{Action} {Result} ({Seconds:0.0} s) {Detail}", p.Action, p.Failed ? "FAILED" : "done", p.Elapsed.TotalSeconds, p.Detail);
        else stepLog.LogInformation("{Action} ... {Detail}", p.Action, p.Detail);
        _ = PublishAsync(step, s => s with { Properties = s.Properties.With("step.current", p.Done ? $"{p.Action}: {(p.Failed ? "FAILED" : "done")}" : p.Action, highlighted: true) });
        _ = PublishAsync(model.Lab, s => s with { State = _upDone ? s.State : new($"Starting: {p.Action}", KnownResourceStateStyles.Info) });

        // "start node m01", "start haproxy m01", "start keepalived m01": the part shows Starting until the watcher sees it run.
        var words = p.Action.Split(' ');
        if (words is ["start", var what, var node] && model.Settings.Topology.Nodes.Any(n => n.Name == node))
        {
            var role = what switch { "node" => LabRole.Node, "haproxy" => LabRole.Haproxy, "keepalived" => LabRole.Keepalived, _ => (LabRole?)null };
            if (role is { } r && !p.Done)
                _ = PublishAsync(model.Part(node, r), s => s.State?.Text is null or "NotStarted" or "Waiting" ? s with { State = new(KnownResourceStates.Starting, KnownResourceStateStyles.Info) } : s);
        }
        if (p.Action == "wait for VIP" && p.Done && !p.Failed)
        {
            _ = FinishStepAsync(model.LoadBalancer, $"{model.Settings.Topology.Vip}:{model.Settings.Topology.LoadBalancer.Port} answers");
            if (model.Bootstrap is not null)
            {
                _inBootstrap = true;
                _ = StartStepAsync(model.Bootstrap);
            }
        }
    }

    // ---- live state ---------------------------------------------------------------------------------

    /// <summary>
    /// Publishes the lab watcher's snapshots (<see cref="RunningLab.WatchAsync"/>: Docker events on the lab's containers and
    /// the VIP holder read from the nodes' interfaces every 100 ms). The lab is opened as soon as its record exists
    /// (written at the start of the bring-up); the watch is reopened if the engine's event stream breaks.
    /// </summary>
    private async Task WatchAsync(CancellationToken ct)
    {
        Activity.Current = null; // VIP holder changes are traces of their own, not part of the bring-up's
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var lab = await RunningLab.OpenAsync(_docker!, LabName, ct).ConfigureAwait(false);
                await foreach (var snapshot in lab.WatchAsync(null, ct).ConfigureAwait(false))
                    await PublishViewAsync(snapshot).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (Exception e) when (e is LabNotFoundException or LabRecordException) { /* not brought up far enough yet */ }
            catch (Exception e) { log.LogWarning("lab watcher: {Message}; watching again", e.Message); }
            try { await Task.Delay(200, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }

    private async Task PublishViewAsync(LabSnapshot view)
    {
        var t = model.Settings.Topology;
        var vip = view.Vip;
        if (vip.Holder != _lastHolder)
        {
            if (_lastHolder is not null || vip.Holder is not null)
            {
                LabTelemetry.VipHolderChanges.Add(1, new KeyValuePair<string, object?>("hakubelab.lab", t.Name), new KeyValuePair<string, object?>("hakubelab.vip.holder", vip.Holder ?? "none"));
                using var change = Source.StartActivity($"VIP holder {_lastHolder ?? "none"} -> {vip.Holder ?? "none"}");
                loggers.GetLogger(model.Lab).LogInformation("VIP {Vip}: holder {From} -> {To}{Dual}{Cause}", t.Vip, _lastHolder ?? "none", vip.Holder ?? "none",
                    vip.DualMaster ? $" (on the interfaces of {vip.Label})" : "", view.Cause is { } c ? $" after {c}" : "");
            }
            _lastHolder = vip.Holder;
        }
        foreach (var node in view.Nodes)
        {
            await PublishAsync(model.Part(node.Name, LabRole.Node), s => NodeSnapshot(s, node, view)).ConfigureAwait(false);
            foreach (var role in new[] { LabRole.Haproxy, LabRole.Keepalived })
                await PublishAsync(model.Part(node.Name, role), s => PartSnapshot(s, node.Part(role))).ConfigureAwait(false);
        }
        var holderText = vip.Holder ?? (vip.DualMaster ? $"dual master: {vip.Label}" : "none");
        await PublishAsync(model.Lab, s => (s with { Properties = s.Properties.With("vip.holder", holderText, highlighted: true) }).WithHealthReports(
        [
            vip.Holder is not null && !vip.DualMaster ? new HealthReportSnapshot("vip", HealthStatus.Healthy, $"{vip.Holder} holds {t.Vip}", null)
            : vip.DualMaster ? new HealthReportSnapshot("vip", HealthStatus.Degraded, $"VIP on more than one node: {vip.Label}{(vip.Holder is { } h ? $" (the host's ARP points at {h})" : "")}", null)
            : new HealthReportSnapshot("vip", HealthStatus.Unhealthy, "no node holds the VIP", null),
        ])).ConfigureAwait(false);

        if (!_reportedAllRunning && view.Healthy)
        {
            _reportedAllRunning = true;
            var since = SinceStart();
            foreach (var logger in new[] { loggers.GetLogger(model.Lab), log })
                logger.LogInformation("Every node, haproxy and keepalived is Running and {Holder} holds the VIP, {Seconds:0.0} s after the AppHost started.", vip.Holder, since.TotalSeconds);
            await PublishAsync(model.Lab, s => s with { Properties = s.Properties.With("startup.all-running", $"{since.TotalSeconds:0.0} s after start") }).ConfigureAwait(false);
        }
    }

    private CustomResourceSnapshot PartSnapshot(CustomResourceSnapshot s, PartState part)
    {
        var (state, style, exit) = part.State switch
        {
            ContainerState.Running => (KnownResourceStates.Running, KnownResourceStateStyles.Success, (int?)null),
            ContainerState.Paused => ("Paused", KnownResourceStateStyles.Warn, null),
            ContainerState.Exited => (KnownResourceStates.Exited, part.ExitCode is 0 ? KnownResourceStateStyles.Info : KnownResourceStateStyles.Error, (int?)part.ExitCode),
            ContainerState.Restarting => ("Restarting", KnownResourceStateStyles.Warn, null),
            ContainerState.Created => ("Created", KnownResourceStateStyles.Info, null),
            ContainerState.Dead => ("Dead", KnownResourceStateStyles.Error, (int?)part.ExitCode),
            ContainerState.Removing => ("Removing", KnownResourceStateStyles.Warn, null),
            ContainerState.Missing when !_upDone => (s.State?.Text is { } current && current != KnownResourceStates.Running ? current : "Waiting", KnownResourceStateStyles.Info, null),
            _ => ("Missing", KnownResourceStateStyles.Error, null),
        };
        var wasRunning = s.State?.Text == KnownResourceStates.Running;
        return s with
        {
            State = new(state, style),
            ExitCode = exit,
            StartTimeStamp = state == KnownResourceStates.Running && !wasRunning ? (part.Since?.UtcDateTime ?? DateTime.UtcNow) : s.StartTimeStamp,
            StopTimeStamp = state != KnownResourceStates.Running && wasRunning ? (part.Since?.UtcDateTime ?? DateTime.UtcNow) : state == KnownResourceStates.Running ? null : s.StopTimeStamp,
            Properties = s.Properties.With("container.state", part.Text),
        };
    }

    private CustomResourceSnapshot NodeSnapshot(CustomResourceSnapshot s, NodeSnapshot node, LabSnapshot view)
    {
        var t = model.Settings.Topology;
        var vip = view.Vip;
        var snapshot = PartSnapshot(s, node.Node);
        var holder = vip.Holder == node.Name;
        var carries = vip.OnInterface.Contains(node.Name);
        var role = holder ? $"HOLDER of {t.Vip}" : carries ? $"carries {t.Vip} too (stale)" : node.Node.Running ? "backup" : "-";
        var peersDown = view.Nodes.Where(n => n.Name != node.Name && (!n.Node.Running || !n.Keepalived.Running))
            .Select(n => $"{n.Name} ({(!n.Node.Running ? "node " + n.Node.Text : "keepalived " + n.Keepalived.Text)})").ToList();
        ImmutableArray<HealthReportSnapshot> health =
        [
            holder && !vip.DualMaster ? new("vip", HealthStatus.Healthy, $"MASTER: holds {t.Vip}", null)
            : vip.DualMaster && carries ? new("vip", HealthStatus.Degraded, $"dual master: {t.Vip} is on {vip.Label}{(holder ? " (the host's ARP points here)" : "")}", null)
            : !node.Keepalived.Running ? new("vip", HealthStatus.Degraded, $"keepalived is {node.Keepalived.Text}: this node cannot take the VIP", null)
            : vip.Holder is null ? new("vip", HealthStatus.Unhealthy, "no node holds the VIP", null)
            : new("vip", HealthStatus.Healthy, $"BACKUP (VIP on {vip.Holder})", null),
            peersDown.Count == 0 ? new("vrrp-peers", HealthStatus.Healthy, "every VRRP peer is up", null)
            : new("vrrp-peers", HealthStatus.Degraded, $"lost VRRP peer(s): {string.Join(", ", peersDown)}", null),
            node.Haproxy.Running ? new("haproxy", HealthStatus.Healthy, "haproxy running", null)
            : new("haproxy", holder ? HealthStatus.Unhealthy : HealthStatus.Degraded, $"haproxy is {node.Haproxy.Text}{(holder ? ": VIP traffic to this node fails" : "")}", null),
        ];
        var urls = holder
            ? ImmutableArray.Create(new UrlSnapshot("vip", $"tcp://{t.Vip}:{t.LoadBalancer.Port}", IsInternal: false) { DisplayProperties = new UrlDisplayPropertiesSnapshot($"VIP holder {t.Vip}:{t.LoadBalancer.Port}", 0) })
            : [];
        return (snapshot with
        {
            Properties = snapshot.Properties.With("vip.role", role, highlighted: true),
            Urls = urls,
        }).WithHealthReports(health);
    }

    /// <summary>With Kubernetes: nodes Ready, /readyz through the VIP, the etcd, controller-manager and scheduler leaders and since when, every 5 s; always: whether VIP:port answers.</summary>
    private async Task ClusterLoopAsync(CancellationToken ct)
    {
        var t = model.Settings.Topology;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(model.Settings.Kubernetes ? 5 : 2));
        while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
        {
            var answers = await TcpProbe.ConnectAsync(t.Vip, t.LoadBalancer.Port, TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
            var props = new List<(string, string)> { ("vip.answers", answers ? $"yes ({t.Vip}:{t.LoadBalancer.Port})" : "NO") };
            if (_kubernetesReady && File.Exists(LabPaths.KubeconfigPath(t.Name)))
            {
                try
                {
                    using var client = ClusterReadiness.Client(LabPaths.KubeconfigPath(t.Name), TimeSpan.FromSeconds(3));
                    var r = await ClusterReadiness.CheckAsync(client, ct).ConfigureAwait(false);
                    var status = await LabRuntime.StatusAsync(_docker!, t.Name, ct).ConfigureAwait(false);
                    props.Add(("k8s.nodes-ready", $"{r.ReadyNodes.Count}/{r.Nodes.Count} [{string.Join(",", r.ReadyNodes)}]"));
                    props.Add(("k8s.readyz", r.Readyz));
                    // The leaders from the lab's one leader source, each with the moment it last changed.
                    if (status.Leaders is { } leaders)
                    {
                        props.Add(("k8s.etcd-leader", leaders.Etcd.Describe(leaders.At)));
                        props.Add(("k8s.controller-manager-leader", leaders.ControllerManager.Describe(leaders.At)));
                        props.Add(("k8s.scheduler-leader", leaders.Scheduler.Describe(leaders.At)));
                        props.Add(("vip.holder-since", leaders.Vip.Describe(leaders.At)));
                    }
                    else props.Add(("k8s.etcd-leader", status.EtcdLeader ?? "none"));
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or k8s.Autorest.HttpOperationException && !ct.IsCancellationRequested)
                {
                    props.Add(("k8s.readyz", "no answer: " + e.Message));
                }
            }
            await PublishAsync(model.Lab, s =>
            {
                var p = s.Properties;
                foreach (var (k, v) in props) p = p.With(k, v, highlighted: k is "k8s.readyz" or "k8s.etcd-leader" or "k8s.controller-manager-leader" or "k8s.scheduler-leader" or "k8s.nodes-ready" or "vip.answers");
                return s with { Properties = p };
            }).ConfigureAwait(false);
        }
    }

    // ---- console logs -------------------------------------------------------------------------------

    /// <summary>Streams a container's <c>docker logs</c> into its resource's console log only while someone watches it.</summary>
    private async Task ForwardLogsAsync(CancellationToken ct)
    {
        var byName = model.Parts.Values.ToDictionary(p => p.Name);
        try
        {
            await foreach (var subscriber in loggers.WatchAnySubscribersAsync(ct).ConfigureAwait(false))
            {
                if (!byName.TryGetValue(subscriber.Name, out var part)) continue;
                if (subscriber.AnySubscribers)
                {
                    var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    if (_logStreams.TryAdd(part.Name, cts)) lock (_tasks) _tasks.Add(Task.Run(() => FollowAsync(part, cts.Token), CancellationToken.None));
                    else cts.Dispose();
                }
                else if (_logStreams.TryRemove(part.Name, out var cts)) await cts.CancelAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    private readonly ConcurrentDictionary<string, DateTimeOffset> _logsSince = new();

    private async Task FollowAsync(LabPartResource part, CancellationToken ct)
    {
        var logger = loggers.GetLogger(part);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                // Only what is new since the last line shown: the dashboard keeps the backlog.
                var since = _logsSince.TryGetValue(part.Name, out var s) ? s.ToUnixTimeMilliseconds() / 1000.0 : (double?)null;
                await _docker!.Containers.GetContainerLogsAsync(part.Container, new ContainerLogsParameters
                {
                    Follow = true,
                    ShowStdout = true,
                    ShowStderr = true,
                    Timestamps = true,
                    Tail = since is null ? "300" : "all",
                    Since = since?.ToString("0.000", CultureInfo.InvariantCulture),
                }, new SyncProgress<string>(line =>
                {
                    var space = line.IndexOf(' ', StringComparison.Ordinal);
                    if (space > 0 && TryParseDockerTime(line[..space], out var at))
                    {
                        if (since is not null && at.ToUnixTimeMilliseconds() / 1000.0 <= since) return;
                        _logsSince[part.Name] = at;
                        line = line[(space + 1)..];
                    }
                    logger.LogInformation("{Line}", line);
                }), ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException) { /* missing or restarting: try again */ }
            // The stream ends when the container stops; follow again once it runs (a restart, a recreate).
            try { await Task.Delay(1000, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>Docker's RFC 3339 timestamps carry nanoseconds; .NET parses at most 7 fractional digits.</summary>
    internal static bool TryParseDockerTime(string text, out DateTimeOffset at)
    {
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0 && text.EndsWith('Z') && text.Length - dot - 2 > 7) text = text[..(dot + 8)] + "Z";
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out at);
    }

    private Task PublishAsync(IResource resource, Func<CustomResourceSnapshot, CustomResourceSnapshot> update) =>
        notifications.PublishUpdateAsync(resource, update);

    /// <summary>Reports on the caller's thread, in order (Progress&lt;T&gt; posts to the pool and reorders).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
