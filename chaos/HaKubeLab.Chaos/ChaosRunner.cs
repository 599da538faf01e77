using System.Diagnostics;
using System.Net;
using Docker.DotNet;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Faults;
using HaKubeLab.Chaos.Probes;
using HaKubeLab.Chaos.Reports;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Chaos.Telemetry;
using HaKubeLab.Chaos.Wire;
using HaKubeLab.Rendering;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using k8s;

namespace HaKubeLab.Chaos;

/// <summary>How to run a scenario.</summary>
/// <param name="RunFolder">Where the run's files go (created); see <see cref="ChaosRunner.DefaultRunFolder"/>.</param>
/// <param name="Seed">Seed for random targets; null: the scenario's, else a new one (recorded in the result).</param>
/// <param name="Log">Progress lines (the CLI prints them).</param>
/// <param name="Lab">The running lab's name; the lab is opened from its record (<see cref="RunningLab"/>).</param>
public sealed record ChaosRunOptions(Scenario Scenario, string Lab, string RunFolder, int? Seed = null, Action<string>? Log = null)
{
    /// <summary>A topology the caller expects the lab to have (e.g. <c>--topology</c>): only checked against the lab's record, never used instead of it.</summary>
    public LabTopology? ExpectedTopology { get; init; }
}

/// <summary>A finished run: its result and the files written.</summary>
public sealed record ChaosRunOutcome(RunResult Result, IReadOnlyList<string> Files);

/// <summary>The lab is missing or not in a state a scenario can start from.</summary>
public sealed class LabNotReadyException(string message) : Exception(message);

/// <summary>The topology given does not describe the running lab (another subnet, other keepalived settings ...).</summary>
public sealed class LabMismatchException(string message) : Exception(message);

/// <summary>
/// Runs a scenario against a running lab: checks the lab, starts the probes side by side, runs the steps
/// (faults, waits, recoveries), keeps probing for the scenario's duration, undoes every fault still in
/// place (also on failure and on cancellation), checks the lab is healthy again, and writes the results.
/// </summary>
/// <example>
/// <code>
/// var scenario = ScenarioLoader.LoadFile("chaos/scenarios/node-kill-vip-holder.yaml");
/// using var docker = await DockerConnection.ConnectAsync(ct);
/// await using var lab = await RunningLab.OpenAsync("hakubelab", ct);
/// var outcome = await ChaosRunner.RunAsync(lab, new ChaosRunOptions(scenario, lab.Name, ChaosRunner.DefaultRunFolder(scenario, lab.Name)), ct);
/// Console.WriteLine(outcome.Result.Passed);
/// </code>
/// </example>
public static class ChaosRunner
{
    /// <summary>&lt;repository&gt;/artifacts/chaos-runs/&lt;time&gt;-&lt;scenario&gt;-&lt;lab&gt; (or under the working directory outside the repository).</summary>
    public static string DefaultRunFolder(Scenario scenario, string lab, string? parent = null)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        if (parent is null)
        {
            try { parent = Path.Combine(RepositoryLayout.Root(), "artifacts", "chaos-runs"); }
            catch (InvalidOperationException) { parent = Path.Combine(Directory.GetCurrentDirectory(), "chaos-runs"); }
        }
        return Path.Combine(parent, $"{DateTime.UtcNow:yyyyMMdd-HHmmss-fff}-{scenario.Name}-{lab}");
    }

    /// <summary>
    /// Checks the lab is the one <paramref name="expected"/> describes (when given: it is only compared with the lab's record)
    /// and is healthy. Returns its status.
    /// </summary>
    public static async Task<LabStatus> CheckLabAsync(RunningLab lab, LabTopology? expected, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(lab);
        if (expected is not null)
        {
            var differences = TopologyComparison.Differences(lab.Topology, TopologyValidator.EnsureValid(expected));
            if (differences.Count > 0)
                throw new LabMismatchException($"Lab '{lab.Name}' was not brought up from this topology: {string.Join("; ", differences.Take(6))}{(differences.Count > 6 ? $" (and {differences.Count - 6} more)" : "")}. " +
                                               $"Leave out --topology (the lab's record in {lab.Record.RecordPath} says what it is), or bring the lab up again with that topology.");
        }
        var status = await lab.StatusAsync(ct).ConfigureAwait(false);
        var problems = new List<string>();
        foreach (var n in status.Nodes)
        {
            if (n.State != "running") problems.Add($"node {n.Name} is {n.State}");
            foreach (var s in n.Sidecars.Where(s => s.State != "running")) problems.Add($"{n.Name}'s {s.Name} is {s.State}");
        }
        if (status.VipHolder is null) problems.Add("no single node carries the VIP");
        if (status.LoadBalancerAnswers != true) problems.Add($"{lab.Topology.Vip}:{lab.Topology.LoadBalancer.Port} does not answer");
        if (problems.Count > 0)
            throw new LabNotReadyException($"Lab '{lab.Name}' is not healthy, so a scenario cannot start from it: {string.Join("; ", problems)}. Run ./hakubelab up{(lab.Name == LabTopology.Default.Name ? "" : $" --lab {lab.Name}")} (idempotent) to repair it.");
        return status;
    }

    /// <summary>Opens lab <see cref="ChaosRunOptions.Lab"/> and runs the scenario against it.</summary>
    public static async Task<ChaosRunOutcome> RunAsync(IDockerClient docker, ChaosRunOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(docker);
        ArgumentNullException.ThrowIfNull(options);
        RunningLab lab;
        try { lab = await RunningLab.OpenAsync(docker, options.Lab, cancellationToken).ConfigureAwait(false); }
        catch (Exception e) when (e is LabNotFoundException or LabRecordException) { throw new LabNotReadyException(e.Message); }
        await using (lab.ConfigureAwait(false))
            return await RunAsync(lab, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs a scenario against <paramref name="lab"/>.</summary>
    public static async Task<ChaosRunOutcome> RunAsync(RunningLab lab, ChaosRunOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lab);
        ArgumentNullException.ThrowIfNull(options);
        var docker = lab.Docker;
        var scenario = options.Scenario;
        var topology = lab.Topology;
        var log = options.Log ?? (_ => { });
        foreach (var f in scenario.Steps.OfType<FaultStep>().Where(f => f.Target.Role == TargetRole.Named && !topology.Nodes.Any(n => n.Name == f.Target.Node) && !topology.Etcd.Nodes.Any(n => n.Name == f.Target.Node)))
            throw new ScenarioException([new(scenario.File, f.Line, "target", $"unknown target '{f.Target.Node}': lab '{topology.Name}' has no such node",
                $"name a node of the lab ({string.Join(", ", topology.Nodes.Select(n => n.Name))}) or a role ({string.Join(", ", TargetSpec.RoleNames)})")]);

        await CheckLabAsync(lab, options.ExpectedTopology, cancellationToken).ConfigureAwait(false);
        var kubeconfig = lab.Record.KubeconfigPath;
        var kubernetes = lab.Kubernetes;
        if (scenario.RequiresKubernetes && !kubernetes)
            throw new FaultUnsupportedException($"Scenario '{scenario.Name}' needs Kubernetes, and lab '{topology.Name}' was brought up without it (--no-kubernetes). Bring the lab up with Kubernetes.");

        var clock = new RunClock();
        var restorer = new LabRestorer(lab, line => log($"[{clock.Now,7:0.00} s] {line}"));
        var context = new FaultContext(docker, topology, clock, restorer, line => log($"[{clock.Now,7:0.00} s] {line}"));
        foreach (var kind in scenario.Steps.OfType<FaultStep>().Select(f => f.Kind).Distinct())
            await FaultFactory.PreflightAsync(kind, context, kubernetes, cancellationToken).ConfigureAwait(false);

        var seed = options.Seed ?? scenario.Seed ?? Random.Shared.Next(1, int.MaxValue);
        Directory.CreateDirectory(options.RunFolder);
        var run = new Run(docker, scenario, topology, kubernetes, kubeconfig, clock, context, seed, options.RunFolder, log);
        var result = await run.ExecuteAsync(cancellationToken).ConfigureAwait(false);
        var files = ReportWriter.WriteAll(result, scenario, options.RunFolder);
        return new ChaosRunOutcome(result, files);
    }

    /// <summary>One run's state: probes, monitor, active faults, step records.</summary>
    private sealed class Run(IDockerClient docker, Scenario scenario, LabTopology topology, bool kubernetes, string kubeconfig, RunClock clock, FaultContext context, int seed, string runFolder, Action<string> log)
    {
        private readonly List<ActiveFault> _faults = [];
        private readonly List<StepResult> _steps = [];
        private readonly Dictionary<string, NodeCondition> _conditions = [];
        private readonly List<ProbeLoop> _loops = [];
        private readonly List<ProbeResult> _notApplicable = [];
        private VipHolderMonitor _monitor = null!;
        private LeaderMonitor? _leaders;
        private EngineEventLog _engine = null!;
        private WireCaptureData _wire = WireCaptureData.Missing("the capture did not start");
        private string? _error;

        private void Log(string line) => log($"[{clock.Now,7:0.00} s] {line}");

        private sealed class ActiveFault(FaultStep step, IFault fault, string target, FailoverPrediction prediction, string? holderBefore, Activity? span)
        {
            public FaultStep Step { get; } = step;
            public IFault Fault { get; } = fault;
            public string Target { get; } = target;
            public FailoverPrediction Prediction { get; } = prediction;
            public string? HolderBefore { get; } = holderBefore;
            public Activity? Span { get; } = span;
            public double InjectStarted { get; set; }
            public double? FaultTime { get; set; }
            public double? CallEnded { get; set; }
            public string FaultTimeSource { get; set; } = "";
            /// <summary>The fault time is the engine's own timestamp (known), not the end of the injector's call (somewhere before it).</summary>
            public bool FromEngine => FaultTimeSource.StartsWith("Docker engine", StringComparison.Ordinal);
            /// <summary>The earliest moment the fault can have taken effect.</summary>
            public double EarliestEffect => FromEngine ? FaultTime!.Value : InjectStarted;
            /// <summary>When the undo call started: the fault can end anywhere from here to <see cref="UndoneAt"/> (a restarted haproxy listens before Docker's start call returns to us).</summary>
            public double? UndoStarted { get; set; }
            public double? UndoneAt { get; set; }
            public string? UndoError { get; set; }
            public bool Undone { get; set; }
        }

        public async Task<RunResult> ExecuteAsync(CancellationToken ct)
        {
            using var root = ChaosTelemetry.Source.StartActivity($"chaos {scenario.Name}", ActivityKind.Internal);
            root?.SetTag("hakubelab.lab", topology.Name);
            root?.SetTag("hakubelab.scenario", scenario.Name);
            root?.SetTag("hakubelab.seed", seed);
            root?.SetTag("hakubelab.run_folder", runFolder);
            var rootContext = root?.Context ?? default;
            var interrupted = false;
            RestoreResult? restore = null;
            double measuredUntil;
            CpuResult cpu;
            ClockCheck clockCheck;

            _monitor = new VipHolderMonitor(docker, topology, clock, scenario.Probes.IntervalOf(ProbeNames.VipHolder));
            await using var engine = new EngineEventLog(context.Restorer.Lab, clock.StartWall.AddSeconds(-1));
            _engine = engine;
            // Packet-level truth beside the probes (or, where capture cannot run, a line saying why and probes only).
            using var wire = await WireCapture.StartAsync(docker, topology, clock, ct).ConfigureAwait(false);
            Log(wire.Reason is null ? $"wire: capturing on {wire.Interface} ({wire.Filter})" : $"wire: no capture, probes only: {wire.Reason}");
            using var probeStop = new CancellationTokenSource();
            var loopTasks = new List<Task>();
            Task<ProbeThreadStats>? reactor = null;
            var process = Process.GetCurrentProcess();
            (TimeSpan Cpu, double T)? steady = null;
            // The CPU window opens when the probes start (below): reading PIDs, the etcd client certificate and the kubeconfig before is set-up.
            var cpuStart = process.TotalProcessorTime;
            var wallStart = clock.Now;
            try
            {
                var holderLook = await _monitor.StartAsync(ct, onProbeThread: true).ConfigureAwait(false);
                var kubeconfigCredentials = BuildProbes();
                if (kubeconfigCredentials is not null)
                    _leaders = await LeaderMonitor.CreateAsync(context.Restorer.Lab.Leaders, topology, kubeconfigCredentials, clock, scenario.Name, ct).ConfigureAwait(false);
                process.Refresh();
                cpuStart = process.TotalProcessorTime;
                wallStart = clock.Now;
                // Every probe (and the leader monitor's looks) on one thread and one grid: loops with the same interval start on the same tick.
                loopTasks.Add(reactor = ProbeReactor.RunAsync([.. _loops, .. _leaders?.Loops ?? []], probeStop.Token, clock.Now, holderLook is null ? null : [holderLook]));
                loopTasks.Add(Task.Run(async () =>
                {
                    // A second reading after start-up (JIT, first connections), for the steady-state figure.
                    await Task.Delay(TimeSpan.FromSeconds(5), probeStop.Token).ConfigureAwait(false);
                    using var p = Process.GetCurrentProcess();
                    steady = (p.TotalProcessorTime, clock.Now);
                }, CancellationToken.None));
                Log($"probes: {string.Join(", ", _loops.Select(l => $"{l.Probe.Name} every {Durations.Format(l.Interval)}"))}; VIP holder: {_monitor.Current?.Label} ({_monitor.Source})");
                if (_notApplicable.Count > 0) Log($"not applicable: {string.Join(", ", _notApplicable.Select(p => p.Name))} ({_notApplicable[0].NotApplicableReason})");

                try
                {
                    await RunStepsAsync(rootContext, ct).ConfigureAwait(false);
                    var rest = scenario.Duration.TotalSeconds - clock.Now;
                    if (rest > 0 && _error is null) await Task.Delay(TimeSpan.FromSeconds(rest), ct).ConfigureAwait(false);
                    else if (rest < -0.5) Log($"the steps took {clock.Now:0.0} s, longer than the duration {scenario.Duration.TotalSeconds:0.#} s: the measured window ends now");
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    interrupted = true;
                    Log("interrupted: undoing every fault, then restoring the lab");
                }
            }
            finally
            {
                await probeStop.CancelAsync().ConfigureAwait(false);
                try { await Task.WhenAll(loopTasks).ConfigureAwait(false); } catch (Exception) { /* loops end on cancellation */ }
                measuredUntil = clock.Now;
                clockCheck = new ClockCheck(Math.Round(clock.StartBracket.TotalMicroseconds, 1), Math.Round(clock.WallDrift().TotalMilliseconds, 3));
                if (!clockCheck.Agreed) Log($"clock: {clockCheck.Describe()}");
                _wire = wire.Stop();
                process.Refresh();
                var cpuEnd = process.TotalProcessorTime;
                cpu = new CpuResult(Math.Round((cpuEnd - cpuStart).TotalSeconds, 3), Math.Round(measuredUntil - wallStart, 3), Environment.ProcessorCount,
                    "Process.TotalProcessorTime of the runner from the probes' start to the end of the measured window: every probe, the VIP-holder and leader monitors, the wire capture and the fault calls and undos the steps make (the Docker engine's share of a docker exec is not in it; the restore after the window is counted apart)",
                    steady is { } st ? Math.Round((cpuEnd - st.Cpu).TotalSeconds, 3) : null, steady is { } st2 ? Math.Round(measuredUntil - st2.T, 3) : null,
                    reactor is { IsCompletedSuccessfully: true, Result.Cpu: { } probeThread } ? Math.Round(probeThread.TotalSeconds, 3) : null,
                    reactor is { IsCompletedSuccessfully: true } ? reactor.Result.Nice : null,
                    _loops.Concat(_leaders?.Loops ?? []).Select(l => l.Probe).OfType<HttpsProbe>().Sum(p => p.Handshakes));
                await _monitor.DisposeAsync().ConfigureAwait(false);
                _leaders?.Dispose();
                foreach (var loop in _loops) loop.Probe.Dispose();

                // Never leave the lab broken: undo what is still in place, whatever happened above.
                process.Refresh();
                var beforeRestore = process.TotalProcessorTime;
                restore = await CleanupAsync(rootContext).ConfigureAwait(false);
                process.Refresh();
                restore = restore with { CpuSeconds = Math.Round((process.TotalProcessorTime - beforeRestore).TotalSeconds, 3) };
            }

            var result = Analyse(measuredUntil, cpu, restore, interrupted) with { ClockCheck = clockCheck };
            var checkedResult = result with { Expectations = ExpectationChecker.Check(scenario, result) };
            RecordTelemetry(checkedResult, rootContext);
            root?.SetTag("hakubelab.passed", checkedResult.Passed);
            if (!checkedResult.Passed) root?.SetStatus(ActivityStatusCode.Error, checkedResult.Error ?? "an expectation failed");
            return checkedResult;
        }

        /// <summary>Builds the probes; returns the kubeconfig they use (null without Kubernetes).</summary>
        private KubernetesClientConfiguration? BuildProbes()
        {
            var s = scenario.Probes;
            // The VIP holder monitor reads /proc and runs no probe traffic; the probes below talk only to the lab.
            void Add(IProbe probe)
            {
                EnsureLabAddress(probe.Target);
                if (s.IsOff(probe.Name))
                {
                    _notApplicable.Add(NotRun(probe.Name, probe.Target, "switched off by the scenario"));
                    probe.Dispose();
                    return;
                }
                _loops.Add(new ProbeLoop(probe, s.IntervalOf(probe.Name), s.TimeoutOf(probe.Name), clock, scenario.Name));
            }
            Add(new TcpConnectProbe(ProbeNames.VipTcp, topology.Vip, topology.LoadBalancer.Port));
            if (!kubernetes)
            {
                var why = $"Kubernetes does not run in lab '{topology.Name}' (no kubeconfig at {kubeconfig})";
                foreach (var name in new[] { ProbeNames.VipApiTcp, ProbeNames.ReadyzVip, ProbeNames.ApiWrite }.Concat(topology.Nodes.Select(n => ProbeNames.NodeReadyz(n.Name))))
                    _notApplicable.Add(NotRun(name, "", why));
                return null;
            }
            var config = KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig);
            var server = new Uri(config.Host);
            var ca = config.SslCaCerts ?? [];
            Add(new TcpConnectProbe(ProbeNames.VipApiTcp, topology.Vip, topology.Kubernetes.ApiServerPort));
            Add(new ReadyzProbe(ProbeNames.ReadyzVip, server, ca, serverName: HttpsProbe.ApiServerTlsName));
            foreach (var node in topology.Nodes)
                Add(new ReadyzProbe(ProbeNames.NodeReadyz(node.Name), new Uri($"https://{node.Ip}:{topology.Kubernetes.ApiServerPort}"), ca, serverName: node.Name));
            Add(new ApiWriteProbe(ProbeNames.ApiWrite, config));
            return config;
        }

        /// <summary>The network rule: probes talk only to the lab's own addresses (its subnet) or loopback.</summary>
        private void EnsureLabAddress(string target)
        {
            var host = target.Contains("://", StringComparison.Ordinal) ? new Uri(target.Split(' ')[0]).Host : target.Split(':')[0];
            if (!IPAddress.TryParse(host, out var ip) || !(IPAddress.IsLoopback(ip) || topology.Subnet.Contains(ip)))
                throw new ChaosException($"refusing to probe {target}: chaos traffic goes only to the lab's subnet {topology.Subnet} or loopback");
        }

        private static ProbeResult NotRun(string name, string target, string why) =>
            new(name, target, 0, 0, false, why, 0, 0, null, [], 0, null, null, null, []);

        private async Task RunStepsAsync(ActivityContext rootContext, CancellationToken ct)
        {
            var index = 0;
            foreach (var step in scenario.Steps)
            {
                index++;
                var start = clock.Now;
                using var span = ChaosTelemetry.Source.StartActivity($"step {index}: {step.Describe()}", ActivityKind.Internal, rootContext);
                span?.SetTag("hakubelab.step.line", step.Line);
                string? error = null;
                try
                {
                    switch (step)
                    {
                        case WaitStep w:
                            Log(step.Describe());
                            await Task.Delay(w.Duration, ct).ConfigureAwait(false);
                            break;
                        case WaitUntilStep u:
                            await WaitUntilAsync(u, ct).ConfigureAwait(false);
                            break;
                        case RecoverStep r:
                            foreach (var f in _faults.Where(f => !f.Undone && (r.Which == RecoverStep.All || f.Step.Id == r.Which)).Reverse().ToList())
                                await UndoAsync(f, ct).ConfigureAwait(false);
                            break;
                        case FaultStep f:
                            await InjectAsync(f, rootContext, ct).ConfigureAwait(false);
                            break;
                    }
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    _steps.Add(new StepResult(step.Line, step.Describe(), Math.Round(start, 6), Math.Round(clock.Now, 6), "interrupted"));
                    throw;
                }
                catch (Exception e) when (e is ChaosException or FaultUnsupportedException or DockerApiException or LabException or HaKubeLab.Bootstrap.BootstrapException or ArgumentException or IOException)
                {
                    error = e.Message;
                    span?.SetStatus(ActivityStatusCode.Error, e.Message);
                    Log($"step {index} (line {step.Line}) failed: {e.Message}");
                }
                _steps.Add(new StepResult(step.Line, step.Describe(), Math.Round(start, 6), Math.Round(clock.Now, 6), error));
                if (error is not null)
                {
                    _error = $"step {index} ({step.Describe()}, line {step.Line}) failed: {error}; the remaining steps were not run";
                    return;
                }
            }
        }

        private async Task InjectAsync(FaultStep step, ActivityContext rootContext, CancellationToken ct)
        {
            var busy = _faults.Where(f => !f.Undone).Select(f => f.Fault.Node).ToHashSet();
            var resolver = new TargetResolver(context, _monitor, new Random(seed + _faults.Count), kubernetes);
            var (node, how) = await resolver.ResolveAsync(step.Target, busy, ct).ConfigureAwait(false);
            var look = _monitor.Current;
            var holderBefore = look?.Reading.Holder;
            var prediction = FailoverPredictor.Predict(topology, step.Kind, node, holderBefore, _conditions, kubernetes);
            var fault = FaultFactory.Create(step.Kind, node, step.Parameters, context);

            var previous = Activity.Current;
            var span = ChaosTelemetry.Source.StartActivity($"fault {FaultKinds.Name(step.Kind)} {node}", ActivityKind.Internal, rootContext);
            Activity.Current = previous; // the fault's span lives until its undo, across later steps
            span?.SetTag("hakubelab.fault.kind", FaultKinds.Name(step.Kind));
            span?.SetTag("hakubelab.fault.node", node);
            span?.SetTag("hakubelab.fault.target", step.Target.ToString());
            span?.SetTag("hakubelab.fault.mechanism", fault.Mechanism);
            span?.SetTag("hakubelab.predicted", prediction.Summary);

            var active = new ActiveFault(step, fault, $"{step.Target} ({how})", prediction, holderBefore, span) { InjectStarted = Math.Round(clock.Now, 6) };
            _faults.Add(active); // before the call: a half-done injection is undone too
            Log($"fault {FaultKinds.Name(step.Kind)} on {node} ({step.Target}: {how}); predicted: {prediction.Summary}");
            var callReturned = Math.Round(await fault.InjectAsync(ct).ConfigureAwait(false), 6);
            active.CallEnded = Math.Round(clock.Now, 6);
            // The fault time as directly as it can be known: the engine's own timestamp of the container's death, stop or pause.
            var engine = await _engine.WaitForAsync(step.Kind, node, clock.WallAt(active.InjectStarted).AddMilliseconds(-50), TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
            active.FaultTime = engine is not null ? Math.Round(clock.At(engine.Time), 6) : callReturned;
            active.FaultTimeSource = engine is not null
                ? $"Docker engine event '{engine.Action}' of {engine.Container} ({engine.Time:HH:mm:ss.fffffff}; {EngineEventLog.Meaning(engine.Action)})"
                : EngineEventLog.Marker(step.Kind) is null ? "the injector's call returned (Docker sees no event for this fault)" : "the injector's call returned (no engine event within 2 s)";
            span?.AddEvent(new ActivityEvent("fault time", clock.WallAt(active.FaultTime.Value)));
            span?.SetTag("hakubelab.fault.time_source", active.FaultTimeSource);
            Log($"fault time {active.FaultTime:0.000} s from {active.FaultTimeSource}; the call ran {active.InjectStarted:0.000}-{active.CallEnded:0.000} s ({fault.Mechanism})");
            if (step.Kind is FaultKind.NodeRestart)
            {
                active.Undone = true;
                active.UndoneAt = Math.Round(clock.Now, 6);
                StopDetached(span);
            }
            if (step.Kind is FaultKind.NodeKill or FaultKind.NodeStop or FaultKind.NodeRestart or FaultKind.NetworkPartition)
                await _monitor.RefreshAsync(ct).ConfigureAwait(false);
            if (step.For is { } duration)
            {
                await Task.Delay(duration, ct).ConfigureAwait(false);
                await UndoAsync(active, ct).ConfigureAwait(false);
            }
        }

        private async Task UndoAsync(ActiveFault f, CancellationToken ct)
        {
            if (f.Undone) return;
            Log($"undo {FaultKinds.Name(f.Fault.Kind)} on {f.Fault.Node}");
            f.UndoStarted = Math.Round(clock.Now, 6);
            try
            {
                await f.Fault.UndoAsync(ct).ConfigureAwait(false);
                f.Undone = true;
                f.UndoneAt = Math.Round(clock.Now, 6);
                if (!_faults.Any(o => !o.Undone && o.Fault.Node == f.Fault.Node)) _conditions.Remove(f.Fault.Node);
                f.Span?.AddEvent(new ActivityEvent("undone", clock.WallAt(f.UndoneAt.Value)));
                await _monitor.RefreshAsync(ct).ConfigureAwait(false);
                Log($"undone {FaultKinds.Name(f.Fault.Kind)} on {f.Fault.Node}");
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                f.UndoError = e.Message;
                f.Span?.SetStatus(ActivityStatusCode.Error, "undo failed: " + e.Message);
                throw;
            }
            finally
            {
                if (f.Undone || f.UndoError is not null) StopDetached(f.Span);
            }
        }

        private static void StopDetached(Activity? span)
        {
            if (span is null || span.IsStopped) return;
            var current = Activity.Current;
            span.Stop();
            Activity.Current = current;
        }

        private async Task WaitUntilAsync(WaitUntilStep step, CancellationToken ct)
        {
            var loop = _loops.FirstOrDefault(l => l.Probe.Name == step.Probe);
            if (loop is null)
            {
                // A scenario may wait for the API where there is one; on a lab without Kubernetes there is nothing to wait for.
                var why = _notApplicable.FirstOrDefault(p => p.Name == step.Probe)?.NotApplicableReason ?? "it does not run";
                Log($"{step.Describe()}: skipped, {step.Probe} is not applicable ({why})");
                return;
            }
            var start = clock.Now;
            Log(step.Describe());
            while (true)
            {
                if (loop.Last is { Ok: true } last && last.T >= start)
                {
                    Log($"{step.Probe} succeeds again after {clock.Now - start:0.00} s");
                    return;
                }
                if (clock.Now - start > step.Timeout.TotalSeconds)
                    throw new ChaosException($"{step.Probe} did not succeed within {Durations.Format(step.Timeout)}");
                await Task.Delay(50, ct).ConfigureAwait(false);
            }
        }

        private async Task<RestoreResult> CleanupAsync(ActivityContext rootContext)
        {
            using var span = ChaosTelemetry.Source.StartActivity("restore the lab", ActivityKind.Internal, rootContext);
            var watch = Stopwatch.StartNew();
            var problems = new List<string>();
            // Bounded, and deaf to the run's cancellation: Ctrl-C must not leave a fault in place.
            using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(8));
            foreach (var f in _faults.Where(f => !f.Undone).Reverse().ToList())
            {
                try { await UndoAsync(f, limit.Token).ConfigureAwait(false); }
                catch (Exception e) { problems.Add($"undo of {FaultKinds.Name(f.Fault.Kind)} on {f.Fault.Node} failed: {e.Message}"); }
            }
            if (_faults.Count == 0) return new RestoreResult(true, 0, "no fault was injected");
            try
            {
                // The safety net: the lab's own idempotent bring-up repairs whatever an undo missed.
                if (_faults.Any(f => f.Fault.Kind is FaultKind.NodeKill or FaultKind.NodeStop or FaultKind.NodeRestart or FaultKind.NodePause) || problems.Count > 0)
                    await context.Restorer.RestoreContainersAsync(limit.Token).ConfigureAwait(false);
                var status = await WaitHealthyAsync(limit.Token).ConfigureAwait(false);
                if (status is not null) problems.Add(status);
            }
            catch (Exception e) { problems.Add(e.Message); }
            var ok = problems.Count == 0;
            if (!ok) span?.SetStatus(ActivityStatusCode.Error, string.Join("; ", problems));
            var detail = ok ? "every fault undone; all containers run, one node carries the VIP, VIP:port answers" + (kubernetes ? ", /readyz ok through the VIP and on every master, every etcd member healthy" : "")
                            : string.Join("; ", problems) + $". Repair with ./hakubelab up (idempotent), see ./hakubelab status --lab {topology.Name}";
            Log(ok ? $"lab restored ({watch.Elapsed.TotalSeconds:0.0} s)" : "LAB NOT RESTORED: " + detail);
            return new RestoreResult(ok, Math.Round(watch.Elapsed.TotalSeconds, 2), detail);
        }

        /// <summary>Waits until the lab is as healthy as before the run; returns what is still wrong, or null.</summary>
        private async Task<string?> WaitHealthyAsync(CancellationToken ct)
        {
            var watch = Stopwatch.StartNew();
            var deadline = TimeSpan.FromSeconds(kubernetes ? 240 : 90);
            string? last = null;
            IKubernetes? client = kubernetes ? ClusterReadiness(kubeconfig) : null;
            try
            {
                while (watch.Elapsed < deadline)
                {
                    try
                    {
                        // One container list and one VIP look per second; the control plane is asked only once those are right.
                        var snapshot = await context.Restorer.Lab.SnapshotAsync(ct).ConfigureAwait(false);
                        var wrong = snapshot.Problems().ToList();
                        if (!await TcpProbe.ConnectAsync(topology.Vip, topology.LoadBalancer.Port, TimeSpan.FromSeconds(1), ct).ConfigureAwait(false)) wrong.Add("VIP:port does not answer");
                        if (client is not null && wrong.Count == 0)
                        {
                            try
                            {
                                var readyz = await HaKubeLab.Bootstrap.ClusterReadiness.ReadyzAsync(client, ct).ConfigureAwait(false);
                                if (readyz != "ok") wrong.Add($"/readyz through the VIP says '{readyz}'");
                            }
                            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { wrong.Add("/readyz through the VIP: " + e.GetBaseException().Message); }
                            // Every master's own apiserver and etcd member, not just the one behind the VIP.
                            // External etcd: the members of their own, not the masters, carry etcd.
                            var external = topology.Etcd.Topology == EtcdTopology.External ? await EtcdHealth.CheckAsync(docker, topology, ct).ConfigureAwait(false) : null;
                            var health = await ControlPlaneHealth.CheckAsync(docker, topology.Name,
                                [.. topology.Nodes.Select(n => (n.Name, n.Ip.ToString(), true))], topology.Kubernetes.ApiServerPort, ct, external).ConfigureAwait(false);
                            wrong.AddRange(health.Nodes.Where(n => n.ApiServer != "ok").Select(n => $"{n.Node}'s apiserver: {n.ApiServer}"));
                            wrong.AddRange(health.Nodes.Where(n => n.Etcd is not ("healthy" or ControlPlaneHealth.NoLocalEtcd)).Select(n => $"{n.Node}'s etcd: {n.Etcd}"));
                            if (external is not null) wrong.AddRange(external.Members.Where(m => m.Health != "healthy").Select(m => $"etcd member {m.Name}: {m.Health}"));
                        }
                        if (wrong.Count == 0) return null;
                        last = string.Join("; ", wrong);
                    }
                    catch (DockerApiException e) { last = e.Message; }
                    await Task.Delay(1000, ct).ConfigureAwait(false);
                }
                return $"after {deadline.TotalSeconds:0} s: {last}";
            }
            finally
            {
                client?.Dispose();
            }
        }

        private static IKubernetes ClusterReadiness(string kubeconfig) => HaKubeLab.Bootstrap.ClusterReadiness.Client(kubeconfig, TimeSpan.FromSeconds(3));

        private RunResult Analyse(double measuredUntil, CpuResult cpu, RestoreResult? restore, bool interrupted)
        {
            var wire = AnalyseWire(measuredUntil);
            var probes = _loops.Select(l =>
            {
                var samples = wire.SamplesOf(l.Probe.Name, l.Samples);
                var outages = SeriesMath.Outages(samples);
                return new ProbeResult(l.Probe.Name, l.Probe.Target, l.Interval.TotalMilliseconds, l.Timeout.TotalMilliseconds, true, null,
                    samples.Count, samples.Count(s => !s.Ok), Round(SeriesMath.Availability(samples)), outages, Math.Round(SeriesMath.OutageSeconds(outages), 4),
                    Round(SeriesMath.LatencyPercentile(samples, 50)), Round(SeriesMath.LatencyPercentile(samples, 99)),
                    SeriesMath.WorstGap(samples) is { } g ? Math.Round(g * 1000, 1) : null, samples);
            }).Concat(_notApplicable).ToList();

            var holderSamples = _monitor.Samples;
            var changes = VipHolderMonitor.Changes(holderSamples);
            var vip = new VipHolderResult(
                _monitor.Source + "; plus keepalived's HAKUBELAB-VRRP state-change lines (docker logs) and the host's ARP entry for the VIP",
                $"a change on the interfaces is known to within one poll ({Durations.Format(_monitor.Interval)}): it happened between the previous look and the one that saw it. " +
                "keepalived's lines carry the notify script's own nanosecond stamp (wall clock, mapped to run time via the start's wall-clock time). " +
                "'arp' is where the host sends VIP traffic: it follows keepalived's gratuitous ARP.",
                _monitor.Interval.TotalMilliseconds,
                holderSamples.FirstOrDefault()?.Label, holderSamples.LastOrDefault()?.Label, changes, _monitor.Transitions, holderSamples);

            var injected = _faults.Where(f => f.FaultTime is not null).ToList();
            var faults = injected.Select((f, index) =>
            {
                // What this fault caused ends where the next fault starts.
                var until = index + 1 < injected.Count ? injected[index + 1].InjectStarted : measuredUntil;
                var figures = new Dictionary<string, FailoverFigure>();
                foreach (var l in _loops.Where(l => ProbeNames.ThroughVip.Contains(l.Probe.Name)))
                {
                    var samples = wire.SamplesOf(l.Probe.Name, l.Samples);
                    var m = SeriesMath.Failover(samples, f.FaultTime!.Value);
                    var outage = SeriesMath.Outages(samples).FirstOrDefault(o => o.Start >= f.InjectStarted && o.Start <= Math.Min(f.UndoneAt ?? measuredUntil, until));
                    figures[l.Probe.Name] = new FailoverFigure(m.Seconds is { } sec ? Math.Round(sec, 4) : null, m.Interrupted,
                        SeriesMath.RecoveredAfterUndo(m, f.UndoStarted, f.UndoneAt) && f.Fault.Kind != FaultKind.NodeRestart,
                        outage?.Start, outage is null ? null : Math.Round(outage.Length, 4));
                }
                // The holder may change while the injector's call still runs (docker kill returns after the network is torn down).
                var moved = changes.FirstOrDefault(c => c.T >= f.InjectStarted && c.T < until && c.To != "none");
                return new FaultResult(f.Step.Id, FaultKinds.Name(f.Fault.Kind), f.Fault.Node, f.Target, f.Fault.Mechanism, f.Step.Line, f.InjectStarted, f.FaultTime!.Value,
                    f.UndoneAt is { } ua && ua <= measuredUntil ? ua : null, f.UndoError, f.HolderBefore, f.Prediction, figures,
                    moved is null ? null : Math.Round(moved.T - f.FaultTime!.Value, 4), moved?.To,
                    // With the engine's timestamp the fault time is known; otherwise it lies somewhere in the call.
                    FailoverPredictor.FromFaultTime(f.Prediction, f.EarliestEffect, f.FaultTime!.Value),
                    Verdict(f, figures.GetValueOrDefault(scenario.FailoverProbe), _loops.FirstOrDefault(l => l.Probe.Name == scenario.FailoverProbe)),
                    f.FaultTimeSource, f.CallEnded, f.UndoneAt is { } done && done <= measuredUntil ? f.UndoStarted : null);
            }).ToList();

            var rendered = HaKubeLab.Explain.Explainer.AsRendered(topology).Keepalived;
            return new RunResult
            {
                Scenario = scenario.Name,
                ScenarioFile = scenario.File,
                Description = scenario.Description,
                Lab = new LabInfo(topology.Name, topology.Subnet.ToString(), topology.Vip.ToString(), topology.LoadBalancer.Port, topology.Kubernetes.ApiServerPort, kubernetes,
                    topology.Profile.ToString().ToLowerInvariant(),
                    $"advert_int {rendered.AdvertInterval} s, track script every {rendered.CheckInterval} s (fall {rendered.Fall}, weight {rendered.Weight}), nopreempt {(rendered.Nopreempt ? "on" : "off")}, priorities {string.Join("/", topology.Nodes.Select(n => $"{n.Name}:{n.Priority}{(n.State == VrrpState.Master ? " MASTER" : "")}"))}",
                    FailoverPredictor.HasRunbookSettings(topology), [.. topology.Nodes.Select(n => n.Name)]),
                RunFolder = runFolder,
                StartedAt = clock.StartWall,
                Seed = seed,
                DurationSeconds = scenario.Duration.TotalSeconds,
                MeasuredUntil = Math.Round(measuredUntil, 4),
                Probes = probes,
                VipHolder = vip,
                Faults = faults,
                Steps = [.. _steps],
                Cpu = cpu,
                Wire = wire.Result,
                Restore = restore,
                Interrupted = interrupted,
                Error = _error,
                Leaders = _leaders is null ? null : LeaderResults.Build(topology, _leaders, faults, probes, [.. _steps], measuredUntil),
            };
        }

        /// <summary>The wire timeline of the run and the TCP probes' samples cross-checked against it (see <see cref="WireRun"/>).</summary>
        private WireAnalysis AnalyseWire(double measuredUntil)
        {
            var injected = _faults.Where(f => f.FaultTime is not null).ToList();
            var faults = injected.Select((f, i) => new WireFaultInput(f.Step.Id, f.Fault.Node, f.FaultTime!.Value, i + 1 < injected.Count ? injected[i + 1].InjectStarted : measuredUntil)).ToList();
            var tcp = _loops.Where(l => l.Probe is TcpConnectProbe).Select(l => new WireProbeInput(l.Probe.Name,
                l.Probe.Name == ProbeNames.VipApiTcp ? topology.Kubernetes.ApiServerPort : topology.LoadBalancer.Port, l.Timeout.TotalSeconds, l.Samples)).ToList();
            var synTimeout = _loops.FirstOrDefault(l => l.Probe.Name == ProbeNames.VipTcp)?.Timeout.TotalSeconds ?? 0.25;
            var analysis = WireRun.Analyse(_wire, topology, faults, tcp, synTimeout);
            foreach (var f in analysis.Result.Faults)
                Log($"wire: {f.FaultId} on {f.Node}: old master {f.OldMaster ?? "?"} last advert {f.LastAdvertBefore:0.000} s before the fault; new master {f.NewMaster ?? "none"} first advert +{f.NewMasterAfter:0.000} s, first GARP +{f.GarpAfter:0.000} s, first SYN-ACK through the VIP +{f.Seconds:0.0000} s{(f.ProbeSeconds is { } own ? $" (to {ProbeNames.VipTcp}'s own SYNs +{own:0.0000} s)" : "")}");
            if (analysis.Result.FalseOutages.Count > 0) Log($"wire: {analysis.Result.FalseOutages.Count} probe failure(s) were answered on the wire in time: not outages");
            return analysis;
        }

        /// <summary>
        /// Measured beside predicted, allowing the probe's resolution (an attempt can hang until its timeout).
        /// The VRRP window runs from the moment the fault took effect, somewhere during the injector's call:
        /// the outage it caused is at least its own length and at most its end minus the call's start.
        /// </summary>
        private static string? Verdict(ActiveFault f, FailoverFigure? measured, ProbeLoop? loop)
        {
            if (loop is null || measured is null) return null;
            var probe = loop.Probe.Name;
            if (f.Prediction.DownUntilUndone)
                return measured.AfterUndo || measured.Seconds is null ? $"as predicted: {probe} failed until the fault was undone" : $"NOT as predicted: {probe} succeeded before the fault was undone";
            if (f.Prediction.Window is not { } w) return null;
            var resolution = (loop.Interval + loop.Timeout).TotalSeconds;
            if (measured.OutageSeconds is not { } length || measured.OutageStart is not { } start)
                return w.MaxSeconds <= 0 ? $"as predicted: {probe} did not notice the fault"
                    : $"{probe} did not notice the fault (predicted an outage of {w}); it cannot see what the fault did (e.g. a frozen host's kernel still completes TCP handshakes)";
            var (low, high) = (length, start + length - f.EarliestEffect);
            if (w.MaxSeconds <= 0) return $"NOT as predicted: an outage of {length:0.00} s where none was predicted";
            return high < w.MinSeconds - resolution ? $"{w.MinSeconds - high:0.00} s shorter than predicted (outage {length:0.00} s, predicted {w})"
                : low > w.MaxSeconds + resolution ? $"{low - w.MaxSeconds:0.00} s longer than predicted (outage {length:0.00} s, predicted {w})"
                : $"within the prediction: outage {length:0.00}-{high:0.00} s from the fault taking effect, predicted {w} (probe resolution {resolution * 1000:0} ms)";
        }

        private static double? Round(double? v) => v is { } x ? Math.Round(x, 4) : null;

        private void RecordTelemetry(RunResult result, ActivityContext rootContext)
        {
            foreach (var f in result.Faults)
                foreach (var (probe, figure) in f.Failover)
                    if (figure.Seconds is { } s)
                        ChaosTelemetry.FailoverSeconds.Record(s, new TagList { { "scenario", scenario.Name }, { "fault", f.Kind }, { "probe", probe }, { "node", f.Node } });
            foreach (var p in result.Probes.Where(p => p.Applicable))
                foreach (var o in p.Outages)
                {
                    ChaosTelemetry.OutageSeconds.Record(o.Length, new TagList { { "scenario", scenario.Name }, { "probe", p.Name } });
                    var previous = Activity.Current;
                    var span = ChaosTelemetry.Source.StartActivity($"outage {p.Name}", ActivityKind.Internal, rootContext, startTime: clock.WallAt(o.Start));
                    Activity.Current = previous;
                    if (span is null) continue;
                    span.SetTag("hakubelab.probe", p.Name);
                    span.SetTag("hakubelab.outage.failed_probes", o.FailedSamples);
                    span.SetTag("hakubelab.outage.first_error", o.FirstError);
                    span.SetTag("hakubelab.outage.open", o.Open);
                    span.SetEndTime(clock.WallAt(o.Start + o.Length).UtcDateTime);
                    StopDetached(span);
                }
            var root = Activity.Current;
            foreach (var c in result.VipHolder.Changes)
                root?.AddEvent(new ActivityEvent("vip holder changed", clock.WallAt(c.T), new ActivityTagsCollection { ["from"] = c.From, ["to"] = c.To }));
        }
    }
}
