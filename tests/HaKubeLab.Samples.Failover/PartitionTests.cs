using HaKubeLab.Testing;
using Xunit;
using Xunit.Abstractions;

namespace HaKubeLab.Samples.Failover;

[Collection(SeedLab.Name), Trait("Category", "Docker")]
public class PartitionTests(SeedLabFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task Cutting_off_a_node_that_does_not_hold_the_vip_goes_unnoticed()
    {
        var lab = fixture.Lab;
        var holder = await lab.VipHolderAsync();
        var other = lab.Topology.Nodes.First(n => n.Name != holder).Name;
        await using var probe = await lab.StartVipProbeAsync();
        await using var fault = await lab.PartitionAsync(other);
        var result = await probe.MeasureAsync(fault, observe: TimeSpan.FromSeconds(6));
        output.WriteLine(result.ToString());
        result.AssertAsPredicted().AssertVipHolder(holder).AssertAvailabilityAtLeast(0.95);
    }
}
