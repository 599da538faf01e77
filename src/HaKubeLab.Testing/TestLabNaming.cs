using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;
using HaKubeLab.Topology;

namespace HaKubeLab.Testing;

/// <summary>
/// Names and subnets of test labs. HAKUBELAB_TEST_LAB_PREFIX (default <c>hkl-test-</c>) starts every lab
/// name; HAKUBELAB_TEST_SUBNETS (default <c>192.168.170.0/24-192.168.179.0/24</c>) is the range of /24s a
/// lab may take. A subnet is chosen and its network created under a machine-wide lock file, so two test
/// processes never pick the same one.
/// </summary>
public static class TestLabNaming
{
    /// <summary>The lab name prefix in use.</summary>
    public static string Prefix =>
        Environment.GetEnvironmentVariable("HAKUBELAB_TEST_LAB_PREFIX") is { Length: > 0 } p ? p : "hkl-test-";

    /// <summary>The /24 subnets test labs may use, in order.</summary>
    /// <exception cref="ArgumentException">HAKUBELAB_TEST_SUBNETS is malformed; the message shows the expected form.</exception>
    public static IReadOnlyList<IPNetwork> Subnets()
    {
        var text = Environment.GetEnvironmentVariable("HAKUBELAB_TEST_SUBNETS") is { Length: > 0 } s ? s : "192.168.170.0/24-192.168.179.0/24";
        var parts = text.Split('-', 2, StringSplitOptions.TrimEntries);
        if (!IPNetwork.TryParse(parts[0], out var first) || first.PrefixLength != 24 || first.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            throw new ArgumentException($"HAKUBELAB_TEST_SUBNETS: '{text}' is not a /24 or a range of them. Fix: e.g. 192.168.170.0/24-192.168.179.0/24.");
        var last = first;
        if (parts.Length == 2 && (!IPNetwork.TryParse(parts[1], out last) || last.PrefixLength != 24))
            throw new ArgumentException($"HAKUBELAB_TEST_SUBNETS: '{parts[1]}' is not a /24. Fix: e.g. 192.168.170.0/24-192.168.179.0/24.");
        var result = new List<IPNetwork>();
        for (var a = first.BaseAddress; ; a = IpMath.Offset(a, 256))
        {
            result.Add(new IPNetwork(a, 24));
            if (a.Equals(last.BaseAddress) || result.Count > 4096) break;
        }
        return result;
    }

    /// <summary>A fresh lab name: prefix, purpose, six random hex digits.</summary>
    public static string NewName(string purpose) => $"{Prefix}{purpose}-{Guid.NewGuid().ToString("n")[..6]}";

    /// <summary>
    /// Runs <paramref name="reserve"/> with the first subnet of the range no Docker network overlaps, holding
    /// the machine-wide lock until it returns (it should create the network, which reserves the subnet).
    /// </summary>
    public static async Task<T> WithFreeSubnetAsync<T>(IDockerClient docker, Func<IPNetwork, Task<T>> reserve, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(docker);
        ArgumentNullException.ThrowIfNull(reserve);
        using var held = await LockAsync(ct).ConfigureAwait(false);
        var used = (await docker.Networks.ListNetworksAsync(new NetworksListParameters(), ct).ConfigureAwait(false))
            .SelectMany(n => n.IPAM?.Config ?? [])
            .Select(c => IPNetwork.TryParse(c.Subnet ?? "", out var s) ? s : (IPNetwork?)null)
            .OfType<IPNetwork>().Where(s => s.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork).ToList();
        var subnets = Subnets();
        foreach (var candidate in subnets)
            if (!used.Any(u => IpMath.Overlaps(u, candidate)))
                return await reserve(candidate).ConfigureAwait(false);
        throw new InvalidOperationException($"No free /24 in {subnets[0]}-{subnets[^1]} for a test lab: all are taken by Docker networks. " +
                                            "Remove stale labs (docker network ls --filter label=io.hakubelab.lab) or widen HAKUBELAB_TEST_SUBNETS.");
    }

    private static async Task<FileStream> LockAsync(CancellationToken ct)
    {
        var path = Path.Combine(Path.GetTempPath(), "hakubelab-test-subnets.lock");
        while (true)
        {
            try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) { await Task.Delay(100, ct).ConfigureAwait(false); }
        }
    }
}
