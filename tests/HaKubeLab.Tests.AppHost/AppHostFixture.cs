using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Docker.DotNet;
using Docker.DotNet.Models;
using HaKubeLab.Runtime;
using Microsoft.Extensions.DependencyInjection;

namespace HaKubeLab.Tests.AppHost;

/// <summary>
/// The real AppHost (Aspire.Hosting.Testing) against the real Docker engine, with the dashboard on, for a
/// load-balancer-only lab of its own (name hkl-ah-t-*, a free subnet among 192.168.165-169.0/24), started once
/// for the ordered tests of <see cref="AppHostTests"/>. Every resource's latest snapshot is kept in <see cref="Latest"/>.
/// </summary>
public sealed class AppHostFixture : IAsyncLifetime
{
    private readonly CancellationTokenSource _watch = new();
    private Task? _watcher;

    public DistributedApplication App { get; private set; } = null!;
    public string Lab { get; } = $"hkl-ah-t-{Guid.NewGuid().ToString("n")[..6]}";
    public string Subnet { get; private set; } = "";
    public Uri Dashboard { get; private set; } = null!;
    public TimeSpan StartupToAllRunning { get; set; }
    public Stopwatch SinceCreate { get; } = new();
    public ConcurrentDictionary<string, CustomResourceSnapshot> Latest { get; } = new();
    public bool Stopped { get; set; }

    public static readonly string[] Nodes = ["m01", "m02", "m03"];

    public static IEnumerable<string> PartNames => Nodes.SelectMany(n => new[] { n, $"{n}-haproxy", $"{n}-keepalived" });

    public async Task InitializeAsync()
    {
        using var docker = await DockerConnection.ConnectAsync(CancellationToken.None);
        Subnet = await FreeSubnetAsync(docker);
        var (ui, otlp, resources) = (FreePort(), FreePort(), FreePort());
        Dashboard = new Uri($"http://127.0.0.1:{ui}");
        SinceCreate.Start();
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Program>(
        [
            $"--HAKUBELAB_LAB={Lab}",
            $"--HAKUBELAB_SUBNET={Subnet}",
            "--HAKUBELAB_KUBERNETES=false",
            // The headless settings of FACTS.md (Aspire), on ports of this test's own (not randomized: the browser opens them).
            "--DcpPublisher:RandomizePorts=false",
            $"--ASPNETCORE_URLS={Dashboard}",
            $"--ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL=http://127.0.0.1:{otlp}",
            $"--ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL=http://127.0.0.1:{resources}",
            "--ASPIRE_ALLOW_UNSECURED_TRANSPORT=true",
            "--ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS=true",
        ], (options, _) => options.DisableDashboard = false);
        App = await builder.BuildAsync();
        _watcher = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in App.ResourceNotifications.WatchAsync(_watch.Token)) Latest[e.Resource.Name] = e.Snapshot;
            }
            catch (OperationCanceledException) { }
        });
        await App.StartAsync();
    }

    public IResource Resource(string name) =>
        App.Services.GetRequiredService<DistributedApplicationModel>().Resources.Single(r => r.Name == name);

    public string? Property(string resource, string property) =>
        Latest.TryGetValue(resource, out var s) ? s.Properties.FirstOrDefault(p => p.Name == property)?.Value?.ToString() : null;

    public string? State(string resource) => Latest.TryGetValue(resource, out var s) ? s.State?.Text : null;

    /// <summary>Nodes shown as VIP holder right now (their highlighted vip.role property).</summary>
    public List<string> HoldersShown() => [.. Nodes.Where(n => Property(n, "vip.role")?.StartsWith("HOLDER", StringComparison.Ordinal) == true)];

    public async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"{what} not seen within {timeout.TotalSeconds:0} s. States: {string.Join(", ", PartNames.Select(n => $"{n}={State(n)}"))}; holders shown: [{string.Join(",", HoldersShown())}]");
            await Task.Delay(50);
        }
    }

    public async Task StopAsync()
    {
        if (Stopped) return;
        Stopped = true;
        await App.StopAsync();
        await App.DisposeAsync();
        await _watch.CancelAsync();
        if (_watcher is not null) await _watcher;
    }

    public async Task DisposeAsync()
    {
        await StopAsync();
        // Whatever a failed test left: removed by label.
        using var docker = await DockerConnection.ConnectAsync(CancellationToken.None);
        await LabRuntime.DownAsync(docker, Lab, CancellationToken.None);
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>The first of this engineer's subnets (192.168.165-169.0/24) no Docker network uses.</summary>
    private static async Task<string> FreeSubnetAsync(DockerClient docker)
    {
        var used = (await docker.Networks.ListNetworksAsync(new NetworksListParameters()))
            .SelectMany(n => n.IPAM?.Config ?? []).Select(c => c.Subnet).ToHashSet();
        for (var third = 165; third <= 169; third++)
            if (!used.Contains($"192.168.{third}.0/24")) return $"192.168.{third}.0/24";
        throw new InvalidOperationException("All of 192.168.165-169.0/24 are in use; remove stale hkl-ah-* labs (docker network ls).");
    }
}
