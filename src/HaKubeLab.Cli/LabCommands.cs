using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using HaKubeLab.Rendering;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Cli;

/// <summary>The CLI's commands: thin wrappers over HaKubeLab.Lab's runtime, as the AppHost and tests use it.</summary>
internal static class LabCommands
{
    internal static readonly Option<FileInfo?> TopologyOption = new("--topology", "-t")
    {
        Description = "Topology YAML file (default: the runbook's three masters, VIP 192.168.100.190).",
    };

    internal static readonly Option<string?> LabOption = new("--lab")
    {
        Description = "Lab name (default: the topology's name, 'hakubelab').",
    };

    public static IEnumerable<Command> All() => [Up(), Status(), Down(), Render(), Kubeconfig(), .. LintCommands.All(), ChaosCommands.Chaos(), BenchCommands.Bench(), ComposeCommands.Prepare()];

    private static readonly Option<RenderProfile?> ProfileOption = new("--profile")
    {
        Description = "seed: the runbook's files as written; recommended: kubeadm's HA guidance (endpoint through haproxy, /healthz checks); fast: recommended with VRRPv3 0.1 s adverts and 200 ms haproxy checks. Default: the topology's 'profile' (seed).",
        CustomParser = r =>
        {
            var v = r.Tokens.Single().Value.ToLowerInvariant();
            if (ParseProfile(v) is { } p) return p;
            r.AddError($"--profile must be seed, recommended or fast, not '{v}'.");
            return null;
        },
    };

    /// <summary>seed, recommended or fast (any case); null for anything else.</summary>
    internal static RenderProfile? ParseProfile(string value) => value.Trim().ToLowerInvariant() switch
    {
        "seed" => RenderProfile.Seed,
        "recommended" => RenderProfile.Recommended,
        "fast" => RenderProfile.Fast,
        _ => null,
    };

    // The profile's own keepalived defaults replace the old profile's defaults (LabTopology.WithProfile); values the topology set stay.
    private static LabTopology WithProfile(LabTopology t, ParseResult parse) => parse.GetValue(ProfileOption) is { } p ? TopologyValidator.EnsureValid(t.WithProfile(p)) : t;

    private static Command Up()
    {
        var retain = new Option<bool>("--retain") { Description = "Keep what was created when bring-up fails (for debugging); remove it later with 'down'." };
        var noKubernetes = new Option<bool>("--no-kubernetes") { Description = "Only the load-balancer tier (nodes, haproxy, keepalived, VIP); no kubeadm." };
        var cmd = new Command("up", "Build the images (cached), create the lab, run the runbook's kubeadm bootstrap, and return once the API answers through the VIP. Idempotent.") { TopologyOption, retain, noKubernetes, ProfileOption };
        // Synchronous on purpose (see Signals): on Ctrl-C or SIGTERM, 'up' removes the lab it created before it exits 130.
        cmd.SetAction(parse => Signals.Run((signals, ct) => Run(async () =>
        {
            var topology = WithProfile(LoadTopology(parse), parse);
            var total = System.Diagnostics.Stopwatch.StartNew();
            Console.WriteLine($"Lab '{topology.Name}': {topology.Nodes.Length} nodes on {topology.Subnet}, VIP {topology.Vip}:{topology.LoadBalancer.Port}");
            LabImageSet images;
            try
            {
                images = await Step("build images", () => LabImages.EnsureAsync(topology.Kubernetes.ImageRepository, new SyncProgress<string>(l => Console.WriteLine("       " + l)), ct));
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
                Console.Error.WriteLine($"Interrupted while building images, before lab '{topology.Name}' was touched: nothing to remove.");
                return 130;
            }
            using var docker = await DockerConnection.ConnectAsync(ct);
            LabUpResult result;
            try
            {
                result = await LabLifecycle.UpAsync(docker, topology, images, !parse.GetValue(noKubernetes), new SyncProgress<LabProgress>(Report),
                    new LabRuntime.UpOptions(RemoveOnFailure: !parse.GetValue(retain)), ct);
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
                // Say what is left, as Docker and the state folder show it, not what should be.
                var kept = await LabRuntime.ExistsAsync(docker, topology.Name, CancellationToken.None);
                Console.Error.WriteLine(kept
                    ? $"Interrupted. Lab '{topology.Name}' is kept ({(parse.GetValue(retain) ? "--retain" : "it existed before this 'up'")}); remove it with: ./hakubelab down --lab {topology.Name}"
                    : $"Interrupted. Nothing of lab '{topology.Name}' is left: what this 'up' made was removed ({signals.SinceSignal.TotalSeconds:0.0} s after the signal).");
                return 130;
            }
            var status = await LabRuntime.StatusAsync(docker, topology.Name, ct);
            Console.WriteLine($"Lab '{topology.Name}' is up in {total.Elapsed.TotalSeconds:0.0} s (load-balancer tier {result.LoadBalancerTier.TotalSeconds:0.0} s). VIP {topology.Vip} is on {status.VipHolder ?? "no node"}; {topology.Vip}:{topology.LoadBalancer.Port} answers.");
            if (result.Kubernetes is { } k)
            {
                Console.WriteLine("Where the lab departs from the runbook:");
                foreach (var d in k.Deviations) Console.WriteLine("  - " + d);
                Console.WriteLine($"Kubernetes: {k.Readiness}");
                Console.WriteLine($"Kubeconfig (server https://{KubeadmConfigRenderer.ControlPlaneEndpoint(topology)}): {k.KubeconfigPath}");
            }
            Console.WriteLine($"Runbook files: {LabPaths.LabDir(topology.Name)}/nodes/<node>/etc. Next: ./hakubelab status, ./hakubelab down");
            return 0;
        }, ct),
        "Interrupted: stopping 'up'; a lab it created is removed before it exits (a few seconds) ...",
        "Still removing what 'up' made, so nothing is left behind; please wait (after a SIGKILL, './hakubelab down' removes it)."));
        return cmd;
    }

    private static Command Status()
    {
        var json = new Option<bool>("--json") { Description = "Print JSON: vip, vipHolder, nodes[{name, ip, state, sidecars}]." };
        var cmd = new Command("status", "Show each node and sidecar container, its state, and which node holds the VIP.") { TopologyOption, LabOption, json };
        cmd.SetAction((parse, ct) => Run(async () =>
        {
            var lab = LabName(parse);
            using var docker = await DockerConnection.ConnectAsync(ct);
            var status = await LabRuntime.StatusAsync(docker, lab, ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(status, JsonOptions));
                return status.Exists ? 0 : 3;
            }
            if (!status.Exists)
            {
                Console.WriteLine($"Lab '{lab}' does not exist. Bring it up with: ./hakubelab up");
                return 3;
            }
            Console.WriteLine($"Lab '{lab}'  subnet {status.Subnet}  VIP {status.Vip}:{status.LoadBalancerPort}  holder: {status.VipHolder ?? "none"}  load balancer answers: {(status.LoadBalancerAnswers == true ? "yes" : "no")}");
            var k8s = status.Kubernetes ? $" {"APISERVER",-12} {"ETCD",-17}" : "";
            Console.WriteLine($"{"NODE",-6} {"IP",-16} {"NODE STATE",-11} {"HAPROXY",-9} {"KEEPALIVED",-11}{k8s} VIP");
            foreach (var n in status.Nodes)
            {
                string Of(string role) => n.Sidecars.FirstOrDefault(s => s.Name == role)?.State ?? "missing";
                var health = status.Kubernetes ? $" {n.ApiServer,-12} {(n.Etcd + (status.EtcdLeader == n.Name ? " (leader)" : "")),-17}" : "";
                Console.WriteLine($"{n.Name,-6} {n.Ip,-16} {n.State,-11} {Of("haproxy"),-9} {Of("keepalived"),-11}{health} {(n.HoldsVip ? "<- holds VIP" : "")}");
            }
            if (status.EtcdNodes is { Count: > 0 } etcdNodes)
            {
                Console.WriteLine($"external etcd (every apiserver talks to all members):");
                Console.WriteLine($"{"ETCD",-6} {"IP",-16} {"STATE",-11} HEALTH");
                foreach (var e in etcdNodes)
                    Console.WriteLine($"{e.Name,-6} {e.Ip,-16} {e.State,-11} {e.Health}{(e.Leader ? " (leader)" : "")}");
            }
            if (status.Leaders is { } leaders)
            {
                Console.WriteLine("Leaders:");
                foreach (var l in leaders.All.Where(l => status.Kubernetes || l.Role == "vip"))
                    Console.WriteLine($"  {(l.Role == "vip" ? "VIP holder" : l.Role),-24} {l.Describe(leaders.At)}");
            }
            return 0;
        }));
        return cmd;
    }

    private static Command Down()
    {
        var cmd = new Command("down", "Remove every container, network and volume carrying the lab's label, and its files. Works after a crashed or interrupted 'up'.") { TopologyOption, LabOption };
        cmd.SetAction((parse, ct) => Run(async () =>
        {
            var lab = LabName(parse);
            using var docker = await DockerConnection.ConnectAsync(ct);
            var removed = await LabRuntime.DownAsync(docker, lab, ct);
            Console.WriteLine($"Lab '{lab}' removed: {removed.Containers} containers, {removed.Networks} networks, {removed.Volumes} volumes{(removed.StateDirRemoved ? ", its files" : "")}.");
            return 0;
        }));
        return cmd;
    }

    private static Command Kubeconfig()
    {
        var cmd = new Command("kubeconfig", "Print the path of the lab's admin kubeconfig (mode 0600; its server is the VIP). Use: kubectl --kubeconfig \"$(./hakubelab kubeconfig)\" get nodes") { TopologyOption, LabOption };
        cmd.SetAction(parse => Run(() =>
        {
            var lab = LabName(parse);
            var record = LabRecord.TryRead(lab);
            var path = record?.KubeconfigPath ?? LabPaths.KubeconfigPath(lab);
            if (record is { Kubernetes: false })
            {
                Console.Error.WriteLine($"Lab '{lab}' was brought up without Kubernetes (--no-kubernetes): it has no kubeconfig. Run ./hakubelab up{(lab == LabTopology.Default.Name ? "" : " --topology FILE")} to add it.");
                return Task.FromResult(3);
            }
            if (!File.Exists(path))
            {
                Console.Error.WriteLine($"No kubeconfig at {path}: the lab has no Kubernetes yet. Run ./hakubelab up");
                return Task.FromResult(3);
            }
            Console.WriteLine(path);
            return Task.FromResult(0);
        }));
        return cmd;
    }

    private static Command Render()
    {
        var outDir = new Option<DirectoryInfo?>("--out", "-o") { Description = "Folder to write into (default: ./rendered/<lab>)." };
        var cmd = new Command("render", "Write the runbook's files for each node (haproxy.cfg, keepalived.conf; init-master.sh and kubeadm-config.yaml for the first master) without starting anything.") { TopologyOption, outDir, ProfileOption };
        cmd.SetAction(parse => Run(() =>
        {
            var topology = WithProfile(LoadTopology(parse), parse);
            var dir = parse.GetValue(outDir)?.FullName ?? Path.Combine(Directory.GetCurrentDirectory(), "rendered", topology.Name);
            var secretFile = Path.Combine(LabPaths.LabDir(topology.Name), "secrets", "vrrp-auth-pass");
            // Reuse a running lab's secret so the rendered files match it; otherwise a fresh one, never a fixed string.
            var secrets = File.Exists(secretFile) ? new LabSecrets(File.ReadAllText(secretFile).Trim()) : LabSecrets.Generate();
            foreach (var node in topology.Nodes)
                foreach (var file in RunbookFiles.ForNode(topology, node, secrets, new KubernetesBuild()))
                {
                    var path = Path.Combine(dir, node.Name, file.NodePath.TrimStart('/'));
                    LabPaths.WriteAtomically(path, file.Content);
                    Console.WriteLine($"{path}  ({file.Description})");
                }
            return Task.FromResult(0);
        }));
        return cmd;
    }

    private static LabTopology LoadTopology(ParseResult parse) =>
        parse.GetValue(TopologyOption) is { } file ? TopologyLoader.LoadFile(file.FullName) : LabTopology.Default;

    private static string LabName(ParseResult parse) => parse.GetValue(LabOption) ?? LoadTopology(parse).Name;

    private static async Task<T> Step<T>(string name, Func<Task<T>> body)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Report(new LabProgress(name, "", false, TimeSpan.Zero));
        try
        {
            var result = await body();
            Report(new LabProgress(name, "", true, clock.Elapsed));
            return result;
        }
        catch (OperationCanceledException)
        {
            Report(new LabProgress(name, "interrupted", true, clock.Elapsed, Failed: true, Interrupted: true));
            throw;
        }
    }

    private static void Report(LabProgress p) =>
        Console.WriteLine(!p.Done ? $"[ .. ] {p.Action}{(p.Detail.Length > 0 ? $"  {p.Detail}" : "")}"
            : p.Interrupted ? $"[STOP] {p.Action}: interrupted after {p.Elapsed.TotalSeconds:0.0} s"
            : p.Failed ? $"[FAIL] {p.Action} ({p.Elapsed.TotalSeconds:0.0} s): {p.Detail}"
            : $"[ ok ] {p.Action} ({p.Elapsed.TotalSeconds:0.0} s)");

    /// <summary>Maps known failures to a clear message and an exit code; bad input is 2, anything else 1, interrupted 130.</summary>
    /// <param name="body">The command.</param>
    /// <param name="interrupted">The command's token: any error after it was cancelled is an interruption (130), whatever its type.</param>
    private static async Task<int> Run(Func<Task<int>> body, CancellationToken interrupted = default)
    {
        try
        {
            return await body();
        }
        catch (Exception) when (interrupted.IsCancellationRequested)
        {
            Console.Error.WriteLine("Interrupted.");
            return 130;
        }
        catch (TopologyException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        catch (LabRecordException e)
        {
            Console.Error.WriteLine("error: " + e.Message);
            return 1;
        }
        catch (Exception e) when (e is DockerUnavailableException or ImageBuildException or LabException or HaKubeLab.Bootstrap.BootstrapException or HaKubeLab.Bootstrap.SshConnectException)
        {
            Console.Error.WriteLine("error: " + e.Message);
            if (e is LabException or HaKubeLab.Bootstrap.BootstrapException)
                Console.Error.WriteLine("(a lab that 'up' created is removed when bring-up fails; keep it for debugging with 'up --retain', remove it with 'down')");
            return 1;
        }
        catch (Docker.DotNet.DockerApiException e)
        {
            Console.Error.WriteLine($"error: the Docker engine refused a request ({(int)e.StatusCode}): {e.ResponseBody?.Trim()}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("Interrupted.");
            return 130;
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };
}
