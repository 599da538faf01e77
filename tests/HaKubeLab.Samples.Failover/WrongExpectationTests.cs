using HaKubeLab.Testing;
using Xunit;
using Xunit.Abstractions;

namespace HaKubeLab.Samples.Failover;

/// <summary>What a QA engineer sees when an expectation is wrong: the measured figure and the prediction, in the message.</summary>
[Collection(SeedLab.Name), Trait("Category", "Docker")]
public class WrongExpectationTests(SeedLabFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task A_failover_bound_below_the_prediction_fails_naming_the_measured_figure_and_the_prediction()
    {
        var lab = fixture.Lab;
        var holder = await lab.VipHolderAsync();
        await using var probe = await lab.StartVipProbeAsync();
        await using var fault = await lab.KillNodeAsync(holder);
        var result = await probe.MeasureAsync(fault);
        var belowPrediction = fault.Prediction.Window!.Value.Min / 2;
        var error = Assert.Throws<FailoverAssertionException>(() => result.AssertFailoverWithin(belowPrediction));
        output.WriteLine(error.Message);
        Assert.Contains($"failover took {result.FailoverSeconds:0.00} s, expected at most {belowPrediction.TotalSeconds:0.00} s", error.Message);
        Assert.Contains($"prediction: {result.Prediction.Summary}", error.Message);
        Assert.Contains($"probe resolution {result.Resolution.TotalMilliseconds:0} ms", error.Message);
    }
}
