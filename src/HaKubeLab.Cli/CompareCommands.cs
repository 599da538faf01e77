using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text.Json;
using HaKubeLab.Chaos;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Faults;
using HaKubeLab.Chaos.Reports;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Failover;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Cli;

/// <summary>
/// <c>hakubelab chaos compare --profiles seed,fast</c>: for each profile a fresh Kubernetes lab, the same fault set
/// (chaos/scenarios/profile-comparison/), a steady-state run, the lab removed; then one side-by-side report
/// (<see cref="ProfileComparison"/>). Thin: the labs are the runtime library's, the runs the chaos runner's, the
/// analysis is pure and lives in HaKubeLab.Chaos. Exit codes: 0 done, 1 a lab or run failed, 2 bad input, 130 interrupted.
/// </summary>
internal static class CompareCommands
{
    /// <summary>The fault set of issue 11, in the order it runs.</summary>
    public static readonly IReadOnlyList<string> FaultSet = ["node-kill", "haproxy-kill", "keepalived-stop", "apiserver-kill", "node-pause"];

    public static Command Compare()
    {
        var profiles = new Option<string>("--profiles") { Description = "Comma-separated profiles to compare, in order (seed, recommended, fast).", DefaultValueFactory = _ => "seed,fast" };
        var repeat = new Option<int>("--repeat") { Description = "Repeats of the node kill per profile.", DefaultValueFactory = _ => 10 };
        var repeatOthers = new Option<int>("--repeat-others") { Description = "Repeats of every other fault per profile.", DefaultValueFactory = _ => 2 };
        var faults = new Option<string?>("--faults") { Description = $"Comma-separated subset of the fault set ({string.Join(", ", FaultSet)})." };
        var noSteady = new Option<bool>("--no-steady") { Description = "Skip the two-minute steady-state run on each profile." };
        var subnet = new Option<string>("--subnet") { Description = "Subnet of the comparison labs (one at a time, so one subnet serves all).", DefaultValueFactory = _ => "192.168.100.0/24" };
        var prefix = new Option<string>("--lab-prefix") { Description = "Lab names are PREFIX-<profile>.", DefaultValueFactory = _ => "compare" };
        var outDir = new Option<DirectoryInfo?>("--out", "-o") { Description = "Folder for report.md, comparison.json and the run folders (default: artifacts/profile-comparison/<time>)." };
        var keep = new Option<bool>("--keep") { Description = "Keep each lab after its runs (default: removed before the next profile's lab comes up)." };
        var cmd = new Command("compare", "Run the same fault set (node kill, haproxy kill, keepalived stop, apiserver kill, node pause) against a fresh Kubernetes lab per profile " +
                                         "and write one side-by-side report: failover and outage per probe, predicted beside measured, min/median/max over repeats, and each profile's steady state.")
        {
            profiles, repeat, repeatOthers, faults, noSteady, subnet, prefix, outDir, keep,
        };
        cmd.SetAction(parse => Signals.Run((_, ct) => Run(parse, profiles, repeat, repeatOthers, faults, noSteady, subnet, prefix, outDir, keep, ct),
            "Interrupted: undoing the current fault and removing the comparison lab ...",
            "Still cleaning up; please wait (after a SIGKILL, './hakubelab down --lab NAME' removes the lab)."));
        return cmd;
    }

    private static async Task<int> Run(ParseResult parse, Option<string> profilesOption, Option<int> repeatOption, Option<int> repeatOthersOption, Option<string?> faultsOption,
        Option<bool> noSteadyOption, Option<string> subnetOption, Option<string> prefixOption, Option<DirectoryInfo?> outOption, Option<bool> keepOption, CancellationToken ct)
    {
        // Input first: every error names the option and the fix.
        var profiles = new List<RenderProfile>();
        foreach (var name in parse.GetValue(profilesOption)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (LabCommands.ParseProfile(name) is not { } p) return Bad($"--profiles: '{name}' is not a profile. Fix: use seed, recommended or fast, e.g. --profiles seed,fast.");
            if (!profiles.Contains(p)) profiles.Add(p);
        }
        if (profiles.Count == 0) return Bad("--profiles: empty. Fix: e.g. --profiles seed,fast.");
        var repeat = parse.GetValue(repeatOption);
        var repeatOthers = parse.GetValue(repeatOthersOption);
        if (repeat < 1 || repeatOthers < 0) return Bad("--repeat must be at least 1 and --repeat-others at least 0.");
        var faults = parse.GetValue(faultsOption) is { } f ? f.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList() : [.. FaultSet];
        if (faults.FirstOrDefault(x => !FaultSet.Contains(x)) is { } unknown) return Bad($"--faults: '{unknown}' is not in the fault set. Fix: use some of {string.Join(", ", FaultSet)}.");
        if (!IPNetwork.TryParse(parse.GetValue(subnetOption)!, out var subnet)) return Bad($"--subnet: '{parse.GetValue(subnetOption)}' is not a CIDR. Fix: e.g. --subnet 192.168.185.0/24.");
        var prefix = parse.GetValue(prefixOption)!;
        var topologies = new List<LabTopology>();
        try
        {
            foreach (var p in profiles)
                topologies.Add(TopologyValidator.EnsureValid(LabTopology.Default.WithProfile(p).Relocate($"{prefix}-{p.ToString().ToLowerInvariant()}", subnet)));
        }
        catch (TopologyException e) { return Bad(e.Message); }
        var folder = ScenarioCatalog.Directory();
        var scenarioFiles = faults.Select(x => Path.Combine(folder, "profile-comparison", x + ".yaml")).ToList();
        var steadyFile = Path.Combine(folder, "profile-comparison", "steady-state.yaml");
        foreach (var file in scenarioFiles.Append(steadyFile))
            if (!File.Exists(file)) return Bad($"scenario file {file} is missing. Fix: run from a checkout of HaKubeLab (chaos/scenarios/profile-comparison/).");
        var outDir = parse.GetValue(outOption)?.FullName
                     ?? Path.Combine(RepositoryLayout.Root(), "artifacts", "profile-comparison", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
        Directory.CreateDirectory(outDir);

        var runs = new List<ComparisonRun>();
        var steady = new List<ComparisonRun>();
        var settings = new Dictionary<string, string>();
        var loads = new Dictionary<string, string>();
        var started = DateTimeOffset.UtcNow;
        var failed = false;
        void Write()
        {
            var result = ProfileComparison.Build(runs, steady, settings, loads, started);
            File.WriteAllText(Path.Combine(outDir, "report.md"), ProfileComparison.Markdown(result));
            File.WriteAllText(Path.Combine(outDir, "comparison.json"), JsonSerializer.Serialize(result, Indented));
        }

        Console.WriteLine($"Profile comparison {string.Join(" vs ", profiles.Select(p => p.ToString().ToLowerInvariant()))}: node kill x{repeat}, other faults x{repeatOthers}, on {subnet}; output {outDir}");
        var images = await LabImages.EnsureAsync(LabTopology.Default.Kubernetes.ImageRepository, new SyncProgress<string>(l => Console.WriteLine("  images: " + l)), ct);
        using var docker = await DockerConnection.ConnectAsync(ct);
        foreach (var topology in topologies)
        {
            var profile = topology.Profile.ToString().ToLowerInvariant();
            var s = FailoverModel.Settings(topology);
            settings[profile] = $"VRRPv{s.VrrpVersion}, adverts every {s.AdvertText} s, track script ({s.TrackScript}) every {s.CheckInterval} s, fall {s.Fall}, weight {s.Weight}, " +
                                $"nopreempt {(s.Nopreempt ? "on" : "off")}; haproxy checks {s.HaproxyCheck} every {s.HaproxyCheckInterval.TotalSeconds:0.###} s (fall {s.HaproxyCheckFall}); cluster endpoint {s.ControlPlaneEndpoint}" +
                                (topology.Profile == RenderProfile.Fast ? $"; etcd election timeout {Failover.EtcdElection.Fast.ElectionTimeout.TotalMilliseconds:0} ms" : "");
            Console.WriteLine($"== {profile}: lab {topology.Name} ({settings[profile]})");
            try
            {
                // The bring-up is idempotent: on a loaded machine a step can time out, so it is resumed (twice at most) before the profile is given up.
                var upClock = System.Diagnostics.Stopwatch.StartNew();
                for (var attempt = 1; ; attempt++)
                {
                    try
                    {
                        await LabLifecycle.UpAsync(docker, topology, images, withKubernetes: true, new SyncProgress<LabProgress>(p => { if (p.Done) Console.WriteLine($"  up: {p.Action} {(p.Failed ? "FAILED " + p.Detail : "")}({p.Elapsed.TotalSeconds:0.0} s)"); }),
                            new LabRuntime.UpOptions(RemoveOnFailure: false), ct);
                        break;
                    }
                    catch (Exception e) when (attempt < 3 && !ct.IsCancellationRequested)
                    {
                        Console.WriteLine($"  up failed ({e.GetType().Name}: {e.Message}); resuming the idempotent bring-up (attempt {attempt + 1} of 3)");
                        await Task.Delay(TimeSpan.FromSeconds(10), ct);
                    }
                }
                Console.WriteLine($"  lab up in {upClock.Elapsed.TotalSeconds:0} s");
                await using var lab = await RunningLab.OpenAsync(docker, topology.Name, ct);
                if (!parse.GetValue(noSteadyOption))
                try
                {
                    await WaitHealthyAsync(lab, ct);
                    var load0 = LoadAverage();
                    var r = await RunOnceAsync(lab, steadyFile, outDir, profile, ct);
                    loads[r.RunFolder] = $"{load0} → {LoadAverage()}";
                    steady.Add(new ComparisonRun(profile, "steady-state", 1, r));
                    Console.WriteLine($"  steady state {r.MeasuredUntil:0} s: VIP changes {r.VipHolder.Changes.Count}, dual-master looks {r.VipHolder.Samples.Count(x => x.Holders.Length > 1)}, keepalived transitions {r.VipHolder.Keepalived.Count}, load {loads[r.RunFolder]}");
                    Write();
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    Console.WriteLine($"  steady state: {e.Message}");
                    failed = true;
                }
                foreach (var file in scenarioFiles)
                {
                    var n = Path.GetFileNameWithoutExtension(file) == "node-kill" ? repeat : repeatOthers;
                    for (var i = 1; i <= n; i++)
                    {
                        try
                        {
                            var status = await WaitHealthyAsync(lab, ct);
                            var r = await RunOnceAsync(lab, file, outDir, profile, ct);
                            runs.Add(new ComparisonRun(profile, r.Scenario, i, r, status.EtcdLeader));
                            var fault = r.Faults.FirstOrDefault();
                            string Fig(string probe) => fault is not null && fault.Failover.TryGetValue(probe, out var x) && x.Seconds is { } sec ? $"{sec:0.000}" : "-";
                            Console.WriteLine($"  {r.Scenario} #{i}: holder {fault?.HolderBefore} (etcd leader {status.EtcdLeader ?? "?"}), VIP moved after {(fault?.VipMovedAfter is { } m ? $"{m:0.000}" : "-")} s, " +
                                              $"vip_tcp {Fig(ProbeNames.VipTcp)} s, readyz {Fig(ProbeNames.ReadyzVip)} s, write {Fig(ProbeNames.ApiWrite)} s (predicted {fault?.PredictedFailover?.ToString() ?? "-"}){(r.Error is null ? "" : " ERROR " + r.Error)}");
                            if (r.Restore is { Ok: false } restore) { Console.WriteLine($"  restore failed: {restore.Detail}"); failed = true; }
                        }
                        catch (Exception e) when (!ct.IsCancellationRequested)
                        {
                            Console.WriteLine($"  {Path.GetFileName(file)} #{i}: {e.Message}");
                            failed = true;
                        }
                        Write();
                    }
                }
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                Console.Error.WriteLine($"error on profile {profile}: {e.Message}");
                failed = true;
            }
            finally
            {
                if (!parse.GetValue(keepOption) || ct.IsCancellationRequested)
                {
                    var down = await LabRuntime.DownAsync(docker, topology.Name, CancellationToken.None);
                    Console.WriteLine($"  lab {topology.Name} removed ({down.Containers} containers, {down.Networks} network, {down.Volumes} volumes)");
                }
            }
            if (ct.IsCancellationRequested) break;
        }
        Write();
        var final = ProfileComparison.Build(runs, steady, settings, loads, started);
        Console.WriteLine();
        foreach (var line in ProfileComparison.Sentences(final)) Console.WriteLine(line.Replace("**", "", StringComparison.Ordinal));
        Console.WriteLine($"Report: {Path.Combine(outDir, "report.md")} (and comparison.json)");
        return ct.IsCancellationRequested ? 130 : failed ? 1 : 0;
    }

    private static readonly JsonSerializerOptions Indented = new(RunResult.Json) { WriteIndented = true };

    private static int Bad(string message)
    {
        Console.Error.WriteLine(message);
        return 2;
    }

    private static async Task<RunResult> RunOnceAsync(RunningLab lab, string file, string outDir, string profile, CancellationToken ct)
    {
        var scenario = ScenarioLoader.LoadFile(file, [.. lab.Topology.Nodes.Select(n => n.Name)]);
        var runFolder = ChaosRunner.DefaultRunFolder(scenario, lab.Name, Path.Combine(outDir, "runs", profile));
        var outcome = await ChaosRunner.RunAsync(lab, new ChaosRunOptions(scenario, lab.Name, runFolder), ct);
        return outcome.Result;
    }

    /// <summary>
    /// Waits until every node, sidecar, apiserver (/readyz at the node) and etcd member is healthy and one node holds the VIP,
    /// then a few seconds more, so a repeat never starts while a restarted member is still catching up (two of three down would lose quorum).
    /// </summary>
    private static async Task<LabStatus> WaitHealthyAsync(RunningLab lab, CancellationToken ct)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var healthySince = (TimeSpan?)null;
        while (true)
        {
            var status = await lab.StatusAsync(ct);
            var ok = status.VipHolder is not null && status.LoadBalancerAnswers == true
                     && status.Nodes.All(n => n.State == "running" && n.Sidecars.All(x => x.State == "running") && n.ApiServer == "ok" && n.Etcd == "healthy");
            if (!ok) healthySince = null;
            else if (healthySince is null) healthySince = clock.Elapsed;
            else if (clock.Elapsed - healthySince > TimeSpan.FromSeconds(4)) return status;
            if (clock.Elapsed > TimeSpan.FromMinutes(5))
                throw new LabException($"Lab '{lab.Name}' did not become healthy within 5 min: {string.Join("; ", status.Nodes.Select(n => $"{n.Name} {n.State} api {n.ApiServer} etcd {n.Etcd}"))}; holder {status.VipHolder ?? "none"}.");
            await Task.Delay(1000, ct);
        }
    }

    private static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "?"; }
    }
}
