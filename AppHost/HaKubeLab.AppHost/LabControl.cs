using System.Collections.Concurrent;
using System.Diagnostics;
using Docker.DotNet;
using HaKubeLab.Chaos;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Faults;
using HaKubeLab.Chaos.Reports;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Failover;
using HaKubeLab.Runtime;
using HaKubeLab.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HaKubeLab.AppHost;

/// <summary>
/// What the dashboard's commands do, through the same code as the CLI and the chaos runner: the chaos
/// runner's fault injectors (<see cref="FaultFactory"/>), its restorer (the runtime's idempotent bring-up)
/// and <see cref="ChaosRunner"/> itself.
/// </summary>
public sealed class LabControl(LabModel model, ResourceLoggerService loggers, ResourceNotificationService notifications, IHostApplicationLifetime lifetime) : IAsyncDisposable
{
    private static readonly ActivitySource Source = new(TelemetryNames.AppHost);
    private readonly SemaphoreSlim _labGate = new(1, 1);
    private readonly SemaphoreSlim _scenarioGate = new(1, 1);
    private readonly ConcurrentDictionary<string, InjectedFault> _faults = new();
    private RunningLab? _lab;

    /// <summary>The running lab (its record, Docker client, watcher and VIP-holder source), opened once it exists.</summary>
    private async Task<RunningLab> LabAsync(CancellationToken ct)
    {
        await _labGate.WaitAsync(ct).ConfigureAwait(false);
        try { return _lab ??= await RunningLab.OpenAsync(model.Settings.Topology.Name, ct).ConfigureAwait(false); }
        finally { _labGate.Release(); }
    }

    /// <summary>Injects one fault (kill, stop, pause, restart of a node; kill or stop of a sidecar) with the chaos runner's injectors (<see cref="LabFaults"/>).</summary>
    public Task<ExecuteCommandResult> InjectAsync(FaultKind kind, string node, CancellationToken ct) =>
        RunAsync($"{FaultKinds.Name(kind)} {node}", node, async (lab, log, token) =>
        {
            var fault = await LabFaults.InjectAsync(lab, kind, node, null, log, token).ConfigureAwait(false);
            // Kept (not disposed: that would undo it) for the Start/Unpause commands, which undo it exactly as the runner does.
            if (kind != FaultKind.NodeRestart) _faults[Key(node, kind)] = fault;
            return $"{FaultKinds.Name(kind)} on {node} at {fault.FaultTime:HH:mm:ss.fff}: {fault.Mechanism}";
        }, ct);

    /// <summary>
    /// Puts a node (or one of its sidecars) back: undoes the fault this AppHost injected there, else runs the chaos runner's
    /// restorer (the lab runtime's idempotent bring-up: starts, unpauses, recreates sidecars; Kubernetes' pod routes after it).
    /// </summary>
    public Task<ExecuteCommandResult> RestoreAsync(string node, LabRole? role, CancellationToken ct) =>
        RunAsync($"restore {node}{(role is { } r ? " " + LabNames.RoleLabel(r) : "")}", node, async (lab, log, token) =>
        {
            var mine = _faults.Where(f => f.Key.StartsWith(node + "/", StringComparison.Ordinal) && (role is null || FaultRole(f.Value.Kind) == role)).ToList();
            foreach (var (key, fault) in mine)
            {
                await fault.UndoAsync(token).ConfigureAwait(false);
                _faults.TryRemove(key, out _);
            }
            if (mine.Count > 0) return $"undone on {node}: {string.Join(", ", mine.Select(f => FaultKinds.Name(f.Value.Kind)))}";
            var restorer = new LabRestorer(lab, line => log(line));
            await restorer.RestoreContainersAsync(token).ConfigureAwait(false);
            await restorer.RestoreKubernetesAsync(token).ConfigureAwait(false);
            return $"{node} restored through the lab runtime's bring-up; {lab.Topology.Vip}:{lab.Topology.LoadBalancer.Port} answers";
        }, ct);

    private static string Key(string node, FaultKind kind) => $"{node}/{FaultKinds.Name(kind)}";

    private static LabRole FaultRole(FaultKind kind) => kind switch
    {
        FaultKind.HaproxyKill or FaultKind.HaproxyStop or FaultKind.HaproxyCrash => LabRole.Haproxy,
        FaultKind.KeepalivedKill or FaultKind.KeepalivedStop or FaultKind.KeepalivedCrash => LabRole.Keepalived,
        _ => LabRole.Node,
    };

    private async Task<ExecuteCommandResult> RunAsync(string what, string node, Func<RunningLab, Action<string>, CancellationToken, Task<string>> body, CancellationToken ct)
    {
        using var activity = Source.StartActivity($"command {what}");
        var log = loggers.GetLogger(model.Part(node, LabRole.Node));
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, lifetime.ApplicationStopping);
        try
        {
            var lab = await LabAsync(linked.Token).ConfigureAwait(false);
            var message = await body(lab, line => log.LogInformation("{Line}", line), linked.Token).ConfigureAwait(false);
            log.LogInformation("dashboard command: {Message}", message);
            return CommandResults.Success(message);
        }
        catch (Exception e) when (e is DockerApiException or ChaosException or LabException or LabNotFoundException or LabRecordException or FaultUnsupportedException
                                      or ImageBuildException or ArgumentException or HttpRequestException)
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            log.LogError("dashboard command {What} failed: {Message}", what, e.Message);
            return CommandResults.Failure($"{what}: {e.Message}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_lab is not null) await _lab.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The shipped scenarios (name, label) for the run-scenario command's choice.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> ScenarioChoices()
    {
        var list = new List<KeyValuePair<string, string>>();
        foreach (var file in ScenarioCatalog.Files())
        {
            var name = Path.GetFileNameWithoutExtension(file);
            try
            {
                var s = ScenarioLoader.LoadFile(file);
                list.Add(KeyValuePair.Create(name, $"{s.Name} ({Durations.Format(s.Duration)}{(s.RequiresKubernetes ? ", needs Kubernetes" : "")})"));
            }
            catch (ScenarioException) { list.Add(KeyValuePair.Create(name, $"{name} (invalid file)")); }
        }
        return list;
    }

    /// <summary>
    /// Runs a shipped scenario with the chaos runner (one trace per run, spans per step, fault and outage, exported to
    /// the dashboard) and shows its verdict and run folder on the lab resource and as the command's result.
    /// </summary>
    public async Task<ExecuteCommandResult> RunScenarioAsync(string scenarioName, CancellationToken ct)
    {
        var log = loggers.GetLogger(model.Lab);
        if (!await _scenarioGate.WaitAsync(0, ct).ConfigureAwait(false))
            return CommandResults.Failure("A scenario is already running against this lab; wait for its verdict (see the lab's console log).");
        try
        {
            var topology = model.Settings.Topology;
            var path = ScenarioCatalog.Resolve(scenarioName);
            var scenario = ScenarioLoader.LoadFile(path, [.. topology.Nodes.Select(n => n.Name), .. topology.Etcd.Nodes.Select(n => n.Name)]);
            var runFolder = ChaosRunner.DefaultRunFolder(scenario, topology.Name);
            await Publish($"running {scenario.Name}", null).ConfigureAwait(false);
            log.LogInformation("chaos: scenario {Scenario} ({Path}) against {Lab}; run folder {Folder}", scenario.Name, path, topology.Name, runFolder);
            var lab = await LabAsync(ct).ConfigureAwait(false);
            // The run is its own trace (its root span is the runner's), not a child of whatever request carried the command;
            // and it is not cancelled when the browser goes away, only when the AppHost stops (the runner then undoes its faults).
            var outcome = await Task.Run(() =>
            {
                Activity.Current = null;
                return ChaosRunner.RunAsync(lab, new ChaosRunOptions(scenario, topology.Name, runFolder, null, line => log.LogInformation("{Line}", line)), lifetime.ApplicationStopping);
            }, CancellationToken.None).ConfigureAwait(false);
            var r = outcome.Result;
            var verdict = r.Interrupted ? "INTERRUPTED" : r.Passed ? "PASSED" : "FAILED";
            log.LogInformation("chaos: {Scenario} {Verdict}; run folder {Folder}", scenario.Name, verdict, runFolder);
            await Publish($"{scenario.Name}: {verdict}", runFolder).ConfigureAwait(false);
            var summary = Path.Combine(runFolder, "summary.md");
            var markdown = File.Exists(summary) ? await File.ReadAllTextAsync(summary, ct).ConfigureAwait(false) : $"Run folder: {runFolder}";
            var message = $"{scenario.Name}: {verdict}. Run folder: {runFolder}";
            return r.Passed
                ? CommandResults.Success(message, markdown, CommandResultFormat.Markdown, displayImmediately: false)
                : CommandResults.Failure(message, markdown, CommandResultFormat.Markdown);
        }
        catch (Exception e) when (e is ScenarioException or LabNotReadyException or LabMismatchException or FaultUnsupportedException or ChaosException or DockerApiException or LabException
                                      or LabNotFoundException or LabRecordException)
        {
            log.LogError("chaos: {Message}", e.Message);
            await Publish($"{scenarioName}: refused", null).ConfigureAwait(false);
            return CommandResults.Failure(e.Message);
        }
        finally
        {
            _scenarioGate.Release();
        }
    }

    /// <summary>The last chaos run folder of this lab (newest first by name: they start with a UTC timestamp), or null.</summary>
    public string? LastRunFolder()
    {
        string parent;
        // Where ChaosRunner.DefaultRunFolder puts runs.
        try { parent = Path.Combine(RepositoryLayout.Root(), "artifacts", "chaos-runs"); }
        catch (InvalidOperationException) { parent = Path.Combine(Directory.GetCurrentDirectory(), "chaos-runs"); }
        if (!Directory.Exists(parent)) return null;
        return Directory.EnumerateDirectories(parent, $"*-{model.Settings.Topology.Name}")
            .Where(d => File.Exists(Path.Combine(d, "summary.md")))
            .OrderByDescending(d => Path.GetFileName(d), StringComparer.Ordinal).FirstOrDefault();
    }

    /// <summary>The last run's summary.md, shown by the dashboard as Markdown; the folder holds result.json, junit.xml and timeline.svg.</summary>
    public async Task<ExecuteCommandResult> ShowLastReportAsync(CancellationToken ct)
    {
        var folder = LastRunFolder();
        if (folder is null) return CommandResults.Failure($"No chaos run of lab '{model.Settings.Topology.Name}' yet. Run one with the lab's 'Run chaos scenario' command.");
        var markdown = await File.ReadAllTextAsync(Path.Combine(folder, "summary.md"), ct).ConfigureAwait(false);
        loggers.GetLogger(model.Lab).LogInformation("last report: {Folder}/summary.md (also result.json, junit.xml, timeline.svg)", folder);
        return CommandResults.Success($"Last report: {folder}", markdown, CommandResultFormat.Markdown, displayImmediately: true);
    }

    private Task Publish(string run, string? folder) =>
        notifications.PublishUpdateAsync(model.Lab, s => s with
        {
            Properties = s.Properties.With("chaos.last-run", run, highlighted: true).With("chaos.run-folder", folder ?? LastRunFolder() ?? "-"),
        });
}
