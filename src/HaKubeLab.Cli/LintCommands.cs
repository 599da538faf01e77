using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using HaKubeLab.Explain;
using HaKubeLab.Runtime;
using HaKubeLab.Chaos;
using HaKubeLab.Lint;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Cli;

/// <summary>
/// <c>lint</c> and <c>explain</c>: pure reading of files and settings, no Docker.
/// Exit codes: lint 0 clean (warnings allowed), 1 an error-level finding; explain 0, 2 bad input.
/// </summary>
internal static class LintCommands
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase), new TimeSpanSecondsConverter() },
        // Readable apostrophes and Chinese text; the output goes to a terminal or a JSON parser, never into HTML.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static IEnumerable<Command> All() => [Lint(), ExplainCommand()];

    private static Command Lint()
    {
        var files = new Argument<string[]>("FILE")
        {
            Description = "haproxy.cfg, keepalived.conf, kubeadm-config.yaml, shell scripts, a topology, a markdown runbook or a folder of rendered files. None: the files the topology renders.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var topology = new Option<FileInfo?>("--topology", "-t") { Description = "The lab the files are for (nodes, subnet, VIP); alone, lint what it renders (its profile)." };
        var json = new Option<bool>("--json") { Description = "Print JSON: findings[{id, rule, severity, file, line, problem, effect, fix}], errors, warnings, infos." };
        var version = new Option<string?>("--kubernetes-version")
        {
            Description = $"The kubeadm/kubelet version that will run the configuration (default: the lab's, {new KubernetesBuild().KubernetesVersion}; 'none' skips the check).",
        };
        var cmd = new Command("lint", "Report what is inconsistent or risky in the runbook's files, each finding with rule id, severity, file:line, what is wrong, what it causes and the fix. Exits 1 when a finding is an error.")
        {
            files, topology, json, version,
        };
        cmd.SetAction(parse =>
        {
            var installed = parse.GetValue(version) switch
            {
                null => new KubernetesBuild().KubernetesVersion,
                "none" => null,
                var v => v,
            };
            var paths = parse.GetValue(files) ?? [];
            var topologyFile = parse.GetValue(topology);
            LintReport report;
            if (topologyFile is not null && !topologyFile.Exists)
                report = Linter.LintFiles([topologyFile.FullName]);
            else
            {
                LabTopology? lab = null;
                try
                {
                    lab = topologyFile is null ? null : TopologyLoader.LoadFile(topologyFile.FullName);
                }
                catch (TopologyException)
                {
                    // Reported as findings with their lines, like any other input.
                    report = Linter.LintFiles([topologyFile!.FullName], new LintOptions(InstalledKubernetesVersion: installed));
                    return Print(report, parse.GetValue(json));
                }
                var options = new LintOptions(lab, installed);
                report = paths.Length > 0 ? Linter.LintFiles(paths, options) : Linter.LintTopology(lab ?? LabTopology.Default, options);
            }
            return Print(report, parse.GetValue(json));
        });
        return cmd;
    }

    private static int Print(LintReport report, bool json)
    {
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                findings = report.Findings.Select(f => new { f.Id, f.Rule, f.Severity, f.File, f.Line, f.Problem, f.Effect, f.Fix }),
                errors = report.Count(LintSeverity.Error),
                warnings = report.Count(LintSeverity.Warning),
                infos = report.Count(LintSeverity.Info),
            }, Json));
            return report.ExitCode;
        }
        foreach (var f in report.Findings)
        {
            Console.WriteLine($"{f.File}:{f.Line}: {f.Severity.ToString().ToLowerInvariant()} {f.Id} {f.Rule}");
            Console.WriteLine($"    problem: {f.Problem}");
            Console.WriteLine($"    effect:  {f.Effect}");
            Console.WriteLine($"    fix:     {f.Fix}");
        }
        Console.WriteLine($"{report.Findings.Count} finding(s): {report.Count(LintSeverity.Error)} error(s), {report.Count(LintSeverity.Warning)} warning(s), {report.Count(LintSeverity.Info)} info.");
        return report.ExitCode;
    }

    private static Command ExplainCommand()
    {
        var topology = new Option<FileInfo?>("--topology", "-t") { Description = "Topology YAML file (default: the runbook's settings); its profile decides what keepalived and haproxy run." };
        var fail = new Option<string[]>("--fail")
        {
            Description = "What fails: node, haproxy, keepalived or apiserver (node-kill, haproxy-kill, keepalived-kill, kube-apiserver-kill), or any fault name of 'chaos list --faults' (e.g. keepalived-stop, network-partition), optionally ':<node>' (default node: the VIP holder). Repeatable. Default: each part of the VIP holder in turn.",
            AllowMultipleArgumentsPerToken = false,
        };
        var json = new Option<bool>("--json") { Description = "Print JSON: settings, now{holder, possibleHolders, priorities, loadBalancerAnswers, ...}, predictions[...]." };
        var noApi = new Option<bool>("--no-apiservers") { Description = "Assume no apiserver runs (a lab brought up with --no-kubernetes)." };
        var labOption = new Option<string?>("--lab") { Description = "Explain a running lab: its recorded settings (profile, Kubernetes or not) and who holds its VIP now." };
        var lose = new Option<string[]>("--lose")
        {
            Description = "A part already lost, for what the topology survives: a master (m01) or external etcd node (e01), or PART:NODE with PART etcd, apiserver, controller-manager, scheduler, haproxy, keepalived. Repeatable (e.g. --lose m01 --lose m02).",
            AllowMultipleArgumentsPerToken = false,
        };
        var cmd = new Command("explain", "Say who holds the VIP with these settings, who would take it if a node, haproxy, keepalived or apiserver failed, after how long, and whether the load-balancer port and the API stay reachable.")
        {
            topology, fail, json, noApi, labOption, lose,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            try
            {
                var lab = parse.GetValue(topology) is { } file ? TopologyLoader.LoadFile(file.FullName) : LabTopology.Default;
                string? measuredHolder = null;
                LabState? state = null;
                var apiServers = !parse.GetValue(noApi);
                if (parse.GetValue(labOption) is { } labName)
                {
                    // A running lab: its record says what it is; the one VIP-holder source says who holds the VIP now.
                    await using var running = await RunningLab.OpenAsync(labName, ct);
                    if (parse.GetValue(topology) is not null && TopologyComparison.Differences(running.Topology, lab) is { Count: > 0 } differences)
                        throw new ArgumentException($"--topology does not describe lab '{labName}': {string.Join("; ", differences.Take(4))}. Leave --topology out to explain the lab as recorded.");
                    lab = running.Topology;
                    apiServers = running.Kubernetes && apiServers;
                    // Predictions start from what runs now: the measured holder and any part already down.
                    var snapshot = await running.SnapshotAsync(ct);
                    measuredHolder = snapshot.Vip.Holder;
                    state = LabState.From(snapshot, apiServers);
                }
                var faults = (parse.GetValue(fail) ?? []).Select(Fault.Parse).ToList();
                var lost = (parse.GetValue(lose) ?? []).Select(l => LostPart.Parse(l, lab)).ToList();
                var e = Explainer.Explain(lab, faults.Count > 0 ? faults : null, new ExplainOptions(ApiServersRunning: apiServers) { State = state, Lost = lost });
                if (parse.GetValue(labOption) is { } shown && !parse.GetValue(json))
                    Console.WriteLine($"Lab '{shown}' (from its record): VIP {lab.Vip} is held by {measuredHolder ?? "no single node"} now (read from the nodes' interfaces).");
                if (parse.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(e, Json));
                    return 0;
                }
                var s = e.Settings;
                Console.WriteLine($"Profile {s.Profile}: VIP {s.Vip}, haproxy on {s.LoadBalancerPort}, cluster endpoint {s.ControlPlaneEndpoint}; advert every {s.AdvertInterval} s, weight {s.Weight}, nopreempt {(s.Nopreempt ? "on" : "off")}.");
                Console.WriteLine();
                Console.WriteLine("Now:");
                foreach (var line in e.NowStory) Console.WriteLine("  " + line);
                if (e.Survival is { } survival)
                {
                    Console.WriteLine();
                    Console.WriteLine($"What the {survival.Topology.ToString().ToLowerInvariant()} topology survives: {survival.Members.Count} etcd members, quorum {survival.Quorum}, tolerates {survival.Tolerates}; writes stop on losing {string.Join(", or ", survival.WhatStopsWrites)}.");
                    foreach (var line in survival.Story) Console.WriteLine("  " + line);
                }
                foreach (var p in e.Predictions)
                {
                    Console.WriteLine();
                    Console.WriteLine($"If {p.Fault} fails: VIP on {(p.After.PossibleHolders.IsEmpty ? "no node" : string.Join(" or ", p.After.PossibleHolders))}" +
                        $"{(p.Takeover is { } w ? $" after {w}" : "")}; load balancer {(p.After.LoadBalancerAnswers ? "answers" : "REFUSES")}, API via {s.ControlPlaneEndpoint} {(p.After.ApiThroughEndpoint ? "answers" : "FAILS")}.");
                    foreach (var line in p.Story) Console.WriteLine("  " + line);
                }
                return 0;
            }
            catch (TopologyException ex)
            {
                Console.Error.WriteLine(ex.Message);
                return 2;
            }
            catch (LabNotFoundException ex)
            {
                Console.Error.WriteLine("error: " + ex.Message);
                return 3;
            }
            catch (Exception ex) when (ex is LabRecordException or DockerUnavailableException)
            {
                Console.Error.WriteLine("error: " + ex.Message);
                return 1;
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException)
            {
                Console.Error.WriteLine("error: " + ex.Message);
                return 2;
            }
        });
        return cmd;
    }

    /// <summary>Durations as seconds in JSON (a trainer's and a CI system's unit).</summary>
    private sealed class TimeSpanSecondsConverter : JsonConverter<TimeSpan>
    {
        public override TimeSpan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => TimeSpan.FromSeconds(reader.GetDouble());
        public override void Write(Utf8JsonWriter writer, TimeSpan value, JsonSerializerOptions options) => writer.WriteNumberValue(Math.Round(value.TotalSeconds, 3));
    }
}
