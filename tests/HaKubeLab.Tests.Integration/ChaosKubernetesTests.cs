using System.Globalization;
using HaKubeLab.Runtime;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>
/// Runs alone, after the parallel test classes: a second full Kubernetes lab next to the shared one
/// would make two kubeadm bring-ups fight for two cores.
/// </summary>
[CollectionDefinition("chaos-kubernetes", DisableParallelization = true)]
public sealed class ChaosKubernetesCollection;

/// <summary>A full lab (kubeadm HA through the VIP) for the chaos runs that need the API probes.</summary>
public sealed class ChaosKubernetesLab : IAsyncLifetime
{
    public TestLab Lab { get; private set; } = null!;
    public string TopologyFile { get; private set; } = null!;
    public string OutDir { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Lab = await TestLab.CreateAsync("chaosk8s");
        var images = await TestLab.ImagesAsync(null!);
        await LabLifecycle.UpAsync(Lab.Docker, Lab.Topology, images, withKubernetes: true, null, new LabRuntime.UpOptions(RemoveOnFailure: false));
        var dir = Path.Combine(RepositoryLayout.Root(), "artifacts", "chaos-test-runs", Lab.Topology.Name);
        TopologyFile = ChaosCli.WriteTopology(Lab.Topology, dir);
        OutDir = Path.Combine(dir, "runs");
    }

    public async Task DisposeAsync() => await Lab.DisposeAsync();
}

/// <summary>The node-kill scenario with every probe: TCP and HTTPS through the VIP, readyz per master, API writes; the lab restored with its pod routes.</summary>
[Collection("chaos-kubernetes")]
public class ChaosKubernetesTests(ChaosKubernetesLab fixture, ITestOutputHelper output) : IClassFixture<ChaosKubernetesLab>
{
    [Fact]
    public async Task Node_kill_with_kubernetes_measures_the_api_through_the_vip_and_restores_every_master()
    {
        var run = await ChaosCli.RunAsync(output, ["chaos", "run", "node-kill-vip-holder", "--topology", fixture.TopologyFile, "--out", fixture.OutDir]);
        Assert.NotNull(run.RunFolder);
        var r = run.Result;
        var fault = r.GetProperty("faults")[0];
        var killed = fault.GetProperty("node").GetString()!;
        var probes = r.GetProperty("probes").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);
        foreach (var (name, p) in probes)
            TestLab.Log(output, $"{name,-12} availability {p.GetProperty("availability")}, outages {p.GetProperty("outages").GetArrayLength()}, attempts {p.GetProperty("attempts")}");
        var failover = fault.GetProperty("failover");
        TestLab.Log(output, $"node-kill of {killed}: failover vip_tcp {failover.GetProperty("vip_tcp").GetProperty("seconds")} s, readyz_vip {failover.GetProperty("readyz_vip").GetProperty("seconds")} s, " +
                            $"api_write {failover.GetProperty("api_write").GetProperty("seconds")} s; runner CPU {r.GetProperty("cpu").Number("processCpuSeconds").ToString("0.00", CultureInfo.InvariantCulture)} s over {r.GetProperty("cpu").Number("wallSeconds"):0} s");

        Assert.True(run.ExitCode == 0, "the node-kill scenario should pass on a Kubernetes lab:\n" + run.Output);
        foreach (var name in new[] { "vip_tcp", "vip_api_tcp", "readyz_vip", "api_write", "readyz.m01", "readyz.m02", "readyz.m03" })
        {
            Assert.True(probes[name].GetProperty("applicable").GetBoolean(), name);
            Assert.True(probes[name].GetProperty("attempts").GetInt32() > 100, name);
        }
        // The killed master's own apiserver is down at least until it is restarted; the API through the VIP comes back before that.
        Assert.NotEmpty(probes[$"readyz.{killed}"].GetProperty("outages").EnumerateArray());
        Assert.InRange(failover.GetProperty("readyz_vip").Number("seconds"), 0.5, 15);
        Assert.InRange(failover.GetProperty("api_write").Number("seconds"), 0.5, 20);
        Assert.True(r.GetProperty("restore").GetProperty("ok").GetBoolean(), r.GetProperty("restore").GetProperty("detail").GetString());
        Assert.Contains("every etcd member healthy", r.GetProperty("restore").GetProperty("detail").GetString());

        // The restarted master's pod routes are back (the bootstrap rewrote them).
        var routes = await DockerExec.RunAsync(fixture.Lab.Docker, LabNames.Container(fixture.Lab.Topology.Name, killed, LabRole.Node), ["ip", "route"], CancellationToken.None);
        Assert.Equal(fixture.Lab.Topology.Nodes.Length - 1, routes.Stdout.Split('\n').Count(l => l.Contains(" via ", StringComparison.Ordinal) && !l.StartsWith("default", StringComparison.Ordinal)));
    }
}
