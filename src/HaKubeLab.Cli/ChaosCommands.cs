using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using HaKubeLab.Chaos;
using HaKubeLab.Chaos.Faults;
using HaKubeLab.Chaos.Reports;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Chaos.Telemetry;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Cli;

/// <summary>
/// <c>hakubelab chaos list</c> and <c>hakubelab chaos run SCENARIO</c>. Exit codes of <c>run</c>: 0 every
/// expectation held and the lab was restored; 1 an expectation failed (or a step, or the restore);
/// 2 bad input (scenario, topology, or a topology that is not the lab's); 3 no such lab, or not healthy;
/// 4 a fault this host cannot do (e.g. delay without netem), refused before anything was injected;
/// 130 interrupted (every fault undone first).
/// </summary>
internal static class ChaosCommands
{
    // The same options as the lab commands: one definition, one meaning.
    private static Option<FileInfo?> TopologyOption => LabCommands.TopologyOption;
    private static Option<string?> LabOption => LabCommands.LabOption;

    public static Command Chaos()
    {
        var chaos = new Command("chaos", "Fault injection against a running lab: scenarios with probes, failover and availability measured, reports (JSON, Markdown, JUnit, SVG) and OpenTelemetry.");
        chaos.Add(List());
        chaos.Add(RunCommand());
        chaos.Add(CompareTopologiesCommand.Create());
        chaos.Add(CompareCommands.Compare());
        return chaos;
    }

    private static Command List()
    {
        var faults = new Option<bool>("--faults") { Description = "Also list every fault kind and what it does." };
        var cmd = new Command("list", "List the shipped scenarios (chaos/scenarios/*.yaml).") { faults };
        cmd.SetAction(parse =>
        {
            var files = ScenarioCatalog.Files();
            Console.WriteLine($"Scenarios in {ScenarioCatalog.Directory()}:");
            var status = 0;
            foreach (var file in files)
            {
                try
                {
                    var s = ScenarioLoader.LoadFile(file);
                    var steps = string.Join("; ", s.Steps.Select(x => x.Describe()));
                    Console.WriteLine($"  {s.Name,-30} {Path.GetFileName(file),-36} {Durations.Format(s.Duration),7}{(s.RequiresKubernetes ? "  needs Kubernetes" : "")}");
                    if (s.Description.Length > 0) Console.WriteLine($"      {FirstSentence(s.Description)}");
                    Console.WriteLine($"      steps: {steps}");
                    if (!s.Expectations.IsEmpty) Console.WriteLine($"      expect: {string.Join(", ", s.Expectations.Select(e => e.Text))}");
                }
                catch (ScenarioException e)
                {
                    Console.WriteLine($"  {Path.GetFileName(file)}: INVALID{Environment.NewLine}{e.Message}");
                    status = 2;
                }
            }
            if (parse.GetValue(faults))
            {
                Console.WriteLine();
                Console.WriteLine($"Faults (targets: a node name such as m02, an external etcd member such as e01, or {string.Join(", ", TargetSpec.RoleNames)}):");
                foreach (var f in FaultKinds.All) Console.WriteLine($"  {f.Name,-20} {f.Description}");
            }
            Console.WriteLine();
            Console.WriteLine("Run one: ./hakubelab chaos run NAME [--lab NAME] [--topology FILE] [--out DIR]");
            return status;
        });
        return cmd;
    }

    private static Command RunCommand()
    {
        var scenarioArg = new Argument<string>("SCENARIO") { Description = "A scenario name from 'chaos list', or the path of a scenario YAML file." };
        var outDir = new Option<DirectoryInfo?>("--out", "-o") { Description = "Parent folder of the run folder (default: artifacts/chaos-runs in the repository)." };
        var seed = new Option<int?>("--seed") { Description = "Seed for random targets (default: the scenario's, else a new one; always recorded)." };
        var cmd = new Command("run", "Run a scenario against a running lab; writes result.json, summary.md, junit.xml and timeline.svg to a run folder and prints its path. " +
                                     "Every fault is undone at the end, also on failure or Ctrl-C.")
        {
            scenarioArg, TopologyOption, LabOption, outDir, seed,
        };
        // Synchronous on purpose: an async action gets System.CommandLine's 2-second termination timeout on
        // Ctrl-C, which would end the process while the faults are being undone.
        cmd.SetAction(parse => RunWithSignals(ct => Run(parse, scenarioArg, outDir, seed, ct)));
        return cmd;
    }

    internal static int RunWithSignals(Func<CancellationToken, Task<int>> body)
    {
        using var cts = new CancellationTokenSource();
        var signals = 0;
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true; // never die mid-way: the runner undoes its faults first
            if (Interlocked.Increment(ref signals) == 1)
            {
                Console.Error.WriteLine("Interrupted: stopping the scenario, undoing every fault and restoring the lab (this can take a minute) ...");
                cts.Cancel();
            }
            else Console.Error.WriteLine("Still undoing faults so the lab is not left broken; please wait.");
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        return body(cts.Token).GetAwaiter().GetResult();
    }

    private static async Task<int> Run(ParseResult parse, Argument<string> scenarioArg, Option<DirectoryInfo?> outDir, Option<int?> seedOption, CancellationToken ct)
    {
        using var export = ChaosTelemetry.StartExport();
        try
        {
            // The lab is opened from its record; --topology, when given, is only checked against it.
            var expected = parse.GetValue(TopologyOption) is { } file ? TopologyLoader.LoadFile(file.FullName) : null;
            var labName = parse.GetValue(LabOption) ?? expected?.Name ?? LabTopology.Default.Name;
            if (expected is not null && expected.Name != labName) expected = TopologyValidator.EnsureValid(expected with { Name = labName });
            using var docker = await DockerConnection.ConnectAsync(ct);
            RunningLab lab;
            try { lab = await RunningLab.OpenAsync(docker, labName, ct); }
            catch (Exception e) when (e is LabNotFoundException or LabRecordException) { throw new LabNotReadyException(e.Message); }
            await using var _ = lab;
            var path = ScenarioCatalog.Resolve(parse.GetValue(scenarioArg)!);
            var scenario = ScenarioLoader.LoadFile(path, [.. lab.Topology.Nodes.Select(n => n.Name), .. lab.Topology.Etcd.Nodes.Select(n => n.Name)]);
            var runFolder = ChaosRunner.DefaultRunFolder(scenario, lab.Name, parse.GetValue(outDir)?.FullName);

            Console.WriteLine($"Chaos scenario '{scenario.Name}' ({path}) against lab '{lab.Name}', VIP {lab.Topology.Vip}:{lab.Topology.LoadBalancer.Port}, profile {lab.Topology.Profile.ToString().ToLowerInvariant()}, for {Durations.Format(scenario.Duration)}");
            var outcome = await ChaosRunner.RunAsync(lab, new ChaosRunOptions(scenario, lab.Name, runFolder, parse.GetValue(seedOption), Console.WriteLine) { ExpectedTopology = expected }, ct);
            var r = outcome.Result;
            Print(r);
            Console.WriteLine($"Run folder: {runFolder}");
            if (export is not null)
                Console.WriteLine($"OpenTelemetry: the run's trace and metrics go over OTLP to {Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT")} (an endpoint that does not answer loses them; the run does not fail).");
            return r.Interrupted ? 130 : r.Passed ? 0 : 1;
        }
        catch (Exception e) when (e is TopologyException or ScenarioException or LabMismatchException)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        catch (LabNotReadyException e)
        {
            Console.Error.WriteLine("error: " + e.Message);
            return 3;
        }
        catch (FaultUnsupportedException e)
        {
            Console.Error.WriteLine("error: " + e.Message);
            return 4;
        }
        catch (Exception e) when (e is DockerUnavailableException or ChaosException or LabException or ImageBuildException)
        {
            Console.Error.WriteLine("error: " + e.Message);
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("Interrupted before any fault was injected.");
            return 130;
        }
    }

    private static void Print(RunResult r)
    {
        string F(double v, string f = "0.00") => v.ToString(f, CultureInfo.InvariantCulture);
        Console.WriteLine();
        foreach (var f in r.Faults)
        {
            var vip = f.Failover.TryGetValue(ProbeNames.VipTcp, out var x) ? x : null;
            Console.WriteLine($"fault {f.Kind} on {f.Node} at {F(f.FaultTime, "0.000")} s ({(f.FaultTimeSource.StartsWith("Docker engine", StringComparison.Ordinal) ? "engine event" : "call returned")}; the call took {F(f.CallSeconds)} s): vip_tcp failover {(vip?.Seconds is { } s ? F(s, "0.000") + " s" + (vip.Interrupted ? "" : " (not interrupted)") : "none before the end")}" +
                              $"{(f.PredictedFailover is { } pf ? $" (predicted {pf})" : "")}{(f.Verdict is null ? "" : $": {f.Verdict}")}; {f.Prediction.Summary}{(f.VipMovedAfter is { } m ? $"; VIP moved to {f.VipMovedTo} at fault time {(m >= 0 ? "+" : "")}{F(m)} s" : "")}");
        }
        foreach (var p in r.Probes.Where(p => p.Applicable))
            Console.WriteLine($"{p.Name,-14} availability {(p.Availability is { } a ? F(a, "0.0000") : "-")}, {p.Outages.Count} outage(s){(p.Outages.Count > 0 ? $", longest {F(p.Outages.Max(o => o.Length), "0.000")} s" : "")}, every {F(p.IntervalMs, "0")} ms");
        Console.WriteLine($"VIP holder: {r.VipHolder.Initial} -> {r.VipHolder.Final}; changes: {(r.VipHolder.Changes.Count == 0 ? "none" : string.Join(", ", r.VipHolder.Changes.Select(c => $"{c.From}->{c.To} at {F(c.T, "0.000")} s")))}");
        Console.WriteLine($"Runner CPU: {F(r.Cpu.ProcessCpuSeconds)} s over {F(r.Cpu.WallSeconds, "0.0")} s ({F(r.Cpu.PercentOfOneCore, "0.0")} % of one core" +
                          (r.Cpu.SteadyPercentOfOneCore is { } steady ? $"; {F(steady, "0.0")} % after start-up" : "") +
                          (r.Cpu.ProbeThreadPercentOfOneCore is { } probes ? $"); the probe thread {F(r.Cpu.ProbeThreadCpuSeconds!.Value)} s ({F(probes, "0.0")} %{(r.Cpu.ProbeThreadNice is { } nice ? $", nice {nice}" : "")})" : ")") +
                          (r.Cpu.TlsHandshakes is { } handshakes ? $"; {handshakes} TLS handshakes" : ""));
        if (r.Restore is { } restore) Console.WriteLine($"Lab restored: {(restore.Ok ? "yes" : "NO")} ({F(restore.Seconds, "0.0")} s{(restore.CpuSeconds is { } rc ? $"; runner CPU {F(rc)} s, not in the figure above" : "")}){(restore.Ok ? "" : ": " + restore.Detail)}");
        if (r.Error is not null) Console.WriteLine($"ERROR: {r.Error}");
        CompareTopologiesCommand.PrintLeaders(r);
        Console.WriteLine();
        foreach (var e in r.Expectations)
            Console.WriteLine($"{(e.Status == ExpectationStatus.Passed ? "PASS" : e.Status == ExpectationStatus.Failed ? "FAIL" : "SKIP")}  {e.Text}  (line {e.Line}): {e.Message}");
        var failed = r.Expectations.Count(e => e.Status == ExpectationStatus.Failed);
        Console.WriteLine(r.Passed ? "Scenario PASSED." : $"Scenario FAILED: {failed} expectation(s) failed{(r.Error is null ? "" : ", a step failed")}{(r.Restore is { Ok: false } ? ", the lab was not restored" : "")}.");
    }

    private static string FirstSentence(string text)
    {
        var t = text.Trim().ReplaceLineEndings(" ");
        var dot = t.IndexOf(". ", StringComparison.Ordinal);
        return dot > 0 ? t[..(dot + 1)] : t;
    }
}
