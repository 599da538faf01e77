using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>
/// A lab of its own for one test: a unique name and a free subnet, so test classes running in
/// parallel never collide and a user's lab ('hakubelab', 192.168.100.0/24) is never touched.
/// Disposing it removes everything by label.
/// </summary>
public sealed class TestLab : IAsyncDisposable
{
    private static readonly SemaphoreSlim SubnetLock = new(1, 1);
    private static Task<LabImageSet>? _images;
    private static readonly object ImagesLock = new();

    public required DockerClient Docker { get; init; }
    public required LabRuntime Runtime { get; init; }
    public LabTopology Topology => Runtime.Topology;

    /// <summary>Images are built (or found cached) once per test run.</summary>
    public static Task<LabImageSet> ImagesAsync(ITestOutputHelper output)
    {
        lock (ImagesLock)
            return _images ??= LabImages.EnsureAsync(new Progress<string>(l => Console.WriteLine(l)), CancellationToken.None);
    }

    /// <summary>A topology (default: the runbook's) moved to a unique name and a free subnet; not started.</summary>
    public static async Task<TestLab> CreateAsync(string purpose, Func<LabTopology, LabTopology>? customize = null)
    {
        // Fails with the engine's address and the fix when Docker is missing: never a silent pass.
        var docker = await DockerConnection.ConnectAsync(CancellationToken.None);
        await SubnetLock.WaitAsync();
        try
        {
            var subnet = await FreeSubnetAsync(docker);
            var prefix = Environment.GetEnvironmentVariable("HAKUBELAB_TEST_LAB_PREFIX") is { Length: > 0 } p ? p : "hkl-t-";
            var name = $"{prefix}{purpose}-{Guid.NewGuid().ToString("n")[..6]}";
            var topology = (customize ?? (t => t))(LabTopology.Default).Relocate(name, subnet);
            var lab = new TestLab { Docker = docker, Runtime = new LabRuntime(docker, topology) };
            // Reserve the subnet before releasing the lock: create the network now.
            await lab.Docker.Networks.CreateNetworkAsync(ContainerSpecs.Network(topology));
            return lab;
        }
        finally
        {
            SubnetLock.Release();
        }
    }

    public async Task<TimeSpan> UpAsync(ITestOutputHelper output, CancellationToken ct = default)
    {
        var images = await ImagesAsync(output);
        var progress = new Progress<LabProgress>(p => { if (p.Done) Log(output, $"[{Topology.Name}] {p.Action} {(p.Failed ? "FAILED " + p.Detail : "")} {p.Elapsed.TotalSeconds:0.0} s"); });
        return await Runtime.UpAsync(images, progress, new LabRuntime.UpOptions(RemoveOnFailure: false), ct);
    }

    /// <summary>Polls until <paramref name="condition"/> holds or the deadline passes; returns the elapsed time or null.</summary>
    public static async Task<TimeSpan?> WaitForAsync(Func<Task<bool>> condition, TimeSpan deadline, TimeSpan? interval = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < deadline)
        {
            if (await condition()) return clock.Elapsed;
            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(100));
        }
        return null;
    }

    public Task<bool> VipAnswersAsync() => TcpProbe.ConnectAsync(Topology.Vip, Topology.LoadBalancer.Port, TimeSpan.FromMilliseconds(500), CancellationToken.None);

    public static void Log(ITestOutputHelper output, string line)
    {
        try { output.WriteLine(line); } catch (InvalidOperationException) { /* test already finished */ }
        Console.WriteLine(line);
    }

    private static async Task<IPNetwork> FreeSubnetAsync(DockerClient docker)
    {
        var used = (await docker.Networks.ListNetworksAsync(new NetworksListParameters()))
            .SelectMany(n => n.IPAM?.Config ?? [])
            .Select(c => IPNetwork.TryParse(c.Subnet ?? "", out var s) ? s : (IPNetwork?)null)
            .OfType<IPNetwork>().ToList();
        // HAKUBELAB_TEST_SUBNETS (e.g. 192.168.170.0/24-192.168.179.0/24, as HaKubeLab.Testing reads it) narrows the range.
        var (first, count) = (200, 50);
        if (Environment.GetEnvironmentVariable("HAKUBELAB_TEST_SUBNETS") is { Length: > 0 } range)
        {
            var ends = range.Split('-', 2).Select(r => (int)IPNetwork.Parse(r.Trim()).BaseAddress.GetAddressBytes()[2]).ToArray();
            (first, count) = (ends[0], (ends.Length > 1 ? ends[1] : ends[0]) - ends[0] + 1);
        }
        var start = Random.Shared.Next(0, count);
        for (var i = 0; i < count; i++)
        {
            var candidate = IPNetwork.Parse($"192.168.{first + (start + i) % count}.0/24");
            if (!used.Any(u => u.BaseAddress.AddressFamily == candidate.BaseAddress.AddressFamily && IpMath.Overlaps(u, candidate)))
                return candidate;
        }
        throw new InvalidOperationException($"No free /24 in 192.168.{first}.0-192.168.{first + count - 1}.0 for a test lab; remove stale networks (docker network ls) or set HAKUBELAB_TEST_SUBNETS.");
    }

    public async ValueTask DisposeAsync()
    {
        await LabRuntime.DownAsync(Docker, Topology.Name, CancellationToken.None);
        Docker.Dispose();
    }
}
