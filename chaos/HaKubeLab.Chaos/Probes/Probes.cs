using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using k8s;

namespace HaKubeLab.Chaos.Probes;

/// <summary>
/// One kind of probe. <see cref="Start"/> begins one attempt without waiting on the network (what the attempt sends
/// leaves at once); the <see cref="ProbeReactor"/> then waits for its answer together with every other attempt in flight.
/// </summary>
public interface IProbe : IDisposable
{
    /// <summary>The probe's name (<see cref="Scenarios.ProbeNames"/>).</summary>
    string Name { get; }

    /// <summary>What it talks to, e.g. <c>192.168.100.190:9443</c>; always an address of the lab or loopback.</summary>
    string Target { get; }

    /// <summary>
    /// Begins one attempt. <paramref name="wake"/> wakes the reactor: an attempt that waits on something other than its
    /// socket (a TLS handshake on the thread pool) calls it when that is done.
    /// </summary>
    IProbeAttempt Start(Action wake);
}

/// <summary>One attempt in flight, moved on by the <see cref="ProbeReactor"/>'s thread only. Disposing it abandons it.</summary>
public interface IProbeAttempt : IDisposable
{
    /// <summary>The socket (its descriptor) whose readiness moves the attempt on; null while it waits for something else (it then calls wake) or has more to do at once.</summary>
    SafeHandle? Handle { get; }

    /// <summary>Wait until the socket is writable (a connect in progress) rather than readable.</summary>
    bool AwaitsWrite { get; }

    /// <summary>The attempt's client port (bound before its SYN leaves), so the wire capture finds its handshake; null where there is none.</summary>
    int? LocalPort { get; }

    /// <summary>
    /// A moment (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>) at which to move the attempt on even if its socket is not
    /// ready (a connect with a timeout of its own, shorter than the attempt's); null for none.
    /// </summary>
    long? CheckAt => null;

    /// <summary>
    /// Moves the attempt on: called when its socket is ready, and on every turn of the reactor while <see cref="Socket"/> is null.
    /// Returns the outcome once the attempt is over, null while it goes on. Never blocks for long: at most to read the rest of an
    /// answer whose first bytes are in.
    /// </summary>
    ProbeOutcome? Advance();
}

/// <summary>How an attempt ended: <see cref="Error"/> null is success, otherwise why it failed (refused, reset, HTTP 503 ...).</summary>
/// <param name="Answer">What the answer said, for a look that reads it (a lease list, an etcd member's status); null for probes.</param>
public readonly record struct ProbeOutcome(string? Error, object? Answer = null)
{
    public static ProbeOutcome Success => new(null);
}

/// <summary>TCP connect to an address of the lab; success is an accepted connection, closed at once (RST, no TIME_WAIT piling up).</summary>
public sealed class TcpConnectProbe(string name, IPAddress address, int port) : IProbe
{
    private readonly IPEndPoint _endpoint = address.AddressFamily == AddressFamily.InterNetwork ? new(address, port)
        : throw new ArgumentException($"the TCP probe connects to IPv4 addresses (the lab's subnet is IPv4), not {address}", nameof(address));

    public string Name { get; } = name;
    public string Target { get; } = $"{address}:{port}";

    public IProbeAttempt Start(Action wake) => new Attempt(_endpoint);

    public void Dispose() { }

    /// <summary>
    /// A non-blocking connect: the SYN leaves in the constructor, the reactor waits for the socket to become writable; closed with
    /// a reset (linger 0), so no TIME_WAIT piles up at 40 connects a second. Made with system calls of its own (<see cref="RawTcp"/>)
    /// rather than a <see cref="System.Net.Sockets.Socket"/>: 25 µs of CPU a connect against 70 (measured against the VIP), most of
    /// the difference the exception .NET throws for a connect in progress, an explicit bind and option calls.
    /// </summary>
    private sealed class Attempt : IProbeAttempt
    {
        private readonly RawTcp.Handle _handle;
        private ProbeOutcome? _early;

        public Attempt(IPEndPoint endpoint)
        {
            _handle = RawTcp.Connect(endpoint, out var error);
            if (error is { } e) _early = new(ProbeErrors.Describe(e));
            else if (!_handle.IsInvalid) LocalPort = RawTcp.LocalPort(_handle);
        }

        public SafeHandle? Handle => _early is null ? _handle : null;
        public bool AwaitsWrite => true;
        public int? LocalPort { get; }

        public ProbeOutcome? Advance()
        {
            if (_early is { } early) return early;
            return RawTcp.ConnectResult(_handle) is { } error ? new(ProbeErrors.Describe(error)) : ProbeOutcome.Success;
        }

        public void Dispose() => _handle.Dispose();
    }
}

/// <summary>
/// The TCP probe's connect in plain Linux system calls: socket(2) non-blocking with a zero linger, connect(2) (the kernel picks
/// the client port), getsockname(2) for that port, SO_ERROR for the result, close(2).
/// </summary>
internal static unsafe class RawTcp
{
    /// <summary>A socket descriptor, closed once.</summary>
    internal sealed class Handle() : SafeHandle(-1, ownsHandle: true)
    {
        public Handle(int fd) : this() => SetHandle(fd);

        public override bool IsInvalid => handle == -1;

        protected override bool ReleaseHandle() => CloseDescriptor((int)handle) == 0;
    }

    private const int AfInet = 2, SockStream = 1, SockNonBlock = 0x800, SockCloexec = 0x80000, IpProtoTcp = 6;
    private const int SolSocket = 1, SoError = 4, SoLinger = 13;
    private const int EInProgress = 115;

    /// <summary>Starts a connect to <paramref name="endpoint"/> (IPv4 only); <paramref name="error"/> says why it failed at once, else null (the SYN is out).</summary>
    public static Handle Connect(IPEndPoint endpoint, out SocketError? error)
    {
        var fd = Socket(AfInet, SockStream | SockNonBlock | SockCloexec, IpProtoTcp);
        if (fd < 0) throw new SocketException((int)FromErrno(Marshal.GetLastPInvokeError()));
        var handle = new Handle(fd);
        var linger = stackalloc int[2] { 1, 0 };
        SetSockOpt(fd, SolSocket, SoLinger, linger, 8);
        var address = stackalloc byte[16];
        address[0] = AfInet;
        address[2] = (byte)(endpoint.Port >> 8);
        address[3] = (byte)endpoint.Port;
        endpoint.Address.TryWriteBytes(new Span<byte>(address + 4, 4), out _);
        error = ConnectNative(fd, address, 16) == 0 || Marshal.GetLastPInvokeError() == EInProgress ? null : FromErrno(Marshal.GetLastPInvokeError());
        return handle;
    }

    /// <summary>The client port the kernel gave the connect.</summary>
    public static int? LocalPort(Handle handle)
    {
        var address = stackalloc byte[16];
        var length = 16;
        return GetSockName((int)handle.DangerousGetHandle(), address, &length) == 0 ? (address[2] << 8) | address[3] : null;
    }

    /// <summary>How the connect ended, once the socket is writable: null when it is connected.</summary>
    public static SocketError? ConnectResult(Handle handle)
    {
        int error = 0, length = 4;
        if (GetSockOpt((int)handle.DangerousGetHandle(), SolSocket, SoError, &error, &length) != 0) error = Marshal.GetLastPInvokeError();
        return error == 0 ? null : FromErrno(error);
    }

    /// <summary>Linux errno to the SocketError the probes' words come from.</summary>
    internal static SocketError FromErrno(int errno) => errno switch
    {
        111 => SocketError.ConnectionRefused,
        104 => SocketError.ConnectionReset,
        113 => SocketError.HostUnreachable,
        101 => SocketError.NetworkUnreachable,
        110 => SocketError.TimedOut,
        99 => SocketError.AddressNotAvailable,
        103 => SocketError.ConnectionAborted,
        24 or 23 => SocketError.TooManyOpenSockets,
        _ => SocketError.SocketError,
    };

    [DllImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static extern int Socket(int domain, int type, int protocol);

    [DllImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static extern int SetSockOpt(int fd, int level, int name, void* value, int length);

    [DllImport("libc", EntryPoint = "connect", SetLastError = true)]
    private static extern int ConnectNative(int fd, void* address, int length);

    [DllImport("libc", EntryPoint = "getsockname", SetLastError = true)]
    private static extern int GetSockName(int fd, void* address, int* length);

    [DllImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    private static extern int GetSockOpt(int fd, int level, int name, void* value, int* length);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int CloseDescriptor(int fd);
}

/// <summary>
/// An HTTPS probe of an apiserver over kept-alive connections (<see cref="HttpsConnectionPool"/>): a request per attempt, not a
/// TLS handshake. A connection that fails an attempt is dropped, so the next attempt starts from a fresh SYN; an attempt that
/// finds no idle connection (the first, one after a failure, or one overlapping a hung one) opens one of its own (<see cref="HttpsOpening"/>).
/// HTTP/1.1 is written and read by <see cref="Http1"/>: HttpClient cost 0.5 ms of CPU per request here, most of it in thread
/// hand-offs, against 0.2 ms for one request and answer on the reactor's thread (measured, docs/notes/wire.md).
/// </summary>
public abstract class HttpsProbe : IProbe
{
    private readonly HttpsConnectionPool _pool;

    /// <summary>
    /// The apiserver's TLS name for connections through the VIP: kubeadm puts <c>kubernetes</c> in every apiserver certificate.
    /// </summary>
    public const string ApiServerTlsName = "kubernetes";

    /// <param name="serverName">The TLS server name (SNI) to ask <paramref name="server"/> for, a name in its certificate; null: its
    /// IP address. A name is what lets a new connection resume the server's TLS session: .NET keeps client sessions by server
    /// name, and none for an address. A resumed handshake skips the certificate exchange and its checks: 0.8 ms of CPU against
    /// 1.9 ms for a full one to a lab apiserver (measured), and a failover opens hundreds (the API slow for seconds, an attempt
    /// every 50 ms on a connection of its own). Each server gets a name of its own, so that one server's session is never
    /// offered to another.</param>
    protected HttpsProbe(string name, string target, Uri server, X509Certificate2Collection clusterCa, X509Certificate2? clientCertificate, TimeSpan connectTimeout,
        string? serverName = null)
    {
        ArgumentNullException.ThrowIfNull(server);
        Name = name;
        Target = target;
        Authority = server.Authority;
        if (!IPAddress.TryParse(server.Host, out var ip))
            throw new ArgumentException($"the probe's server must be an IP address of the lab, not '{server.Host}'", nameof(server));
        var ssl = new SslClientAuthenticationOptions
        {
            TargetHost = serverName ?? server.Host,
            // TLS 1.2: a TLS 1.3 server sends session tickets after the handshake, which make an idle connection readable
            // with nothing for the probe; the reactor would then wait in a read for the next answer. The apiservers take both.
            EnabledSslProtocols = SslProtocols.Tls12,
            // The chain is built against the cluster CA alone: against the system's store first, each handshake spent most of
            // its CPU comparing names across hundreds of system CAs (measured after a failover: ~60 handshakes at once).
            CertificateChainPolicy = clusterCa.Count == 0 ? null : ClusterCaPolicy(clusterCa),
            RemoteCertificateValidationCallback = (_, _, _, errors) => AcceptedByClusterCa(errors),
        };
        if (clientCertificate is not null) ssl.ClientCertificates = [clientCertificate];
        _pool = new HttpsConnectionPool(new IPEndPoint(ip, server.Port), ssl, connectTimeout);
    }

    public string Name { get; }
    public string Target { get; }

    /// <summary>host:port for the Host header.</summary>
    protected string Authority { get; }

    /// <summary>The attempt's first request.</summary>
    protected abstract byte[] FirstRequest();

    /// <summary>Judges answer number <paramref name="exchange"/> (0 first): an outcome, or a follow-up request on the same connection.</summary>
    protected abstract (ProbeOutcome? Outcome, byte[]? Next) Judge(Http1Response answer, int exchange);

    public IProbeAttempt Start(Action wake) => new HttpsAttempt(this, _pool, wake);

    /// <summary>TLS handshakes this probe has begun (each a connection that answered its SYN), for the run's CPU figures.</summary>
    public int Handshakes => _pool.Handshakes;

    /// <summary>A chain policy that trusts <paramref name="ca"/> and nothing else (no revocation lists: the lab has none).</summary>
    internal static X509ChainPolicy ClusterCaPolicy(X509Certificate2Collection ca)
    {
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.AddRange(ca);
        return policy;
    }

    /// <summary>Accepts a chain to the cluster CA; the name may differ (the lab's addresses are in the SANs, a VIP through haproxy may not be).</summary>
    internal static bool AcceptedByClusterCa(SslPolicyErrors errors) => (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None;

    public void Dispose()
    {
        _pool.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// One HTTPS attempt: take an idle connection at its start, or open one of its own and use that one only (see
    /// <see cref="HttpsOpening"/>); send; read the answer when the socket has it; judge.
    /// </summary>
    private sealed class HttpsAttempt : IProbeAttempt
    {
        private readonly HttpsProbe _probe;
        private readonly HttpsConnectionPool _pool;
        private readonly Action _wake;
        private HttpsConnection? _connection;
        private HttpsOpening? _opening;
        private byte[]? _toSend;
        private Http1Response _answer = new();
        private int _exchange;

        public HttpsAttempt(HttpsProbe probe, HttpsConnectionPool pool, Action wake)
        {
            _probe = probe;
            _pool = pool;
            _wake = wake;
            _toSend = probe.FirstRequest();
            _connection = pool.TakeIdle();
            if (_connection is null) _opening = pool.Open(wake);
        }

        /// <summary>
        /// Its opening's socket while that connects (wait until writable); null while the handshake runs (the handshake's end wakes
        /// the reactor) or while there is a request to send (the next <see cref="Advance"/> does it); then the connection's socket.
        /// </summary>
        public SafeHandle? Handle => (_connection is null ? _opening?.Connecting : _toSend is null ? _connection.Socket : null)?.SafeHandle;
        public bool AwaitsWrite => _connection is null;
        public long? CheckAt => _connection is null ? _opening?.ConnectDeadline : null;
        public int? LocalPort => null;

        public ProbeOutcome? Advance()
        {
            try
            {
                if (_connection is null)
                {
                    // Too many openings in flight when this attempt started: ask again on the next turn.
                    if (_opening is null)
                    {
                        _opening = _pool.Open(_wake);
                        return null;
                    }
                    if (_opening.Connecting is not null) _opening.ConnectReady();
                    if (!_opening.IsCompleted) return null;
                    _connection = _opening.Take();
                    if (_connection is null) return new(ProbeErrors.Describe(_opening.Error ?? new OperationCanceledException()));
                    _opening = null;
                }
                if (_toSend is { } request)
                {
                    _connection.Send(request);
                    _toSend = null;
                    return null;
                }
                if (!_connection.Receive(_answer))
                {
                    _connection.Dispose();
                    _connection = null;
                    return new("closed");
                }
                var (outcome, next) = _probe.Judge(_answer, _exchange);
                if (next is not null && _answer.KeepAlive)
                {
                    _exchange++;
                    _answer = new Http1Response();
                    _toSend = next;
                    return null;
                }
                // Any answer means the connection works: keep it for the next attempt (unless the server closes it).
                if (_answer.KeepAlive) _pool.Return(_connection);
                else _connection.Dispose();
                _connection = null;
                return outcome ?? new("HTTP " + _answer.Status);
            }
            catch (Exception e) when (e is IOException or SocketException or AuthenticationException or ObjectDisposedException or InvalidOperationException or FormatException)
            {
                // A connection that failed is never used again.
                _connection?.Dispose();
                _connection = null;
                return new(ProbeErrors.Describe(e));
            }
        }

        /// <summary>
        /// Gave up (timed out): a connection whose request was sent waits in the pool for the late answer and serves again after it
        /// (<see cref="HttpsConnectionPool.Drain"/>); one with nothing in flight goes back to the pool; an opening still running goes on
        /// and leaves its connection in the pool.
        /// </summary>
        public void Dispose()
        {
            _opening?.Abandon();
            _opening = null;
            if (_connection is { } connection)
            {
                if (_toSend is null) _pool.Drain(connection, _answer);
                else _pool.Return(connection); // nothing in flight on it
            }
            _connection = null;
        }
    }
}

/// <summary>GET of an apiserver's /readyz (public in Kubernetes: no credentials); success is 200 with the body "ok".</summary>
public sealed class ReadyzProbe : HttpsProbe
{
    private readonly byte[] _request;

    /// <param name="serverName">The apiserver's TLS name (see <see cref="HttpsProbe"/>): <see cref="HttpsProbe.ApiServerTlsName"/> through
    /// the VIP, the node's name (kubeadm puts it in the node's apiserver certificate) for one apiserver.</param>
    public ReadyzProbe(string name, Uri baseUri, X509Certificate2Collection clusterCa, TimeSpan? connectTimeout = null, string? serverName = null)
        : base(name, new Uri(baseUri, "/readyz").ToString(), baseUri, clusterCa, null, connectTimeout ?? TimeSpan.FromSeconds(1), serverName) =>
        _request = Http1.Request("GET", "/readyz", Authority, null, null);

    protected override byte[] FirstRequest() => _request;

    protected override (ProbeOutcome? Outcome, byte[]? Next) Judge(Http1Response answer, int exchange) =>
        (answer.Status == 200 && answer.Body.Trim() == "ok" ? ProbeOutcome.Success : new ProbeOutcome("HTTP " + answer.Status), null);
}

/// <summary>
/// An API write through the VIP: replace (or create) the ConfigMap default/hakubelab-chaos-probe with the attempt's time, which
/// etcd must commit. Plain HTTPS with the kubeconfig's credentials (client certificate or token) over a kept-alive connection.
/// </summary>
public sealed class ApiWriteProbe : HttpsProbe
{
    /// <summary>The ConfigMap the probe writes.</summary>
    public const string ConfigMapName = "hakubelab-chaos-probe";

    private const string Collection = "/api/v1/namespaces/default/configmaps";
    private readonly string? _bearer;

    public ApiWriteProbe(string name, KubernetesClientConfiguration config, TimeSpan? connectTimeout = null)
        : base(name, $"{new Uri(Kubeconfig.Checked(config).Host).Authority} (ConfigMap default/{ConfigMapName})", new Uri(config.Host), config.SslCaCerts ?? [], Kubeconfig.ClientCertificate(config), connectTimeout ?? TimeSpan.FromSeconds(1),
            ApiServerTlsName) =>
        _bearer = Kubeconfig.Bearer(config);

    /// <summary>
    /// The ConfigMap the attempt writes, with the attempt's time. Written out, not serialized: reflection-based JSON
    /// serialization was 1.5 % of the runner's CPU with the write every 50 ms. The round-trip ("O") time format has no
    /// character JSON would escape.
    /// </summary>
    public static string Body(DateTimeOffset written) =>
        $$$"""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"{{{ConfigMapName}}}","namespace":"default"},"data":{"written":"{{{written.ToString("O", System.Globalization.CultureInfo.InvariantCulture)}}}"}}""";

    private string _body = "";

    protected override byte[] FirstRequest()
    {
        _body = Body(DateTimeOffset.UtcNow);
        return Http1.Request("PUT", $"{Collection}/{ConfigMapName}", Authority, _bearer, _body);
    }

    protected override (ProbeOutcome? Outcome, byte[]? Next) Judge(Http1Response answer, int exchange) => (exchange, answer.Status) switch
    {
        (0, 200) => (ProbeOutcome.Success, null),
        // Not there yet (first run on this lab): create it within the same attempt.
        (0, 404) => (null, Http1.Request("POST", Collection, Authority, _bearer, _body)),
        (1, 201) => (ProbeOutcome.Success, null),
        // Another attempt created it meanwhile (overlapping first attempts on a fresh lab): replace it after all.
        (1, 409) => (null, Http1.Request("PUT", $"{Collection}/{ConfigMapName}", Authority, _bearer, _body)),
        (2, 200) => (ProbeOutcome.Success, null),
        _ => (new ProbeOutcome("HTTP " + answer.Status), null),
    };
}

/// <summary>The credentials in a kubeconfig, for the probes and looks that speak to the API themselves.</summary>
internal static class Kubeconfig
{
    public static KubernetesClientConfiguration Checked(KubernetesClientConfiguration config) => config ?? throw new ArgumentNullException(nameof(config));

    /// <summary>The kubeconfig's client certificate (kubeadm's admin.conf embeds one), or null.</summary>
    public static X509Certificate2? ClientCertificate(KubernetesClientConfiguration config)
    {
        static string Pem(string base64) => System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(base64));
        if (!string.IsNullOrEmpty(config.ClientCertificateData) && !string.IsNullOrEmpty(config.ClientCertificateKeyData))
            return X509Certificate2.CreateFromPem(Pem(config.ClientCertificateData), Pem(config.ClientCertificateKeyData));
        if (!string.IsNullOrEmpty(config.ClientCertificateFilePath) && !string.IsNullOrEmpty(config.ClientKeyFilePath))
            return X509Certificate2.CreateFromPemFile(config.ClientCertificateFilePath, config.ClientKeyFilePath);
        return null;
    }

    /// <summary>The kubeconfig's bearer token, or null.</summary>
    public static string? Bearer(KubernetesClientConfiguration config) => string.IsNullOrEmpty(config.AccessToken) ? null : config.AccessToken;
}

internal static class ProbeErrors
{
    public static string Describe(SocketError error) => error switch
    {
        SocketError.ConnectionRefused => "refused",
        SocketError.ConnectionReset => "reset",
        SocketError.HostUnreachable => "unreachable",
        SocketError.TimedOut or SocketError.WouldBlock => "timeout",
        _ => error.ToString(),
    };

    public static string Describe(Exception e) => e switch
    {
        SocketException s => Describe(s.SocketErrorCode),
        IOException { InnerException: SocketException s } => Describe(s.SocketErrorCode),
        AuthenticationException a => "TLS: " + a.Message,
        OperationCanceledException => "timeout",
        _ => e.GetType().Name + ": " + e.Message,
    };
}
