using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Reports;
using Xunit;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Unit;

/// <summary>
/// The run clock's mapping of wall-clock stamps (Docker's event times, the capture's packets) onto the run: a CI run
/// once judged a haproxy kill "NOT as predicted" because a probe that still succeeded read as coming after the engine's
/// die event. Reading the wall clock once, a thread held between the two clocks shifts every mapped stamp by the hold.
/// </summary>
public sealed class RunClockTests(ITestOutputHelper output)
{
    /// <summary>The system's clocks, except that the first wall-clock read (or every one, once shifted) behaves as told.</summary>
    private sealed class ScriptedTime(TimeSpan firstReadStall) : TimeProvider
    {
        private int _reads;
        public TimeSpan Shift { get; set; }

        public override DateTimeOffset GetUtcNow()
        {
            if (_reads++ == 0) Thread.Sleep(firstReadStall); // held between the two clocks, as a busy host or a GC pause does
            return base.GetUtcNow() + Shift;
        }
    }

    [Fact]
    public void A_thread_held_between_the_two_clocks_at_the_start_does_not_shift_mapped_stamps()
    {
        var clock = new RunClock(new ScriptedTime(TimeSpan.FromMilliseconds(40)));
        // The check itself reads both clocks: the tightest of a few tries, so that a busy host cannot fail it.
        var (error, width) = (0.0, double.MaxValue);
        for (var i = 0; i < 20; i++)
        {
            var before = clock.Now;
            var wall = DateTimeOffset.UtcNow;
            var after = clock.Now;
            if (after - before < width) (error, width) = (clock.At(wall) - (before + after) / 2, after - before);
        }
        output.WriteLine($"mapping error {error * 1000:0.000} ms (checked within {width * 1e6:0.0} us), start read within {clock.StartBracket.TotalMicroseconds:0.0} us");
        // One read would put every stamp 20-40 ms early; the tightest of several reads is off by microseconds.
        Assert.InRange(error, -0.002 - width, 0.002 + width);
        Assert.True(clock.StartBracket < TimeSpan.FromMilliseconds(5), $"start bracket {clock.StartBracket.TotalMilliseconds} ms");
    }

    [Fact]
    public void A_wall_clock_step_during_the_run_is_measured_and_reported()
    {
        var time = new ScriptedTime(TimeSpan.Zero);
        var clock = new RunClock(time);
        Assert.InRange(clock.WallDrift().TotalMilliseconds, -2, 2);
        time.Shift = TimeSpan.FromMilliseconds(250); // an NTP step
        var drift = clock.WallDrift().TotalMilliseconds;
        output.WriteLine($"drift {drift:0.000} ms");
        Assert.InRange(drift, 248, 252);

        var check = new ClockCheck(clock.StartBracket.TotalMicroseconds, drift);
        Assert.False(check.Agreed);
        Assert.Contains("moved 2", check.Describe(), StringComparison.Ordinal);
        Assert.Contains("uncertain", check.Describe(), StringComparison.Ordinal);
        Assert.True(new ClockCheck(3, 0.2).Agreed);
    }

    [Fact]
    public void Run_time_and_wall_time_round_trip()
    {
        var clock = new RunClock();
        Assert.Equal(12.345678, clock.At(clock.WallAt(12.345678)), 6);
        Assert.InRange(clock.Now, 0, 5);
    }
}
