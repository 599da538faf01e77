using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Docker.DotNet;
using Docker.DotNet.Models;
using HaKubeLab.Chaos;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Cli;

/// <summary>
/// <c>bench</c>: what the lab costs, measured on this machine. It asserts nothing; it prints figures:
/// warm image check, warm <c>up</c> split by phase, the runbook's own commands (scripts/runbook-plain.sh)
/// doing the same in the same run (the lab's overhead as a ratio), failover over N node kills beside the
/// prediction, probe CPU, the running lab's memory, and <c>status</c> latency.
/// </summary>
internal static class BenchCommands
{
    public static Command Bench()
    {
        var runs = new Option<int>("--runs") { Description = "Node kills to measure failover over (the chaos runner's node-kill-vip-holder scenario), and status calls x10.", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "Print the figures as JSON (after the table, which goes to stderr)." };
        var cold = new Option<bool>("--cold") { Description = "Move the caches aside (~/.cache/hakubelab and the lab's images) to measure a cold build, then put them back. Refused while another lab runs." };
        var dryRun = new Option<bool>("--dry-run") { Description = "With --cold: print what would be moved aside, move nothing, measure nothing." };
        var lab = new Option<string>("--lab") { Description = "Lab name for the bench's own lab (never a lab someone uses).", DefaultValueFactory = _ => "hakubelab-bench" };
        var subnet = new Option<string>("--subnet") { Description = "A /24 for the bench's lab (VIP .190, nodes .191-.193); the plain-script lab reuses it after the bench's lab is gone.", DefaultValueFactory = _ => "192.168.199.0/24" };
        var noPlain = new Option<bool>("--no-plain") { Description = "Skip the plain runbook script (no ratio)." };
        var cmd = new Command("bench", "Measure the lab on this machine: image check, up by phase, the plain runbook script as a ratio, failover over N node kills, probe CPU, memory, status latency. Asserts nothing.")
            { runs, json, cold, dryRun, lab, subnet, noPlain };
        cmd.SetAction((parse, ct) => RunAsync(new BenchOptions(parse.GetValue(runs), parse.GetValue(json), parse.GetValue(cold), parse.GetValue(dryRun),
            parse.GetValue(lab)!, parse.GetValue(subnet)!, parse.GetValue(noPlain)), ct));
        return cmd;
    }

    private sealed record BenchOptions(int Runs, bool Json, bool Cold, bool DryRun, string Lab, string Subnet, bool NoPlain);

    private static async Task<int> RunAsync(BenchOptions o, CancellationToken ct)
    {
        if (o.Runs < 1) { Console.Error.WriteLine("--runs must be at least 1."); return 2; }
        if (o.Lab == LabTopology.Default.Name) { Console.Error.WriteLine($"--lab: '{o.Lab}' is the default lab people use; give the bench its own name (default hakubelab-bench)."); return 2; }
        LabTopology topology;
        try
        {
            if (!IPNetwork.TryParse(o.Subnet, out var net) || net.PrefixLength != 24 || net.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
                throw new TopologyException([new TopologyError("--subnet", $"'{o.Subnet}' is not an IPv4 /24", "give a /24 such as 192.168.199.0/24")]);
            topology = TopologyValidator.EnsureValid(LabTopology.Default.Relocate(o.Lab, net));
        }
        catch (TopologyException e) { Console.Error.WriteLine(e.Message); return 2; }

        // The table goes to stderr when --json is given, so stdout is the JSON alone.
        var table = o.Json ? Console.Error : Console.Out;
        void Log(string line) => Console.Error.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] {line}");
        using var docker = await DockerConnection.ConnectAsync(ct);
        var result = new BenchResult { Lab = o.Lab, Subnet = o.Subnet, Runs = o.Runs, Machine = await MachineAsync(docker, ct) };

        CacheMover? aside = null;
        if (o.Cold)
        {
            aside = await CacheMover.PlanAsync(docker, o.Lab, ct);
            table.WriteLine(aside.Describe());
            if (o.DryRun) { table.WriteLine("--dry-run: nothing moved, nothing measured."); return 0; }
            if (aside.OtherLabs.Count > 0)
            {
                Console.Error.WriteLine($"--cold refused: labs {string.Join(", ", aside.OtherLabs)} are running and would rebuild their images during the bench. Run it when no other lab runs.");
                return 1;
            }
        }
        else if (o.DryRun) { Console.Error.WriteLine("--dry-run goes with --cold."); return 2; }

        try
        {
            await LabRuntime.DownAsync(docker, o.Lab, ct);
            if (aside is not null)
            {
                await aside.MoveAsideAsync(Log, ct);
                var coldClock = Stopwatch.StartNew();
                Log("cold image build (Kubernetes from source, images) ...");
                await LabImages.EnsureAsync(new Progress<string>(l => Log("  " + l)), ct);
                result.ColdImagesSeconds = Round(coldClock.Elapsed);
            }

            var warm = Stopwatch.StartNew();
            var images = await LabImages.EnsureAsync(null, ct);
            result.WarmImageCheckSeconds = Round(warm.Elapsed);
            Log($"warm image check {result.WarmImageCheckSeconds:0.00} s");

            // A bring-up that fails (on a loaded machine kubeadm joins can) is recorded and tried once more from scratch:
            // the bench reports what happened, it does not stop at the first failure.
            for (var attempt = 1; attempt <= 2 && result.Up is null; attempt++)
            {
                try { result.Up = await MeasureUpAsync(docker, topology, images, Log, ct); }
                catch (Exception e) when (e is LabException or HaKubeLab.Bootstrap.BootstrapException or HaKubeLab.Bootstrap.SshConnectException)
                {
                    result.Errors.Add($"up attempt {attempt}: {FirstLine(e.Message)}");
                    Log($"up attempt {attempt} failed: {FirstLine(e.Message)}");
                    await LabRuntime.DownAsync(docker, o.Lab, ct);
                }
            }
            if (result.Up is not null)
            {
                result.Memory = await Section(result, "memory", () => MemoryAsync(docker, topology, ct));
                result.Status = await Section(result, "status", () => StatusLatencyAsync(docker, o.Lab, o.Runs * 10, ct));
                result.Failover = await Section(result, "failover", () => FailoverAsync(docker, topology, o.Runs, Log, ct));
            }
            await LabRuntime.DownAsync(docker, o.Lab, ct);

            if (!o.NoPlain)
            {
                result.Plain = await Section(result, "plain script", () => PlainAsync(o, Log, ct));
                if (result.Up is not null && result.Plain?.ToVipSeconds is { } pv && pv > 0) result.RatioToVip = Math.Round(result.Up.ToVipSeconds / pv, 2);
                if (result.Up is not null && result.Plain?.ToApiSeconds is { } pa && pa > 0) result.RatioToApi = Math.Round(result.Up.ToApiSeconds / pa, 2);
            }
        }
        finally
        {
            await LabRuntime.DownAsync(docker, o.Lab, CancellationToken.None);
            await Script("runbook-plain.sh", ["down", "--lab", PlainLab(o.Lab)], null, CancellationToken.None);
            if (aside is not null) await aside.PutBackAsync(Log, CancellationToken.None);
        }

        Print(table, result);
        if (o.Json) Console.WriteLine(JsonSerializer.Serialize(result, JsonOptions));
        return 0;
    }

    private static string PlainLab(string lab) => lab + "-plain";

    private static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();

    /// <summary>Runs one part of the bench; a failure is recorded in the result and the bench goes on.</summary>
    private static async Task<T?> Section<T>(BenchResult result, string name, Func<Task<T>> body) where T : class
    {
        try { return await body(); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            result.Errors.Add($"{name}: {FirstLine(e.Message)}");
            Console.Error.WriteLine($"[bench] {name} failed: {FirstLine(e.Message)}");
            return null;
        }
    }

    private static async Task<UpFigures> MeasureUpAsync(IDockerClient docker, LabTopology topology, LabImageSet images, Action<string> log, CancellationToken ct)
    {
        var phases = new List<Phase>();
        var clock = Stopwatch.StartNew();
        var progress = new SyncProgress<LabProgress>(p =>
        {
            if (!p.Done) return;
            lock (phases) phases.Add(new Phase(p.Action, Round(p.Elapsed)));
            log($"  {p.Action} {p.Elapsed.TotalSeconds:0.00} s{(p.Failed ? " FAILED: " + p.Detail : "")}");
        });
        log($"up of lab {topology.Name} ({topology.Subnet}) with Kubernetes ...");
        var up = await LabLifecycle.UpAsync(docker, topology, images, withKubernetes: true, progress, new LabRuntime.UpOptions(), ct);
        var toApi = clock.Elapsed;
        return new UpFigures(Round(up.LoadBalancerTier), Round(toApi), phases);
    }

    private static async Task<MemoryFigures> MemoryAsync(IDockerClient docker, LabTopology topology, CancellationToken ct)
    {
        // `docker stats` as a user reads it (the engine's cgroup memory usage, page cache included).
        var names = topology.Nodes.SelectMany(n => new[] { LabRole.Node, LabRole.Haproxy, LabRole.Keepalived }.Select(r => LabNames.Container(topology.Name, n.Name, r)))
            .Concat(topology.Etcd.Nodes.Select(e => LabNames.Container(topology.Name, e.Name, LabRole.Etcd))).ToList();
        var psi = new ProcessStartInfo("docker", ["stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}", .. names]) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["DOCKER_API_VERSION"] = "1.41";
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start docker stats");
        var stdout = await p.StandardOutput.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        var containers = new List<ContainerMemory>();
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split('\t');
            if (parts.Length == 2 && ParseBytes(parts[1].Split('/')[0].Trim()) is { } bytes)
                containers.Add(new ContainerMemory(parts[0], Math.Round(bytes / 1048576.0, 1)));
        }
        if (containers.Count > 0 && containers.Any(c => c.MiB > 0))
            return new MemoryFigures(containers, Math.Round(containers.Sum(c => c.MiB), 1),
                "docker stats (cgroup memory usage, page cache included), taken right after up with Kubernetes");
        // Engines without cgroup memory accounting (docker stats says 0B, as on this project's machine): the resident
        // memory of every process in each container, summed (shared pages count once per process).
        var rss = new List<ContainerMemory>();
        foreach (var name in names)
        {
            var r = await DockerExec.RunAsync(docker, name, ["sh", "-c", "cat /proc/[0-9]*/status 2>/dev/null | awk '/^VmRSS:/ {s += $2} END {print s + 0}'"], ct);
            if (r.Succeeded && double.TryParse(r.Stdout.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var kb))
                rss.Add(new ContainerMemory(name, Math.Round(kb / 1024, 1)));
        }
        if (rss.Count == 0) throw new InvalidOperationException($"no memory figure for lab {topology.Name} (docker stats 0B, /proc not readable)");
        return new MemoryFigures(rss, Math.Round(rss.Sum(c => c.MiB), 1),
            "sum of VmRSS of the processes in each container (docker stats reports 0B here: the engine has no cgroup memory accounting), right after up with Kubernetes");
    }

    /// <summary>docker stats' sizes: "1.07GiB", "512MiB", "800KiB", "12B" (also kB/MB/GB).</summary>
    internal static double? ParseBytes(string text)
    {
        var units = new (string Suffix, double Factor)[] { ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3), ("B", 1) };
        foreach (var (suffix, factor) in units)
            if (text.EndsWith(suffix, StringComparison.Ordinal) && double.TryParse(text[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                return v * factor;
        return null;
    }

    private static async Task<LatencyFigures> StatusLatencyAsync(IDockerClient docker, string lab, int calls, CancellationToken ct)
    {
        var ms = new List<double>();
        for (var i = 0; i < calls; i++)
        {
            var clock = Stopwatch.StartNew();
            await LabRuntime.StatusAsync(docker, lab, ct);
            ms.Add(Math.Round(clock.Elapsed.TotalMilliseconds, 1));
        }
        // And once as a user runs it: a new process, the CLI's own start-up included.
        var cli = Stopwatch.StartNew();
        var self = Environment.ProcessPath;
        double? processMs = null;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "hakubelab")
        {
            using var p = Process.Start(new ProcessStartInfo(self, ["status", "--lab", lab, "--json"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            await p.StandardOutput.ReadToEndAsync(ct);
            await p.WaitForExitAsync(ct);
            processMs = Math.Round(cli.Elapsed.TotalMilliseconds, 0);
        }
        var sorted = ms.Order().ToList();
        return new LatencyFigures(calls, sorted[0], Median(sorted), sorted[^1], processMs,
            "LabRuntime.StatusAsync in-process (containers, VIP holder, TCP to VIP, each apiserver's /readyz and etcd); cliProcessMs: `hakubelab status --json` as a new process");
    }

    private static async Task<FailoverFigures> FailoverAsync(IDockerClient docker, LabTopology topology, int runs, Action<string> log, CancellationToken ct)
    {
        var scenario = ScenarioLoader.LoadFile(ScenarioCatalog.Resolve("node-kill-vip-holder"), [.. topology.Nodes.Select(n => n.Name)]);
        var kills = new List<KillFigure>();
        var cpu = new List<(double Cpu, double Wall, double? Steady)>();
        HaKubeLab.Topology.TimeWindow? predicted = null;
        await using var lab = await RunningLab.OpenAsync(docker, topology.Name, ct);
        for (var i = 1; i <= runs; i++)
        {
            // The previous run's restore brought the node back; the runner starts only from a healthy lab.
            var ready = Stopwatch.StartNew();
            while (true)
            {
                try { await ChaosRunner.CheckLabAsync(lab, null, ct); break; }
                catch (LabNotReadyException) when (ready.Elapsed < TimeSpan.FromSeconds(120)) { await Task.Delay(1000, ct); }
            }
            log($"failover run {i}/{runs}: chaos scenario {scenario.Name} ...");
            var folder = ChaosRunner.DefaultRunFolder(scenario, topology.Name);
            var outcome = await ChaosRunner.RunAsync(lab, new ChaosRunOptions(scenario, topology.Name, folder), ct);
            var r = outcome.Result;
            var fault = r.Faults.FirstOrDefault();
            var seconds = fault is not null && fault.Failover.TryGetValue(scenario.FailoverProbe, out var f) ? f.Seconds : null;
            predicted ??= fault?.PredictedFailover;
            kills.Add(new KillFigure(i, fault?.Node, r.VipHolder.Final, seconds is { } s ? Math.Round(s, 3) : null, folder));
            cpu.Add((r.Cpu.ProcessCpuSeconds, r.Cpu.WallSeconds, r.Cpu.SteadyPercentOfOneCore));
            log($"  killed {fault?.Node}: VIP answered again after {(seconds is { } x ? x.ToString("0.000", CultureInfo.InvariantCulture) + " s" : "never")}, holder now {r.VipHolder.Final}");
        }
        var measured = kills.Where(k => k.Seconds is not null).Select(k => k.Seconds!.Value).Order().ToList();
        var probeCpu = new ProbeCpu(Math.Round(cpu.Sum(c => c.Cpu), 2), Math.Round(cpu.Sum(c => c.Wall), 1),
            Math.Round(100 * cpu.Sum(c => c.Cpu) / Math.Max(0.001, cpu.Sum(c => c.Wall)), 1),
            cpu.All(c => c.Steady is not null) ? Math.Round(cpu.Average(c => c.Steady!.Value), 1) : null, Environment.ProcessorCount,
            "the chaos runner's process (probes at 50 ms, VIP-holder monitor, fault calls) during the scenario runs");
        return new FailoverFigures(kills,
            measured.Count > 0 ? measured[0] : null, measured.Count > 0 ? Median(measured) : null, measured.Count > 0 ? measured[^1] : null,
            predicted is not { } p ? null : new Window(p.MinSeconds, p.MaxSeconds), probeCpu);
    }

    private static async Task<PlainFigures> PlainAsync(BenchOptions o, Action<string> log, CancellationToken ct)
    {
        var lab = PlainLab(o.Lab);
        log($"plain runbook script (scripts/runbook-plain.sh) as lab {lab} on {o.Subnet} ...");
        var phases = new List<Phase>();
        var output = await Script("runbook-plain.sh", ["up", "--lab", lab, "--subnet", o.Subnet], line => log("  " + line), ct);
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ');
            if (parts.Length == 3 && parts[0] == "phase" && double.TryParse(parts[2], CultureInfo.InvariantCulture, out var ms))
                phases.Add(new Phase(parts[1], Math.Round(ms / 1000, 2)));
        }
        double? Of(string name) => phases.FirstOrDefault(p => p.Name == name)?.Seconds;
        await Script("runbook-plain.sh", ["down", "--lab", lab], null, ct);
        return new PlainFigures(Of("load-balancer-total"), Of("total"), phases,
            "scripts/runbook-plain.sh: docker run of nodes and the runbook's haproxy/keepalived commands, then kubeadm init and joins over docker exec (scripts/compose-bootstrap.sh); image check and rendering not counted");
    }

    /// <summary>Runs one of the repository's scripts; stderr lines go to <paramref name="stderrLine"/>, stdout is returned. Throws on failure.</summary>
    private static async Task<string> Script(string name, string[] args, Action<string>? stderrLine, CancellationToken ct)
    {
        var psi = new ProcessStartInfo("bash", [RepositoryLayout.Script(name), .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start scripts/{name}");
        var tail = new Queue<string>();
        var err = Task.Run(async () =>
        {
            while (await p.StandardError.ReadLineAsync(ct) is { } line)
            {
                stderrLine?.Invoke(line);
                lock (tail) { tail.Enqueue(line); if (tail.Count > 20) tail.Dequeue(); }
            }
        }, ct);
        var stdout = await p.StandardOutput.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        await err;
        if (p.ExitCode != 0) throw new LabException($"scripts/{name} {string.Join(' ', args)} exited {p.ExitCode}:{Environment.NewLine}{string.Join(Environment.NewLine, tail)}");
        return stdout;
    }

    private static async Task<MachineInfo> MachineAsync(IDockerClient docker, CancellationToken ct)
    {
        var version = await docker.System.GetVersionAsync(ct);
        var memKb = File.ReadLines("/proc/meminfo").Select(l => l.Split(':', 2)).Where(p => p[0] == "MemTotal")
            .Select(p => long.Parse(p[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture)).FirstOrDefault();
        return new MachineInfo(DateTimeOffset.UtcNow, Environment.ProcessorCount, Math.Round(memKb / 1048576.0, 1), Environment.OSVersion.VersionString, version.Version);
    }

    private static void Print(TextWriter w, BenchResult r)
    {
        string S(double? s) => s is { } v ? v.ToString("0.00", CultureInfo.InvariantCulture) + " s" : "-";
        w.WriteLine();
        w.WriteLine($"HaKubeLab bench {r.Machine.Date:yyyy-MM-dd HH:mm} UTC, {r.Machine.Cores} cores, {r.Machine.MemoryGiB} GiB, Docker {r.Machine.Docker}; lab {r.Lab} {r.Subnet}");
        w.WriteLine($"{"figure",-44} {"lab",12} {"plain script",14} {"ratio",7}");
        if (r.ColdImagesSeconds is { } cold) w.WriteLine($"{"cold image build (Kubernetes from source)",-44} {S(cold),12}");
        w.WriteLine($"{"warm image check",-44} {S(r.WarmImageCheckSeconds),12}");
        w.WriteLine($"{"up: VIP answers (load-balancer tier)",-44} {S(r.Up?.ToVipSeconds),12} {S(r.Plain?.ToVipSeconds),14} {(r.RatioToVip is { } rv ? rv.ToString("0.00", CultureInfo.InvariantCulture) : "-"),7}");
        w.WriteLine($"{"up: API answers through the VIP",-44} {S(r.Up?.ToApiSeconds),12} {S(r.Plain?.ToApiSeconds),14} {(r.RatioToApi is { } ra ? ra.ToString("0.00", CultureInfo.InvariantCulture) : "-"),7}");
        foreach (var p in r.Up?.Phases ?? []) w.WriteLine($"  {"lab: " + p.Name,-42} {S(p.Seconds),12}");
        foreach (var p in r.Plain?.Phases ?? []) w.WriteLine($"  {"plain: " + p.Name,-42} {"",12} {S(p.Seconds),14}");
        if (r.Failover is { } f)
        {
            w.WriteLine($"{$"failover after node kill (x{f.Kills.Count}) min/median/max",-44} {S(f.MinSeconds)} / {S(f.MedianSeconds)} / {S(f.MaxSeconds)}   predicted {(f.Predicted is { } p ? $"{p.Min:0.00}-{p.Max:0.00} s" : "-")}");
            w.WriteLine($"{"probe CPU (chaos runner, % of one core)",-44} {f.ProbeCpu.PercentOfOneCore:0.0} % ({f.ProbeCpu.CpuSeconds:0.00} s CPU over {f.ProbeCpu.WallSeconds:0} s; steady {(f.ProbeCpu.SteadyPercentOfOneCore is { } st ? st.ToString("0.0", CultureInfo.InvariantCulture) + " %" : "-")})");
        }
        if (r.Memory is { } m)
        {
            w.WriteLine($"{"memory of the running lab (total)",-44} {m.TotalMiB,9:0} MiB");
            foreach (var c in m.Containers) w.WriteLine($"  {c.Name,-42} {c.MiB,9:0} MiB");
        }
        foreach (var e in r.Errors) w.WriteLine($"error: {e}");
        if (r.Status is { } st2)
            w.WriteLine($"{$"status latency (x{st2.Calls}) min/median/max",-44} {st2.MinMs:0} / {st2.MedianMs:0} / {st2.MaxMs:0} ms{(st2.CliProcessMs is { } c2 ? $"; as a CLI process {c2:0} ms" : "")}");
    }

    private static double Round(TimeSpan t) => Math.Round(t.TotalSeconds, 2);

    private static double Median(List<double> sorted) =>
        sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : Math.Round((sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2, 3);

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>
    /// Moves the caches a cold run must not find: the Kubernetes build cache folder and the lab's images
    /// (retagged under hakubelab-bench-aside/, so nothing is deleted), and puts them back afterwards.
    /// </summary>
    private sealed class CacheMover
    {
        private const string AsideRepository = "hakubelab-bench-aside";
        private readonly IDockerClient _docker;
        private readonly string _cacheDir;
        private readonly string _asideDir;
        private readonly List<string> _images;
        private readonly Dictionary<string, string> _originalIds;
        private bool _moved;

        public IReadOnlyList<string> OtherLabs { get; }

        private CacheMover(IDockerClient docker, string cacheDir, List<string> images, Dictionary<string, string> ids, IReadOnlyList<string> otherLabs)
        {
            _docker = docker;
            _cacheDir = cacheDir;
            _asideDir = cacheDir + ".bench-aside";
            _images = images;
            _originalIds = ids;
            OtherLabs = otherLabs;
        }

        public static async Task<CacheMover> PlanAsync(IDockerClient docker, string benchLab, CancellationToken ct)
        {
            var cache = Environment.GetEnvironmentVariable("HAKUBELAB_CACHE") is { Length: > 0 } c ? c
                : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x ? x : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "hakubelab");
            var repo = Environment.GetEnvironmentVariable("HAKUBELAB_IMAGE_REPOSITORY") is { Length: > 0 } r ? r : "registry.cn-hangzhou.aliyuncs.com/google_containers";
            var images = new List<string>();
            var ids = new Dictionary<string, string>();
            foreach (var image in await docker.Images.ListImagesAsync(new ImagesListParameters(), ct))
                foreach (var tag in image.RepoTags ?? [])
                    if (tag.StartsWith("hakubelab/", StringComparison.Ordinal) || tag.StartsWith(repo + "/", StringComparison.Ordinal))
                    {
                        images.Add(tag);
                        ids[tag] = image.ID;
                    }
            var containers = await docker.Containers.ListContainersAsync(new ContainersListParameters
            {
                All = true,
                Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [LabLabels.Lab] = true } },
            }, ct);
            var others = containers.Select(k => k.Labels[LabLabels.Lab]).Where(l => l != benchLab && l != PlainLab(benchLab)).Distinct().Order().ToList();
            return new CacheMover(docker, cache, images, ids, others);
        }

        public string Describe() =>
            $"--cold moves aside: {_cacheDir} -> {_asideDir}{(Directory.Exists(_cacheDir) ? "" : " (absent)")}; " +
            $"{_images.Count} images retagged as {AsideRepository}/...: {string.Join(", ", _images)}. " +
            (OtherLabs.Count > 0 ? $"Other labs running now: {string.Join(", ", OtherLabs)} (a real --cold run refuses)." : "No other lab runs.");

        private static string AsideTag(string tag) => $"{AsideRepository}/{tag.Replace('/', '_').Replace(':', '_')}:aside";

        public async Task MoveAsideAsync(Action<string> log, CancellationToken ct)
        {
            if (Directory.Exists(_asideDir)) throw new LabException($"{_asideDir} exists from an earlier interrupted --cold run: move it back to {_cacheDir} (or remove it) first.");
            _moved = true;
            if (Directory.Exists(_cacheDir)) Directory.Move(_cacheDir, _asideDir);
            foreach (var tag in _images)
            {
                var (repo, t) = Split(AsideTag(tag));
                await _docker.Images.TagImageAsync(tag, new ImageTagParameters { RepositoryName = repo, Tag = t }, ct);
                await _docker.Images.DeleteImageAsync(tag, new ImageDeleteParameters { NoPrune = true }, ct);
            }
            log($"moved aside {_cacheDir} and {_images.Count} images");
        }

        public async Task PutBackAsync(Action<string> log, CancellationToken ct)
        {
            if (!_moved) return;
            if (Directory.Exists(_asideDir))
            {
                if (Directory.Exists(_cacheDir)) Directory.Delete(_cacheDir, recursive: true);
                Directory.Move(_asideDir, _cacheDir);
            }
            var rebuilt = new HashSet<string>();
            foreach (var tag in _images)
            {
                var aside = AsideTag(tag);
                try
                {
                    var now = await _docker.Images.InspectImageAsync(tag, ct);
                    if (now.ID != _originalIds[tag]) rebuilt.Add(now.ID);
                }
                catch (DockerImageNotFoundException) { }
                var (repo, t) = Split(tag);
                await _docker.Images.TagImageAsync(aside, new ImageTagParameters { RepositoryName = repo, Tag = t }, ct);
                await _docker.Images.DeleteImageAsync(aside, new ImageDeleteParameters { NoPrune = true }, ct);
            }
            // Images the cold run built under the same tags are now untagged: remove those no container uses.
            foreach (var id in rebuilt)
            {
                try { await _docker.Images.DeleteImageAsync(id, new ImageDeleteParameters(), ct); }
                catch (DockerApiException) { /* in use or already gone */ }
            }
            log($"put back {_cacheDir} and {_images.Count} images");
        }

        private static (string Repo, string Tag) Split(string reference)
        {
            var colon = reference.LastIndexOf(':');
            return colon > reference.LastIndexOf('/') ? (reference[..colon], reference[(colon + 1)..]) : (reference, "latest");
        }
    }
}

internal sealed record MachineInfo(DateTimeOffset Date, int Cores, double MemoryGiB, string Os, string Docker);
internal sealed record Phase(string Name, double Seconds);
internal sealed record UpFigures(double ToVipSeconds, double ToApiSeconds, IReadOnlyList<Phase> Phases);
internal sealed record PlainFigures(double? ToVipSeconds, double? ToApiSeconds, IReadOnlyList<Phase> Phases, string What);
internal sealed record KillFigure(int Run, string? Killed, string? HolderAfter, double? Seconds, string RunFolder);
internal sealed record Window(double Min, double Max);
internal sealed record ProbeCpu(double CpuSeconds, double WallSeconds, double PercentOfOneCore, double? SteadyPercentOfOneCore, int Cores, string What);
internal sealed record FailoverFigures(IReadOnlyList<KillFigure> Kills, double? MinSeconds, double? MedianSeconds, double? MaxSeconds, Window? Predicted, ProbeCpu ProbeCpu);
internal sealed record ContainerMemory(string Name, double MiB);
internal sealed record MemoryFigures(IReadOnlyList<ContainerMemory> Containers, double TotalMiB, string What);
internal sealed record LatencyFigures(int Calls, double MinMs, double MedianMs, double MaxMs, double? CliProcessMs, string What);

internal sealed class BenchResult
{
    public required string Lab { get; init; }
    public required string Subnet { get; init; }
    public required int Runs { get; init; }
    public required MachineInfo Machine { get; init; }
    public double? ColdImagesSeconds { get; set; }
    public double WarmImageCheckSeconds { get; set; }
    public UpFigures? Up { get; set; }
    public PlainFigures? Plain { get; set; }
    /// <summary>Lab's time / plain script's time: the lab's own overhead (1.0 = none).</summary>
    public double? RatioToVip { get; set; }
    public double? RatioToApi { get; set; }
    public FailoverFigures? Failover { get; set; }
    public MemoryFigures? Memory { get; set; }
    public LatencyFigures? Status { get; set; }
    /// <summary>What failed during the bench (it goes on and reports the rest).</summary>
    public List<string> Errors { get; } = [];
}
