using System.Collections.Immutable;
using HaKubeLab.Failover;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using Xunit;

namespace HaKubeLab.Testing.Tests;

/// <summary>The assertions on hand-made measurements (no Docker): what passes, and what a failure message carries.</summary>
public class FailoverAssertionTests
{
    private static readonly FailoverPrediction NodeKillOfHolder = FailoverPredictor.Predict(LabTopology.Default, FaultKind.NodeKill, "m01", "m01", [], apiServersRunning: false);

    /// <summary>A vip_tcp series: fine until the fault at t=10, failing for <paramref name="outage"/> s, fine for 3 s more.</summary>
    private static FailoverResult Measured(double outage, string holderAfter, FailoverPrediction? prediction = null)
    {
        var samples = new List<ProbeSample>();
        for (var t = 9.0; t < 10 + outage + 3; t += 0.05)
            samples.Add(new ProbeSample(Math.Round(t, 3), 1, t < 10 || t >= 10 + outage, t < 10 || t >= 10 + outage ? null : "timeout"));
        return From(samples, holderAfter, prediction ?? NodeKillOfHolder);
    }

    private static FailoverResult From(List<ProbeSample> samples, string holderAfter, FailoverPrediction prediction)
    {
        var window = samples.Where(s => s.T >= 10).ToList();
        return new FailoverResult
        {
            Probe = "vip_tcp", Target = "192.168.100.190:9443", ProbeInterval = TimeSpan.FromMilliseconds(50), ProbeTimeout = TimeSpan.FromMilliseconds(250),
            Fault = "node-kill on m01 at t=10.000 s", InjectStarted = 10, FaultTime = 10, MeasuredUntil = window[^1].T + 0.05, Prediction = prediction,
            Interrupted = window.Count(s => !s.Ok) > 1, FailoverSeconds = window.Count(s => !s.Ok) > 1 ? window.First(s => s.Ok).T - 10 : 0, Outages = [.. SeriesMath.Outages(window)], Availability = SeriesMath.Availability(window),
            Attempts = window.Count, FailedAttempts = window.Count(s => !s.Ok), HolderBefore = "m01",
            HolderAfter = new VipHolderReading(DateTimeOffset.UtcNow, [holderAfter], null), HolderChangedAfter = holderAfter == "m01" ? null : 3.0, HolderResolution = TimeSpan.FromMilliseconds(50),
            Samples = [.. window],
        };
    }

    [Fact]
    public void A_failover_inside_the_predicted_window_passes_every_assertion()
    {
        Measured(3.0, "m02").AssertAsPredicted().AssertVipHolder().AssertFailoverWithin(TimeSpan.FromSeconds(4)).AssertAvailabilityAtLeast(0.4);
    }

    [Fact]
    public void A_bound_below_the_prediction_fails_with_the_measured_figure_the_prediction_and_the_resolution()
    {
        var result = Measured(3.0, "m02");
        var e = Assert.Throws<FailoverAssertionException>(() => result.AssertFailoverWithin(TimeSpan.FromSeconds(1)));
        Assert.StartsWith("failover took 3.00 s, expected at most 1.00 s.", e.Message);
        Assert.Contains("vip_tcp measured failover 3.00 s (outage 3.00 s, 60 failed attempts, first error 'timeout')", e.Message);
        Assert.Contains("prediction: VIP to m02 or m03 after 2.57-3.57 s", e.Message);
        Assert.Contains("probe resolution 300 ms (interval 50 ms + timeout 250 ms)", e.Message);
    }

    [Fact]
    public void An_outage_far_longer_than_predicted_or_the_wrong_holder_is_not_as_predicted()
    {
        var slow = Assert.Throws<FailoverAssertionException>(() => Measured(9.0, "m02").AssertAsPredicted());
        Assert.Contains("longer than predicted 2.57-3.57 s", slow.Message);
        var wrong = Assert.Throws<FailoverAssertionException>(() => Measured(3.0, "m01").AssertAsPredicted());
        Assert.Contains("VIP holder afterwards m01", wrong.Message);
        Assert.Throws<FailoverAssertionException>(() => Measured(3.0, "m02").AssertAvailabilityAtLeast(0.9));
    }

    [Fact]
    public void A_single_stalled_attempt_is_a_blip_not_an_outage()
    {
        var partitionOfNonHolder = FailoverPredictor.Predict(LabTopology.Default, FaultKind.NetworkPartition, "m02", "m01", [], apiServersRunning: false);
        var samples = Enumerable.Range(0, 120).Select(i => new ProbeSample(9 + i * 0.05, 1, i != 40, i == 40 ? "timeout" : null)).ToList();
        var result = From(samples, "m01", partitionOfNonHolder);
        Assert.Null(result.LongestOutage);
        result.AssertAsPredicted().AssertVipHolder("m01");
    }
}
