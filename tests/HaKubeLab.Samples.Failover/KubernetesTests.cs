using HaKubeLab.Testing;
using Xunit;
using Xunit.Abstractions;

namespace HaKubeLab.Samples.Failover;

[Collection(KubernetesLab.Name), Trait("Category", "Docker"), Trait("Category", "Kubernetes")]
public class KubernetesTests(KubernetesLabFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task Api_writes_through_the_vip_survive_killing_the_master_that_holds_it()
    {
        var lab = fixture.Lab;
        var holder = await lab.VipHolderAsync();
        await using var writes = await lab.StartApiWriteProbeAsync();
        await using var fault = await lab.KillNodeAsync(holder);
        var result = await writes.MeasureAsync(fault, deadline: TimeSpan.FromSeconds(120));
        output.WriteLine(result.ToString());
        result.AssertFailoverWithin(TimeSpan.FromSeconds(60)).AssertVipHolder();
    }
}
