using HaKubeLab.Chaos.Analysis;

namespace HaKubeLab.Tests.Unit;

/// <summary>The report's arithmetic on hand-made series: outages, availability, failover time.</summary>
public class ChaosSeriesMathTests
{
    /// <summary>A series from a pattern: '+' success, '-' failure, one attempt every <paramref name="interval"/> s from <paramref name="start"/>, each 1 ms long.</summary>
    private static List<ProbeSample> Series(string pattern, double interval = 0.05, double start = 0) =>
        [.. pattern.Select((c, i) => new ProbeSample(start + i * interval, 1, c == '+', c == '+' ? null : "refused"))];

    [Fact]
    public void Availability_is_successes_over_all_attempts()
    {
        var s = Series("++++--++++"); // 8 of 10
        Assert.Equal(0.8, SeriesMath.Availability(s)!.Value, 9);
    }

    [Fact]
    public void Availability_in_a_window_counts_attempts_that_started_in_it()
    {
        var s = Series("++++--++++"); // t = 0.00 .. 0.45
        // [0.2, 0.3): the attempts at 0.20 (-) and 0.25 (-): none succeeded.
        Assert.Equal(0.0, SeriesMath.Availability(s, 0.2, 0.3)!.Value, 9);
        Assert.Equal(1.0, SeriesMath.Availability(s, 0.3)!.Value, 9);
        Assert.Null(SeriesMath.Availability(s, 5, 6));
        Assert.Null(SeriesMath.Availability([]));
    }

    [Fact]
    public void An_outage_runs_from_the_first_failure_to_the_next_success()
    {
        var s = Series("++---+++--+", 0.1);
        var outages = SeriesMath.Outages(s);
        Assert.Equal(2, outages.Count);
        Assert.Equal(0.2, outages[0].Start, 9);
        Assert.Equal(0.5, outages[0].End!.Value, 9);
        Assert.Equal(0.3, outages[0].Length, 9);
        Assert.Equal(3, outages[0].FailedSamples);
        Assert.Equal("refused", outages[0].FirstError);
        Assert.Equal(0.8, outages[1].Start, 9);
        Assert.Equal(0.2, outages[1].Length, 9);
        Assert.Equal(0.5, SeriesMath.OutageSeconds(outages), 9);
    }

    [Fact]
    public void An_outage_still_open_at_the_end_lasts_to_the_end_of_the_last_failed_attempt()
    {
        var s = Series("++--", 0.1); // failures start at 0.2 and 0.3, each 1 ms long
        var o = Assert.Single(SeriesMath.Outages(s));
        Assert.True(o.Open);
        Assert.Null(o.End);
        Assert.Equal(0.101, o.Length, 9);
    }

    [Fact]
    public void No_failures_means_no_outage()
    {
        Assert.Empty(SeriesMath.Outages(Series("++++++")));
        Assert.Empty(SeriesMath.Outages([]));
    }

    [Fact]
    public void Failover_is_fault_time_to_the_first_success_that_started_after_it()
    {
        // Fault at 1.02 s; attempts every 0.1 s from 0: failures 1.1..2.9, first success at 3.0.
        var pattern = new string('+', 11) + new string('-', 19) + "+++";
        var m = SeriesMath.Failover(Series(pattern, 0.1), 1.02);
        Assert.True(m.Interrupted);
        Assert.Equal(3.0, m.FirstSuccess!.Value, 9);
        Assert.Equal(1.98, m.Seconds!.Value, 9);
    }

    [Fact]
    public void A_success_that_started_before_the_fault_time_does_not_count()
    {
        // The attempt at exactly 1.0 s is before a fault at 1.001 s even though it ended after it.
        var m = SeriesMath.Failover(Series("+++++++++++-+", 0.1), 1.001);
        Assert.Equal(1.2, m.FirstSuccess!.Value, 9);
        Assert.True(m.Interrupted);
    }

    [Fact]
    public void A_success_just_after_the_fault_time_before_the_outage_does_not_end_the_failover()
    {
        // Seen on a lab: the engine's 'die' of the killed node at 1.02 s, one attempt at 1.1 s still answered (the node's
        // sidecars keep its network namespace until Docker removes the interface), then the outage until 3.0 s.
        var pattern = new string('+', 12) + new string('-', 18) + "+++";
        var m = SeriesMath.Failover(Series(pattern, 0.1), 1.02);
        Assert.True(m.Interrupted);
        Assert.Equal(3.0, m.FirstSuccess!.Value, 9);
    }

    [Fact]
    public void A_fault_the_probe_never_noticed_gives_one_interval_and_says_not_interrupted()
    {
        var m = SeriesMath.Failover(Series("++++++", 0.05), 0.11);
        Assert.False(m.Interrupted);
        Assert.Equal(0.04, m.Seconds!.Value, 9);
    }

    [Fact]
    public void A_service_that_answers_again_while_the_undo_call_still_runs_came_back_after_the_undo()
    {
        // Seen in CI: haproxy killed at 1.02 s, the undo (docker start) ran 2.95-3.05 s and haproxy answered the attempt at
        // 3.0 s before the start call had returned to the runner: the fault ended inside the call, not after it.
        var pattern = new string('+', 11) + new string('-', 19) + "+++";
        var m = SeriesMath.Failover(Series(pattern, 0.1), 1.02);
        Assert.True(SeriesMath.RecoveredAfterUndo(m, undoStarted: 2.95, undoneAt: 3.05));
        Assert.False(SeriesMath.RecoveredAfterUndo(m, undoStarted: null, undoneAt: 3.05)); // the call's end alone: too late a line

        // Back at 2.0 s while the undo came at 2.95 s: the service recovered on its own, before the undo.
        var early = SeriesMath.Failover(Series(new string('+', 11) + new string('-', 9) + new string('+', 13), 0.1), 1.02);
        Assert.False(SeriesMath.RecoveredAfterUndo(early, 2.95, 3.05));
        // Never undone in the window, or never interrupted: not "after the undo" either.
        Assert.False(SeriesMath.RecoveredAfterUndo(m, 2.95, null));
        Assert.False(SeriesMath.RecoveredAfterUndo(SeriesMath.Failover(Series("++++++", 0.05), 0.11), 0, 0.01));
    }

    [Fact]
    public void No_success_after_the_fault_means_no_failover_time()
    {
        var m = SeriesMath.Failover(Series("++----", 0.1), 0.15);
        Assert.Null(m.Seconds);
        Assert.True(m.Interrupted);
    }

    [Fact]
    public void Worst_gap_shows_an_attempt_that_hung_until_its_timeout()
    {
        var s = new List<ProbeSample> { new(0, 1, true), new(0.05, 250, false, "timeout"), new(0.35, 1, true), new(0.40, 1, true) };
        Assert.Equal(0.30, SeriesMath.WorstGap(s)!.Value, 9);
        Assert.Null(SeriesMath.WorstGap([new ProbeSample(0, 1, true)]));
    }

    [Fact]
    public void Latency_percentiles_use_successful_attempts_only()
    {
        var s = new List<ProbeSample> { new(0, 1, true), new(0.05, 2, true), new(0.1, 3, true), new(0.15, 500, false, "timeout") };
        Assert.Equal(2, SeriesMath.LatencyPercentile(s, 50));
        Assert.Equal(3, SeriesMath.LatencyPercentile(s, 99));
    }
}
