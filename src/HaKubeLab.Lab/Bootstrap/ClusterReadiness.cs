using k8s;
using k8s.Models;

namespace HaKubeLab.Bootstrap;

/// <summary>What the API says about the cluster, asked through the VIP.</summary>
/// <param name="ReadyNodes">Nodes whose Ready condition is True.</param>
/// <param name="ApiServers">Masters running a kube-apiserver pod.</param>
/// <param name="EtcdMembers">Masters running an etcd pod.</param>
/// <param name="Readyz">The body of /readyz ("ok" when ready).</param>
/// <param name="WriteSucceeded">A ConfigMap write went through.</param>
public sealed record ReadinessReport(
    IReadOnlyList<string> Nodes,
    IReadOnlyList<string> ReadyNodes,
    IReadOnlyList<string> ApiServers,
    IReadOnlyList<string> EtcdMembers,
    string Readyz,
    bool WriteSucceeded,
    string? Problem)
{
    /// <param name="stackedEtcd">Whether each master runs an etcd pod (stacked, the runbook's); with external etcd they run none.</param>
    public bool IsReady(IReadOnlyCollection<string> masters, bool stackedEtcd = true) =>
        Problem is null && Readyz == "ok" && WriteSucceeded
        && masters.All(ReadyNodes.Contains) && masters.All(ApiServers.Contains) && (!stackedEtcd || masters.All(EtcdMembers.Contains));

    public override string ToString() =>
        $"nodes Ready {ReadyNodes.Count}/{Nodes.Count} [{string.Join(",", ReadyNodes)}], apiservers [{string.Join(",", ApiServers)}], etcd [{string.Join(",", EtcdMembers)}], /readyz {Readyz}, write {(WriteSucceeded ? "ok" : "failed")}{(Problem is null ? "" : $", problem: {Problem}")}";
}

/// <summary>Readiness by asking the real thing: the Kubernetes API through the VIP (KubernetesClient).</summary>
public static class ClusterReadiness
{
    public static IKubernetes Client(string kubeconfigPath, TimeSpan? timeout = null)
    {
        var config = KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfigPath);
        config.HttpClientTimeout = timeout ?? TimeSpan.FromSeconds(10);
        return new Kubernetes(config);
    }

    public static async Task<ReadinessReport> CheckAsync(IKubernetes client, CancellationToken cancellationToken)
    {
        try
        {
            var nodes = await client.CoreV1.ListNodeAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            var names = nodes.Items.Select(n => n.Metadata.Name).OrderBy(n => n, StringComparer.Ordinal).ToList();
            var ready = nodes.Items.Where(n => n.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true)
                .Select(n => n.Metadata.Name).OrderBy(n => n, StringComparer.Ordinal).ToList();
            var pods = await client.CoreV1.ListNamespacedPodAsync("kube-system", cancellationToken: cancellationToken).ConfigureAwait(false);
            List<string> Running(string component) => [.. pods.Items
                .Where(p => p.Metadata.Labels?.TryGetValue("component", out var c) == true && c == component && p.Status?.Phase == "Running")
                .Select(p => p.Spec.NodeName).OrderBy(n => n, StringComparer.Ordinal)];
            var readyz = await ReadyzAsync(client, cancellationToken).ConfigureAwait(false);
            var write = await WriteAsync(client, cancellationToken).ConfigureAwait(false);
            return new ReadinessReport(names, ready, Running("kube-apiserver"), Running("etcd"), readyz, write, null);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new ReadinessReport([], [], [], [], "", false, e.GetBaseException().Message);
        }
    }

    public static async Task<string> ReadyzAsync(IKubernetes client, CancellationToken cancellationToken)
    {
        var k = (Kubernetes)client;
        using var response = await k.HttpClient.GetAsync(new Uri(k.BaseUri, "/readyz"), cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)).Trim();
    }

    /// <summary>Creates or updates the ConfigMap default/hakubelab-probe: a write through the VIP that etcd must commit.</summary>
    public static async Task<bool> WriteAsync(IKubernetes client, CancellationToken cancellationToken)
    {
        var body = new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = "hakubelab-probe", NamespaceProperty = "default" },
            Data = new Dictionary<string, string> { ["written"] = DateTimeOffset.UtcNow.ToString("O") },
        };
        try
        {
            await client.CoreV1.ReplaceNamespacedConfigMapAsync(body, "hakubelab-probe", "default", cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            await client.CoreV1.CreateNamespacedConfigMapAsync(body, "default", cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        return true;
    }
}
