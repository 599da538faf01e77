using System.Diagnostics;
using System.Text.Json;
using Docker.DotNet;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Runtime;

/// <summary>One member of the external etcd cluster as etcdctl sees it.</summary>
/// <param name="Health">"healthy" (answered a quorum read), "unhealthy" (answered, no quorum), "unreachable", or "down" (its container does not run).</param>
/// <param name="Leader">This member leads the raft group.</param>
public sealed record EtcdMemberHealth(string Name, string Ip, string Health, bool Leader);

/// <summary>
/// The external etcd cluster's health, asked from inside a running member with etcdctl (the image's own, TLS with the
/// member's health-check client): <c>endpoint health</c> (a quorum read per member) and <c>endpoint status</c> (who leads).
/// Stacked labs have no such cluster: <see cref="CheckAsync"/> returns no members.
/// </summary>
public sealed record EtcdHealth(IReadOnlyList<EtcdMemberHealth> Members)
{
    /// <summary>The leading member's name; null when none answers as leader (no quorum, or stacked).</summary>
    public string? Leader => Members.FirstOrDefault(m => m.Leader)?.Name;

    public bool AllHealthy => Members.Count > 0 && Members.All(m => m.Health == "healthy");

    public override string ToString() =>
        Members.Count == 0 ? "no external etcd" : string.Join(", ", Members.Select(m => $"{m.Name} {m.Health}{(m.Leader ? " (leader)" : "")}"));

    public static async Task<EtcdHealth> CheckAsync(IDockerClient docker, LabTopology topology, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(docker);
        ArgumentNullException.ThrowIfNull(topology);
        if (topology.Etcd.Topology != EtcdTopology.External) return new([]);
        var members = topology.Etcd.Nodes;
        var running = await Task.WhenAll(members.Select(async m =>
        {
            try { return (await docker.Containers.InspectContainerAsync(LabNames.Container(topology.Name, m.Name, LabRole.Etcd), ct).ConfigureAwait(false)).State?.Running == true; }
            catch (DockerContainerNotFoundException) { return false; }
        })).ConfigureAwait(false);

        var health = new Dictionary<string, bool>();
        string? leader = null;
        var endpoints = "--endpoints=" + string.Join(",", ExternalEtcd.Endpoints(topology));
        for (var i = 0; i < members.Length; i++)
        {
            if (!running[i]) continue;
            var container = LabNames.Container(topology.Name, members[i].Name, LabRole.Etcd);
            try
            {
                string[] Args(params string[] command) => ["etcdctl", endpoints, .. ExternalEtcd.EtcdctlTls, "--dial-timeout=2s", "--command-timeout=3s", .. command, "-w", "json"];
                // Both print JSON for the members that answered, and exit non-zero when any did not.
                var h = await DockerExec.RunAsync(docker, container, Args("endpoint", "health"), ct).ConfigureAwait(false);
                var s = await DockerExec.RunAsync(docker, container, Args("endpoint", "status"), ct).ConfigureAwait(false);
                foreach (var e in JsonArray(h.Stdout))
                    if (e.TryGetProperty("endpoint", out var ep) && e.TryGetProperty("health", out var ok))
                        health[new Uri(ep.GetString()!).Host] = ok.ValueKind == JsonValueKind.True;
                leader = LeaderSource.ParseEndpointStatus(s.Stdout, topology).Leader;
                break; // one member's view is enough
            }
            catch (Exception e) when (e is DockerApiException or JsonException or KeyNotFoundException or InvalidOperationException or UriFormatException) { }
        }
        return new([.. members.Select((m, i) =>
        {
            var ip = m.Ip.ToString();
            var state = !running[i] ? "down" : health.TryGetValue(ip, out var ok) ? (ok ? "healthy" : "unhealthy") : "unreachable";
            return new EtcdMemberHealth(m.Name, ip, state, m.Name == leader);
        })]);
    }

    /// <summary>Asks until every member is healthy or <paramref name="deadline"/> passes; returns the last answer.</summary>
    public static async Task<EtcdHealth> WaitHealthyAsync(IDockerClient docker, LabTopology topology, TimeSpan deadline, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var h = await CheckAsync(docker, topology, ct).ConfigureAwait(false);
            if (h.AllHealthy || clock.Elapsed > deadline) return h;
            await Task.Delay(500, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The elements of the JSON array in <paramref name="text"/> (etcdctl may print other lines around it); empty when there is none.</summary>
    private static IEnumerable<JsonElement> JsonArray(string text)
    {
        var start = text.IndexOf('[');
        var end = text.LastIndexOf(']');
        if (start < 0 || end <= start) return [];
        using var doc = JsonDocument.Parse(text[start..(end + 1)]);
        return [.. doc.RootElement.EnumerateArray().Select(e => e.Clone())];
    }
}
