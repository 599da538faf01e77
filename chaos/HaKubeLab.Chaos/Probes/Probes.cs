using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Telemetry;
using k8s;

namespace HaKubeLab.Chaos.Probes;

/// <summary>One kind of probe: a single attempt, judged success or failure. The <see cref="ProbeLoop"/> repeats it.</summary>
public interface IProbe : IDisposable
{
    /// <summary>The probe's name (<see cref="Scenarios.ProbeNames"/>).</summary>
    string Name { get; }

    /// <summary>What it talks to, e.g. <c>192.168.100.190:9443</c>; always an address of the lab or loopback.</summary>
    string Target { get; }

    /// <summary>One attempt; returns null on success or the reason it failed. Must give up by <paramref name="timeout"/>.</summary>
    Task<string?> AttemptAsync(TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>TCP connect to an address of the lab; success is an accepted connection, closed at once (RST, no TIME_WAIT piling up).</summary>
public sealed class TcpConnectProbe(string name, IPAddress address, int port) : IProbe
{
    public string Name { get; } = name;
    public string Target { get; } = $"{address}:{port}";

    public async Task<string?> AttemptAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        (await AttemptWithPortAsync(timeout, cancellationToken).ConfigureAwait(false)).Error;

    /// <summary>One attempt, with its client port (bound before the SYN leaves), so the wire capture finds that attempt's handshake.</summary>
    public async Task<(string? Error, int? LocalPort)> AttemptWithPortAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, LingerState = new LingerOption(true, 0) };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        int? localPort = null;
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Any, 0));
            localPort = (socket.LocalEndPoint as IPEndPoint)?.Port;
            await socket.ConnectAsync(new IPEndPoint(address, port), cts.Token).ConfigureAwait(false);
            return (null, localPort);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { return ("timeout", localPort); }
        catch (SocketException e) { return (e.SocketErrorCode switch { SocketError.ConnectionRefused => "refused", SocketError.HostUnreachable => "unreachable", _ => e.SocketErrorCode.ToString() }, localPort); }
    }

    public void Dispose() { }
}

/// <summary>
/// HTTPS GET of an apiserver's /readyz (public in Kubernetes: no credentials). The connection is kept
/// alive between attempts as any client would, so a probe costs one request, not a TLS handshake;
/// a connection that breaks fails the attempt and the next one connects anew. The server certificate
/// must chain to the lab's cluster CA (from the kubeconfig).
/// </summary>
public sealed class ReadyzProbe : IProbe
{
    private readonly ProbeHttpClients _http;
    private readonly Uri _uri;

    public ReadyzProbe(string name, Uri baseUri, X509Certificate2Collection clusterCa)
    {
        Name = name;
        _uri = new Uri(baseUri, "/readyz");
        Target = _uri.ToString();
        _http = new ProbeHttpClients(clusterCa, clientCertificate: null, bearerToken: null);
    }

    public string Name { get; }
    public string Target { get; }

    public async Task<string?> AttemptAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var client = _http.Rent();
        try
        {
            using var response = await client.GetAsync(_uri, cts.Token).ConfigureAwait(false);
            var body = (await response.Content.ReadAsStringAsync(cts.Token).ConfigureAwait(false)).Trim();
            _http.Return(client);
            return response.StatusCode == HttpStatusCode.OK && body == "ok" ? null : $"HTTP {(int)response.StatusCode}";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { ProbeHttpClients.Abandon(client); return "timeout"; }
        catch (HttpRequestException e) { ProbeHttpClients.Abandon(client); return ProbeErrors.Describe(e); }
        catch (OperationCanceledException) { ProbeHttpClients.Abandon(client); throw; }
    }

    /// <summary>Accepts a chain to the cluster CA; the name may differ (the lab's addresses are in the SANs, a VIP through haproxy may not be).</summary>
    internal static bool TrustedByClusterCa(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2Collection ca)
    {
        if (errors == SslPolicyErrors.None) return true;
        if (certificate is null || ca.Count == 0) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var cert = new X509Certificate2(certificate);
        return chain.Build(cert);
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>
/// An API write through the VIP: replace (or create) the ConfigMap default/hakubelab-chaos-probe with the
/// attempt's time, which etcd must commit. Plain HTTPS with the kubeconfig's credentials (client certificate
/// or token) and a kept-alive connection: KubernetesClient's typed client costs three times the CPU per write.
/// </summary>
public sealed class ApiWriteProbe : IProbe
{
    /// <summary>The ConfigMap the probe writes.</summary>
    public const string ConfigMapName = "hakubelab-chaos-probe";

    private readonly ProbeHttpClients _http;
    private readonly Uri _item;
    private readonly Uri _collection;

    public ApiWriteProbe(string name, KubernetesClientConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Name = name;
        var server = new Uri(config.Host);
        _collection = new Uri(server, "/api/v1/namespaces/default/configmaps");
        _item = new Uri(server, $"/api/v1/namespaces/default/configmaps/{ConfigMapName}");
        Target = $"{server.Authority} (ConfigMap default/{ConfigMapName})";
        _http = new ProbeHttpClients(config.SslCaCerts ?? [], ClientCertificate(config), string.IsNullOrEmpty(config.AccessToken) ? null : config.AccessToken);
    }

    public string Name { get; }
    public string Target { get; }

    /// <summary>The kubeconfig's client certificate (kubeadm's admin.conf embeds one), or null.</summary>
    private static X509Certificate2? ClientCertificate(KubernetesClientConfiguration config)
    {
        static string Pem(string base64) => System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(base64));
        if (!string.IsNullOrEmpty(config.ClientCertificateData) && !string.IsNullOrEmpty(config.ClientCertificateKeyData))
            return X509Certificate2.CreateFromPem(Pem(config.ClientCertificateData), Pem(config.ClientCertificateKeyData));
        if (!string.IsNullOrEmpty(config.ClientCertificateFilePath) && !string.IsNullOrEmpty(config.ClientKeyFilePath))
            return X509Certificate2.CreateFromPemFile(config.ClientCertificateFilePath, config.ClientKeyFilePath);
        return null;
    }

    /// <summary>
    /// The ConfigMap the attempt writes, with the attempt's time. Written out, not serialized: reflection-based JSON
    /// serialization was 1.5 % of the runner's CPU with the write every 50 ms. The round-trip ("O") time format has no
    /// character JSON would escape.
    /// </summary>
    public static string Body(DateTimeOffset written) =>
        $$$"""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"{{{ConfigMapName}}}","namespace":"default"},"data":{"written":"{{{written.ToString("O", System.Globalization.CultureInfo.InvariantCulture)}}}"}}""";

    public async Task<string?> AttemptAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var body = Body(DateTimeOffset.UtcNow);
        var client = _http.Rent();
        try
        {
            using (var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"))
            using (var replaced = await client.PutAsync(_item, content, cts.Token).ConfigureAwait(false))
            {
                if (replaced.StatusCode != HttpStatusCode.NotFound)
                {
                    _http.Return(client);
                    return replaced.StatusCode == HttpStatusCode.OK ? null : $"HTTP {(int)replaced.StatusCode}";
                }
            }
            // Not there yet (first run on this lab): create it within the same attempt.
            using var create = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
            using var created = await client.PostAsync(_collection, create, cts.Token).ConfigureAwait(false);
            _http.Return(client);
            return created.StatusCode == HttpStatusCode.Created ? null : $"HTTP {(int)created.StatusCode}";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { ProbeHttpClients.Abandon(client); return "timeout"; }
        catch (HttpRequestException e) { ProbeHttpClients.Abandon(client); return ProbeErrors.Describe(e); }
        catch (OperationCanceledException) { ProbeHttpClients.Abandon(client); throw; }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>
/// The HTTPS clients of one API probe, each with one kept-alive connection trusted by the cluster CA. An attempt rents
/// a client and gives it back when the connection worked (any HTTP answer); after a failure it drops that client, with
/// its connection and any connection attempt still in flight, so the next attempt starts from a fresh SYN.
/// SocketsHttpHandler keeps a connection attempt alive after the request that started it was cancelled and makes later
/// requests wait for it: a SYN sent while the VIP was on the dead node would then hold every later attempt until TCP's
/// first SYN retransmission (1 s), and the probe would measure its own stale connect instead of the API. In steady
/// state attempts do not overlap and one client (one connection) serves them all.
/// </summary>
internal sealed class ProbeHttpClients(X509Certificate2Collection clusterCa, X509Certificate2? clientCertificate, string? bearerToken) : IDisposable
{
    private readonly System.Collections.Concurrent.ConcurrentStack<HttpClient> _idle = new();

    /// <summary>An idle client (the most recently used: its connection is the likeliest to be alive), or a new one.</summary>
    public HttpClient Rent() => _idle.TryPop(out var client) ? client : Create();

    /// <summary>The attempt got an answer over this client's connection: keep it for the next one.</summary>
    public void Return(HttpClient client) => _idle.Push(client);

    /// <summary>The attempt failed: drop the client with its connection and any connection attempt still in flight.</summary>
    public static void Abandon(HttpClient client) => client?.Dispose();

    private HttpClient Create()
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(1),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            MaxConnectionsPerServer = 1,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, cert, _, errors) => ReadyzProbe.TrustedByClusterCa(cert, errors, clusterCa) },
        };
        if (clientCertificate is not null) handler.SslOptions.ClientCertificates = [clientCertificate];
        var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        if (bearerToken is not null) client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearerToken);
        return client;
    }

    public void Dispose()
    {
        while (_idle.TryPop(out var client)) client.Dispose();
    }
}

internal static class ProbeErrors
{
    public static string Describe(HttpRequestException e) =>
        e.InnerException is SocketException s ? s.SocketErrorCode switch { SocketError.ConnectionRefused => "refused", SocketError.ConnectionReset => "reset", _ => s.SocketErrorCode.ToString() }
        : e.HttpRequestError != HttpRequestError.Unknown ? e.HttpRequestError.ToString()
        : e.GetBaseException().Message;
}

/// <summary>
/// Runs one probe on a fixed schedule (attempt n starts at start + n x interval) and records every attempt on the
/// run's monotonic clock. Attempts overlap: a slot starts its attempt even while earlier ones still wait for their
/// timeout (at most <see cref="MaxInFlight"/> at once; beyond that a slot is skipped). So an attempt that hangs
/// because it was sent to a node that just died does not hide the moment the service answers again: the first
/// success after a failover is seen within one interval, not one timeout. In steady state an attempt ends long
/// before the next slot and nothing overlaps.
/// </summary>
public sealed class ProbeLoop(IProbe probe, TimeSpan interval, TimeSpan timeout, RunClock clock, string scenario)
{
    private readonly List<ProbeSample> _samples = new(4096);
    private bool _outOfOrder;

    public IProbe Probe { get; } = probe;
    public TimeSpan Interval { get; } = interval;
    public TimeSpan Timeout { get; } = timeout;

    /// <summary>How many attempts may be in flight at once: enough to start one every slot while earlier ones time out.</summary>
    public int MaxInFlight => Math.Max(1, (int)Math.Ceiling(Timeout.TotalSeconds / Interval.TotalSeconds) + 1);

    /// <summary>A copy of the samples so far, in attempt start order.</summary>
    public IReadOnlyList<ProbeSample> Samples
    {
        get
        {
            lock (_samples)
            {
                // Overlapping attempts finish out of start order only around an outage; keep the list sorted for the analysis.
                if (_outOfOrder)
                {
                    var sorted = _samples.OrderBy(x => x.T).ToList();
                    _samples.Clear();
                    _samples.AddRange(sorted);
                    _outOfOrder = false;
                }
                return [.. _samples];
            }
        }
    }

    /// <summary>The attempt that finished last, or null before the first.</summary>
    public ProbeSample? Last { get; private set; }

    /// <param name="cancellationToken">Stops the loop; attempts in flight are abandoned and not recorded.</param>
    /// <param name="origin">
    /// The grid's start on the run clock (default: now). Loops that share one origin and interval wake together:
    /// one timer wake-up per tick for all of them instead of one each.
    /// </param>
    public async Task RunAsync(CancellationToken cancellationToken, double? origin = null)
    {
        var start = origin ?? clock.Now;
        var slot = 0L;
        var tags = new TagList { { "probe", Probe.Name }, { "scenario", scenario } };
        var inFlight = new List<Task>(MaxInFlight);
        while (!cancellationToken.IsCancellationRequested)
        {
            inFlight.RemoveAll(t => t.IsCompleted);
            if (inFlight.Count < MaxInFlight) inFlight.Add(AttemptAsync(tags, cancellationToken));

            // Next slot on the fixed grid (a slot the loop itself overslept is skipped).
            var now = clock.Now;
            slot = Math.Max(slot + 1, (long)Math.Floor((now - start) / Interval.TotalSeconds) + 1);
            var wait = start + slot * Interval.TotalSeconds - now;
            if (wait > 0)
            {
                try { await Task.Delay(TimeSpan.FromSeconds(wait), cancellationToken).ConfigureAwait(false); }
                catch (OperationCanceledException) { break; }
            }
        }
        await Task.WhenAll(inFlight).ConfigureAwait(false);
    }

    private async Task AttemptAsync(TagList tags, CancellationToken cancellationToken)
    {
        var t = clock.Now;
        var watch = Stopwatch.StartNew();
        string? error;
        int? port = null;
        try
        {
            if (Probe is TcpConnectProbe tcp) (error, port) = await tcp.AttemptWithPortAsync(Timeout, cancellationToken).ConfigureAwait(false);
            else error = await Probe.AttemptAsync(Timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { return; }
        catch (Exception e) { error = e.GetType().Name + ": " + e.Message; }
        var ms = watch.Elapsed.TotalMilliseconds;
        var sample = new ProbeSample(Math.Round(t, 6), Math.Round(ms, 3), error is null, error, port);
        lock (_samples)
        {
            if (_samples.Count > 0 && _samples[^1].T > sample.T) _outOfOrder = true;
            _samples.Add(sample);
            Last = sample;
        }
        if (error is null)
        {
            ChaosTelemetry.ProbeSuccesses.Add(1, tags);
            ChaosTelemetry.ProbeLatency.Record(ms, tags);
        }
        else ChaosTelemetry.ProbeFailures.Add(1, tags);
    }
}
