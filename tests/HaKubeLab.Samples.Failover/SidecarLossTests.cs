using HaKubeLab.Testing;
using Xunit;
using Xunit.Abstractions;

namespace HaKubeLab.Samples.Failover;

[Collection(SeedLab.Name), Trait("Category", "Docker")]
public class SidecarLossTests(SeedLabFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task Killing_keepalived_on_the_holder_hands_the_vip_on_as_predicted()
    {
        var lab = fixture.Lab;
        var holder = await lab.VipHolderAsync();
        await using var probe = await lab.StartVipProbeAsync();
        await using var fault = await lab.KillKeepalivedAsync(holder);
        var result = await probe.MeasureAsync(fault);
        output.WriteLine(result.ToString());
        result.AssertAsPredicted().AssertVipHolder();
    }

    [Fact]
    public async Task Killing_haproxy_on_the_holder_does_what_the_model_predicts_for_the_seed()
    {
        var lab = fixture.Lab;
        var holder = await lab.VipHolderAsync();
        await using var probe = await lab.StartVipProbeAsync();
        await using var fault = await lab.KillHaproxyAsync(holder);
        var result = await probe.MeasureAsync(fault, observe: TimeSpan.FromSeconds(8));
        output.WriteLine(result.ToString());
        result.AssertAsPredicted();
    }
}
