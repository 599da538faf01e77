using HaKubeLab.Chaos.Reports;
using HaKubeLab.Runtime;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>The node-kill scenario with every probe: TCP and HTTPS through the VIP, readyz per master, API writes; the lab restored with its pod routes.</summary>
[Collection("k8s-seed")]
public class ChaosKubernetesTests(SeedKubernetesLab k8s, ITestOutputHelper output)
{
    [Fact]
    public async Task Node_kill_with_kubernetes_measures_the_api_through_the_vip_and_restores_every_master()
    {
        await k8s.RestoreAsync(output);
        var r = await k8s.ChaosAsync("node-kill-vip-holder", output);
        var fault = Assert.Single(r.Faults);
        var killed = fault.Node;
        var probes = r.Probes.ToDictionary(p => p.Name);
        foreach (var (name, p) in probes)
            TestLab.Log(output, $"{name,-12} availability {p.Availability}, outages {p.Outages.Count}, attempts {p.Attempts}");
        TestLab.Log(output, $"node-kill of {killed}: failover vip_tcp {fault.Failover["vip_tcp"].Seconds} s, readyz_vip {fault.Failover["readyz_vip"].Seconds} s, " +
                            $"api_write {fault.Failover["api_write"].Seconds} s; runner CPU {r.Cpu.ProcessCpuSeconds:0.00} s over {r.Cpu.WallSeconds:0} s ({r.Cpu.PercentOfOneCore:0.0} % of one core)");

        Assert.True(r.Passed, string.Join("; ", r.Expectations.Where(e => e.Status == ExpectationStatus.Failed).Select(e => $"{e.Text}: {e.Message}")) + r.Error + r.Restore?.Detail);
        foreach (var name in new[] { "vip_tcp", "vip_api_tcp", "readyz_vip", "api_write" }.Concat(k8s.Topology.Nodes.Select(n => $"readyz.{n.Name}")))
        {
            Assert.True(probes[name].Applicable, name);
            Assert.True(probes[name].Attempts > 100, name);
        }
        // The killed master's own apiserver is down at least until it is restarted; the API through the VIP comes back before that.
        Assert.NotEmpty(probes[$"readyz.{killed}"].Outages);
        Assert.InRange(fault.Failover["readyz_vip"].Seconds!.Value, 0.5, 15);
        Assert.InRange(fault.Failover["api_write"].Seconds!.Value, 0.5, 20);
        Assert.True(r.Restore!.Ok, r.Restore.Detail);
        Assert.Contains("every etcd member healthy", r.Restore.Detail);

        // The restarted master's pod routes are back (the bootstrap rewrote them).
        var routes = await k8s.ShAsync(killed, "ip route");
        Assert.Equal(k8s.Topology.Nodes.Length - 1, routes.Stdout.Split('\n').Count(l => l.Contains(" via ", StringComparison.Ordinal) && !l.StartsWith("default", StringComparison.Ordinal)));
    }
}
