using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Runtime;

namespace HaKubeLab.Chaos.Reports;

/// <summary>Writes a run's files: result.json, summary.md, junit.xml, timeline.svg.</summary>
public static class ReportWriter
{
    public const string JsonFile = "result.json";
    public const string MarkdownFile = "summary.md";
    public const string JUnitFile = "junit.xml";
    public const string SvgFile = "timeline.svg";

    public static IReadOnlyList<string> WriteAll(RunResult result, Scenario scenario, string folder)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(scenario);
        Directory.CreateDirectory(folder);
        var files = new List<string>();
        void Write(string name, string content)
        {
            var path = Path.Combine(folder, name);
            LabPaths.WriteAtomically(path, content);
            files.Add(path);
        }
        Write(JsonFile, JsonSerializer.Serialize(result, RunResult.Json));
        Write(MarkdownFile, Markdown(result));
        Write(JUnitFile, JUnit(result));
        Write(SvgFile, TimelineSvg.Render(result));
        return files;
    }

    private static string F(double v, string format = "0.00") => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>The human summary: failover per fault beside the prediction, outages and availability per probe, the VIP-holder timeline.</summary>
    public static string Markdown(RunResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var md = new StringBuilder();
        var failed = r.Expectations.Count(e => e.Status == ExpectationStatus.Failed);
        md.AppendLine($"# Chaos run: {r.Scenario}");
        md.AppendLine();
        if (r.Description.Length > 0) md.AppendLine(r.Description.Trim()).AppendLine();
        md.AppendLine($"- Result: **{(r.Passed ? "PASSED" : "FAILED")}** ({r.Expectations.Count(e => e.Status == ExpectationStatus.Passed)} expectations passed, {failed} failed, {r.Expectations.Count(e => e.Status == ExpectationStatus.Skipped)} skipped{(r.Interrupted ? "; interrupted" : "")})");
        if (r.Error is not null) md.AppendLine($"- Error: {r.Error}");
        md.AppendLine($"- Lab `{r.Lab.Name}`: VIP {r.Lab.Vip}:{r.Lab.LoadBalancerPort} on {r.Lab.Subnet}, Kubernetes {(r.Lab.Kubernetes ? "running" : "not running")}, profile {r.Lab.Profile}; keepalived: {r.Lab.Keepalived}{(r.Lab.RunbookSettings ? " (the runbook's settings)" : "")}");
        md.AppendLine($"- Started {r.StartedAt:yyyy-MM-dd HH:mm:ss.fff} UTC; measured for {F(r.MeasuredUntil, "0.0")} s (duration {F(r.DurationSeconds, "0.#")} s); seed {r.Seed}; scenario file `{r.ScenarioFile}`");
        md.AppendLine($"- Clock: monotonic (Stopwatch), times are seconds since the start. **Resolution**: each probe's interval (below); an attempt that hangs until its timeout widens it to timeout + interval." +
                      (r.ClockCheck is { } clock ? $" {(clock.Agreed ? "" : "**")}{char.ToUpperInvariant(clock.Describe()[0])}{clock.Describe()[1..]}{(clock.Agreed ? "" : "**")}." : ""));
        md.AppendLine($"- Runner CPU: the runner used {F(r.Cpu.ProcessCpuSeconds, "0.00")} s CPU over {F(r.Cpu.WallSeconds, "0.0")} s = {F(r.Cpu.PercentOfOneCore, "0.0")} % of one core ({r.Cpu.Cores} cores)" +
                      (r.Cpu.SteadyPercentOfOneCore is { } steady ? $"; after start-up (from t = 5 s) {F(steady, "0.0")} %" : "") +
                      (r.Cpu.ProbeThreadPercentOfOneCore is { } probes ? $"; of it the probe thread (every probe attempt and the VIP-holder look) {F(r.Cpu.ProbeThreadCpuSeconds!.Value, "0.00")} s = {F(probes, "0.0")} %{(r.Cpu.ProbeThreadNice is { } nice ? $" (at nice {nice})" : "")}" : "") +
                      (r.Cpu.TlsHandshakes is { } handshakes ? $"; {handshakes} TLS handshakes (each on a short-lived thread)" : "") +
                      $". {r.Cpu.Note}.");
        if (r.Restore is { } restore) md.AppendLine($"- Lab restored: **{(restore.Ok ? "yes" : "NO")}** ({F(restore.Seconds, "0.0")} s{(restore.CpuSeconds is { } rc ? $", {F(rc, "0.00")} s of the runner's CPU after the measured window" : "")}): {restore.Detail}");
        md.AppendLine();

        md.AppendLine("## Expectations").AppendLine();
        if (r.Expectations.Count == 0) md.AppendLine("(none)").AppendLine();
        else
        {
            md.AppendLine("| line | expectation | result | detail |").AppendLine("| --- | --- | --- | --- |");
            foreach (var e in r.Expectations)
                md.AppendLine($"| {e.Line} | `{e.Text}` | {e.Status.ToString().ToUpperInvariant()}{(e.PredictedToFail ? " (predicted)" : "")} | {Cell(e.Message)} |");
            md.AppendLine();
        }
        var runbook = r.Expectations.Where(e => e is { Status: ExpectationStatus.Failed, PredictedToFail: true }).ToList();
        if (runbook.Count > 0)
        {
            md.AppendLine(r.Lab.RunbookSettings
                ? $"**The runbook is why.** {runbook.Count} expectation(s) failed exactly as the VRRP rules predict for the runbook's own keepalived settings: {runbook[0].Explanation}"
                : $"**This lab's VRRP settings are why.** {runbook.Count} expectation(s) failed as predicted: {runbook[0].Explanation}");
            md.AppendLine();
        }

        md.AppendLine("## Faults: failover measured beside predicted").AppendLine();
        if (r.Faults.Count == 0) md.AppendLine("(no fault was injected)").AppendLine();
        else
        {
            var viaVip = r.Probes.Where(p => p.Applicable && ProbeNames.ThroughVip.Contains(p.Name)).Select(p => p.Name).ToList();
            md.AppendLine($"| fault | node | fault time (call took) | undone (call ran) | predicted | predicted failover | VIP moved (interface, from fault time) | {string.Join(" | ", viaVip.Select(p => $"failover {p}"))} |");
            md.AppendLine($"| --- | --- | --- | --- | --- | --- | --- |{string.Concat(viaVip.Select(_ => " --- |"))}");
            foreach (var f in r.Faults)
            {
                var cells = viaVip.Select(p => f.Failover.TryGetValue(p, out var x) ? FormatFailover(x) : "-");
                md.AppendLine($"| {f.Kind} ({f.Id}) | {f.Node} | {F(f.FaultTime, "0.000")} s ({F(f.CallSeconds, "0.00")} s) | {(f.UndoneAt is { } u ? (f.UndoStarted is { } us ? F(us, "0.00") + "-" : "") + F(u, "0.00") + " s" : "at cleanup")} | {Cell(f.Prediction.Summary)} | {(f.PredictedFailover is { } pf ? pf.ToString() : "-")} | " +
                              $"{(f.VipMovedAfter is { } m ? $"{F(m)} s to {f.VipMovedTo}" : "no")} | {string.Join(" | ", cells)} |");
            }
            md.AppendLine();
            foreach (var f in r.Faults)
            {
                md.AppendLine($"- **{f.Kind} on {f.Node}** (line {f.Line}, target {f.Target}): {f.Mechanism}.");
                if (f.FaultTimeSource.Length > 0)
                    md.AppendLine($"  Fault time {F(f.FaultTime, "0.000")} s from {f.FaultTimeSource}; the injector's call ran {F(f.InjectStarted, "0.000")}-{F(f.CallEnded ?? f.FaultTime, "0.000")} s.");
                md.AppendLine($"  Predicted: {f.Prediction.Reason}. Timing: {f.Prediction.Basis}.");
                if (f.Verdict is not null) md.AppendLine($"  Measured beside predicted: {f.Verdict}.");
                if (f.UndoError is not null) md.AppendLine($"  Undo failed: {f.UndoError}");
            }
            md.AppendLine();
            md.AppendLine("Failover time = fault time to the first successful probe through the VIP after it. The fault time is the Docker engine's own timestamp of the " +
                          "container's death, stop or pause where Docker sees the fault; otherwise the moment the injector's call returned, and then the fault took effect somewhere during the call " +
                          "(docker kill returns only once Docker has torn the container's network down), so the predicted failover time is [window min - call length, window max]. A backup's master-down timer runs from the last advert it heard, so a takeover can come up to one advert interval before the master-down interval. " +
                          "A negative 'VIP moved' means the holder changed while the call still ran.");
            md.AppendLine();
        }

        if (r.Wire is not null) md.Append(Wire.WireReport.Markdown(r));

        md.AppendLine("## Probes: availability and outages").AppendLine();
        md.AppendLine("| probe | target | interval (resolution) | timeout | attempts | availability | outages | longest | time in outages | latency p50 / p99 | worst gap |");
        md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var p in r.Probes.Where(p => p.Applicable))
        {
            md.AppendLine($"| {p.Name} | {p.Target} | {F(p.IntervalMs, "0.#")} ms | {F(p.TimeoutMs, "0")} ms | {p.Attempts} | {(p.Availability is { } a ? F(a, "0.0000") : "-")} | {p.Outages.Count} | " +
                          $"{(p.Outages.Count == 0 ? "-" : F(p.Outages.Max(o => o.Length)) + " s")} | {F(p.OutageSeconds)} s | {(p.LatencyP50Ms is { } l50 ? F(l50, "0.0") : "-")} / {(p.LatencyP99Ms is { } l99 ? F(l99, "0.0") : "-")} ms | {(p.WorstGapMs is { } g ? F(g, "0") + " ms" : "-")} |");
        }
        md.AppendLine();
        foreach (var group in r.Probes.Where(p => !p.Applicable).GroupBy(p => p.NotApplicableReason))
            md.AppendLine($"Not applicable: {string.Join(", ", group.Select(p => p.Name))}: {group.Key}.").AppendLine();
        foreach (var p in r.Probes.Where(p => p.Outages.Count > 0))
        {
            md.AppendLine($"Outages of {p.Name}:");
            foreach (var o in p.Outages)
                md.AppendLine($"- {F(o.Start, "0.000")} s to {(o.End is { } e ? F(e, "0.000") + " s" : "the end of the run (still failing)")}: {F(o.Length, "0.000")} s, {o.FailedSamples} failed probes (first: {o.FirstError})");
            md.AppendLine();
        }
        md.AppendLine("An outage is a maximal run of failed probes of one kind; its length is first failure to next success. Availability is successful probes divided by all probes of that kind over the measured window.");
        md.AppendLine();

        md.AppendLine("## VIP holder").AppendLine();
        md.AppendLine($"- Source: {r.VipHolder.Source}.");
        md.AppendLine($"- Accuracy: {r.VipHolder.Accuracy}");
        md.AppendLine($"- Initially {r.VipHolder.Initial ?? "unknown"}, finally {r.VipHolder.Final ?? "unknown"}.");
        md.AppendLine();
        if (r.VipHolder.Changes.Count > 0)
        {
            md.AppendLine("| t (interface) | from | to | host ARP then |").AppendLine("| --- | --- | --- | --- |");
            foreach (var c in r.VipHolder.Changes)
                md.AppendLine($"| {F(c.PreviousLook, "0.000")}-{F(c.T, "0.000")} s | {c.From} | {c.To} | {r.VipHolder.Samples.FirstOrDefault(s => s.T >= c.T)?.Arp ?? "-"} |");
            md.AppendLine();
        }
        else md.AppendLine("The VIP did not move.").AppendLine();
        if (r.VipHolder.Keepalived.Count > 0)
        {
            md.AppendLine("keepalived's own state changes (notify script):").AppendLine();
            md.AppendLine("| t | node | state | priority |").AppendLine("| --- | --- | --- | --- |");
            foreach (var k in r.VipHolder.Keepalived) md.AppendLine($"| {F(k.T, "0.000")} s | {k.Node} | {k.State} | {k.Priority} |");
            md.AppendLine();
        }

        md.Append(LeaderReport.Markdown(r));

        md.AppendLine("## Steps").AppendLine();
        md.AppendLine("| line | step | start | end | |").AppendLine("| --- | --- | --- | --- | --- |");
        foreach (var s in r.Steps) md.AppendLine($"| {s.Line} | {Cell(s.Description)} | {F(s.Start)} s | {F(s.End)} s | {Cell(s.Error ?? "ok")} |");
        md.AppendLine();
        md.AppendLine($"Files: `{JsonFile}` (every sample, fault and VIP change), `{JUnitFile}`, `{SvgFile}`.");
        return md.ToString();
    }

    private static string FormatFailover(FailoverFigure x) =>
        (x.Seconds is not { } s ? "**none** before the end"
        : !x.Interrupted ? $"{F(s, "0.000")} s (not interrupted)"
        : $"**{F(s, "0.000")} s**{(x.AfterUndo ? " (only after undo)" : "")}")
        + (x.OutageSeconds is { } o ? $"; outage {F(o, "0.000")} s" : "");

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    /// <summary>JUnit XML: one test case per expectation, plus whether the steps ran and the lab was restored.</summary>
    public static string JUnit(RunResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var suiteName = $"chaos.{r.Scenario}";
        var cases = new List<XElement>();
        foreach (var e in r.Expectations)
        {
            var tc = new XElement("testcase", new XAttribute("classname", suiteName), new XAttribute("name", $"{e.Text} (line {e.Line})"), new XAttribute("time", "0"));
            if (e.Status == ExpectationStatus.Failed)
                tc.Add(new XElement("failure", new XAttribute("message", e.Message), new XAttribute("type", e.PredictedToFail ? "PredictedFailure" : "ExpectationFailed"), e.Message));
            else if (e.Status == ExpectationStatus.Skipped)
                tc.Add(new XElement("skipped", new XAttribute("message", e.Message)));
            else tc.Add(new XElement("system-out", e.Message));
            cases.Add(tc);
        }
        var steps = new XElement("testcase", new XAttribute("classname", suiteName), new XAttribute("name", "steps ran"), new XAttribute("time", F(r.MeasuredUntil, "0.000")));
        if (r.Error is not null || r.Interrupted) steps.Add(new XElement("failure", new XAttribute("message", r.Error ?? "interrupted"), r.Error ?? "interrupted"));
        cases.Add(steps);
        var restored = new XElement("testcase", new XAttribute("classname", suiteName), new XAttribute("name", "lab restored after the run"), new XAttribute("time", F(r.Restore?.Seconds ?? 0, "0.000")));
        if (r.Restore is { Ok: false } bad) restored.Add(new XElement("failure", new XAttribute("message", bad.Detail), bad.Detail));
        cases.Add(restored);

        var suite = new XElement("testsuite",
            new XAttribute("name", suiteName),
            new XAttribute("tests", cases.Count),
            new XAttribute("failures", cases.Count(c => c.Element("failure") is not null)),
            new XAttribute("errors", 0),
            new XAttribute("skipped", cases.Count(c => c.Element("skipped") is not null)),
            new XAttribute("time", F(r.MeasuredUntil, "0.000")),
            new XAttribute("timestamp", r.StartedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture)),
            new XElement("properties",
                new XElement("property", new XAttribute("name", "lab"), new XAttribute("value", r.Lab.Name)),
                new XElement("property", new XAttribute("name", "runFolder"), new XAttribute("value", r.RunFolder)),
                new XElement("property", new XAttribute("name", "seed"), new XAttribute("value", r.Seed))),
            cases);
        var doc = new XDocument(new XDeclaration("1.0", "utf-8", null), new XElement("testsuites", new XAttribute("name", "hakubelab-chaos"), suite));
        return doc.Declaration + Environment.NewLine + doc + Environment.NewLine;
    }
}
