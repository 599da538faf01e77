using HaKubeLab.Testing;
using Xunit;
using Xunit.Abstractions;

namespace HaKubeLab.Samples.Failover;

[Collection(SeedLab.Name), Trait("Category", "Docker")]
public class NodeLossTests(SeedLabFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task Killing_the_vip_holder_moves_the_vip_as_predicted()
    {
        var lab = fixture.Lab;
        var holder = await lab.VipHolderAsync();
        await using var probe = await lab.StartVipProbeAsync();
        await using var fault = await lab.KillNodeAsync(holder);
        var result = await probe.MeasureAsync(fault);
        output.WriteLine(result.ToString());
        result.AssertAsPredicted().AssertVipHolder().AssertFailoverWithin(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Freezing_the_vip_holder_hands_the_vip_on_within_the_prediction()
    {
        var lab = fixture.Lab;
        var holder = await lab.VipHolderAsync();
        await using var probe = await lab.StartVipProbeAsync();
        await using var fault = await lab.PauseNodeAsync(holder);
        var result = await probe.MeasureAsync(fault);
        output.WriteLine(result.ToString());
        result.AssertAsPredicted().AssertVipHolder().AssertAvailabilityAtLeast(0.5);
    }
}
