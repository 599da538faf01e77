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

    /// <summary>The last attempt's client port (bound before the SYN leaves), so the wire capture finds that attempt's handshake.</summary>
    public int? LastLocalPort { get; private set; }

    public async Task<string?> AttemptAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, LingerState = new LingerOption(true, 0) };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Any, 0));
            LastLocalPort = (socket.LocalEndPoint as IPEndPoint)?.Port;
            await socket.ConnectAsync(new IPEndPoint(address, port), cts.Token).ConfigureAwait(false);
            return null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { return "timeout"; }
        catch (SocketException e) { return e.SocketErrorCode switch { SocketError.ConnectionRefused => "refused", SocketError.HostUnreachable => "unreachable", _ => e.SocketErrorCode.ToString() }; }
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
    private readonly HttpClient _http;
    private readonly Uri _uri;

    public ReadyzProbe(string name, Uri baseUri, X509Certificate2Collection clusterCa)
    {
        Name = name;
        _uri = new Uri(baseUri, "/readyz");
        Target = _uri.ToString();
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(1),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            MaxConnectionsPerServer = 1,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, cert, _, errors) => TrustedByClusterCa(cert, errors, clusterCa) },
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public string Name { get; }
    public string Target { get; }

    public async Task<string?> AttemptAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            using var response = await _http.GetAsync(_uri, cts.Token).ConfigureAwait(false);
            var body = (await response.Content.ReadAsStringAsync(cts.Token).ConfigureAwait(false)).Trim();
            return response.StatusCode == HttpStatusCode.OK && body == "ok" ? null : $"HTTP {(int)response.StatusCode}";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { return "timeout"; }
        catch (HttpRequestException e) { return ProbeErrors.Describe(e); }
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

    private readonly HttpClient _http;
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
        var ca = config.SslCaCerts ?? [];
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(1),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            MaxConnectionsPerServer = 1,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, cert, _, errors) => ReadyzProbe.TrustedByClusterCa(cert, errors, ca) },
        };
        if (ClientCertificate(config) is { } cert) handler.SslOptions.ClientCertificates = [cert];
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        if (!string.IsNullOrEmpty(config.AccessToken))
            _http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", config.AccessToken);
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

    public async Task<string?> AttemptAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var body = System.Text.Json.JsonSerializer.Serialize(new
        {
            apiVersion = "v1",
            kind = "ConfigMap",
            metadata = new { name = ConfigMapName, @namespace = "default" },
            data = new { written = DateTimeOffset.UtcNow.ToString("O") },
        });
        try
        {
            using (var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"))
            using (var replaced = await _http.PutAsync(_item, content, cts.Token).ConfigureAwait(false))
            {
                if (replaced.StatusCode == HttpStatusCode.OK) return null;
                if (replaced.StatusCode != HttpStatusCode.NotFound) return $"HTTP {(int)replaced.StatusCode}";
            }
            // Not there yet (first run on this lab): create it within the same attempt.
            using var create = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
            using var created = await _http.PostAsync(_collection, create, cts.Token).ConfigureAwait(false);
            return created.StatusCode == HttpStatusCode.Created ? null : $"HTTP {(int)created.StatusCode}";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { return "timeout"; }
        catch (HttpRequestException e) { return ProbeErrors.Describe(e); }
    }

    public void Dispose() => _http.Dispose();
}

internal static class ProbeErrors
{
    public static string Describe(HttpRequestException e) =>
        e.InnerException is SocketException s ? s.SocketErrorCode switch { SocketError.ConnectionRefused => "refused", SocketError.ConnectionReset => "reset", _ => s.SocketErrorCode.ToString() }
        : e.HttpRequestError != HttpRequestError.Unknown ? e.HttpRequestError.ToString()
        : e.GetBaseException().Message;
}

/// <summary>
/// Runs one probe on a fixed schedule (start of attempt n = start + n x interval, slots missed while an
/// attempt hung are skipped) and records every attempt on the run's monotonic clock.
/// </summary>
public sealed class ProbeLoop(IProbe probe, TimeSpan interval, TimeSpan timeout, RunClock clock, string scenario)
{
    private readonly List<ProbeSample> _samples = new(4096);

    public IProbe Probe { get; } = probe;
    public TimeSpan Interval { get; } = interval;
    public TimeSpan Timeout { get; } = timeout;

    /// <summary>A copy of the samples so far (attempt start order).</summary>
    public IReadOnlyList<ProbeSample> Samples
    {
        get { lock (_samples) return [.. _samples]; }
    }

    /// <summary>The latest attempt, or null before the first.</summary>
    public ProbeSample? Last
    {
        get { lock (_samples) return _samples.Count == 0 ? null : _samples[^1]; }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var origin = clock.Now;
        var slot = 0L;
        var tags = new TagList { { "probe", Probe.Name }, { "scenario", scenario } };
        while (!cancellationToken.IsCancellationRequested)
        {
            var t = clock.Now;
            var watch = Stopwatch.StartNew();
            string? error;
            try
            {
                error = await Probe.AttemptAsync(Timeout, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { break; }
            catch (Exception e) { error = e.GetType().Name + ": " + e.Message; }
            var ms = watch.Elapsed.TotalMilliseconds;
            var port = Probe is TcpConnectProbe tcp ? tcp.LastLocalPort : null;
            lock (_samples) _samples.Add(new ProbeSample(Math.Round(t, 6), Math.Round(ms, 3), error is null, error, port));
            if (error is null)
            {
                ChaosTelemetry.ProbeSuccesses.Add(1, tags);
                ChaosTelemetry.ProbeLatency.Record(ms, tags);
            }
            else ChaosTelemetry.ProbeFailures.Add(1, tags);

            // Next slot on the fixed grid; skip the slots an attempt overran.
            var now = clock.Now;
            slot = Math.Max(slot + 1, (long)Math.Floor((now - origin) / Interval.TotalSeconds) + 1);
            var wait = origin + slot * Interval.TotalSeconds - now;
            if (wait > 0)
            {
                try { await Task.Delay(TimeSpan.FromSeconds(wait), cancellationToken).ConfigureAwait(false); }
                catch (OperationCanceledException) { break; }
            }
        }
    }
}
