using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using HaKubeLab.Chaos;
using HaKubeLab.Chaos.Faults;
using HaKubeLab.Chaos.Reports;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Cli;

/// <summary>
/// <c>hakubelab chaos compare-topologies</c>: the same faults (a comparison set, <c>chaos/scenarios/sets/compare-topologies.yaml</c>)
/// against each lab named with <c>--lab</c> (a stacked and an external one), and one side-by-side report. A lab's set run
/// is kept in its own folder (<c>compared.json</c> per scenario), so labs that cannot run at the same time (one
/// Kubernetes lab at a time on a small machine) are compared with <c>--runs FOLDER</c>.
/// Exit codes: 0 every scenario ran and was reported; 1 a run failed to start or a lab was not restored; 2 bad input; 3 no such lab.
/// </summary>
internal static class CompareTopologiesCommand
{
    public const string SummaryFile = "comparison.md";
    public const string CompactFile = "compared.json";

    public static Command Create()
    {
        var labs = new Option<string[]>("--lab") { Description = "A running lab to run the set against (repeatable: a stacked and an external lab).", AllowMultipleArgumentsPerToken = false };
        var runs = new Option<DirectoryInfo[]>("--runs") { Description = "A folder of an earlier set run (printed by this command) to compare instead of running again (repeatable).", AllowMultipleArgumentsPerToken = false };
        var set = new Option<FileInfo?>("--set") { Description = "The comparison set (default: chaos/scenarios/sets/compare-topologies.yaml)." };
        var only = new Option<string[]>("--only") { Description = "Run only the set's entries whose scenario (stacked or external name) is given (repeatable).", AllowMultipleArgumentsPerToken = false };
        var outDir = new Option<DirectoryInfo?>("--out", "-o") { Description = "Where the set's folder goes (default: artifacts/chaos-compare in the repository)." };
        var cmd = new Command("compare-topologies", "Run the same faults against a stacked and an external lab (or compare earlier set runs) and write one side-by-side report: availability of the API through the VIP, writes, leader gaps, with the survival prediction.")
        {
            labs, runs, set, only, outDir,
        };
        cmd.SetAction(parse => ChaosCommands.RunWithSignals(ct => RunAsync(parse.GetValue(labs) ?? [], parse.GetValue(runs) ?? [], parse.GetValue(set), parse.GetValue(only) ?? [], parse.GetValue(outDir), ct)));
        return cmd;
    }

    private static string DefaultSet() => Path.Combine(ScenarioCatalog.Directory(), "sets", "compare-topologies.yaml");

    private static async Task<int> RunAsync(string[] labs, DirectoryInfo[] runs, FileInfo? setFile, string[] only, DirectoryInfo? outDir, CancellationToken ct)
    {
        try
        {
            if (labs.Length + runs.Length == 0)
                throw new ArgumentException("name at least one lab (--lab NAME) or an earlier set run (--runs FOLDER); for a side-by-side report give two, e.g. --lab ldr-stacked --runs artifacts/chaos-compare/<time>/ldr-external");
            var set = ComparisonSet.Load(setFile?.FullName ?? DefaultSet());
            string root;
            try { root = outDir?.FullName ?? Path.Combine(RepositoryLayout.Root(), "artifacts", "chaos-compare"); }
            catch (InvalidOperationException) { root = Path.Combine(Directory.GetCurrentDirectory(), "chaos-compare"); }
            var folder = Path.Combine(root, DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
            Directory.CreateDirectory(folder);

            var columns = new List<(string Lab, string Topology)>();
            var compared = new List<ComparedRun>();
            var notRun = new Dictionary<(string, string), string>();
            var status = 0;
            using var docker = await DockerConnection.ConnectAsync(ct);
            foreach (var labName in labs)
            {
                RunningLab lab;
                try { lab = await RunningLab.OpenAsync(docker, labName, ct); }
                catch (Exception e) when (e is LabNotFoundException or LabRecordException) { Console.Error.WriteLine("error: " + e.Message); return 3; }
                await using var _ = lab;
                var topology = lab.Topology.Etcd.Topology == EtcdTopology.External ? "external" : "stacked";
                columns.Add((lab.Name, topology));
                var labFolder = Path.Combine(folder, lab.Name);
                foreach (var entry in set.Scenarios)
                {
                    var name = topology == "external" ? entry.External : entry.Stacked;
                    if (only.Length > 0 && !only.Contains(entry.Stacked) && !only.Contains(entry.External)) { notRun[(entry.Title, lab.Name)] = "not selected (--only)"; continue; }
                    if (name is null) { notRun[(entry.Title, lab.Name)] = $"no such fault in the {topology} topology"; continue; }
                    var scenario = ScenarioLoader.LoadFile(ScenarioCatalog.Resolve(name), [.. lab.Topology.Nodes.Select(n => n.Name), .. lab.Topology.Etcd.Nodes.Select(n => n.Name)]);
                    var runFolder = Path.Combine(labFolder, scenario.Name);
                    Console.WriteLine($"== {entry.Title}: '{scenario.Name}' on {topology} lab '{lab.Name}' ({Durations.Format(scenario.Duration)})");
                    try
                    {
                        var outcome = await ChaosRunner.RunAsync(lab, new ChaosRunOptions(scenario, lab.Name, runFolder, Log: line => Console.WriteLine("   " + line)), ct);
                        var c = ComparedRun.From(entry.Title, outcome.Result, topology);
                        File.WriteAllText(Path.Combine(runFolder, CompactFile), JsonSerializer.Serialize(c, ComparedRun.Json));
                        compared.Add(c);
                        PrintLeaders(outcome.Result);
                        if (outcome.Result.Restore is { Ok: false }) { status = 1; Console.Error.WriteLine($"error: lab '{lab.Name}' was not restored after {scenario.Name}; stopping here."); break; }
                        if (outcome.Result.Interrupted) return 130;
                    }
                    catch (Exception e) when (e is LabNotReadyException or FaultUnsupportedException or ChaosException or LabMismatchException)
                    {
                        notRun[(entry.Title, lab.Name)] = "not run: " + e.Message.Split('\n')[0];
                        Console.Error.WriteLine($"   not run: {e.Message}");
                        if (e is LabNotReadyException) status = 1;
                    }
                }
            }
            foreach (var dir in runs)
            {
                var loaded = Directory.EnumerateFiles(dir.FullName, CompactFile, SearchOption.AllDirectories)
                    .Select(f => JsonSerializer.Deserialize<ComparedRun>(File.ReadAllText(f), ComparedRun.Json)!).ToList();
                if (loaded.Count == 0) throw new ArgumentException($"--runs {dir.FullName}: no {CompactFile} in it; give the folder of a lab printed by an earlier compare-topologies run");
                var lab = loaded[0].Lab;
                columns.Add((lab, loaded[0].Topology));
                compared.AddRange(loaded);
                foreach (var entry in set.Scenarios.Where(e => loaded.All(r => r.Title != e.Title)))
                    notRun[(entry.Title, lab)] = (loaded[0].Topology == "external" ? entry.External : entry.Stacked) is null ? $"no such fault in the {loaded[0].Topology} topology" : "not in that run";
            }
            var md = TopologySideBySide.Markdown(set, columns, compared, notRun);
            var summary = Path.Combine(folder, SummaryFile);
            LabPaths.WriteAtomically(summary, md);
            Console.WriteLine();
            Console.WriteLine(md);
            Console.WriteLine($"Side-by-side report: {summary}");
            foreach (var c in columns.Where(c => labs.Contains(c.Lab))) Console.WriteLine($"Set run of '{c.Lab}' (for --runs): {Path.Combine(folder, c.Lab)}");
            return status;
        }
        catch (Exception e) when (e is ScenarioException or TopologyException or ArgumentException or FileNotFoundException or JsonException)
        {
            Console.Error.WriteLine("error: " + e.Message);
            return 2;
        }
        catch (DockerUnavailableException e)
        {
            Console.Error.WriteLine("error: " + e.Message);
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("Interrupted.");
            return 130;
        }
    }

    /// <summary>The leader gaps and the survival verdicts of a run, one line each (also printed by <c>chaos run</c>).</summary>
    public static void PrintLeaders(RunResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        if (r.Leaders is not { } l) return;
        string F(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);
        foreach (var g in l.Gaps)
            Console.WriteLine($"leader gap {g.Component}: {g.From ?? "?"} -> {g.To ?? "none"}: no leader for {F(g.Seconds)} s{(g.Open ? "+ (still open)" : "")} from {F(g.Start)} s ({g.StartBasis})" +
                              (g.Predicted is { } w ? $"; predicted {w}" : ""));
        if (l.Gaps.Count == 0) Console.WriteLine("leaders: etcd, controller-manager and scheduler each kept a leader throughout");
        foreach (var s in l.Survival)
            Console.WriteLine($"survival at {s.Fault} (lost {string.Join(", ", s.Lost)}): predicted {s.Prediction}; measured {s.Measured}: {s.Verdict}");
    }
}
