#nullable disable warnings
using Docker.DotNet.Models;
using HaKubeLab.Failover;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Rendering;
using HaKubeLab.Runtime;
using Xunit;
using Xunit.Abstractions;

namespace HaKubeLab.Testing.Tests;

/// <summary>The test lab on real Docker: same containers as up, and nothing left behind (Docker required).</summary>
[Trait("Category", "Docker")]
public class LabLifecycleTests(ITestOutputHelper output)
{
    private static Dictionary<string, IDictionary<string, bool>> Filter(string label) => new() { ["label"] = new Dictionary<string, bool> { [label] = true } };

    private static async Task<int> LeftAsync(Docker.DotNet.IDockerClient docker, string label)
    {
        var f = Filter(label);
        return (await docker.Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = f })).Count
               + (await docker.Networks.ListNetworksAsync(new NetworksListParameters { Filters = f })).Count
               + ((await docker.Volumes.ListAsync(new VolumesListParameters { Filters = f })).Volumes?.Count ?? 0);
    }

    [Fact]
    public async Task The_test_lab_is_what_up_would_make_and_a_test_throwing_midway_leaves_nothing()
    {
        using var docker = await DockerConnection.ConnectAsync(CancellationToken.None);
        string name = "";
        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await using var lab = await EphemeralLab.StartAsync(LabOptions.Seed with { Purpose = "spec" });
            lab.Output = line => output.WriteLine(line);
            name = lab.Name;
            output.WriteLine($"start-up: {lab.Startup}");
            var images = lab.Images;
            var security = ContainerSpecs.NodeSecurity.Detect();

            // One specification, two drivers: what Testcontainers made matches the runtime's spec field by field ...
            foreach (var node in lab.Topology.Nodes)
            {
                var spec = ContainerSpecs.Node(lab.Topology, node, images, security);
                var made = await docker.Containers.InspectContainerAsync(spec.Name);
                Assert.Equal(node.Ip.ToString(), made.NetworkSettings.Networks[lab.Name].IPAMConfig.IPv4Address);
                Assert.Equal(spec.Image, made.Config.Image);
                Assert.Equal(spec.Hostname, made.Config.Hostname);
                Assert.Equal(spec.HostConfig.Privileged, made.HostConfig.Privileged);
                Assert.Equal(spec.HostConfig.CapAdd ?? [], made.HostConfig.CapAdd ?? []);
                Assert.Equal(spec.HostConfig.CgroupnsMode, made.HostConfig.CgroupnsMode);
                Assert.Equal(spec.HostConfig.SecurityOpt, made.HostConfig.SecurityOpt);
                Assert.Equal(spec.HostConfig.Tmpfs, made.HostConfig.Tmpfs);
                Assert.Equal(spec.HostConfig.Mounts.Select(m => (m.Type, m.Target)), made.HostConfig.Mounts.Select(m => (m.Type, m.Target)));
                Assert.Equal(spec.Labels[LabLabels.ConfigHash], made.Config.Labels[LabLabels.ConfigHash]);
                Assert.Equal(LabSweeper.RunId, made.Config.Labels[LabSweeper.RunLabel]);
                foreach (var sidecar in new[] { LabRole.Haproxy, LabRole.Keepalived })
                {
                    var s = await docker.Containers.InspectContainerAsync(lab.Container(node.Name, sidecar));
                    Assert.Equal($"container:{made.ID}", s.HostConfig.NetworkMode); // Docker resolves the name to the node's id
                    Assert.Equal(RestartPolicyKind.Always, s.HostConfig.RestartPolicy.Name);
                }
            }
            // ... and up, the persistent driver, finds nothing to change in it.
            var before = (await new LabRuntime(docker, lab.Topology).ListAsync(CancellationToken.None)).ToDictionary(c => c.Names[0], c => c.ID);
            await new LabRuntime(docker, lab.Topology).UpAsync(images, null, new LabRuntime.UpOptions(RemoveOnFailure: false), CancellationToken.None);
            var after = (await new LabRuntime(docker, lab.Topology).ListAsync(CancellationToken.None)).ToDictionary(c => c.Names[0], c => c.ID);
            Assert.Equal(9, before.Count);
            Assert.Equal(before, after);

            // A test that throws with a fault in place: the fault is undone, the lab removed.
            var holder = await lab.VipHolderAsync();
            await using var fault = await lab.InjectAsync(FaultKind.KeepalivedKill, holder);
            throw new InvalidOperationException("thrown midway");
        });
        Assert.Equal("thrown midway", thrown.Message);
        Assert.NotEmpty(name);
        Assert.Equal(0, await LeftAsync(docker, $"{LabLabels.Lab}={name}"));
        Assert.Equal(0, await LabSweeper.CountOwnAsync(docker, CancellationToken.None));
        Assert.False(Directory.Exists(LabPaths.LabDir(name)));
    }

    [Fact]
    public async Task A_bring_up_cancelled_half_way_leaves_nothing()
    {
        using var docker = await DockerConnection.ConnectAsync(CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(6)); // nodes are booting then
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => EphemeralLab.StartAsync(LabOptions.Seed with { Purpose = "cancel" }, cts.Token));
        output.WriteLine($"cancelled after {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.Equal(0, await LabSweeper.CountOwnAsync(docker, CancellationToken.None));
    }

    [Fact]
    public async Task Labs_of_a_test_process_that_no_longer_runs_are_swept()
    {
        using var docker = await DockerConnection.ConnectAsync(CancellationToken.None);
        var lab = TestLabNaming.NewName("stale");
        var labels = new Dictionary<string, string> { [LabLabels.Lab] = lab, [LabSweeper.RunLabel] = "deadbeef", [LabSweeper.PidLabel] = "999999999" };
        await docker.Networks.CreateNetworkAsync(new NetworksCreateParameters { Name = lab, Labels = labels });
        await docker.Volumes.CreateAsync(new VolumesCreateParameters { Name = lab + "-var", Labels = labels });

        var swept = await LabSweeper.SweepStaleAsync(docker, CancellationToken.None);

        Assert.Contains(lab, swept);
        Assert.Equal(0, await LeftAsync(docker, $"{LabLabels.Lab}={lab}"));
    }
}
