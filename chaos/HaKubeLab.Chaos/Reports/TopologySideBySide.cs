using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using HaKubeLab.Chaos.Scenarios;
using YamlDotNet.RepresentationModel;

namespace HaKubeLab.Chaos.Reports;

/// <summary>One entry of a comparison set: a title and the scenario to run on each topology (null: not applicable there).</summary>
public sealed record ComparedScenario(string Title, string? Stacked, string? External, string Why = "");

/// <summary>
/// A set of scenarios that puts the same faults to a stacked and an external lab (<c>chaos/scenarios/sets/*.yaml</c>):
/// <c>name</c>, <c>description</c>, <c>scenarios: [{ title, stacked, external, why }]</c>; <c>same</c> for the external
/// scenario means the stacked one, <c>none</c> that the fault does not exist there.
/// </summary>
public sealed record ComparisonSet(string Name, string Description, ImmutableArray<ComparedScenario> Scenarios)
{
    /// <summary>Loads a set file; errors name the entry and the fix.</summary>
    public static ComparisonSet Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var yaml = new YamlStream();
        using (var reader = new StreamReader(path)) yaml.Load(reader);
        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is not YamlMappingNode root)
            throw new ScenarioException([new(path, 1, "(file)", "is not a YAML mapping", "write name:, description:, scenarios: [...]")]);
        string? Str(YamlMappingNode m, string key) => m.Children.TryGetValue(new YamlScalarNode(key), out var v) && v is YamlScalarNode s ? s.Value : null;
        var list = new List<ComparedScenario>();
        if (!root.Children.TryGetValue(new YamlScalarNode("scenarios"), out var seq) || seq is not YamlSequenceNode items)
            throw new ScenarioException([new(path, (int)root.Start.Line, "scenarios", "is missing", "list the scenarios: - { title: ..., stacked: NAME, external: NAME|same|none }")]);
        foreach (var item in items)
        {
            if (item is not YamlMappingNode m || Str(m, "title") is not { } title || Str(m, "stacked") is not { } stacked)
                throw new ScenarioException([new(path, (int)item.Start.Line, "scenarios[]", "needs title and stacked", "write - { title: ..., stacked: NAME, external: NAME|same|none }")]);
            var external = Str(m, "external") ?? "same";
            list.Add(new ComparedScenario(title, stacked == "none" ? null : stacked, external == "same" ? stacked : external == "none" ? null : external, Str(m, "why") ?? ""));
        }
        return new ComparisonSet(Str(root, "name") ?? Path.GetFileNameWithoutExtension(path), Str(root, "description") ?? "", [.. list]);
    }
}

/// <summary>A run's figures as the comparison shows them; written beside each run (compared.json) so sets run at different times can be compared.</summary>
public sealed record ComparedRun(
    string Title,
    string Scenario,
    string Lab,
    string Topology,
    bool Passed,
    string RunFolder,
    double? VipAvailability,
    double? VipLongestOutage,
    double? WriteAvailability,
    double? WriteLongestOutage,
    bool WriteOutageOpen,
    double? ReadyzAvailability,
    double? EtcdGap,
    double? ControllerManagerGap,
    double? SchedulerGap,
    int VipChanges,
    IReadOnlyList<string> Predicted,
    IReadOnlyList<string> Verdicts)
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The figures of <paramref name="r"/>.</summary>
    public static ComparedRun From(string title, RunResult r, string topology)
    {
        ArgumentNullException.ThrowIfNull(r);
        ProbeResult? P(string name) => r.Probes.FirstOrDefault(p => p.Name == name && p.Applicable);
        double? Longest(ProbeResult? p) => p is null ? null : p.Outages.Count == 0 ? 0 : Math.Round(p.Outages.Max(o => o.Length), 3);
        var write = P(ProbeNames.ApiWrite);
        return new ComparedRun(title, r.Scenario, r.Lab.Name, topology, r.Passed, r.RunFolder,
            P(ProbeNames.VipTcp)?.Availability, Longest(P(ProbeNames.VipTcp)),
            write?.Availability, Longest(write), write?.Outages.Any(o => o.Open) == true,
            P(ProbeNames.ReadyzVip)?.Availability,
            r.Leaders?.LongestGap("etcd"), r.Leaders?.LongestGap("kube-controller-manager"), r.Leaders?.LongestGap("kube-scheduler"),
            r.VipHolder.Changes.Count,
            [.. (r.Leaders?.Survival ?? []).Select(s => $"{s.Fault}: {s.Prediction}")],
            [.. (r.Leaders?.Survival ?? []).Select(s => $"{s.Fault}: {s.Verdict}")]);
    }
}

/// <summary>The side-by-side report: the same faults on each lab, one table per fault and a paragraph a trainer can read out; pure.</summary>
public static class TopologySideBySide
{
    private static string F(double? v, string format = "0.00", string none = "-") => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : none;
    private static string Pct(double? v) => v is { } x ? (100 * x).ToString("0.0", CultureInfo.InvariantCulture) + " %" : "-";
    private static string Gap(double? v) => v is { } x ? $"{F(x, "0.0")} s" : "none";

    /// <summary>Markdown for <paramref name="set"/> run on the labs in <paramref name="columns"/> (lab name, topology); runs keyed by (title, lab).</summary>
    public static string Markdown(ComparisonSet set, IReadOnlyList<(string Lab, string Topology)> columns, IReadOnlyList<ComparedRun> runs, IReadOnlyDictionary<(string Title, string Lab), string>? notRun = null)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentNullException.ThrowIfNull(runs);
        var md = new StringBuilder();
        md.AppendLine($"# The same faults, side by side: {string.Join(" vs ", columns.Select(c => $"{c.Topology} (`{c.Lab}`)"))}").AppendLine();
        if (set.Description.Length > 0) md.AppendLine(set.Description.Trim()).AppendLine();
        md.AppendLine("Availability = successful probes / all probes over the scenario's measured window; `vip_tcp` is a TCP connect to VIP:9443 every 50 ms, `api_write` a ConfigMap write through the cluster endpoint, `readyz_vip` /readyz through it. " +
                      "A leader gap is the time nobody led: for the controller-manager and the scheduler from the dead leader's fault (or last lease renewal) to the next leader's acquireTime; for etcd to the first look that saw a new leader.").AppendLine();
        foreach (var s in set.Scenarios)
        {
            md.AppendLine($"## {s.Title}").AppendLine();
            if (s.Why.Length > 0) md.AppendLine(s.Why.Trim()).AppendLine();
            var cells = columns.Select(c => runs.FirstOrDefault(r => r.Title == s.Title && r.Lab == c.Lab)).ToList();
            md.AppendLine($"| | {string.Join(" | ", columns.Select(c => $"{c.Topology} `{c.Lab}`"))} |");
            md.AppendLine($"| --- |{string.Concat(columns.Select(_ => " --- |"))}");
            string Row(string name, Func<ComparedRun, string> cell) =>
                $"| {name} | {string.Join(" | ", cells.Select((r, i) => r is null ? (notRun?.GetValueOrDefault((s.Title, columns[i].Lab)) ?? "not run") : cell(r)))} |";
            md.AppendLine(Row("scenario", r => $"`{r.Scenario}`{(r.Passed ? "" : " (expectations failed)")}"));
            md.AppendLine(Row("API port through the VIP (vip_tcp)", r => $"{Pct(r.VipAvailability)}, longest outage {F(r.VipLongestOutage)} s"));
            md.AppendLine(Row("writes through the VIP (api_write)", r => r.WriteAvailability is null ? "-" : $"{Pct(r.WriteAvailability)}, longest outage {F(r.WriteLongestOutage)} s{(r.WriteOutageOpen ? " (still failing at the end)" : "")}"));
            md.AppendLine(Row("/readyz through the VIP", r => Pct(r.ReadyzAvailability)));
            md.AppendLine(Row("etcd without a leader", r => Gap(r.EtcdGap)));
            md.AppendLine(Row("controller-manager without a leader", r => Gap(r.ControllerManagerGap)));
            md.AppendLine(Row("scheduler without a leader", r => Gap(r.SchedulerGap)));
            md.AppendLine(Row("VIP moves", r => r.VipChanges.ToString(CultureInfo.InvariantCulture)));
            md.AppendLine(Row("predicted (survival)", r => r.Predicted.Count == 0 ? "-" : string.Join("<br>", r.Predicted.Select(Cell))));
            md.AppendLine(Row("predicted vs measured", r => r.Verdicts.Count == 0 ? "-" : string.Join("<br>", r.Verdicts.Select(Cell))));
            md.AppendLine();
            md.AppendLine(InWords(s, columns, cells, notRun)).AppendLine();
        }
        return md.ToString();
    }

    /// <summary>One paragraph per fault, from the figures: what each topology cost.</summary>
    public static string InWords(ComparedScenario s, IReadOnlyList<(string Lab, string Topology)> columns, IReadOnlyList<ComparedRun?> cells, IReadOnlyDictionary<(string Title, string Lab), string>? notRun = null)
    {
        ArgumentNullException.ThrowIfNull(s);
        var parts = new List<string>();
        for (var i = 0; i < columns.Count; i++)
        {
            if (cells[i] is not { } r)
            {
                parts.Add(notRun?.GetValueOrDefault((s.Title, columns[i].Lab)) is { } why ? $"The {columns[i].Topology} lab: {why}." : $"The {columns[i].Topology} lab has no such fault.");
                continue;
            }
            var writes = r.WriteAvailability is null ? "writes were not probed"
                : r.WriteOutageOpen ? $"writes stopped and had not come back when the faults were undone (longest outage {F(r.WriteLongestOutage, "0.0")} s)"
                : r.WriteLongestOutage is > 0 ? $"writes paused for at most {F(r.WriteLongestOutage, "0.0")} s ({Pct(r.WriteAvailability)} succeeded)"
                : "writes never failed";
            var leaders = new List<string>();
            if (r.EtcdGap is { } e) leaders.Add($"etcd had no leader for {F(e, "0.0")} s");
            if (r.ControllerManagerGap is { } c) leaders.Add($"no controller ran for {F(c, "0.0")} s");
            if (r.SchedulerGap is { } g) leaders.Add($"no pod could be scheduled for {F(g, "0.0")} s");
            parts.Add($"On the {columns[i].Topology} lab {writes}" +
                      $"{(r.VipLongestOutage is > 0 ? $", the API port through the VIP was unreachable for up to {F(r.VipLongestOutage, "0.0")} s" : ", the API port through the VIP never stopped answering")}" +
                      $"{(leaders.Count > 0 ? "; " + string.Join(", ", leaders) : "; every leader stayed")}.");
        }
        return string.Join(" ", parts);
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
