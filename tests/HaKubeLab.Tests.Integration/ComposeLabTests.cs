using System.Diagnostics;
using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>
/// docker-compose.lab.yml, driven by the compose CLI as a user without .NET would drive it
/// (Debian's docker-compose 1.29, or the v2 plugin where present): the load-balancer lab comes up,
/// the VIP answers, the holder's node is killed, the VIP moves and answers again, and compose down
/// leaves nothing carrying the lab's label.
/// </summary>
public class ComposeLabTests(ITestOutputHelper output)
{
    /// <summary>This test's own range, apart from the other test classes' 192.168.200-249.x and the user's 192.168.100.0/24.</summary>
    private static readonly string[] Subnets = ["192.168.160.0/24", "192.168.161.0/24", "192.168.162.0/24", "192.168.163.0/24", "192.168.164.0/24"];

    [Fact]
    public async Task Compose_lab_answers_on_the_vip_fails_over_after_a_node_kill_and_leaves_nothing_after_down()
    {
        using var docker = await DockerConnection.ConnectAsync(CancellationToken.None);
        var lab = $"hkl-cp-t-{Guid.NewGuid().ToString("n")[..6]}";
        var subnet = await FreeSubnetAsync(docker);
        var prefix = subnet[..subnet.LastIndexOf(".0/", StringComparison.Ordinal)];
        var vip = IPAddress.Parse(prefix + ".190");
        var root = RepositoryLayout.Root();
        try
        {
            var prepare = Stopwatch.StartNew();
            var envFile = (await RunAsync("bash", [Path.Combine(root, "scripts", "compose-lab.sh"), "env", "--lab", lab, "--subnet", subnet], root)).Trim().Split('\n')[^1];
            TestLab.Log(output, $"[{lab}] env file {envFile} (images checked, files rendered) in {prepare.Elapsed.TotalSeconds:0.0} s");
            string[] compose = [.. ComposeCommand(), "-p", lab, "--env-file", envFile, "-f", Path.Combine(root, "docker-compose.lab.yml")];

            var up = Stopwatch.StartNew();
            await RunAsync(compose[0], [.. compose[1..], "up", "-d"], root);
            var composeUp = up.Elapsed;
            var toVip = await TcpProbe.WaitForAsync(vip, 9443, TimeSpan.FromSeconds(90), CancellationToken.None, TimeSpan.FromMilliseconds(50));
            TestLab.Log(output, $"[{lab}] compose up -d returned after {composeUp.TotalSeconds:0.00} s; VIP {vip}:9443 answered {up.Elapsed.TotalSeconds:0.00} s after compose up began");
            Assert.NotNull(toVip);

            // The compose lab carries the runtime's labels and names: the CLI's status reads it as its own.
            var status = await LabRuntime.StatusAsync(docker, lab, CancellationToken.None);
            Assert.Equal(3, status.Nodes.Count);
            Assert.All(status.Nodes, n => Assert.Equal(["haproxy", "keepalived"], n.Sidecars.Select(s => s.Name)));
            Assert.All(status.Nodes, n => Assert.Equal("running", n.State));
            var holder = status.VipHolder;
            Assert.NotNull(holder);
            // The nodes are kind-style nodes, as `up` makes them: systemd as PID 1 and a writable /proc/sys (systempaths unconfined).
            foreach (var node in status.Nodes)
            {
                var systemd = await TestLab.WaitForAsync(async () =>
                    (await DockerExec.RunAsync(docker, $"{lab}-{node.Name}", ["systemctl", "is-system-running"], CancellationToken.None)).Stdout.Trim() is "running" or "degraded",
                    TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(250));
                Assert.NotNull(systemd);
                var procSys = await DockerExec.RunAsync(docker, $"{lab}-{node.Name}", ["sh", "-c", "cat /proc/sys/net/ipv4/ip_forward > /proc/sys/net/ipv4/ip_forward"], CancellationToken.None);
                Assert.True(procSys.Succeeded, $"/proc/sys is not writable in {node.Name}: {procSys.Stderr}");
            }

            var nodeIps = status.Nodes.ToDictionary(n => n.Name, n => n.Ip);
            var topology = LabTopology.Default.Relocate(lab, IPNetwork.Parse(subnet));
            var predicted = VrrpElection.After(topology, holder, new Dictionary<string, NodeCondition> { [holder] = new(NodeUp: false) });
            var predictedSeconds = VrrpElection.MasterDownInterval(topology, predicted.EffectivePriorities.Values.Max()).TotalSeconds;
            await docker.Containers.KillContainerAsync($"{lab}-{holder}", new ContainerKillParameters { Signal = "SIGKILL" }, CancellationToken.None);
            var failover = await TestLab.WaitForAsync(() => TcpProbe.ConnectAsync(vip, 9443, TimeSpan.FromMilliseconds(300), CancellationToken.None),
                TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50));
            var after = await LabRuntime.StatusAsync(docker, lab, CancellationToken.None);
            TestLab.Log(output, $"[{lab}] killed {holder}'s node ({nodeIps[holder]}): VIP:9443 answered again after {failover?.TotalSeconds:0.00} s on {after.VipHolder ?? "?"} " +
                                $"(predicted master-down interval {predictedSeconds:0.00} s)");
            Assert.NotNull(failover);
            Assert.NotNull(after.VipHolder);
            Assert.NotEqual(holder, after.VipHolder);
            Assert.Contains(after.VipHolder, predicted.PossibleHolders);

            var down = Stopwatch.StartNew();
            await RunAsync(compose[0], [.. compose[1..], "down", "-v", "--remove-orphans"], root);
            TestLab.Log(output, $"[{lab}] compose down -v in {down.Elapsed.TotalSeconds:0.0} s");
            var filter = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{LabLabels.Lab}={lab}"] = true } };
            Assert.Empty(await docker.Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = filter }));
            Assert.Empty(await docker.Networks.ListNetworksAsync(new NetworksListParameters { Filters = filter }));
            Assert.Empty((await docker.Volumes.ListAsync(new VolumesListParameters { Filters = filter })).Volumes ?? []);
        }
        finally
        {
            // Also removes the lab's state folder (env file, rendered files); a no-op for Docker objects after a clean down.
            await LabRuntime.DownAsync(docker, lab, CancellationToken.None);
        }
    }

    /// <summary>The v2 plugin where present, else Debian's docker-compose (v1), as scripts/compose-lab.sh chooses; neither fails the test.</summary>
    private static string[] ComposeCommand()
    {
        if (TryRun("docker", ["compose", "version"])) return ["docker", "compose"];
        if (TryRun("docker-compose", ["version"])) return ["docker-compose"];
        throw new InvalidOperationException("Neither 'docker compose' nor 'docker-compose' works (scripts/ensure-host.sh compose installs Debian's docker-compose).");
    }

    private static bool TryRun(string file, string[] args)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            p.WaitForExit(30_000);
            return p.HasExited && p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception) { return false; }
    }

    private async Task<string> RunAsync(string file, string[] args, string workingDirectory)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        psi.Environment["DOCKER_API_VERSION"] = "1.41";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        var err = await stderr;
        foreach (var line in err.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(15)) TestLab.Log(output, "    " + line);
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode}:\n{err}");
        return await stdout;
    }

    private static async Task<string> FreeSubnetAsync(DockerClient docker)
    {
        var used = (await docker.Networks.ListNetworksAsync(new NetworksListParameters()))
            .SelectMany(n => n.IPAM?.Config ?? []).Select(c => c.Subnet).ToHashSet();
        return Subnets.FirstOrDefault(s => !used.Contains(s))
            ?? throw new InvalidOperationException($"No free subnet among {string.Join(", ", Subnets)} for the compose test; remove stale networks (docker network ls).");
    }
}
