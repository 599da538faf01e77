using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>
/// A lab brought up from a non-default topology (other node names, VIP, port, VRRP id) is driven by name alone:
/// status, explain --lab and chaos run --lab read its record and agree on who holds the VIP; and with backups that
/// may preempt, a dead haproxy moves the VIP where the election math says.
/// </summary>
[Collection("lb-custom")]
public class CustomTopologyTests(CustomLoadBalancerLab shared, ITestOutputHelper output)
{
    [Fact]
    public async Task Status_explain_and_chaos_by_lab_name_agree_on_the_vip_holder_without_a_topology_file()
    {
        await shared.RestoreAsync(output);
        var holder = (await shared.Running.VipHolderAsync()).Holder;
        Assert.NotNull(holder);

        var status = await ChaosCli.RunAsync(output, ["status", "--lab", shared.Name, "--json"]);
        Assert.Equal(0, status.ExitCode);
        using var json = System.Text.Json.JsonDocument.Parse(status.Output[status.Output.IndexOf('{')..]);
        Assert.Equal(holder, json.RootElement.GetProperty("vipHolder").GetString());
        Assert.Equal(8443, json.RootElement.GetProperty("loadBalancerPort").GetInt32());
        Assert.Equal(["c1", "c2", "c3"], json.RootElement.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("name").GetString()));

        var explain = await ChaosCli.RunAsync(output, ["explain", "--lab", shared.Name]);
        Assert.Equal(0, explain.ExitCode);
        Assert.Contains($"VIP {shared.Topology.Vip} is held by {holder} now", explain.Output);
        Assert.Contains("haproxy on 8443", explain.Output);

        var chaos = await ChaosCli.RunAsync(output, ["chaos", "run", "node-kill-vip-holder", "--lab", shared.Name, "--out", shared.RunsDir]);
        Assert.True(chaos.ExitCode == 0, chaos.Output);
        Assert.Equal(holder, chaos.Result.GetProperty("vipHolder").GetProperty("initial").GetString());
        Assert.Equal(holder, chaos.Result.GetProperty("faults")[0].GetProperty("node").GetString());
        Assert.Equal(8443, chaos.Result.GetProperty("lab").GetProperty("loadBalancerPort").GetInt32());
    }

    [Fact]
    public async Task A_topology_file_that_is_not_the_labs_is_refused_naming_the_difference()
    {
        await shared.RestoreAsync(output);
        var file = ChaosCli.WriteTopology(shared.Topology with { LoadBalancer = new LoadBalancerSettings { Port = 9443 } }, Path.Combine(shared.RunsDir, "wrong"));
        var run = await ChaosCli.RunAsync(output, ["chaos", "run", "node-kill-vip-holder", "--topology", file, "--out", shared.RunsDir]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("loadBalancer.port: 8443 (given: 9443)", run.Output);
        Assert.True((await shared.Running.SnapshotAsync()).Healthy); // refused before anything was injected
    }

    [Fact]
    public async Task Without_nopreempt_a_dead_haproxy_moves_the_vip_to_the_highest_backup_and_the_load_balancer_answers()
    {
        await shared.MakeHolderAsync("c1", output);
        var predicted = VrrpElection.After(shared.Topology, "c1", new Dictionary<string, NodeCondition> { ["c1"] = new(HaproxyUp: false) });
        TestLab.Log(output, $"prediction: {predicted.Reason}");
        Assert.Equal("c2", predicted.Holder);
        Assert.True(predicted.LoadBalancerAnswers);

        await shared.Lab.Runtime.KillAsync("c1", LabRole.Haproxy, CancellationToken.None);
        var settle = TimeSpan.FromSeconds(shared.Topology.Keepalived.CheckInterval * (shared.Topology.Keepalived.Fall + 1)) + VrrpElection.MasterDownInterval(shared.Topology, 1) + TimeSpan.FromSeconds(3);
        var moved = await TestLab.WaitForAsync(async () => (await shared.Running.VipHolderAsync()).Holder == predicted.Holder, settle * 2);
        TestLab.Log(output, $"VIP moved to {predicted.Holder} after {moved?.TotalSeconds:0.0} s");
        Assert.NotNull(moved);
        Assert.NotNull(await TestLab.WaitForAsync(shared.Lab.VipAnswersAsync, TimeSpan.FromSeconds(10)));
        await shared.RestoreAsync(output);
    }
}
