using System.Diagnostics;
using Docker.DotNet;
using HaKubeLab.Chaos;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Faults;
using HaKubeLab.Chaos.Reports;
using HaKubeLab.Chaos.Scenarios;
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
public sealed class LabControl(LabModel model, ResourceLoggerService loggers, ResourceNotificationService notifications, IHostApplicationLifetime lifetime)
{
    private static readonly ActivitySource Source = new(TelemetryNames.AppHost);
    private readonly SemaphoreSlim _dockerGate = new(1, 1);
    private readonly SemaphoreSlim _scenarioGate = new(1, 1);
    private DockerClient? _docker;

    private async Task<DockerClient> DockerAsync(CancellationToken ct)
    {
        await _dockerGate.WaitAsync(ct).ConfigureAwait(false);
        try { return _docker ??= await DockerConnection.ConnectAsync(ct).ConfigureAwait(false); }
        finally { _dockerGate.Release(); }
    }

    private async Task<FaultContext> ContextAsync(ILogger log, CancellationToken ct)
    {
        var docker = await DockerAsync(ct).ConfigureAwait(false);
        var topology = model.Settings.Topology;
        void Log(string line) => log.LogInformation("{Line}", line);
        var kubernetes = File.Exists(LabPaths.KubeconfigPath(topology.Name));
        return new FaultContext(docker, topology, new RunClock(), new LabRestorer(docker, topology, kubernetes, Log), Log);
    }

    /// <summary>Injects one fault (kill, stop, pause, restart of a node; kill of a sidecar) the way the chaos runner does.</summary>
    public Task<ExecuteCommandResult> InjectAsync(FaultKind kind, string node, CancellationToken ct) =>
        RunAsync($"{FaultKinds.Name(kind)} {node}", node, async (context, log, token) =>
        {
            var fault = FaultFactory.Create(kind, node, FaultParameters.None, context);
            await fault.InjectAsync(token).ConfigureAwait(false);
            return $"{FaultKinds.Name(kind)} on {node}: {fault.Mechanism}";
        }, ct);

    /// <summary>Undoes what a fault of <paramref name="kind"/> did on <paramref name="node"/> (unpause; start the node and recreate its sidecars; start a sidecar).</summary>
    public Task<ExecuteCommandResult> UndoAsync(FaultKind kind, string node, CancellationToken ct) =>
        RunAsync($"undo {FaultKinds.Name(kind)} {node}", node, async (context, log, token) =>
        {
            var fault = FaultFactory.Create(kind, node, FaultParameters.None, context);
            await fault.UndoAsync(token).ConfigureAwait(false);
            return kind switch
            {
                FaultKind.NodePause => $"{node}, its haproxy and its keepalived unpaused",
                FaultKind.NodeKill => $"{node} started through the lab runtime (sidecars recreated when needed); the VIP answers",
                _ => $"{FaultKinds.Name(kind)} on {node} undone",
            };
        }, ct);

    private async Task<ExecuteCommandResult> RunAsync(string what, string node, Func<FaultContext, ILogger, CancellationToken, Task<string>> body, CancellationToken ct)
    {
        using var activity = Source.StartActivity($"command {what}");
        var log = loggers.GetLogger(model.Part(node, LabRole.Node));
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, lifetime.ApplicationStopping);
        try
        {
            var context = await ContextAsync(log, linked.Token).ConfigureAwait(false);
            var message = await body(context, log, linked.Token).ConfigureAwait(false);
            log.LogInformation("dashboard command: {Message}", message);
            return CommandResults.Success(message);
        }
        catch (Exception e) when (e is DockerApiException or ChaosException or LabException or ImageBuildException or ArgumentException or HttpRequestException)
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            log.LogError("dashboard command {What} failed: {Message}", what, e.Message);
            return CommandResults.Failure($"{what}: {e.Message}");
        }
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
            var scenario = ScenarioLoader.LoadFile(path, [.. topology.Nodes.Select(n => n.Name)]);
            var runFolder = ChaosRunner.DefaultRunFolder(scenario, topology.Name);
            await Publish($"running {scenario.Name}", null).ConfigureAwait(false);
            log.LogInformation("chaos: scenario {Scenario} ({Path}) against {Lab}; run folder {Folder}", scenario.Name, path, topology.Name, runFolder);
            var docker = await DockerAsync(ct).ConfigureAwait(false);
            // The run is its own trace (its root span is the runner's), not a child of whatever request carried the command;
            // and it is not cancelled when the browser goes away, only when the AppHost stops (the runner then undoes its faults).
            var outcome = await Task.Run(() =>
            {
                Activity.Current = null;
                return ChaosRunner.RunAsync(docker, new ChaosRunOptions(scenario, topology, runFolder, null, line => log.LogInformation("{Line}", line)), lifetime.ApplicationStopping);
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
        catch (Exception e) when (e is ScenarioException or LabNotReadyException or LabMismatchException or FaultUnsupportedException or ChaosException or DockerApiException or LabException)
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
