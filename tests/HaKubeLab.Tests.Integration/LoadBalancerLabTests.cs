using Docker.DotNet.Models;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>Bring-up, idempotence and teardown of a real lab (Docker required).</summary>
public class LoadBalancerLabTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Up_gives_exactly_one_vip_holder_the_predicted_one_and_is_idempotent()
    {
        await using var lab = await TestLab.CreateAsync("up");
        var took = await lab.UpAsync(output);
        TestLab.Log(output, $"up took {took.TotalSeconds:0.0} s");

        var status = await lab.Runtime.StatusAsync(CancellationToken.None);
        Assert.Equal(3, status.Nodes.Count);
        Assert.Single(status.Nodes, n => n.HoldsVip);
        Assert.Equal(VrrpElection.Initial(lab.Topology).Holder, status.VipHolder);
        Assert.True(status.LoadBalancerAnswers);
        Assert.All(status.Nodes, n =>
        {
            Assert.Equal("running", n.State);
            Assert.Equal(["haproxy", "keepalived"], n.Sidecars.Select(s => s.Name));
            Assert.All(n.Sidecars, s => Assert.Equal("running", s.State));
        });

        var before = (await lab.Runtime.ListAsync(CancellationToken.None)).ToDictionary(c => c.Names[0], c => c.ID);
        await lab.UpAsync(output);
        var after = (await lab.Runtime.ListAsync(CancellationToken.None)).ToDictionary(c => c.Names[0], c => c.ID);
        Assert.Equal(before, after); // a second up recreates nothing
        Assert.Equal(status.VipHolder, (await lab.Runtime.StatusAsync(CancellationToken.None)).VipHolder);
    }

    [Fact]
    public async Task Down_leaves_nothing_labelled_even_after_an_interrupted_up()
    {
        var lab = await TestLab.CreateAsync("down");
        try
        {
            var name = lab.Topology.Name;
            // Interrupt bring-up half-way (nodes and haproxy made, keepalived starting), keeping what was made, as a crash would.
            using var cts = new CancellationTokenSource();
            var progress = new SyncProgress<LabProgress>(p => { if (p.Action == "start keepalived m02" && !p.Done) cts.Cancel(); });
            var images = await TestLab.ImagesAsync(output);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                lab.Runtime.UpAsync(images, progress, new LabRuntime.UpOptions(RemoveOnFailure: false), cts.Token));
            Assert.NotEmpty(await lab.Runtime.ListAsync(CancellationToken.None));

            var removed = await LabRuntime.DownAsync(lab.Docker, name, CancellationToken.None);
            TestLab.Log(output, $"down removed {removed}");

            var filter = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{LabLabels.Lab}={name}"] = true } };
            Assert.Empty(await lab.Docker.Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = filter }));
            Assert.Empty(await lab.Docker.Networks.ListNetworksAsync(new NetworksListParameters { Filters = filter }));
            Assert.Empty((await lab.Docker.Volumes.ListAsync(new VolumesListParameters { Filters = filter })).Volumes ?? []);
            Assert.False(Directory.Exists(LabPaths.LabDir(name)));
        }
        finally
        {
            await lab.DisposeAsync(); // also when an assertion fails: a test never leaks a lab
        }
    }

    [Fact]
    public async Task An_interrupted_first_up_removes_what_it_made()
    {
        await using var lab = await TestLab.CreateAsync("cancel");
        await LabRuntime.DownAsync(lab.Docker, lab.Topology.Name, CancellationToken.None); // start from nothing at all
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress<LabProgress>(p => { if (p.Action == "start haproxy m01" && !p.Done) cts.Cancel(); });
        var images = await TestLab.ImagesAsync(output);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => lab.Runtime.UpAsync(images, progress, new LabRuntime.UpOptions(), cts.Token));
        await InterruptedUpTests.AssertNothingLeftAsync(lab.Docker, lab.Topology.Name);
    }
}

/// <summary>Reports on the caller's thread, so a test can cancel at an exact point of the bring-up.</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
