using System.Diagnostics;
using System.Globalization;
using System.Net;
using Docker.DotNet.Models;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>
/// <c>./hakubelab up</c> interrupted as a user would (SIGINT, as Ctrl-C sends) and a subnet refused before anything
/// is made: what is left afterwards, looked up by the lab's label and its state folder.
/// </summary>
public class InterruptedUpTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Ctrl_C_during_the_kubeadm_bootstrap_exits_130_and_leaves_nothing()
    {
        var name = $"hkl-lc-int-{Guid.NewGuid().ToString("n")[..6]}";
        var topology = LabTopology.Default.Relocate(name, IPNetwork.Parse("192.168.156.0/24"));
        var dir = Directory.CreateTempSubdirectory("hkl-lc-").FullName;
        using var docker = await DockerConnection.ConnectAsync(CancellationToken.None);
        try
        {
            var file = ChaosCli.WriteTopology(topology, dir);
            var signalled = Stopwatch.StartNew();
            var sent = 0;
            var run = await ChaosCli.RunAsync(output, ["up", "--topology", file], (process, line) =>
            {
                // A few seconds into kubeadm init on the first master: the runbook's script is running over SSH.
                if (!line.StartsWith("[ .. ] kubeadm init on ", StringComparison.Ordinal) || Interlocked.Exchange(ref sent, 1) == 1) return;
                _ = Task.Delay(TimeSpan.FromSeconds(8)).ContinueWith(_ =>
                {
                    // The script execs the binary, so this PID is the CLI itself; in this phase it has no child processes.
                    using var kill = Process.Start("kill", ["-INT", process.Id.ToString(CultureInfo.InvariantCulture)]);
                    kill.WaitForExit();
                    signalled.Restart();
                    TestLab.Log(output, "SIGINT sent");
                }, TaskScheduler.Default);
            }, TimeSpan.FromMinutes(15));
            var afterSignal = signalled.Elapsed;
            TestLab.Log(output, $"up exited {run.ExitCode} {afterSignal.TotalSeconds:0.0} s after SIGINT");

            Assert.True(sent == 1, "the bootstrap never started:\n" + run.Output);
            Assert.Equal(130, run.ExitCode);
            var stopped = run.Output.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("[STOP] ", StringComparison.Ordinal)).ToList();
            Assert.Contains(stopped, l => l.StartsWith("[STOP] kubeadm ", StringComparison.Ordinal) || l.StartsWith("[STOP] fetch admin kubeconfig", StringComparison.Ordinal));
            Assert.DoesNotContain("[FAIL]", run.Output);
            Assert.DoesNotContain("A task was canceled", run.Output);
            Assert.Contains($"[ ok ] remove unfinished lab {name}", run.Output);
            Assert.Contains($"Nothing of lab '{name}' is left", run.Output);
            await AssertNothingLeftAsync(docker, name);
        }
        finally
        {
            await LabRuntime.DownAsync(docker, name, CancellationToken.None); // also when an assertion failed
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_subnet_overlapping_a_host_route_is_refused_before_anything_is_made()
    {
        var name = $"hkl-lc-route-{Guid.NewGuid().ToString("n")[..6]}";
        var topology = LabTopology.Default.Relocate(name, IPNetwork.Parse("192.168.157.0/24"));
        using var docker = await DockerConnection.ConnectAsync(CancellationToken.None);
        // As if the machine's LAN were 192.168.157.0/24 on wlan0.
        var runtime = new LabRuntime(docker, topology) { HostRoutes = () => [new HostRoute("wlan0", IPNetwork.Parse("192.168.157.0/24"))] };
        var images = new LabImageSet("unused", "unused", "unused", "unused", "unused", "unused", topology.Kubernetes.ImageRepository, "unused"); // never reached
        try
        {
            var e = await Assert.ThrowsAsync<LabException>(() => runtime.UpAsync(images, null, null, CancellationToken.None));
            TestLab.Log(output, e.Message);
            Assert.Contains("route 192.168.157.0/24 dev wlan0", e.Message);
            Assert.Contains("subnet", e.Message);
            await AssertNothingLeftAsync(docker, name);
        }
        finally
        {
            await LabRuntime.DownAsync(docker, name, CancellationToken.None);
        }
    }

    /// <summary>No container, network or volume labelled with the lab, no network of its name, no state folder.</summary>
    internal static async Task AssertNothingLeftAsync(Docker.DotNet.IDockerClient docker, string name)
    {
        var filter = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{LabLabels.Lab}={name}"] = true } };
        Assert.Empty(await docker.Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = filter }));
        Assert.Empty(await docker.Networks.ListNetworksAsync(new NetworksListParameters { Filters = filter }));
        Assert.Empty((await docker.Volumes.ListAsync(new VolumesListParameters { Filters = filter })).Volumes ?? []);
        Assert.DoesNotContain(await docker.Networks.ListNetworksAsync(new NetworksListParameters()), n => n.Name == name);
        Assert.False(Directory.Exists(LabPaths.LabDir(name)), $"the state folder {LabPaths.LabDir(name)} is left");
    }
}
