using System.Globalization;

namespace HaKubeLab.Testing;

/// <summary>A failover expectation that did not hold; the message carries the measured figures, the prediction and the probe's resolution.</summary>
public sealed class FailoverAssertionException(string message) : Xunit.Sdk.XunitException(message);

/// <summary>
/// Assertions on a <see cref="FailoverResult"/>. Each failure message names what was expected, what was
/// measured (<see cref="FailoverResult.Measured"/>), what the failover model predicted and the probe's resolution,
/// so a failed test says whether the lab, the expectation or the model is off.
/// </summary>
public static class FailoverAssertions
{
    /// <summary>The probe recovered within <paramref name="bound"/> of the fault (a probe that was never interrupted passes).</summary>
    public static FailoverResult AssertFailoverWithin(this FailoverResult result, TimeSpan bound)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result.FailoverSeconds is { } s && s <= bound.TotalSeconds) return result;
        var what = result.FailoverSeconds is { } m
            ? $"failover took {m:0.00} s, expected at most {bound.TotalSeconds:0.00} s"
            : $"{result.Probe} did not recover within {result.MeasuredUntil - result.FaultTime:0.00} s of measuring, expected a failover within {bound.TotalSeconds:0.00} s";
        throw Fail(result, what);
    }

    /// <summary>At least <paramref name="fraction"/> (0-1) of the probe's attempts succeeded from the fault to the end of measuring.</summary>
    public static FailoverResult AssertAvailabilityAtLeast(this FailoverResult result, double fraction)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentOutOfRangeException.ThrowIfLessThan(fraction, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(fraction, 1);
        if (result.Availability is { } a && a >= fraction) return result;
        throw Fail(result, $"availability {Percent(result.Availability)}, expected at least {Percent(fraction)}");
    }

    /// <summary>
    /// At the end of measuring the VIP's effective holder is one of <paramref name="expected"/>; without
    /// arguments, one of the holders the prediction names.
    /// </summary>
    public static FailoverResult AssertVipHolder(this FailoverResult result, params string[] expected)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(expected);
        var allowed = expected.Length > 0 ? expected : [.. result.Prediction.HoldersAfter];
        if (allowed.Length == 0) throw Fail(result, "the prediction names no holder after the fault, so there is nothing to compare the holder with; pass the expected holder(s)");
        if (result.HolderAfter.Holder is { } h && allowed.Contains(h)) return result;
        throw Fail(result, $"VIP holder {result.HolderAfter.Holder ?? "none"} (on the interfaces {result.HolderAfter.Label}, ARP {result.HolderAfter.Arp ?? "unknown"}), expected {string.Join(" or ", allowed)}");
    }

    /// <summary>
    /// The measurement agrees with the failover model: the holder afterwards is a predicted one, and the outage
    /// (or, where the probe cannot see the fault, the VIP holder's change) falls in the predicted window widened by
    /// the resolution; a fault predicted to last until undone kept the probe failing. The comparison is the chaos
    /// runner's: the fault took effect somewhere in the injector's call, so the outage is at least its own length
    /// and at most its end minus the call's start.
    /// </summary>
    public static FailoverResult AssertAsPredicted(this FailoverResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var p = result.Prediction;
        var problems = new List<string>();
        var holder = result.HolderAfter.Holder;
        if (!p.HoldersAfter.IsEmpty && (holder is null || !p.HoldersAfter.Contains(holder)))
            problems.Add($"VIP holder afterwards {holder ?? "none"} (on the interfaces {result.HolderAfter.Label}, ARP {result.HolderAfter.Arp ?? "unknown"}), predicted {string.Join(" or ", p.HoldersAfter)}");

        var res = result.Resolution.TotalSeconds;
        var outage = result.LongestOutage;
        if (p.DownUntilUndone)
        {
            if (outage is null || !outage.Open)
                problems.Add($"predicted {result.Probe} to fail until the fault is undone, but it {(outage is null ? "never failed" : $"recovered after {outage.Length:0.00} s")}");
        }
        else if (p.Window is { } window)
        {
            var w = (Min: window.Min.TotalSeconds, Max: window.Max.TotalSeconds, Text: window.ToString());
            if (outage is null)
            {
                if (w.Max > 0)
                {
                    // The probe cannot see every fault (a frozen node's kernel still completes handshakes): use the holder's change.
                    var hres = result.HolderResolution.TotalSeconds;
                    // The model's window ends when the backup's master-down timer runs out; keepalived then still has to run
                    // its timer thread and add the address (measured up to 0.09 s past the window on a loaded host): allow
                    // 0.3 s, or the holder monitor's resolution when coarser. Still a third of the window's own width.
                    var slack = Math.Max(hres, 0.3);
                    var call = result.FaultTime - result.InjectStarted;
                    if (result.HolderChangedAfter is not { } c)
                        problems.Add($"predicted a failover after {w.Text}, but {result.Probe} saw no outage and the VIP holder did not change");
                    else if (c + call < w.Min - slack || c > w.Max + slack)
                        problems.Add($"{result.Probe} saw no outage; the VIP reached a new holder {c:0.00} s after the fault, predicted {w.Text} (allowed {slack * 1000:0} ms either side; holder resolution {hres * 1000:0} ms)");
                }
            }
            else if (w.Max <= 0)
            {
                problems.Add($"an outage of {outage.Length:0.00} s ({outage.FailedSamples} failed attempts) where none was predicted");
            }
            else if (outage.Open)
                problems.Add($"{result.Probe} had not recovered after {result.MeasuredUntil - result.FaultTime:0.00} s, predicted a failover after {w.Text}");
            else
            {
                var (low, high) = (outage.Length, outage.End!.Value - result.InjectStarted);
                if (high < w.Min - res) problems.Add($"outage {low:0.00}-{high:0.00} s is {w.Min - high:0.00} s shorter than predicted {w.Text}");
                else if (low > w.Max + res) problems.Add($"outage {low:0.00}-{high:0.00} s is {low - w.Max:0.00} s longer than predicted {w.Text}");
            }
        }
        if (problems.Count == 0) return result;
        throw Fail(result, "not as predicted: " + string.Join("; ", problems));
    }

    private static FailoverAssertionException Fail(FailoverResult r, string what) =>
        new($"{what}.{Environment.NewLine}" +
            $"  fault:      {r.Fault}{Environment.NewLine}" +
            $"  measured:   {r.Measured}{Environment.NewLine}" +
            $"  prediction: {r.Predicted}{Environment.NewLine}" +
            $"  resolution: {r.ResolutionText}");

    private static string Percent(double? v) => v is { } x ? (x * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %" : "n/a";
}
