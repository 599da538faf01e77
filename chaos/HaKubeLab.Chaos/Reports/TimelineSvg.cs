using System.Globalization;
using System.Security;
using System.Text;
using HaKubeLab.Chaos.Analysis;

namespace HaKubeLab.Chaos.Reports;

/// <summary>
/// The run as a picture: one band per probe (green: answered, red: failed), the VIP holder as a lane
/// coloured by node (with the host's ARP view under it and keepalived's state changes as ticks), faults
/// as red markers and their undo as green ones, on the run's time axis.
/// </summary>
public static class TimelineSvg
{
    private const double Left = 170, PlotWidth = 1000, Right = 30, LaneHeight = 18, LaneGap = 8;
    private static readonly string[] NodeColours = ["#4e79a7", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7"];

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    public static string Render(RunResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var end = Math.Max(r.MeasuredUntil, 0.001);
        double X(double t) => Left + Math.Clamp(t / end, 0, 1) * PlotWidth;
        var probes = r.Probes.Where(p => p.Applicable).ToList();
        var top = 70.0;
        var lanes = 2 + probes.Count + (r.Wire is null ? 0 : 1);
        var plotBottom = top + lanes * (LaneHeight + LaneGap);
        var failed = r.Expectations.Where(e => e.Status == ExpectationStatus.Failed).ToList();
        var faultLabels = r.Faults.Count * 14 + failed.Count * 14 + (failed.Any(e => e.PredictedToFail) ? 14 : 0);
        var height = plotBottom + 40 + faultLabels + 40;
        var width = Left + PlotWidth + Right;
        var svg = new StringBuilder();
        svg.AppendLine(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{F(width)}\" height=\"{F(height)}\" viewBox=\"0 0 {F(width)} {F(height)}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">{E($"chaos {r.Scenario} on lab {r.Lab.Name}: {(r.Passed ? "PASSED" : "FAILED")}")}</text>");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"10\" y=\"38\" fill=\"#555\">{E($"VIP {r.Lab.Vip}:{r.Lab.LoadBalancerPort}; started {r.StartedAt:yyyy-MM-dd HH:mm:ss} UTC; time in seconds on a monotonic clock; resolution = each probe's interval")}</text>");

        // Time axis with ticks.
        var step = NiceStep(end);
        for (var t = 0.0; t <= end + 1e-9; t += step)
        {
            svg.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{F(X(t))}\" y1=\"{F(top - 6)}\" x2=\"{F(X(t))}\" y2=\"{F(plotBottom)}\" stroke=\"#eee\"/>");
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{F(X(t))}\" y=\"{F(top - 10)}\" text-anchor=\"middle\" fill=\"#555\">{F(t)} s</text>");
        }

        // VIP holder lane (interfaces) and the host's ARP view.
        var nodes = r.Lab.Nodes.ToList();
        string Colour(string label) => label == "none" ? "#bbbbbb" : label.Contains('+') ? "#e15759" : NodeColours[Math.Max(0, nodes.IndexOf(label)) % NodeColours.Length];
        var y = top;
        Lane(svg, y, "VIP holder (interface)");
        Segments(svg, r.VipHolder.Samples.Select(s => (s.T, s.Label)).ToList(), end, y, LaneHeight, X, l => Colour(l), l => l);
        foreach (var k in r.VipHolder.Keepalived)
            svg.AppendLine(CultureInfo.InvariantCulture, $"<path d=\"M{F(X(k.T))},{F(y - 2)} l-4,-6 h8 z\" fill=\"#333\"><title>{E($"{k.T:0.000} s keepalived {k.Node} -> {k.State} (priority {k.Priority})")}</title></path>");
        y += LaneHeight + LaneGap;
        Lane(svg, y, "host ARP for the VIP");
        Segments(svg, r.VipHolder.Samples.Select(s => (s.T, s.Arp ?? "none")).ToList(), end, y + 4, LaneHeight - 8, X, l => Colour(l), l => l);
        y += LaneHeight + LaneGap;
        if (r.Wire is not null)
        {
            Wire.WireReport.SvgLane(svg, r, Left, PlotWidth, y, LaneHeight, X);
            y += LaneHeight + LaneGap;
        }

        foreach (var p in probes)
        {
            Lane(svg, y, $"{p.Name} ({F(p.IntervalMs)} ms)");
            Segments(svg, p.Samples.Select(s => (s.T, s.Ok ? "ok" : "fail")).ToList(), end, y, LaneHeight, X, l => l == "ok" ? "#59a14f" : "#e15759",
                l => l == "ok" ? "answered" : "failed");
            foreach (var o in p.Outages)
                svg.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{F(X(o.Start))}\" y=\"{F(y)}\" width=\"{F(Math.Max(1, X(o.Start + o.Length) - X(o.Start)))}\" height=\"{F(LaneHeight)}\" fill=\"none\" stroke=\"#8b0000\"><title>{E($"outage {o.Length:0.000} s from {o.Start:0.000} s, {o.FailedSamples} failed ({o.FirstError})")}</title></rect>");
            y += LaneHeight + LaneGap;
        }

        // Faults and their undo as markers across all lanes, labelled underneath.
        var labelY = plotBottom + 16;
        foreach (var f in r.Faults)
        {
            // The injector's call: the fault took effect somewhere in this band; the red line is the fault time (the call returned).
            svg.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{F(X(f.InjectStarted))}\" y=\"{F(top - 4)}\" width=\"{F(Math.Max(1, X(f.FaultTime) - X(f.InjectStarted)))}\" height=\"{F(plotBottom - top + 4)}\" fill=\"#c00\" fill-opacity=\"0.15\"><title>{E($"{f.Kind} call {f.InjectStarted:0.000}-{f.FaultTime:0.000} s")}</title></rect>");
            svg.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{F(X(f.FaultTime))}\" y1=\"{F(top - 4)}\" x2=\"{F(X(f.FaultTime))}\" y2=\"{F(labelY - 10)}\" stroke=\"#c00\" stroke-width=\"2\"><title>{E($"{f.Kind} on {f.Node}: fault time {f.FaultTime:0.000} s")}</title></line>");
            if (f.UndoneAt is { } u)
                svg.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{F(X(u))}\" y1=\"{F(top - 4)}\" x2=\"{F(X(u))}\" y2=\"{F(labelY - 10)}\" stroke=\"#080\" stroke-width=\"2\" stroke-dasharray=\"5,3\"><title>{E($"{f.Kind} on {f.Node} undone at {u:0.000} s")}</title></line>");
            var predicted = f.PredictedFailover is { } w ? $"; predicted failover {w}" : $"; predicted: {f.Prediction.Summary}";
            var measured = (f.Failover.TryGetValue("vip_tcp", out var fo) && fo.Seconds is { } s ? $"; vip_tcp back after {s:0.000} s" : "")
                + (r.Wire?.Faults.FirstOrDefault(w => w.FaultId == f.Id) is { Seconds: { } ws } ? $", on the wire {ws:0.000} s" : "");
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{F(X(f.FaultTime) + 3)}\" y=\"{F(labelY)}\" fill=\"#c00\">{E($"▲ {f.Kind} {f.Node} at {f.FaultTime:0.00} s{predicted}{measured}{(f.UndoneAt is { } uu ? $"; undone at {uu:0.00} s (green)" : "")}")}</text>");
            labelY += 14;
        }

        foreach (var e in failed)
        {
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"10\" y=\"{F(labelY)}\" fill=\"#8b0000\">{E($"FAILED {e.Text}: measured {(e.Measured is { } m ? m.ToString("0.###", CultureInfo.InvariantCulture) : "nothing")}{(e.PredictedToFail ? " (as predicted)" : "")}")}</text>");
            labelY += 14;
        }
        if (failed.Any(e => e.PredictedToFail))
        {
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"10\" y=\"{F(labelY)}\" fill=\"#8b0000\" font-weight=\"bold\">{E(r.Lab.RunbookSettings ? "The runbook is why: its keepalived settings (nopreempt, track script weight) predict exactly this." : "This lab's VRRP settings predict exactly this.")}</text>");
            labelY += 14;
        }

        // Legend.
        var ly = labelY + 10;
        var lx = 10.0;
        foreach (var (label, colour) in new[] { ("answered", "#59a14f"), ("failed", "#e15759"), ("outage", "none") }
                     .Concat(nodes.Select((n, i) => (n, NodeColours[i % NodeColours.Length])))
                     .Append(("several carry the VIP", "#e15759")).Append(("no holder", "#bbbbbb")))
        {
            svg.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{F(lx)}\" y=\"{F(ly - 10)}\" width=\"12\" height=\"12\" fill=\"{colour}\" stroke=\"{(colour == "none" ? "#8b0000" : colour)}\"/>");
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{F(lx + 16)}\" y=\"{F(ly)}\">{E(label)}</text>");
            lx += 30 + label.Length * 7;
        }
        svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{F(lx)}\" y=\"{F(ly)}\">▼ keepalived state change   red line: fault time   green dashed: undone{(r.Wire is { Available: true } ? "   wire: | gratuitous ARP, ◆ first SYN-ACK" : "")}</text>");
        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    private static void Lane(StringBuilder svg, double y, string label)
    {
        svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{F(Left - 8)}\" y=\"{F(y + LaneHeight - 5)}\" text-anchor=\"end\">{E(label)}</text>");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{F(Left)}\" y=\"{F(y)}\" width=\"{F(PlotWidth)}\" height=\"{F(LaneHeight)}\" fill=\"#f4f4f4\"/>");
    }

    /// <summary>Merges consecutive samples with the same state into one rectangle (a sample lasts until the next starts).</summary>
    private static void Segments(StringBuilder svg, IReadOnlyList<(double T, string State)> samples, double end, double y, double h, Func<double, double> x, Func<string, string> colour, Func<string, string> title)
    {
        var i = 0;
        while (i < samples.Count)
        {
            var j = i;
            while (j + 1 < samples.Count && samples[j + 1].State == samples[i].State) j++;
            var from = samples[i].T;
            var to = j + 1 < samples.Count ? samples[j + 1].T : end;
            svg.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{F(x(from))}\" y=\"{F(y)}\" width=\"{F(Math.Max(0.5, x(to) - x(from)))}\" height=\"{F(h)}\" fill=\"{colour(samples[i].State)}\"><title>{E($"{title(samples[i].State)} {from:0.000}-{to:0.000} s")}</title></rect>");
            if (x(to) - x(from) > 40 && samples[i].State is not ("ok" or "fail"))
                svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{F(x(from) + 4)}\" y=\"{F(y + h - 4)}\" fill=\"white\" font-size=\"11\">{E(samples[i].State)}</text>");
            i = j + 1;
        }
    }

    private static double NiceStep(double end) =>
        new[] { 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300 }.FirstOrDefault(s => end / s <= 15, 600);

    private static string E(string text) => SecurityElement.Escape(text) ?? "";
}
