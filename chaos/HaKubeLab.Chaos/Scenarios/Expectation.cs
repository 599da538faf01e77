using System.Globalization;
using System.Text.RegularExpressions;

namespace HaKubeLab.Chaos.Scenarios;

/// <summary>A pass/fail threshold of a scenario; <see cref="Text"/> is how the file wrote it.</summary>
public abstract record Expectation(int Line, string Text);

/// <summary>What a <see cref="MetricExpectation"/> measures.</summary>
public enum Metric
{
    /// <summary>failover time (fault time to the first successful probe through the VIP after it), the worst over the run's faults, in seconds.</summary>
    FailoverSeconds,
    /// <summary>successful probes divided by all probes of one kind over the run.</summary>
    Availability,
    /// <summary>the longest outage of one probe, in seconds.</summary>
    MaxOutageSeconds,
    /// <summary>how many outages one probe had.</summary>
    Outages,
    /// <summary>how often the VIP holder changed.</summary>
    VipChanges,
}

/// <summary>Comparison of a measured figure with a threshold.</summary>
public enum Comparison { Less, LessOrEqual, Greater, GreaterOrEqual, Equal, NotEqual }

/// <summary><c>failover_seconds &lt; 5</c>, <c>availability.vip_tcp &gt;= 0.95</c>, <c>max_outage_seconds.api_write &lt; 10</c>, <c>outages.vip_tcp &lt;= 1</c>, <c>vip_changes == 1</c>.</summary>
/// <param name="Probe">The probe it is about; for failover_seconds null means the scenario's failover probe.</param>
public sealed record MetricExpectation(int Line, string Text, Metric Metric, string? Probe, Comparison Op, double Threshold) : Expectation(Line, Text)
{
    public bool Holds(double measured) => Op switch
    {
        Comparison.Less => measured < Threshold,
        Comparison.LessOrEqual => measured <= Threshold,
        Comparison.Greater => measured > Threshold,
        Comparison.GreaterOrEqual => measured >= Threshold,
        Comparison.Equal => Math.Abs(measured - Threshold) < 1e-9,
        _ => Math.Abs(measured - Threshold) >= 1e-9,
    };

    /// <summary>How far <paramref name="measured"/> is on the wrong side of the threshold (0 when it holds).</summary>
    public double Shortfall(double measured) => Holds(measured) ? 0 : Math.Abs(measured - Threshold);
}

/// <summary>When a VIP-holder expectation looks.</summary>
public enum HolderMoment
{
    /// <summary>Once the faults took effect: just before the first recover step (or at the end when there is none).</summary>
    AfterFaults,
    /// <summary>At the end of the measured window, after the scenario's own recover steps.</summary>
    End,
}

/// <summary><c>vip_holder_after: not m01</c>, <c>vip_holder_end: m02</c>, <c>vip_holder_after: not initial</c>, <c>vip_holder_after: none</c>.</summary>
/// <param name="Node">A node name, <c>initial</c> (the holder when the run started) or <c>none</c> (no node carries the VIP).</param>
public sealed record HolderExpectation(int Line, string Text, HolderMoment Moment, bool Negated, string Node) : Expectation(Line, Text)
{
    public const string Initial = "initial";
    public const string None = "none";
}

/// <summary>Parses expectations; returns an error text (what is wrong and the fix) instead of throwing.</summary>
public static class ExpectationParser
{
    private static readonly Regex MetricForm = new(@"^\s*(?<metric>[a-z_]+)(?:\.(?<probe>[a-z0-9_.\-]+))?\s*(?<op><=|>=|==|!=|<|>)\s*(?<value>\S+)\s*$", RegexOptions.CultureInvariant);

    public const string Grammar =
        "write '<metric>[.<probe>] <op> <value>' with metric failover_seconds, availability, max_outage_seconds, outages or vip_changes and op one of < <= > >= == != " +
        "(e.g. 'failover_seconds < 5', 'availability.vip_tcp >= 0.95'), or 'vip_holder_after: [not] <node|initial|none>' / 'vip_holder_end: ...'";

    /// <summary>Parses the scalar form <c>metric[.probe] op value</c>.</summary>
    /// <param name="isKnownProbe">Says whether a probe name exists (per-node readyz probes depend on the lab's nodes).</param>
    public static (MetricExpectation? Expectation, string? Error) ParseMetric(string text, int line, Func<string, bool> isKnownProbe)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(isKnownProbe);
        var m = MetricForm.Match(text);
        if (!m.Success)
            return (null, $"expectation '{text}' is malformed");
        Metric? metric = m.Groups["metric"].Value switch
        {
            "failover_seconds" => Metric.FailoverSeconds,
            "availability" => Metric.Availability,
            "max_outage_seconds" => Metric.MaxOutageSeconds,
            "outages" => Metric.Outages,
            "vip_changes" => Metric.VipChanges,
            _ => null,
        };
        if (metric is null)
            return (null, $"expectation '{text}': unknown metric '{m.Groups["metric"].Value}'");
        var probe = m.Groups["probe"].Success ? m.Groups["probe"].Value : null;
        if (metric is Metric.VipChanges && probe is not null)
            return (null, $"expectation '{text}': vip_changes takes no probe");
        if (metric is Metric.Availability or Metric.MaxOutageSeconds or Metric.Outages && probe is null)
            return (null, $"expectation '{text}': {m.Groups["metric"].Value} needs a probe, e.g. {m.Groups["metric"].Value}.vip_tcp");
        if (probe is not null && !isKnownProbe(probe))
            return (null, $"expectation '{text}': unknown probe '{probe}' (probes: {string.Join(", ", ProbeNames.Fixed.Where(p => p != ProbeNames.VipHolder))}, readyz.<node>)");
        if (metric is Metric.FailoverSeconds && probe is not null && !ProbeNames.ThroughVip.Contains(probe))
            return (null, $"expectation '{text}': failover is measured through the VIP; '{probe}' is not a probe through the VIP ({string.Join(", ", ProbeNames.ThroughVip)})");
        var op = m.Groups["op"].Value switch
        {
            "<" => Comparison.Less,
            "<=" => Comparison.LessOrEqual,
            ">" => Comparison.Greater,
            ">=" => Comparison.GreaterOrEqual,
            "==" => Comparison.Equal,
            _ => Comparison.NotEqual,
        };
        var raw = m.Groups["value"].Value;
        double value;
        switch (metric)
        {
            case Metric.Availability:
                if (raw.EndsWith('%') && double.TryParse(raw[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var pct)) value = pct / 100;
                else if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out value))
                    return (null, $"expectation '{text}': '{raw}' is not a fraction (0-1) or a percentage");
                if (value is < 0 or > 1)
                    return (null, $"expectation '{text}': availability {raw} is outside 0-1 (0%-100%)");
                break;
            case Metric.Outages or Metric.VipChanges:
                if (!int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var count))
                    return (null, $"expectation '{text}': '{raw}' is not a whole number");
                value = count;
                break;
            default:
                if (!Durations.TryParse(raw, out var seconds))
                    return (null, $"expectation '{text}': '{raw}' is not a number of seconds (or a duration such as 500ms)");
                value = seconds.TotalSeconds;
                break;
        }
        return (new MetricExpectation(line, text.Trim(), metric.Value, probe, op, value), null);
    }

    /// <summary>Parses the value of <c>vip_holder_after</c> / <c>vip_holder_end</c>: <c>[not] &lt;node|initial|none&gt;</c>.</summary>
    /// <param name="isKnownNode">Says whether a node name exists; null accepts any valid node name.</param>
    public static (HolderExpectation? Expectation, string? Error) ParseHolder(string key, string value, int line, Func<string, bool>? isKnownNode)
    {
        ArgumentNullException.ThrowIfNull(key);
        var moment = key switch
        {
            "vip_holder_after" => HolderMoment.AfterFaults,
            "vip_holder_end" => HolderMoment.End,
            _ => (HolderMoment?)null,
        };
        if (moment is null) return (null, $"unknown expectation '{key}'");
        var words = (value ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var negated = words.Length == 2 && words[0] == "not";
        if (words.Length == 0 || words.Length > 2 || (words.Length == 2 && !negated))
            return (null, $"{key}: '{value}' is malformed; write a node name, 'initial' or 'none', optionally after 'not' (e.g. 'not m01')");
        var node = words[^1];
        if (node is not HolderExpectation.Initial and not HolderExpectation.None)
        {
            if (TargetSpec.TryParse(node) is not { Role: TargetRole.Named })
                return (null, $"{key}: '{node}' is not a node name, 'initial' or 'none'");
            if (isKnownNode is not null && !isKnownNode(node))
                return (null, $"{key}: unknown node '{node}'");
        }
        return (new HolderExpectation(line, $"{key}: {value!.Trim()}", moment.Value, negated, node), null);
    }
}
