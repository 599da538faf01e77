using System.Globalization;
using System.Text;

namespace HaKubeLab.Chaos.Reports;

/// <summary>The summary's sections on leaders: gaps measured beside leader election's prediction, and the survival predictor per fault.</summary>
public static class LeaderReport
{
    private static string F(double v, string format = "0.00") => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>Markdown for <see cref="RunResult.Leaders"/>; empty when the run had no Kubernetes.</summary>
    public static string Markdown(RunResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        if (r.Leaders is not { } l) return "";
        var md = new StringBuilder();
        md.AppendLine("## Leaders: who led, and how long nobody did").AppendLine();
        md.AppendLine($"- Source: {l.Source}.");
        foreach (var component in Analysis.LeaderAnalysis.Components)
        {
            var first = l.Samples.FirstOrDefault(s => s.Component == component && s.Holder is not null);
            var last = l.Samples.LastOrDefault(s => s.Component == component);
            md.AppendLine($"- {component}: first {first?.Holder ?? "none"}, last {last?.Holder ?? "none"}{(last?.Problem is { } p ? $" ({p})" : "")}.");
        }
        md.AppendLine($"- VIP holder: see below ({r.VipHolder.Initial ?? "?"} -> {r.VipHolder.Final ?? "?"}, {r.VipHolder.Changes.Count} change(s)).");
        md.AppendLine();
        if (l.Gaps.Count == 0) md.AppendLine("Every component had a leader throughout the run.").AppendLine();
        else
        {
            md.AppendLine("| component | leader before -> after | no leader from | to | for | predicted | |").AppendLine("| --- | --- | --- | --- | --- | --- | --- |");
            foreach (var g in l.Gaps)
            {
                var verdict = g.Predicted is { } w
                    ? g.Open ? "still open" : w.Contains(g.Seconds, 1.0) ? "within the prediction" : g.Seconds > w.MaxSeconds ? $"{F(g.Seconds - w.MaxSeconds, "0.0")} s longer" : $"{F(w.MinSeconds - g.Seconds, "0.0")} s shorter"
                    : "";
                md.AppendLine($"| {g.Component} | {g.From ?? "?"} -> {g.To ?? "none"} | {F(g.Start, "0.00")} s ({Cell(g.StartBasis)}) | {(g.End is { } e ? $"{F(e, "0.00")} s ({Cell(g.EndBasis)})" : Cell(g.EndBasis))} | " +
                              $"**{F(g.Seconds, "0.0")} s**{(g.Open ? "+" : "")} | {(g.Predicted is { } p ? $"{p}" : "-")} | {verdict} |");
            }
            md.AppendLine();
            foreach (var g in l.Gaps.Where(g => g.Predicted is not null).GroupBy(g => g.PredictedBasis).Select(x => x.First()))
                md.AppendLine($"- {g.Component}: {g.PredictedBasis}.");
            md.AppendLine();
            foreach (var component in Analysis.LeaderAnalysis.Components)
                if (l.LongestGap(component) is { } longest)
                    md.AppendLine($"{Name(component)} had no leader for up to **{F(longest, "0.0")} s**" +
                                  (component == "etcd" ? $" (etcd's election predicts {l.EtcdGapPredicted} after a leader dies)." : $" (its lease duration predicts {Failover.LeaderElectionSettings.Default.GapAfterLeaderLoss} after a leader dies)."));
            md.AppendLine();
        }

        if (l.Survival.Count > 0)
        {
            md.AppendLine("## What the topology survives: predicted beside measured").AppendLine();
            md.AppendLine("| fault | lost then | predicted | writes measured | verdict |").AppendLine("| --- | --- | --- | --- | --- |");
            foreach (var s in l.Survival)
                md.AppendLine($"| {s.Fault} | {string.Join(", ", s.Lost)} | {Cell(s.Prediction)} | {Cell(s.Measured)} | {s.Verdict} |");
            md.AppendLine();
            foreach (var s in l.Survival)
                md.AppendLine($"- **{s.Fault}**: {string.Join(" ", s.Story)}");
            md.AppendLine();
        }
        return md.ToString();
    }

    private static string Name(string component) => component switch { "etcd" => "etcd", "kube-controller-manager" => "The controller-manager", _ => "The scheduler" };

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
