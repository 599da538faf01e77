using Docker.DotNet.Models;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>Bring-up, idempotence, the record and teardown of a real lab (Docker required).</summary>
[Collection("lb-seed")]
public class LoadBalancerLabTests(SeedLoadBalancerLab shared, ITestOutputHelper output)
{
    [Fact]
    public async Task Up_gives_exactly_one_vip_holder_records_the_lab_and_is_idempotent()
    {
        await shared.RestoreAsync(output);
        foreach (var line in shared.Log) TestLab.Log(output, line);
        TestLab.Log(output, $"up took {shared.Up.LoadBalancerTier.TotalSeconds:0.0} s");

        var status = await shared.Running.StatusAsync();
        Assert.Equal(3, status.Nodes.Count);
        Assert.Single(status.Nodes, n => n.HoldsVip);
        Assert.Contains(status.VipHolder, VrrpElection.Initial(shared.Topology).PossibleHolders.Concat(shared.Topology.Nodes.Select(n => n.Name)));
        Assert.True(status.LoadBalancerAnswers);
        Assert.All(status.Nodes, n =>
        {
            Assert.Equal("running", n.State);
            Assert.Equal(["haproxy", "keepalived"], n.Sidecars.Select(s => s.Name));
            Assert.All(n.Sidecars, s => Assert.Equal("running", s.State));
        });

        // The record says what the lab is; a second open by name reads the same.
        var record = LabRecord.TryRead(shared.Name);
        Assert.NotNull(record);
        Assert.False(record.Kubernetes);
        Assert.Equal(shared.Topology.Subnet, record.Topology.Subnet);
        Assert.Equal(shared.Images.Node, record.Images.Node);
        var network = (await shared.Lab.Docker.Networks.ListNetworksAsync(new NetworksListParameters())).Single(n => n.Name == shared.Name);
        Assert.Equal(record.RecordPath, network.Labels[LabLabels.Record]);

        var before = (await shared.Lab.Runtime.ListAsync(CancellationToken.None)).ToDictionary(c => c.Names[0], c => c.ID);
        await shared.Lab.UpAsync(output);
        var after = (await shared.Lab.Runtime.ListAsync(CancellationToken.None)).ToDictionary(c => c.Names[0], c => c.ID);
        Assert.Equal(before, after); // a second up recreates nothing
        Assert.Equal(status.VipHolder, (await shared.Running.StatusAsync()).VipHolder);
    }

    [Fact]
    public async Task The_watcher_reports_the_holders_death_with_the_engines_timestamp_and_the_new_holder()
    {
        await shared.RestoreAsync(output);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var snapshots = new List<LabSnapshot>();
        await using var watch = shared.Running.WatchAsync(ct: cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await watch.MoveNextAsync());
        var first = watch.Current;
        var holder = first.Vip.Holder;
        Assert.NotNull(holder);
        Assert.True(first.Healthy, string.Join("; ", first.Problems()));

        var killedAt = DateTimeOffset.UtcNow;
        await shared.Lab.Runtime.KillAsync(holder, LabRole.Node, CancellationToken.None);
        LabSnapshot? died = null, moved = null;
        while ((died is null || moved is null) && await watch.MoveNextAsync())
        {
            var s = watch.Current;
            snapshots.Add(s);
            TestLab.Log(output, $"{(s.At - killedAt).TotalSeconds,7:0.000} s  {s.Cause?.ToString() ?? "look"}  VIP {s.Vip.Label}");
            if (s.Cause is { Action: "die", Role: LabRole.Node } c && c.Node == holder) died = s;
            if (s.Vip.Holder is { } h && h != holder) moved = s;
        }
        Assert.NotNull(died);
        Assert.NotNull(moved);
        // The engine's own timestamp: within the kill call's window, not when the test saw it.
        Assert.InRange(died.Cause!.Time, killedAt.AddSeconds(-1), killedAt.AddSeconds(5));
        Assert.Equal(ContainerState.Exited, died.Node(holder).Node.State);
        Assert.Equal(137, died.Node(holder).Node.ExitCode);
        var takeover = (moved.At - died.Cause.Time).TotalSeconds;
        TestLab.Log(output, $"{holder} died at {died.Cause.Time:HH:mm:ss.fff} (engine); VIP on {moved.Vip.Holder} {takeover:0.000} s later (master-down interval {VrrpElection.MasterDownInterval(shared.Topology, 111).TotalSeconds:0.00} s)");
        Assert.InRange(takeover, 0.5, 10);
        await cts.CancelAsync();
        await shared.RestoreAsync(output);
    }

}

/// <summary>Teardown and interrupted bring-ups: each test its own lab, since breaking bring-up is the point.</summary>
public class LabLifecycleTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Down_leaves_nothing_labelled_even_after_an_interrupted_up_and_with_a_damaged_record()
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

            // A damaged record: opening the lab says so and names the way out; down still finds everything by label.
            var recordPath = Path.Combine(LabPaths.LabDir(name), LabRecord.FileName);
            Assert.True(File.Exists(recordPath));
            await File.WriteAllTextAsync(recordPath, "{ this is not json");
            var e = await Assert.ThrowsAsync<LabRecordException>(() => RunningLab.OpenAsync(lab.Docker, name));
            Assert.Contains("down", e.Message);

            var removed = await LabRuntime.DownAsync(lab.Docker, name, CancellationToken.None);
            TestLab.Log(output, $"down removed {removed}");

            var filter = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{LabLabels.Lab}={name}"] = true } };
            Assert.Empty(await lab.Docker.Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = filter }));
            Assert.Empty(await lab.Docker.Networks.ListNetworksAsync(new NetworksListParameters { Filters = filter }));
            Assert.Empty((await lab.Docker.Volumes.ListAsync(new VolumesListParameters { Filters = filter })).Volumes ?? []);
            Assert.False(Directory.Exists(LabPaths.LabDir(name)));
            await Assert.ThrowsAsync<LabNotFoundException>(() => RunningLab.OpenAsync(lab.Docker, name));
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
        Assert.Empty(await lab.Runtime.ListAsync(CancellationToken.None));
        Assert.False(Directory.Exists(LabPaths.LabDir(lab.Topology.Name)));
    }
}

/// <summary>Reports on the caller's thread, so a test can cancel at an exact point of the bring-up.</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
