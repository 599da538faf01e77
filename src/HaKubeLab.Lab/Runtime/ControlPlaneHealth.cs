using System.Net;
using System.Text.Json;
using Docker.DotNet;

namespace HaKubeLab.Runtime;

/// <summary>One master's control plane as seen from outside: its apiserver's /readyz and its etcd member.</summary>
public sealed record ControlPlaneNodeHealth(string Node, string ApiServer, string Etcd);

/// <summary>The control plane's health: per node, and which node's etcd member leads.</summary>
public sealed record ControlPlaneHealth(IReadOnlyList<ControlPlaneNodeHealth> Nodes, string? EtcdLeader)
{
    /// <summary>What a master's etcd column says when etcd is external: the master runs no etcd member.</summary>
    public const string NoLocalEtcd = "external";

    /// <summary>
    /// Asks each node's apiserver for /readyz at its lab address, and etcd (through etcdctl in a running
    /// node, with kubeadm's health-check client certificate) for every member's status and the leader.
    /// With external etcd (<paramref name="externalEtcd"/> given) the masters run no etcd member: their etcd
    /// column says <see cref="NoLocalEtcd"/> and the leader is the external member that leads.
    /// </summary>
    public static async Task<ControlPlaneHealth> CheckAsync(IDockerClient docker, string lab, IReadOnlyList<(string Name, string Ip, bool Running)> nodes, int apiServerPort, CancellationToken ct, EtcdHealth? externalEtcd = null)
    {
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true }; // lab CA; /readyz is public
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(2) };
        var api = await Task.WhenAll(nodes.Select(async n =>
        {
            if (!n.Running) return "down";
            try
            {
                using var r = await http.GetAsync($"https://{n.Ip}:{apiServerPort}/readyz", ct).ConfigureAwait(false);
                var body = (await r.Content.ReadAsStringAsync(ct).ConfigureAwait(false)).Trim();
                return r.StatusCode == HttpStatusCode.OK ? body : $"not ready ({(int)r.StatusCode})";
            }
            catch (HttpRequestException) { return "unreachable"; }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested) { return "timeout"; }
        })).ConfigureAwait(false);

        if (externalEtcd is not null)
            return new ControlPlaneHealth([.. nodes.Select((n, i) => new ControlPlaneNodeHealth(n.Name, api[i], NoLocalEtcd))], externalEtcd.Leader);

        var members = new Dictionary<string, string>();
        string? leader = null;
        foreach (var n in nodes.Where(n => n.Running))
        {
            try
            {
                var r = await DockerExec.RunAsync(docker, LabNames.Container(lab, n.Name, LabRole.Node),
                [
                    "etcdctl", "--endpoints=https://127.0.0.1:2379", "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
                    "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt", "--key=/etc/kubernetes/pki/etcd/healthcheck-client.key",
                    "--dial-timeout=2s", "--command-timeout=3s", "endpoint", "status", "--cluster", "-w", "json",
                ], ct).ConfigureAwait(false);
                // etcdctl prints the members that answered and exits non-zero when any did not: read what it printed.
                var status = LeaderSource.ParseEndpointStatus(r.Stdout, nodes.ToDictionary(x => x.Ip, x => x.Name));
                if (status.Members.Count == 0) continue;
                foreach (var m in status.Members) members[m] = "healthy";
                leader = status.Leader;
                break; // one member's view of the cluster is enough
            }
            catch (Exception e) when (e is DockerApiException or JsonException or KeyNotFoundException or InvalidOperationException) { }
        }
        return new ControlPlaneHealth(
            [.. nodes.Select((n, i) => new ControlPlaneNodeHealth(n.Name, api[i], members.GetValueOrDefault(n.Name, n.Running ? "unreachable" : "down")))],
            leader);
    }
}
