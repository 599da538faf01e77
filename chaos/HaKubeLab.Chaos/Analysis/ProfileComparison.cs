using System.Globalization;
using System.Text;
using HaKubeLab.Chaos.Reports;
using HaKubeLab.Chaos.Scenarios;

namespace HaKubeLab.Chaos.Analysis;

/// <summary>One chaos run of a profile comparison: which profile, which fault scenario, which repeat, and what the lab looked like before it.</summary>
/// <param name="Profile">seed, recommended or fast.</param>
/// <param name="Scenario">The scenario's name.</param>
/// <param name="Repeat">1-based repeat number.</param>
/// <param name="Result">The run's result.</param>
/// <param name="EtcdLeaderBefore">Which node's etcd member led before the fault (null: unknown, or no Kubernetes).</param>
public sealed record ComparisonRun(string Profile, string Scenario, int Repeat, RunResult Result, string? EtcdLeaderBefore = null);

/// <summary>min / median / max of a figure over repeats, and how many repeats gave one.</summary>
/// <param name="N">Repeats with a figure.</param>
/// <param name="Of">Repeats in all.</param>
public sealed record Spread(int N, int Of, double? Min, double? Median, double? Max)
{
    /// <summary>The spread of <paramref name="values"/> (nulls count in <see cref="Of"/> only).</summary>
    public static Spread From(IEnumerable<double?> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var all = values.ToList();
        var v = all.Where(x => x is not null).Select(x => x!.Value).Order().ToList();
        if (v.Count == 0) return new(0, all.Count, null, null, null);
        var median = v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
        return new(v.Count, all.Count, v[0], median, v[^1]);
    }

    /// <summary>"0.31 / 0.34 / 0.40 s (10)", "0.31 s (1)", or "—" when no repeat gave a figure.</summary>
    public string Text
    {
        get
        {
            if (N == 0) return Of == 0 ? "—" : $"none ({Of} runs)";
            var count = N == Of ? $"{N}" : $"{N} of {Of}";
            return N == 1 ? $"{S(Min)} s ({count})" : $"{S(Min)} / {S(Median)} / {S(Max)} s ({count})";
        }
    }

    internal static string S(double? v) => v is { } x ? x.ToString("0.00", CultureInfo.InvariantCulture) : "—";
}

/// <summary>
/// What the packet capture of the lab bridge saw for one fault (the <c>wire</c> branch adds it to <see cref="RunResult"/>):
/// the new holder's first gratuitous ARP and the first SYN-ACK through the VIP after the fault, in seconds from the fault.
/// </summary>
/// <param name="ProbeSynAckAfter">The first SYN-ACK to the failover probe's (vip_tcp's) own SYNs, in seconds from the fault.</param>
/// <param name="RunnerMinusWireMs">The runner's vip_tcp failover minus <paramref name="ProbeSynAckAfter"/>, in milliseconds.</param>
public sealed record WireFigure(double? GratuitousArpAfter, double? FirstSynAckAfter, int? DualMasterAdverts = null, double? ProbeSynAckAfter = null, double? RunnerMinusWireMs = null);

/// <summary>
/// The one seam between the comparison and the wire capture: what a run's result says the wire saw.
/// A run without a capture (no libpcap, not root) has nothing to read and the report prints <see cref="NoCapture"/>.
/// </summary>
public static class WireFigures
{
    /// <summary>What the report prints where the run has no capture.</summary>
    public const string NoCapture = "n/a (no capture)";

    /// <summary>The wire figures of <paramref name="fault"/> in <paramref name="run"/>; null: the run has no capture.</summary>
    public static WireFigure? Of(RunResult run, FaultResult fault)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(fault);
        if (run.Wire is not { Available: true } wire) return null;
        var w = wire.Faults.FirstOrDefault(x => x.FaultId == fault.Id && x.Node == fault.Node);
        var firstSynAckAfter = w?.FirstSynAck is { } t ? Math.Round(t - w.FaultTime, 4) : (double?)null;
        return w is null ? new WireFigure(null, null, wire.DualMasters.Count)
            : new WireFigure(w.GarpAfter, firstSynAckAfter, wire.DualMasters.Count, w.ProbeSeconds,
                w.ProbeSeconds is null ? null : Wire.WireReport.DifferenceMs(fault, w, ProbeNames.VipTcp));
    }

    /// <summary>Dual-master moments the capture saw over a whole run (steady state); null: no capture.</summary>
    public static int? DualMasterAdverts(RunResult run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return run.Wire is { Available: true } wire ? wire.DualMasters.Count : null;
    }
}

/// <summary>One fault scenario on one profile: the figures over every repeat.</summary>
/// <param name="Fault">The fault kind (node-kill, ...).</param>
/// <param name="Predicted">The failover model's window for VIP:port (vip_tcp) from the fault; null when VRRP does not predict one.</param>
/// <param name="PredictionSummary">The model's answer in words (first repeat).</param>
/// <param name="VipTakeover">Fault to the new holder carrying the VIP on its interface (the holder monitor, every 50 ms).</param>
/// <param name="Failover">Per probe: fault to the first success after it.</param>
/// <param name="Outage">Per probe: the first outage after the fault, first failure to next success (0 when the probe never failed).</param>
/// <param name="WireArp">The wire's first gratuitous ARP after the fault.</param>
/// <param name="WireSynAck">The wire's first SYN-ACK through the VIP after the fault.</param>
/// <param name="WireProbeSynAck">The wire's first SYN-ACK to vip_tcp's own SYNs after the fault.</param>
/// <param name="RunnerMinusWireMs">Per repeat, vip_tcp's failover (runner) minus <paramref name="WireProbeSynAck"/>, in ms.</param>
/// <param name="EtcdLeaderWasHolder">Repeats in which the etcd leader sat on the node that was hit.</param>
public sealed record ComparisonCell(
    string Profile,
    string Scenario,
    string Fault,
    int Runs,
    string? Predicted,
    string PredictionSummary,
    Spread VipTakeover,
    IReadOnlyDictionary<string, Spread> Failover,
    IReadOnlyDictionary<string, Spread> Outage,
    Spread? WireArp,
    Spread? WireSynAck,
    int EtcdLeaderWasHolder,
    int EtcdLeaderKnown,
    IReadOnlyList<string> RunFolders,
    Spread? WireProbeSynAck = null,
    IReadOnlyList<double>? RunnerMinusWireMs = null);

/// <summary>A profile's steady state: a fault-free run.</summary>
/// <param name="DualMasterSamples">Looks of the holder monitor (every 50 ms) that found the VIP on more than one node.</param>
/// <param name="KeepalivedTransitions">VRRP state changes keepalived logged during the run.</param>
/// <param name="WireDualMasterAdverts">Adverts from two masters on the wire; null without a capture.</param>
public sealed record SteadyState(
    string Profile,
    double Seconds,
    int VipChanges,
    int DualMasterSamples,
    int HolderSamples,
    int KeepalivedTransitions,
    IReadOnlyDictionary<string, double?> Availability,
    int? WireDualMasterAdverts,
    string? LoadAverage,
    string RunFolder);

/// <summary>The comparison: per fault, each profile side by side; each profile's steady state.</summary>
public sealed record ProfileComparisonResult(
    DateTimeOffset StartedAt,
    IReadOnlyList<string> Profiles,
    IReadOnlyList<string> Scenarios,
    IReadOnlyList<ComparisonCell> Cells,
    IReadOnlyList<SteadyState> SteadyStates,
    IReadOnlyDictionary<string, string> Settings,
    IReadOnlyList<string> Notes);

/// <summary>
/// Turns the runs of <c>chaos compare</c> into one side-by-side report: per fault and profile the failover and
/// outage of each probe through the VIP (min / median / max over the repeats), the prediction beside them, and the
/// wire figures where the run captured the bridge. Pure: the command runs the labs and hands the results in.
/// </summary>
public static class ProfileComparison
{
    /// <summary>The probes compared: TCP to VIP:port, GET /readyz through the VIP, a ConfigMap write through the VIP.</summary>
    public static readonly IReadOnlyList<string> Probes = [ProbeNames.VipTcp, ProbeNames.ReadyzVip, ProbeNames.ApiWrite];

    /// <summary>Words for a probe, for a trainer.</summary>
    public static string ProbeWords(string probe) => probe switch
    {
        ProbeNames.VipTcp => "TCP to VIP:port",
        ProbeNames.ReadyzVip => "API /readyz through the VIP",
        ProbeNames.ApiWrite => "API write through the VIP",
        _ => probe,
    };

    /// <summary>Builds the comparison from fault runs and steady-state runs.</summary>
    /// <param name="runs">Every fault run (any order).</param>
    /// <param name="steady">Fault-free runs, one per profile (may be empty).</param>
    /// <param name="settings">Per profile, its settings in words (advert interval, checks ...).</param>
    /// <param name="loadAverages">Per steady-state run folder, the host's load average during it.</param>
    public static ProfileComparisonResult Build(IReadOnlyList<ComparisonRun> runs, IReadOnlyList<ComparisonRun> steady,
        IReadOnlyDictionary<string, string>? settings = null, IReadOnlyDictionary<string, string>? loadAverages = null, DateTimeOffset? startedAt = null)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(steady);
        // A run cut short (Ctrl-C) measured nothing to compare: it is left out and counted in the notes.
        var interrupted = runs.Concat(steady).Where(r => r.Result.Interrupted).ToList();
        runs = [.. runs.Where(r => !r.Result.Interrupted)];
        steady = [.. steady.Where(r => !r.Result.Interrupted)];
        var profiles = runs.Select(r => r.Profile).Concat(steady.Select(s => s.Profile)).Distinct().ToList();
        var scenarios = runs.Select(r => r.Scenario).Distinct().ToList();
        var cells = new List<ComparisonCell>();
        foreach (var scenario in scenarios)
        foreach (var profile in profiles)
        {
            var mine = runs.Where(r => r.Scenario == scenario && r.Profile == profile).OrderBy(r => r.Repeat).ToList();
            if (mine.Count == 0) continue;
            // The first fault of each run is the one compared (the fault-set scenarios inject one).
            var faults = mine.Select(r => (r, f: r.Result.Faults.FirstOrDefault())).ToList();
            var first = faults.Select(x => x.f).FirstOrDefault(f => f is not null);
            Spread Of(Func<FaultResult, double?> pick) => Spread.From(faults.Select(x => x.f is null ? null : pick(x.f)));
            var failover = Probes.ToDictionary(p => p, p => Of(f => f.Failover.TryGetValue(p, out var x) ? x.Seconds : null));
            var outage = Probes.ToDictionary(p => p, p => Of(f => f.Failover.TryGetValue(p, out var x) ? x.Interrupted ? x.OutageSeconds : 0 : null));
            var wire = faults.Select(x => x.f is null ? null : WireFigures.Of(x.r.Result, x.f)).ToList();
            var anyWire = wire.Any(w => w is not null);
            cells.Add(new ComparisonCell(
                profile, scenario, first?.Kind ?? "(no fault)", mine.Count,
                first?.PredictedFailover?.ToString(),
                first?.Prediction.Summary ?? "",
                Of(f => f.VipMovedAfter),
                failover, outage,
                anyWire ? Spread.From(wire.Select(w => w?.GratuitousArpAfter)) : null,
                anyWire ? Spread.From(wire.Select(w => w?.FirstSynAckAfter)) : null,
                faults.Count(x => x.r.EtcdLeaderBefore is { } l && x.f is not null && l == x.f.Node),
                faults.Count(x => x.r.EtcdLeaderBefore is not null),
                [.. mine.Select(r => r.Result.RunFolder)],
                anyWire ? Spread.From(wire.Select(w => w?.ProbeSynAckAfter)) : null,
                anyWire ? [.. wire.Where(w => w?.RunnerMinusWireMs is not null).Select(w => w!.RunnerMinusWireMs!.Value)] : null));
        }
        var steadyStates = steady.Select(s =>
        {
            var r = s.Result;
            var samples = r.VipHolder.Samples;
            return new SteadyState(s.Profile, Math.Round(r.MeasuredUntil, 1), r.VipHolder.Changes.Count,
                samples.Count(x => x.Holders.Length > 1), samples.Count, r.VipHolder.Keepalived.Count,
                Probes.ToDictionary(p => p, p => r.Probes.FirstOrDefault(x => x.Name == p && x.Applicable)?.Availability),
                WireFigures.DualMasterAdverts(r), loadAverages?.GetValueOrDefault(r.RunFolder), r.RunFolder);
        }).ToList();
        return new ProfileComparisonResult(startedAt ?? runs.Concat(steady).Select(r => r.Result.StartedAt).DefaultIfEmpty(DateTimeOffset.UtcNow).Min(),
            profiles, scenarios, cells, steadyStates, settings ?? new Dictionary<string, string>(),
            [.. Notes(cells), .. interrupted.Select(r => $"Left out: {r.Profile} {r.Scenario} #{r.Repeat} was interrupted ({Path.GetFileName(r.Result.RunFolder)}).")]);
    }

    /// <summary>"+1.3 ms (10 of 10 within 5 ms)": the largest difference between the runner's vip_tcp figure and the wire's, and how many repeats agreed within 5 ms.</summary>
    public static string RunnerVsWire(IReadOnlyList<double>? differencesMs)
    {
        if (differencesMs is not { Count: > 0 } d) return "—";
        var largest = d.OrderByDescending(Math.Abs).First();
        return string.Create(CultureInfo.InvariantCulture, $"{largest:+0.0;-0.0;0.0} ms ({d.Count(x => Math.Abs(x) <= 5)} of {d.Count} within 5 ms)");
    }

    private static List<string> Notes(List<ComparisonCell> cells)
    {
        var notes = new List<string>();
        if (cells.All(c => c.WireArp is null))
            notes.Add($"Wire figures: these runs did not capture the lab bridge, so the wire rows read \"{WireFigures.NoCapture}\".");
        return notes;
    }

    /// <summary>The report in Markdown: a headline table, per-fault tables side by side, the steady state, and sentences a trainer can read aloud.</summary>
    public static string Markdown(ProfileComparisonResult c)
    {
        ArgumentNullException.ThrowIfNull(c);
        var md = new StringBuilder();
        md.AppendLine($"# Profile comparison: {string.Join(" vs ", c.Profiles)}");
        md.AppendLine();
        md.AppendLine($"Run {c.StartedAt:yyyy-MM-dd HH:mm} UTC. Each profile on a fresh Kubernetes lab (three masters, haproxy and keepalived beside each), the same fault scenarios, one after another. " +
                      "Times are seconds from the fault (the Docker engine's own event time where there is one). Figures are min / median / max over the repeats, with the number of repeats in brackets.");
        md.AppendLine();
        foreach (var (profile, text) in c.Settings) md.AppendLine($"- **{profile}**: {text}");
        if (c.Settings.Count > 0) md.AppendLine();

        // The headline: node kill of the VIP holder.
        var headline = c.Cells.Where(x => x.Fault == "node-kill").ToList();
        if (headline.Count > 0)
        {
            md.AppendLine("## Killing the VIP holder's node");
            md.AppendLine();
            md.AppendLine("| profile | kills | predicted VIP takeover | VIP takeover (interfaces) | API /readyz through the VIP | API write through the VIP | VIP:port (TCP) |");
            md.AppendLine("| --- | --- | --- | --- | --- | --- | --- |");
            foreach (var x in headline)
                md.AppendLine($"| {x.Profile} | {x.Runs} | {x.Predicted ?? "—"} | {x.VipTakeover.Text} | {x.Failover[ProbeNames.ReadyzVip].Text} | {x.Failover[ProbeNames.ApiWrite].Text} | {x.Failover[ProbeNames.VipTcp].Text} |");
            md.AppendLine();
        }

        md.AppendLine("## Every fault, side by side");
        foreach (var scenario in c.Scenarios)
        {
            var row = c.Cells.Where(x => x.Scenario == scenario).ToList();
            if (row.Count == 0) continue;
            md.AppendLine();
            md.AppendLine($"### {row[0].Fault} on the VIP holder (`{scenario}`)");
            md.AppendLine();
            md.AppendLine($"| figure | {string.Join(" | ", row.Select(x => $"{x.Profile} ({x.Runs} run{(x.Runs == 1 ? "" : "s")})"))} |");
            md.AppendLine($"| --- |{string.Concat(row.Select(_ => " --- |"))}");
            md.AppendLine($"| predicted (failover model) | {string.Join(" | ", row.Select(x => Escape(x.PredictionSummary)))} |");
            md.AppendLine($"| predicted VIP:port failover | {string.Join(" | ", row.Select(x => x.Predicted ?? "not a VRRP figure"))} |");
            md.AppendLine($"| VIP takeover (interfaces) | {string.Join(" | ", row.Select(x => x.VipTakeover.N == 0 ? "VIP did not move" : x.VipTakeover.Text))} |");
            foreach (var p in Probes)
            {
                md.AppendLine($"| {ProbeWords(p)}: failover | {string.Join(" | ", row.Select(x => x.Failover[p].Text))} |");
                md.AppendLine($"| {ProbeWords(p)}: outage | {string.Join(" | ", row.Select(x => x.Outage[p].Text))} |");
            }
            md.AppendLine($"| wire: first gratuitous ARP | {string.Join(" | ", row.Select(x => x.WireArp?.Text ?? WireFigures.NoCapture))} |");
            md.AppendLine($"| wire: first SYN-ACK through the VIP (any probe) | {string.Join(" | ", row.Select(x => x.WireSynAck?.Text ?? WireFigures.NoCapture))} |");
            if (row.Any(x => x.WireProbeSynAck is { N: > 0 }))
            {
                md.AppendLine($"| wire: first SYN-ACK to TCP to VIP:port's own SYNs | {string.Join(" | ", row.Select(x => x.WireProbeSynAck?.Text ?? WireFigures.NoCapture))} |");
                md.AppendLine($"| runner - wire, TCP to VIP:port (largest difference) | {string.Join(" | ", row.Select(x => RunnerVsWire(x.RunnerMinusWireMs)))} |");
            }
            if (row.Any(x => x.EtcdLeaderKnown > 0))
                md.AppendLine($"| etcd leader on the node hit | {string.Join(" | ", row.Select(x => x.EtcdLeaderKnown == 0 ? "—" : $"{x.EtcdLeaderWasHolder} of {x.EtcdLeaderKnown}"))} |");
        }
        md.AppendLine();

        if (c.SteadyStates.Count > 0)
        {
            md.AppendLine("## Steady state (no fault)");
            md.AppendLine();
            md.AppendLine("| profile | seconds | VIP changes | dual-master looks (of all looks, every 50 ms) | keepalived state changes | dual master on the wire | VIP:port availability | /readyz availability | write availability | host load average |");
            md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
            foreach (var s in c.SteadyStates)
                md.AppendLine($"| {s.Profile} | {s.Seconds:0.#} | {s.VipChanges} | {s.DualMasterSamples} of {s.HolderSamples} | {s.KeepalivedTransitions} | {(s.WireDualMasterAdverts is { } w ? w.ToString(CultureInfo.InvariantCulture) : WireFigures.NoCapture)} | " +
                              $"{Pct(s.Availability.GetValueOrDefault(ProbeNames.VipTcp))} | {Pct(s.Availability.GetValueOrDefault(ProbeNames.ReadyzVip))} | {Pct(s.Availability.GetValueOrDefault(ProbeNames.ApiWrite))} | {s.LoadAverage ?? "—"} |");
            md.AppendLine();
        }

        md.AppendLine("## In words");
        md.AppendLine();
        foreach (var sentence in Sentences(c)) md.AppendLine($"- {sentence}");
        md.AppendLine();
        if (c.Notes.Count > 0)
        {
            md.AppendLine("## Notes");
            md.AppendLine();
            foreach (var n in c.Notes) md.AppendLine($"- {n}");
            md.AppendLine();
        }
        md.AppendLine("## How it was measured");
        md.AppendLine();
        md.AppendLine("- *VIP takeover*: fault to the first look (every 50 ms, each node's interfaces read from the host) that finds the VIP on another node.");
        md.AppendLine("- *Failover* of a probe: fault to its first success after the fault. *Outage*: its first outage after the fault, first failure to next success (0: the probe never failed).");
        md.AppendLine("- Probes every 50 ms: TCP connect to VIP:port (timeout 150 ms), HTTPS GET /readyz at the cluster endpoint (timeout 300 ms), a ConfigMap write there (timeout 400 ms). Attempts overlap: one starts every 50 ms even while earlier ones wait for their timeout, and an HTTPS attempt that fails drops its connection, so the first success after a failover is seen within one interval (50 ms) of the service answering again.");
        md.AppendLine("- *Predicted*: the failover model (`explain`) for VIP:port from the moment the fault takes effect; the API probes add haproxy's and etcd's own timers.");
        md.AppendLine("- Run folders (result.json, summary.md, timeline.svg per run):");
        foreach (var cell in c.Cells) md.AppendLine($"  - {cell.Profile} {cell.Scenario}: {string.Join(", ", cell.RunFolders.Select(Path.GetFileName))}");
        foreach (var s in c.SteadyStates) md.AppendLine($"  - {s.Profile} steady state: {Path.GetFileName(s.RunFolder)}");
        return md.ToString();
    }

    /// <summary>One sentence per fault and one per steady state, in words a trainer can read aloud.</summary>
    public static IReadOnlyList<string> Sentences(ProfileComparisonResult c)
    {
        ArgumentNullException.ThrowIfNull(c);
        var lines = new List<string>();
        foreach (var scenario in c.Scenarios)
        {
            var row = c.Cells.Where(x => x.Scenario == scenario).ToList();
            if (row.Count == 0) continue;
            var parts = row.Select(x =>
            {
                var api = x.Failover[ProbeNames.ReadyzVip];
                var write = x.Failover[ProbeNames.ApiWrite];
                var apiOutage = x.Outage[ProbeNames.ReadyzVip];
                var moved = x.VipTakeover.N > 0 ? $"the VIP moved after {Words(x.VipTakeover)}" : "the VIP stayed where it was";
                var apiText = apiOutage.Max is 0 or null && api.N > 0
                    ? "the API never stopped answering"
                    : $"the API answered again after {Words(api)} and took writes after {Words(write)}";
                return $"with **{x.Profile}** {moved} and {apiText}{(x.Predicted is { } p ? $" (predicted for VIP:port: {p})" : "")}";
            });
            lines.Add($"{Capitalise(FaultWords(row[0].Fault))} ({row.Max(x => x.Runs)} time{(row.Max(x => x.Runs) == 1 ? "" : "s")} per profile): {string.Join("; ", parts)}.");
        }
        foreach (var s in c.SteadyStates)
            lines.Add($"Left alone for {s.Seconds:0} s, **{s.Profile}** {(s.VipChanges == 0 ? "never moved the VIP" : $"moved the VIP {s.VipChanges} time{(s.VipChanges == 1 ? "" : "s")}")}, " +
                      $"{(s.DualMasterSamples == 0 ? "and no look found it on two nodes" : $"and {s.DualMasterSamples} look{(s.DualMasterSamples == 1 ? "" : "s")} found it on two nodes at once")}" +
                      $"{(s.KeepalivedTransitions == 0 ? "; keepalived changed state not once" : $"; keepalived changed state {s.KeepalivedTransitions} time{(s.KeepalivedTransitions == 1 ? "" : "s")}")}.");
        return lines;
    }

    private static string Words(Spread s) => s.N switch
    {
        0 => "no figure (it did not come back during the run)",
        1 => $"{Spread.S(s.Min)} s",
        _ => $"{Spread.S(s.Median)} s typically ({Spread.S(s.Min)} to {Spread.S(s.Max)} s)",
    };

    private static string FaultWords(string fault) => fault switch
    {
        "node-kill" => "killing the VIP holder's node",
        "haproxy-kill" => "killing haproxy on the VIP holder",
        "keepalived-stop" => "stopping keepalived on the VIP holder",
        "kube-apiserver-kill" => "killing the apiserver on the VIP holder",
        "node-pause" => "freezing the VIP holder",
        _ => $"{fault} on the VIP holder",
    };

    private static string Capitalise(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    private static string Pct(double? v) => v is { } x ? (100 * x).ToString("0.00", CultureInfo.InvariantCulture) + " %" : "—";

    private static string Escape(string s) => s.Replace("|", "\\|", StringComparison.Ordinal);
}
