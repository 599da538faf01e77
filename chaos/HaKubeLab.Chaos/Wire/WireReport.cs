using System.Globalization;
using System.Security;
using System.Text;
using HaKubeLab.Chaos.Reports;

namespace HaKubeLab.Chaos.Wire;

/// <summary>The wire timeline in the run's summary (markdown) and picture (a lane of the SVG).</summary>
public static class WireReport
{
    private static string F(double v, string format = "0.000") => v.ToString(format, CultureInfo.InvariantCulture);
    private static string F(double? v, string format = "0.000", string none = "-") => v is { } x ? F(x, format) : none;

    /// <summary>
    /// The runner's failover figure beside the wire's for each fault, in ms (runner - wire); null when either is missing. Like for
    /// like: the wire figure over the probe's own SYNs where the capture could match them, else over every SYN to the VIP.
    /// </summary>
    public static double? DifferenceMs(FaultResult fault, WireFailover wire, string probe) =>
        fault.Failover.TryGetValue(probe, out var f) && f.Seconds is { } r && (wire.ProbeSeconds ?? wire.Seconds) is { } w ? Math.Round((r - w) * 1000, 3) : null;

    /// <summary>The summary's "On the wire" section.</summary>
    public static string Markdown(RunResult r, string failoverProbe = "vip_tcp")
    {
        ArgumentNullException.ThrowIfNull(r);
        var md = new StringBuilder();
        md.AppendLine("## On the wire").AppendLine();
        if (r.Wire is not { } w)
        {
            md.AppendLine("(this run has no wire section)").AppendLine();
            return md.ToString();
        }
        if (!w.Available)
        {
            md.AppendLine($"**No capture in this run: {w.Reason}.** The figures above are the probes' alone; outages were not cross-checked against the wire.").AppendLine();
            return md.ToString();
        }
        md.AppendLine($"Captured on `{w.Interface}` (the lab bridge's host side, promiscuous) with the kernel filter `{w.Filter}`: {w.Packets} packets passed the filter, {w.Dropped} dropped. " +
                      $"Clock: {w.ClockNote}.").AppendLine();
        if (r.Faults.Count > 0)
        {
            md.AppendLine($"| fault | node | runner failover ({failoverProbe}) | wire: {failoverProbe}'s own SYNs | runner - wire | wire: first SYN-ACK through the VIP (any probe) | old master's last advert | new master's first advert | first gratuitous ARP | new masters (contenders) | unanswered SYNs |");
            md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
            foreach (var f in r.Faults)
            {
                var x = w.Faults.FirstOrDefault(x => x.FaultId == f.Id && Math.Abs(x.FaultTime - f.FaultTime) < 1e-6);
                if (x is null) continue;
                var runner = f.Failover.TryGetValue(failoverProbe, out var fo) && fo.Seconds is { } s ? $"{F(s)} s" : "-";
                md.AppendLine($"| {f.Kind} ({f.Id}) | {f.Node} | {runner} | {(x.ProbeSeconds is { } ps ? $"{F(ps)} s" : "-")} | {F(DifferenceMs(f, x, failoverProbe), "0.0")} ms | {(x.Seconds is { } ws ? $"{F(ws)} s" : "none")} | " +
                              $"{(x.OldMaster is null ? "-" : $"{x.OldMaster} at {F(x.OldMasterLastAdvert)} s ({F(-x.LastAdvertBefore, "+0.000;-0.000")} s)")} | " +
                              $"{(x.NewMaster is null ? "-" : $"{x.NewMaster} at {F(x.NewMasterFirstAdvert)} s (+{F(x.NewMasterAfter)} s)")} | " +
                              $"{(x.FirstGarp is null ? "-" : $"{x.FirstGarpNode} at {F(x.FirstGarp)} s (+{F(x.GarpAfter)} s)")} | {(x.NewMasters.Count == 0 ? "none" : string.Join(", ", x.NewMasters))}{(x.Contenders.Count > x.NewMasters.Count ? $" ({string.Join(", ", x.Contenders)})" : "")} | {x.UnansweredSyns} |");
            }
            md.AppendLine();
            md.AppendLine("Wire failover = fault time (the engine's event) to the VIP's SYN-ACK answering the first SYN that was answered after the fault interrupted the VIP " +
                          $"(a SYN not answered within the probe's timeout), once over {failoverProbe}'s own SYNs (matched by client port: the runner's figure checked like for like) " +
                          "and once over every SYN to the VIP (any probe: the VIP's first answer, which can be one probe interval earlier when another probe's SYN left just after the new master's gratuitous ARP). " +
                          "The runner's figure is the start of the first successful probe attempt after its first failure. Times in parentheses are from the fault time.").AppendLine();
        }
        md.AppendLine("VRRP sources (each node's adverts):").AppendLine();
        md.AppendLine("| node | address | VRID | adverts | priorities | declared interval | measured interval | first | last |");
        md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var m in w.Sources)
            md.AppendLine($"| {m.Node} | {m.Ip} | {m.Vrid} | {m.Adverts} | {string.Join(", ", m.Priorities)} | {F(m.AdvertIntervalSeconds, "0.##")} s | {F(m.MeasuredIntervalSeconds, "0.000")} s | {F(m.First)} s | {F(m.Last)} s |");
        md.AppendLine();
        md.AppendLine($"Master spells (adverts at priority > 0): {(w.Spells.Count == 0 ? "none" : string.Join("; ", w.Spells.Select(s => $"{s.Node} {F(s.From)}-{F(s.To)} s ({s.Adverts} adverts, priority {s.Priority})")))}.").AppendLine();
        md.AppendLine($"Gratuitous ARPs for the VIP: {(w.GratuitousArps.Count == 0 ? "none" : string.Join(", ", w.GratuitousArps.GroupBy(g => g.Node).Select(g => $"{g.Key}: {g.Count()} from {F(g.Min(x => x.T))} s")))}.").AppendLine();
        md.AppendLine(w.DualMasters.Count == 0 ? "Dual-master moments: none (no two nodes advertised for the VRID within one advert interval of each other)."
            : $"**Dual-master moments**: {string.Join("; ", w.DualMasters.Select(d => $"{string.Join("+", d.Nodes)} {F(d.From)}-{F(d.To)} s (VRID {d.Vrid})"))}.").AppendLine();
        md.AppendLine($"Handshakes to the VIP: {w.Handshakes}, of which {w.UnansweredHandshakes} were not answered within the probe's timeout.").AppendLine();
        if (w.FalseOutages.Count == 0) md.AppendLine("Cross-check: every probe failure that the wire can check (TCP connects to the VIP, matched by client port) is confirmed by the wire: no false outages.").AppendLine();
        else
        {
            md.AppendLine($"**Cross-check: {w.FalseOutages.Count} probe failure(s) were not outages** and are excluded from availability, outage and failover figures above:").AppendLine();
            foreach (var f in w.FalseOutages.Take(20))
                md.AppendLine($"- {f.Probe} at {F(f.T)} s (client port {f.ClientPort}): runner recorded {f.RunnerError}; {f.Note}.");
            if (w.FalseOutages.Count > 20) md.AppendLine($"- ... and {w.FalseOutages.Count - 20} more (result.json)");
            md.AppendLine();
        }
        return md.ToString();
    }

    private static readonly string[] NodeColours = ["#4e79a7", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7"];

    /// <summary>The wire lane of the timeline picture: master spells coloured by node, gratuitous ARPs (ticks), dual-master moments (red), first SYN-ACK after each fault (green diamond).</summary>
    public static void SvgLane(StringBuilder svg, RunResult r, double left, double plotWidth, double y, double height, Func<double, double> x)
    {
        ArgumentNullException.ThrowIfNull(svg);
        ArgumentNullException.ThrowIfNull(r);
        ArgumentNullException.ThrowIfNull(x);
        static string N(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
        static string E(string s) => SecurityElement.Escape(s) ?? "";
        var w = r.Wire;
        var label = w is { Available: true } ? "wire: VRRP masters, GARP" : "wire: no capture";
        svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{N(left - 8)}\" y=\"{N(y + height - 5)}\" text-anchor=\"end\">{E(label)}</text>");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{N(left)}\" y=\"{N(y)}\" width=\"{N(plotWidth)}\" height=\"{N(height)}\" fill=\"#f4f4f4\"><title>{E(w is { Available: true } ? $"captured on {w.Interface}" : $"no capture: {w?.Reason}")}</title></rect>");
        if (w is not { Available: true }) return;
        var nodes = r.Lab.Nodes.ToList();
        foreach (var s in w.Spells)
        {
            var colour = NodeColours[Math.Max(0, nodes.IndexOf(s.Node)) % NodeColours.Length];
            var interval = w.Sources.FirstOrDefault(m => m.Ip == s.Ip)?.AdvertIntervalSeconds ?? 1;
            svg.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{N(x(s.From))}\" y=\"{N(y + 3)}\" width=\"{N(Math.Max(1, x(s.To + interval) - x(s.From)))}\" height=\"{N(height - 6)}\" fill=\"{colour}\"><title>{E($"{s.Node} advertises as master {s.From:0.000}-{s.To:0.000} s ({s.Adverts} adverts, priority {s.Priority})")}</title></rect>");
        }
        foreach (var d in w.DualMasters)
            svg.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{N(x(d.From))}\" y=\"{N(y)}\" width=\"{N(Math.Max(2, x(d.To) - x(d.From)))}\" height=\"{N(height)}\" fill=\"#e15759\" fill-opacity=\"0.8\"><title>{E($"dual master {string.Join("+", d.Nodes)} {d.From:0.000}-{d.To:0.000} s")}</title></rect>");
        foreach (var g in w.GratuitousArps)
            svg.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{N(x(g.T))}\" y1=\"{N(y - 3)}\" x2=\"{N(x(g.T))}\" y2=\"{N(y + height + 3)}\" stroke=\"#000\" stroke-width=\"1\"><title>{E($"gratuitous ARP for the VIP from {g.Node} at {g.T:0.000} s")}</title></line>");
        foreach (var f in w.Faults)
            if (f.FirstSynAck is { } t)
                svg.AppendLine(CultureInfo.InvariantCulture, $"<path d=\"M{N(x(t))},{N(y + height / 2 - 6)} l6,6 l-6,6 l-6,-6 z\" fill=\"#59a14f\" stroke=\"#000\"><title>{E($"first SYN-ACK through the VIP after {f.FaultId} at {t:0.0000} s: wire failover {f.Seconds:0.0000} s")}</title></path>");
    }
}
