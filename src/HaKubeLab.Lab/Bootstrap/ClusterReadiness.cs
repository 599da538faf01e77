using System.Text.Json;
using k8s;

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
            // Read as JSON documents, not KubernetesClient's typed lists: the first V1PodList deserialization builds System.Text.Json
            // metadata for the whole pod type graph, half a second of CPU inside a chaos run's measured window (perf).
            using var nodes = await GetJsonAsync(client, "/api/v1/nodes", cancellationToken).ConfigureAwait(false);
            var names = new List<string>();
            var ready = new List<string>();
            foreach (var node in Items(nodes))
            {
                var name = Text(node, "metadata", "name");
                if (name is null) continue;
                names.Add(name);
                if (node.TryGetProperty("status", out var status) && status.TryGetProperty("conditions", out var conditions) && conditions.ValueKind == JsonValueKind.Array
                    && conditions.EnumerateArray().Any(c => Text(c, "type") == "Ready" && Text(c, "status") == "True"))
                    ready.Add(name);
            }
            names.Sort(StringComparer.Ordinal);
            ready.Sort(StringComparer.Ordinal);
            using var pods = await GetJsonAsync(client, "/api/v1/namespaces/kube-system/pods", cancellationToken).ConfigureAwait(false);
            List<string> Running(string component) => [.. Items(pods)
                .Where(p => Text(p, "metadata", "labels", "component") == component && Text(p, "status", "phase") == "Running")
                .Select(p => Text(p, "spec", "nodeName") ?? "").OrderBy(n => n, StringComparer.Ordinal)];
            var readyz = await ReadyzAsync(client, cancellationToken).ConfigureAwait(false);
            var write = await WriteAsync(client, cancellationToken).ConfigureAwait(false);
            return new ReadinessReport(names, ready, Running("kube-apiserver"), Running("etcd"), readyz, write, null);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new ReadinessReport([], [], [], [], "", false, e.GetBaseException().Message);
        }
    }

    private static async Task<JsonDocument> GetJsonAsync(IKubernetes client, string path, CancellationToken cancellationToken)
    {
        var k = (Kubernetes)client;
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(k.BaseUri, path));
        if (k.Credentials is { } credentials) await credentials.ProcessHttpRequestAsync(request, cancellationToken).ConfigureAwait(false);
        using var response = await k.HttpClient.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"GET {path}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        return await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private static IEnumerable<JsonElement> Items(JsonDocument list) =>
        list.RootElement.TryGetProperty("items", out var items) && items.ValueKind == JsonValueKind.Array ? items.EnumerateArray() : [];

    /// <summary>The string at <paramref name="path"/> below <paramref name="element"/>, or null.</summary>
    private static string? Text(JsonElement element, params string[] path)
    {
        foreach (var name in path)
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element)) return null;
        return element.ValueKind == JsonValueKind.String ? element.GetString() : null;
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
        // Plain JSON over the client's HttpClient (credentials and CA included), for the reason given in CheckAsync.
        var k = (Kubernetes)client;
        var body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["apiVersion"] = "v1",
            ["kind"] = "ConfigMap",
            ["metadata"] = new Dictionary<string, string> { ["name"] = "hakubelab-probe", ["namespace"] = "default" },
            ["data"] = new Dictionary<string, string> { ["written"] = DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture) },
        });
        const string collection = "/api/v1/namespaces/default/configmaps";
        using (var put = await SendJsonAsync(k, HttpMethod.Put, collection + "/hakubelab-probe", body, cancellationToken).ConfigureAwait(false))
        {
            if (put.StatusCode != System.Net.HttpStatusCode.NotFound) return Succeeded(put, "PUT");
        }
        using var post = await SendJsonAsync(k, HttpMethod.Post, collection, body, cancellationToken).ConfigureAwait(false);
        return Succeeded(post, "POST");
    }

    private static async Task<HttpResponseMessage> SendJsonAsync(Kubernetes k, HttpMethod method, string path, string body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, new Uri(k.BaseUri, path)) { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
        if (k.Credentials is { } credentials) await credentials.ProcessHttpRequestAsync(request, ct).ConfigureAwait(false);
        return await k.HttpClient.SendAsync(request, ct).ConfigureAwait(false);
    }

    private static bool Succeeded(HttpResponseMessage response, string what) => response.IsSuccessStatusCode
        ? true
        : throw new HttpRequestException($"{what} ConfigMap default/hakubelab-probe: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
}
