using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace HaKubeLab.Chaos.Scenarios;

/// <summary>One problem in a scenario file: where, what, and how to fix it.</summary>
public sealed record ScenarioError(string File, int? Line, string Field, string Problem, string Fix)
{
    public override string ToString() => $"{File}{(Line is null ? "" : $":{Line}")}: {Field}: {Problem}. Fix: {Fix}";
}

/// <summary>Thrown when a scenario file is refused; carries every error found, each naming its line.</summary>
public sealed class ScenarioException(IReadOnlyList<ScenarioError> errors)
    : Exception("Invalid chaos scenario:" + Environment.NewLine + string.Join(Environment.NewLine, errors.Select(e => "  - " + e)))
{
    public IReadOnlyList<ScenarioError> Errors { get; } = errors;
}

/// <summary>
/// Reads scenario YAML (format: <see cref="Scenario"/>). Unknown keys, faults, targets and malformed
/// expectations are errors naming the line; with the lab's node names, named targets are checked too.
/// </summary>
public static class ScenarioLoader
{
    private static readonly Regex RateForm = new(@"^\d+(\.\d+)?(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$", RegexOptions.CultureInvariant);

    /// <summary>Reads and validates a scenario file.</summary>
    /// <param name="nodeNames">The lab's node names; null skips checking named targets against a lab.</param>
    public static Scenario LoadFile(string path, IReadOnlyCollection<string>? nodeNames = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!System.IO.File.Exists(path))
            throw new ScenarioException([new(path, null, "(file)", "does not exist", "pass a scenario name from 'hakubelab chaos list' or the path of a scenario YAML file")]);
        return Parse(System.IO.File.ReadAllText(path), path, nodeNames);
    }

    /// <summary>Parses and validates; throws <see cref="ScenarioException"/> listing every error found.</summary>
    public static Scenario Parse(string yaml, string file = "<scenario>", IReadOnlyCollection<string>? nodeNames = null)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var reader = new Reader(file, nodeNames);
        var scenario = reader.Read(yaml);
        return reader.Errors.Count == 0 && scenario is not null ? scenario : throw new ScenarioException(reader.Errors);
    }

    private sealed class Reader(string file, IReadOnlyCollection<string>? nodeNames)
    {
        public List<ScenarioError> Errors { get; } = [];

        private void Error(YamlNode? at, string field, string problem, string fix) =>
            Errors.Add(new(file, at is null ? null : (int)at.Start.Line, field, problem, fix));

        private bool IsKnownProbe(string probe) =>
            ProbeNames.Fixed.Contains(probe) && probe != ProbeNames.VipHolder
            || ProbeNames.IsNodeReadyz(probe) && TargetSpec.TryParse(probe[ProbeNames.ReadyzNodePrefix.Length..]) is { Role: TargetRole.Named } t
               && (nodeNames is null || nodeNames.Contains(t.Node!));

        public Scenario? Read(string yaml)
        {
            var stream = new YamlStream();
            try
            {
                stream.Load(new StringReader(yaml));
            }
            catch (YamlException e)
            {
                Errors.Add(new(file, (int)e.Start.Line, "(file)", $"is not valid YAML: {e.InnerException?.Message ?? e.Message}", "fix the YAML syntax at that line"));
                return null;
            }
            if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
            {
                Error(stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode, "(file)", "the top level must be a mapping (name, duration, steps, expectations, ...)", "see chaos/scenarios/*.yaml for examples");
                return null;
            }

            var top = Keys(root, "", ["name", "description", "duration", "kubernetes", "seed", "failover_probe", "probes", "steps", "expectations"]);
            var name = Scalar(top, "name", "");
            if (string.IsNullOrEmpty(name) || !Regex.IsMatch(name, "^[a-z0-9][a-z0-9-]{0,62}$"))
                Error(top.GetValueOrDefault("name") ?? root, "name", string.IsNullOrEmpty(name) ? "is missing" : $"'{name}' is not a valid scenario name", "use lower-case letters, digits and '-', e.g. node-kill-vip-holder");
            var duration = DurationOf(top, "duration", TimeSpan.FromSeconds(30));
            if (duration <= TimeSpan.Zero) Error(top.GetValueOrDefault("duration"), "duration", "must be longer than 0", "give the run's length, e.g. 30s");
            var k8s = Scalar(top, "kubernetes", "optional");
            if (k8s is not ("optional" or "required"))
                Error(top["kubernetes"], "kubernetes", $"'{k8s}' is neither 'optional' nor 'required'", "write 'required' when the scenario makes no sense without Kubernetes");
            int? seed = null;
            if (top.TryGetValue("seed", out var seedNode))
            {
                if (int.TryParse(Scalar(top, "seed", ""), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s)) seed = s;
                else Error(seedNode, "seed", "is not a whole number", "write e.g. 'seed: 42', or leave it out for a new seed per run");
            }
            var failoverProbe = Scalar(top, "failover_probe", ProbeNames.VipTcp);
            if (!ProbeNames.ThroughVip.Contains(failoverProbe ?? ""))
                Error(top["failover_probe"], "failover_probe", $"'{failoverProbe}' is not a probe through the VIP", $"use one of {string.Join(", ", ProbeNames.ThroughVip)}");

            var probes = ReadProbes(top.GetValueOrDefault("probes"));
            var steps = ReadSteps(top.GetValueOrDefault("steps"));
            var expectations = ReadExpectations(top.GetValueOrDefault("expectations"));
            var needsK8s = k8s == "required" || steps.OfType<FaultStep>().Any(f => FaultKinds.Info(f.Kind).NeedsKubernetes || f.Target.NeedsKubernetes);
            return new Scenario
            {
                Name = name ?? "",
                Description = Scalar(top, "description", "") ?? "",
                File = file,
                Duration = duration,
                RequiresKubernetes = needsK8s,
                Seed = seed,
                FailoverProbe = failoverProbe!,
                Probes = probes,
                Steps = steps,
                Expectations = expectations,
            };
        }

        private ProbeSettings ReadProbes(YamlNode? node)
        {
            var settings = new ProbeSettings();
            if (node is null) return settings;
            if (node is not YamlMappingNode map)
            {
                Error(node, "probes", "must be a mapping", "write e.g. 'probes: { interval: 50ms, api_write: 200ms, off: [readyz_nodes] }'");
                return settings;
            }
            var intervals = ImmutableDictionary.CreateBuilder<string, TimeSpan>();
            var timeouts = ImmutableDictionary.CreateBuilder<string, TimeSpan>();
            var off = ImmutableHashSet.CreateBuilder<string>();
            foreach (var (k, v) in map.Children)
            {
                var key = ((YamlScalarNode)k).Value ?? "";
                if (key == "interval")
                {
                    if (ParseDuration(v, "probes.interval") is { } i) settings = settings with { Interval = i };
                    continue;
                }
                if (key == "off")
                {
                    foreach (var item in v is YamlSequenceNode seq ? seq.Children : [v])
                    {
                        var p = (item as YamlScalarNode)?.Value ?? "";
                        if (IsKnownProbe(p) || p is ProbeNames.ReadyzNodes) off.Add(p);
                        else Error(item, "probes.off", $"unknown probe '{p}'", $"use probe names: {string.Join(", ", ProbeNames.Fixed)}, readyz_nodes, readyz.<node>");
                    }
                    continue;
                }
                if (!IsKnownProbe(key) && key is not ProbeNames.ReadyzNodes and not ProbeNames.VipHolder)
                {
                    Error(k, $"probes.{key}", "is not a known probe or setting", $"use interval, off, or a probe name: {string.Join(", ", ProbeNames.Fixed)}, readyz_nodes, readyz.<node>");
                    continue;
                }
                if (v is YamlScalarNode)
                {
                    if (ParseDuration(v, $"probes.{key}") is { } i) intervals[key] = i;
                }
                else if (v is YamlMappingNode pm)
                {
                    var keys = Keys(pm, $"probes.{key}.", ["interval", "timeout"]);
                    if (keys.TryGetValue("interval", out var iv) && ParseDuration(iv, $"probes.{key}.interval") is { } i) intervals[key] = i;
                    if (keys.TryGetValue("timeout", out var tv) && ParseDuration(tv, $"probes.{key}.timeout") is { } t) timeouts[key] = t;
                }
                else Error(v, $"probes.{key}", "must be an interval or a mapping", "write e.g. '20ms' or '{ interval: 20ms, timeout: 500ms }'");
            }
            foreach (var (p, i) in intervals.Select(x => (x.Key, x.Value)).Append(("interval", settings.Interval)))
                if (i < TimeSpan.FromMilliseconds(5) || i > TimeSpan.FromSeconds(10))
                    Error(node, $"probes.{p}", $"interval {Durations.Format(i)} is outside 5 ms-10 s", "probes run every 50 ms by default; choose 5 ms to 10 s");
            return settings with { Intervals = intervals.ToImmutable(), Timeouts = timeouts.ToImmutable(), Off = off.ToImmutable() };
        }

        private ImmutableArray<ScenarioStep> ReadSteps(YamlNode? node)
        {
            if (node is not YamlSequenceNode seq || seq.Children.Count == 0)
            {
                Error(node, "steps", "must be a list with at least one step", "add steps such as '- { fault: node-kill, target: vip-holder }' and '- wait: 10s'");
                return [];
            }
            var steps = ImmutableArray.CreateBuilder<ScenarioStep>();
            var ids = new HashSet<string>();
            var i = 0;
            foreach (var item in seq.Children)
            {
                i++;
                var at = $"steps[{i}]";
                if (item is not YamlMappingNode map)
                {
                    Error(item, at, "must be a mapping with one of fault, wait, wait_until, recover", "write e.g. '- wait: 10s'");
                    continue;
                }
                var line = (int)item.Start.Line;
                var kinds = map.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value).Where(k => k is "fault" or "wait" or "wait_until" or "recover").ToList();
                if (kinds.Count != 1)
                {
                    Error(item, at, kinds.Count == 0 ? "has none of fault, wait, wait_until, recover" : $"has more than one of {string.Join(", ", kinds)}", "give each step exactly one action");
                    continue;
                }
                switch (kinds[0])
                {
                    case "wait":
                    {
                        var keys = Keys(map, at + ".", ["wait"]);
                        if (ParseDuration(keys["wait"], at + ".wait") is { } d) steps.Add(new WaitStep(line, d));
                        break;
                    }
                    case "wait_until":
                    {
                        var keys = Keys(map, at + ".", ["wait_until", "timeout"]);
                        var probe = Scalar(keys, "wait_until", "") ?? "";
                        if (!IsKnownProbe(probe))
                            Error(keys["wait_until"], at + ".wait_until", $"unknown probe '{probe}'", $"name a probe: {string.Join(", ", ProbeNames.Fixed.Where(p => p != ProbeNames.VipHolder))}, readyz.<node>");
                        var timeout = DurationOf(keys, "timeout", TimeSpan.FromSeconds(120), at + ".");
                        steps.Add(new WaitUntilStep(line, probe, timeout));
                        break;
                    }
                    case "recover":
                    {
                        var keys = Keys(map, at + ".", ["recover"]);
                        var which = Scalar(keys, "recover", "") ?? "";
                        if (which != RecoverStep.All && !ids.Contains(which))
                            Error(keys["recover"], at + ".recover", $"'{which}' names no earlier fault", ids.Count == 0 ? "inject a fault first" : $"write 'all' or the id of an earlier fault step ({string.Join(", ", ids)})");
                        steps.Add(new RecoverStep(line, which));
                        break;
                    }
                    default:
                        if (ReadFault(map, at, ids.Count + 1) is { } fault)
                        {
                            if (!ids.Add(fault.Id)) Error(map, at + ".id", $"'{fault.Id}' is used by an earlier fault step", "give every fault step its own id");
                            steps.Add(fault);
                        }
                        break;
                }
            }
            return steps.ToImmutable();
        }

        private FaultStep? ReadFault(YamlMappingNode map, string at, int ordinal)
        {
            var keys = Keys(map, at + ".", ["fault", "target", "id", "for", "probability", "rate", "delay", "jitter"]);
            var faultName = Scalar(keys, "fault", "") ?? "";
            var kind = FaultKinds.Parse(faultName);
            if (kind is null)
                Error(keys["fault"], at + ".fault", $"unknown fault '{faultName}'", $"use one of {string.Join(", ", FaultKinds.All.Select(f => f.Name))}");
            TargetSpec? target = null;
            if (!keys.TryGetValue("target", out var targetNode))
                Error(map, at + ".target", "is missing", $"name a node ({(nodeNames is null ? "e.g. m02" : string.Join(", ", nodeNames))}) or a role ({string.Join(", ", TargetSpec.RoleNames)})");
            else
            {
                var text = Scalar(keys, "target", "") ?? "";
                target = TargetSpec.TryParse(text);
                if (target is null || (target.Role == TargetRole.Named && nodeNames is not null && !nodeNames.Contains(target.Node!)))
                {
                    Error(targetNode, at + ".target", $"unknown target '{text}'",
                        $"name a node{(nodeNames is null ? "" : $" of the lab ({string.Join(", ", nodeNames)})")} or a role ({string.Join(", ", TargetSpec.RoleNames)}); never an address");
                    target = null;
                }
            }
            var id = Scalar(keys, "id", $"fault{ordinal}") ?? $"fault{ordinal}";
            if (id == RecoverStep.All || !Regex.IsMatch(id, "^[a-z0-9][a-z0-9_-]*$"))
                Error(keys.GetValueOrDefault("id"), at + ".id", $"'{id}' is not a usable id", "use lower-case letters, digits, '-' and '_' (not 'all')");
            TimeSpan? forDuration = keys.TryGetValue("for", out var forNode) ? ParseDuration(forNode, at + ".for") : null;

            double? probability = null;
            if (keys.TryGetValue("probability", out var pn))
            {
                var raw = (pn as YamlScalarNode)?.Value ?? "";
                var ok = raw.EndsWith('%')
                    ? double.TryParse(raw[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var pct) && (probability = pct / 100) is not null
                    : double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var p) && (probability = p) is not null;
                if (!ok || probability is not (> 0 and <= 1))
                    Error(pn, at + ".probability", $"'{raw}' is not a probability above 0 and at most 1", "write e.g. 0.3 or 30%");
            }
            var rate = Scalar(keys, "rate", null);
            if (rate is not null && !RateForm.IsMatch(rate))
                Error(keys["rate"], at + ".rate", $"'{rate}' is not a tc rate", "write e.g. 1mbit, 512kbit");
            TimeSpan? delay = keys.TryGetValue("delay", out var dn) ? ParseDuration(dn, at + ".delay") : null;
            TimeSpan? jitter = keys.TryGetValue("jitter", out var jn) ? ParseDuration(jn, at + ".jitter") : null;

            switch (kind)
            {
                case FaultKind.NetworkLoss when probability is null && !keys.ContainsKey("probability"):
                    Error(map, at + ".probability", "is missing", "network-loss needs 'probability', e.g. 0.3");
                    break;
                case FaultKind.NetworkRate when rate is null:
                    Error(map, at + ".rate", "is missing", "network-rate needs 'rate', e.g. 1mbit");
                    break;
                case FaultKind.NetworkDelay when delay is null && !keys.ContainsKey("delay"):
                    Error(map, at + ".delay", "is missing", "network-delay needs 'delay', e.g. 100ms (and optionally 'jitter')");
                    break;
            }
            foreach (var (key, applies) in new[] { ("probability", kind == FaultKind.NetworkLoss), ("rate", kind == FaultKind.NetworkRate), ("delay", kind == FaultKind.NetworkDelay), ("jitter", kind == FaultKind.NetworkDelay) })
                if (!applies && kind is not null && keys.TryGetValue(key, out var extra))
                    Error(extra, $"{at}.{key}", $"does not apply to {faultName}", "remove it");
            if (kind is FaultKind.NodeRestart or FaultKind.HaproxyCrash or FaultKind.KeepalivedCrash or FaultKind.ApiServerKill or FaultKind.EtcdKill or FaultKind.KubeletKill or FaultKind.ControllerManagerKill or FaultKind.SchedulerKill && forNode is not null)
                Error(forNode, at + ".for", $"{faultName} heals by itself, so 'for' does not apply", "remove it; add a 'wait' step to watch it heal");

            return kind is null || target is null ? null : new FaultStep((int)map.Start.Line, id, kind.Value, target, new FaultParameters(probability, rate, delay, jitter), forDuration);
        }

        private ImmutableArray<Expectation> ReadExpectations(YamlNode? node)
        {
            if (node is null) return [];
            if (node is not YamlSequenceNode seq)
            {
                Error(node, "expectations", "must be a list", ExpectationParser.Grammar);
                return [];
            }
            var result = ImmutableArray.CreateBuilder<Expectation>();
            var i = 0;
            foreach (var item in seq.Children)
            {
                i++;
                var line = (int)item.Start.Line;
                if (item is YamlScalarNode s)
                {
                    var (e, error) = ExpectationParser.ParseMetric(s.Value ?? "", line, IsKnownProbe);
                    if (e is not null) result.Add(e);
                    else Error(item, $"expectations[{i}]", error!, ExpectationParser.Grammar);
                }
                else if (item is YamlMappingNode { Children.Count: 1 } m && m.Children.First() is var (k, v) && v is YamlScalarNode vs)
                {
                    var (e, error) = ExpectationParser.ParseHolder(((YamlScalarNode)k).Value ?? "", vs.Value ?? "", line, nodeNames is null ? null : nodeNames.Contains);
                    if (e is not null) result.Add(e);
                    else Error(item, $"expectations[{i}]", error!, ExpectationParser.Grammar);
                }
                else Error(item, $"expectations[{i}]", "is malformed", ExpectationParser.Grammar);
            }
            return result.ToImmutable();
        }

        private Dictionary<string, YamlNode> Keys(YamlMappingNode map, string prefix, string[] allowed)
        {
            var result = new Dictionary<string, YamlNode>();
            foreach (var (k, v) in map.Children)
            {
                var key = (k as YamlScalarNode)?.Value ?? "";
                if (!allowed.Contains(key)) Error(k, prefix + key, "is not a known key", $"use {string.Join(", ", allowed)}");
                else result[key] = v;
            }
            return result;
        }

        private string? Scalar(Dictionary<string, YamlNode> keys, string key, string? fallback)
        {
            if (!keys.TryGetValue(key, out var node)) return fallback;
            if (node is YamlScalarNode s) return s.Value ?? fallback;
            Error(node, key, "must be a single value", "write it on one line");
            return fallback;
        }

        private TimeSpan DurationOf(Dictionary<string, YamlNode> keys, string key, TimeSpan fallback, string prefix = "") =>
            keys.TryGetValue(key, out var node) ? ParseDuration(node, prefix + key) ?? fallback : fallback;

        private TimeSpan? ParseDuration(YamlNode node, string field)
        {
            var text = (node as YamlScalarNode)?.Value;
            if (Durations.TryParse(text, out var d)) return d;
            Error(node, field, $"'{text}' is not a duration", "write e.g. 500ms, 10s, 1m30s");
            return null;
        }
    }
}
