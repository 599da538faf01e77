using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Probes;

namespace HaKubeLab.Tests.Unit;

/// <summary>The probes' own transport on loopback: HTTP/1.1 answers read in pieces, TCP connects, HTTPS over kept-alive connections.</summary>
public class ChaosProbeTransportTests
{
    private static Http1Response Read(params string[] pieces)
    {
        var answer = new Http1Response();
        foreach (var piece in pieces) answer.Feed(Encoding.ASCII.GetBytes(piece));
        return answer;
    }

    [Fact]
    public void An_answer_with_a_length_is_complete_only_when_its_body_is_in()
    {
        var answer = new Http1Response();
        Assert.False(answer.Feed("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 2\r\n"u8));
        Assert.False(answer.Feed("\r\no"u8));
        Assert.True(answer.Feed("k"u8));
        Assert.Equal(200, answer.Status);
        Assert.Equal("ok", answer.Body);
        Assert.True(answer.KeepAlive);
    }

    [Fact]
    public void A_chunked_answer_is_decoded_across_pieces()
    {
        var answer = Read("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n", "5\r\n{\"a", "\"}\r\n", "1;ext=1\r\n\n\r\n0\r\n");
        Assert.False(answer.Complete);
        Assert.True(answer.Feed("\r\n"u8));
        Assert.Equal(201, answer.Status);
        Assert.Equal("{\"a\"}\n", answer.Body);
        Assert.Throws<FormatException>(() => Read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\"}\r\n"));
        Assert.Throws<FormatException>(() => Read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"));
    }

    [Fact]
    public void Connection_close_and_an_answer_without_length_end_the_connection()
    {
        var closing = Read("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        Assert.True(closing.Complete);
        Assert.False(closing.KeepAlive);

        var unbounded = Read("HTTP/1.1 200 OK\r\n\r\nok");
        Assert.False(unbounded.Complete);
        Assert.True(unbounded.EndOfStream());
        Assert.Equal("ok", unbounded.Body);
        Assert.False(unbounded.KeepAlive);

        var cut = Read("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok");
        Assert.False(cut.EndOfStream());
    }

    [Fact]
    public void An_interim_answer_is_skipped_and_garbage_is_refused()
    {
        var answer = Read("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        Assert.True(answer.Complete);
        Assert.Equal(200, answer.Status);
        Assert.Throws<FormatException>(() => Read("SSH-2.0-OpenSSH_9.2\r\n\r\n"));
    }

    [Fact]
    public void A_request_carries_its_host_credentials_and_body_length()
    {
        var put = Encoding.UTF8.GetString(Http1.Request("PUT", "/api/v1/x", "192.168.100.190:6443", "t0k", "{\"é\":1}"));
        Assert.StartsWith("PUT /api/v1/x HTTP/1.1\r\nHost: 192.168.100.190:6443\r\n", put);
        Assert.Contains("\r\nAuthorization: Bearer t0k\r\n", put);
        Assert.Contains("\r\nContent-Length: 8\r\n", put); // bytes, not characters
        Assert.EndsWith("\r\n\r\n{\"é\":1}", put);
        var get = Encoding.ASCII.GetString(Http1.Request("GET", "/readyz", "10.0.0.1:6443", null, null));
        Assert.DoesNotContain("Authorization", get);
        Assert.DoesNotContain("Content-Length", get);
        Assert.EndsWith("\r\n\r\n", get);
    }

    /// <summary>
    /// Runs the probe every <paramref name="intervalMs"/> until it succeeds steadily (a cold test process takes a while for its first TLS handshakes),
    /// then calls <paramref name="warm"/> and returns the next <paramref name="attempts"/> attempts.
    /// </summary>
    private static async Task<IReadOnlyList<ProbeSample>> RunAsync(IProbe probe, int attempts, TimeSpan? timeout = null, Action? warm = null, bool mustSucceed = true, int intervalMs = 50)
    {
        var clock = new RunClock();
        var loop = new ProbeLoop(probe, TimeSpan.FromMilliseconds(intervalMs), timeout ?? TimeSpan.FromSeconds(2), clock, "test");
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var running = loop.RunAsync(stop.Token);
        // Warm: five successes in a row (until then overlapping attempts open connections of their own, and this process serves them too).
        while (mustSucceed && !(loop.Samples is { Count: >= 5 } s && s.TakeLast(5).All(x => x.Ok)) && !stop.IsCancellationRequested) await Task.Delay(10);
        Assert.False(stop.IsCancellationRequested, "the probe never succeeded on loopback");
        warm?.Invoke();
        var from = loop.Samples.Count;
        while (loop.Samples.Count < from + attempts && !stop.IsCancellationRequested) await Task.Delay(10);
        await stop.CancelAsync();
        await running;
        return [.. loop.Samples.Skip(from)];
    }

    [Fact]
    public async Task A_tcp_connect_succeeds_on_a_listener_and_is_refused_on_a_closed_port()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(512);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var open = await RunAsync(new TcpConnectProbe("open", IPAddress.Loopback, port), 5);
        Assert.All(open, s => Assert.True(s.Ok, s.Error));
        Assert.All(open, s => Assert.NotNull(s.LocalPort));
        Assert.Equal(open.Count, open.Select(s => s.LocalPort).Distinct().Count());

        int closedPort;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            closedPort = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }
        var closed = await RunAsync(new TcpConnectProbe("closed", IPAddress.Loopback, closedPort), 3, mustSucceed: false);
        Assert.All(closed, s => Assert.Equal("refused", s.Error));
    }

    /// <summary>A TLS server on loopback answering every request with <paramref name="answer"/>; counts connections and requests.</summary>
    private sealed class LoopbackHttps : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;
        private int _connections, _requests, _hang;

        public LoopbackHttps(Func<int, string> answer)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=hakubelab-test-ca", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
            using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
            Certificate = X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pfx), null);
            Ca = [X509CertificateLoader.LoadCertificate(created.RawData)];
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _accepting = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    Interlocked.Increment(ref _connections);
                    _ = Task.Run(() => ServeAsync(client, answer));
                }
            });
        }

        public X509Certificate2 Certificate { get; }
        public X509Certificate2Collection Ca { get; }
        public int Port { get; }
        public int Connections => Volatile.Read(ref _connections);
        public int Requests => Volatile.Read(ref _requests);

        /// <summary>The next <paramref name="requests"/> requests get no answer.</summary>
        public void HangNext(int requests) => Volatile.Write(ref _hang, requests);

        private async Task ServeAsync(TcpClient client, Func<int, string> answer)
        {
            using var _ = client;
            await using var tls = new SslStream(client.GetStream());
            try
            {
                await tls.AuthenticateAsServerAsync(Certificate);
                var buffer = new byte[8192];
                var pending = "";
                while (true)
                {
                    var n = await tls.ReadAsync(buffer, _stop.Token);
                    if (n == 0) return;
                    pending += Encoding.ASCII.GetString(buffer, 0, n);
                    int end;
                    while ((end = pending.IndexOf("\r\n\r\n", StringComparison.Ordinal)) >= 0)
                    {
                        pending = pending[(end + 4)..];
                        var text = answer(Interlocked.Increment(ref _requests));
                        if (Interlocked.Decrement(ref _hang) >= 0) continue; // this one is never answered
                        await tls.WriteAsync(Encoding.ASCII.GetBytes(text), _stop.Token);
                        if (text.Contains("Connection: close", StringComparison.Ordinal)) return;
                    }
                }
            }
            catch (Exception) { /* the probe dropped the connection */ }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            try { await _accepting; } catch (Exception) { /* stopped */ }
            Certificate.Dispose();
        }
    }

    [Fact]
    public async Task Readyz_keeps_one_connection_alive_and_judges_status_and_body()
    {
        await using var server = new LoopbackHttps(i => i % 5 == 0 ? "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n" : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        using var probe = new ReadyzProbe("readyz", new Uri($"https://127.0.0.1:{server.Port}"), server.Ca);
        var before = 0;
        var samples = await RunAsync(probe, 30, warm: () => before = server.Connections);
        var opened = server.Connections - before;
        Console.WriteLine($"{samples.Count} attempts over {opened} new connections");
        Assert.True(samples.Count >= 30);
        // An HTTP error is an answer: the connection stays.
        Assert.True(opened <= samples.Count / 3, $"{opened} new connections for {samples.Count} attempts: kept-alive connections are not reused");
        Assert.Contains(samples, s => s.Error == "HTTP 503");
        Assert.Equal(samples.Count - samples.Count(s => s.Error == "HTTP 503"), samples.Count(s => s.Ok));
    }

    [Fact]
    public async Task A_server_that_closes_after_each_answer_gets_a_new_connection_each_time()
    {
        await using var server = new LoopbackHttps(_ => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nok\r\n0\r\n\r\n");
        using var probe = new ReadyzProbe("readyz", new Uri($"https://127.0.0.1:{server.Port}"), server.Ca);
        var before = 0;
        var samples = await RunAsync(probe, 5, warm: () => before = server.Connections);
        Assert.All(samples, s => Assert.True(s.Ok, s.Error));
        Assert.True(server.Connections - before >= samples.Count - 1, $"{server.Connections - before} new connections for {samples.Count} attempts");
    }

    [Fact]
    public async Task A_certificate_outside_the_cluster_ca_fails_the_attempt()
    {
        await using var server = new LoopbackHttps(_ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        await using var other = new LoopbackHttps(_ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        using var probe = new ReadyzProbe("readyz", new Uri($"https://127.0.0.1:{server.Port}"), other.Ca);
        var samples = await RunAsync(probe, 2, mustSucceed: false);
        Assert.All(samples, s => Assert.StartsWith("TLS: ", s.Error));
    }

    [Fact]
    public async Task A_server_that_never_answers_times_out_and_its_connection_is_not_reused()
    {
        await using var server = new LoopbackHttps(_ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        using var probe = new ReadyzProbe("readyz", new Uri($"https://127.0.0.1:{server.Port}"), server.Ca);
        var connectionsBefore = 0;
        // While the hung ones wait, each slot opens a connection of its own.
        var samples = await RunAsync(probe, 20, TimeSpan.FromMilliseconds(300), () => { connectionsBefore = server.Connections; server.HangNext(2); });
        var hung = samples.Where(s => !s.Ok).ToList();
        Assert.True(hung.Count >= 2, $"{hung.Count} failed attempts; the two unanswered requests must fail");
        Assert.All(hung, s => Assert.Equal("timeout", s.Error));
        Assert.All(hung, s => Assert.InRange(s.LatencyMs, 290, 3000));
        Assert.All(samples.TakeLast(5), s => Assert.True(s.Ok, s.Error));
        Assert.True(server.Connections - connectionsBefore >= 2, $"{server.Connections - connectionsBefore} new connections: each timed-out connection is dropped, not reused");
    }
}
