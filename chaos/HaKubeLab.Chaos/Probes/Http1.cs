using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace HaKubeLab.Chaos.Probes;

/// <summary>
/// The little HTTP/1.1 the API probes speak (RFC 9112): a request written out, an answer read with Content-Length, chunked, or
/// until the server closes. Nothing else: no redirects, no compression, no pipelining.
/// </summary>
public static class Http1
{
    /// <summary>A request's bytes; a body is sent as JSON with its length.</summary>
    public static byte[] Request(string method, string path, string authority, string? bearerToken, string? jsonBody)
    {
        var head = new StringBuilder(256)
            .Append(method).Append(' ').Append(path).Append(" HTTP/1.1\r\n")
            .Append("Host: ").Append(authority).Append("\r\n")
            .Append("User-Agent: hakubelab-probe\r\nAccept: application/json, */*\r\n");
        if (bearerToken is not null) head.Append("Authorization: Bearer ").Append(bearerToken).Append("\r\n");
        var body = jsonBody is null ? [] : Encoding.UTF8.GetBytes(jsonBody);
        if (jsonBody is not null) head.Append("Content-Type: application/json\r\nContent-Length: ").Append(body.Length).Append("\r\n");
        head.Append("\r\n");
        var headBytes = Encoding.ASCII.GetBytes(head.ToString());
        return [.. headBytes, .. body];
    }
}

/// <summary>One HTTP/1.1 answer, read incrementally (<see cref="Feed"/> as bytes arrive).</summary>
public sealed class Http1Response
{
    private byte[] _buffer = new byte[2048];
    private int _length;
    private int _bodyStart = -1;
    private long _contentLength = -1;
    private bool _chunked;

    /// <summary>The status code (0 until the head is in).</summary>
    public int Status { get; private set; }

    /// <summary>Whether the connection may carry the next request (no <c>Connection: close</c>, not read until the server closed).</summary>
    public bool KeepAlive { get; private set; } = true;

    /// <summary>The whole answer is in.</summary>
    public bool Complete { get; private set; }

    /// <summary>The body (UTF-8), once <see cref="Complete"/>.</summary>
    public string Body { get; private set; } = "";

    /// <summary>Adds bytes that arrived; returns <see cref="Complete"/>. Throws <see cref="FormatException"/> on an answer that is not HTTP/1.1.</summary>
    public bool Feed(ReadOnlySpan<byte> data)
    {
        if (Complete) return true;
        if (_length + data.Length > _buffer.Length) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + data.Length));
        data.CopyTo(_buffer.AsSpan(_length));
        _length += data.Length;
        while (_bodyStart < 0)
        {
            var end = _buffer.AsSpan(0, _length).IndexOf("\r\n\r\n"u8);
            if (end < 0) return false;
            ReadHead(Encoding.ASCII.GetString(_buffer, 0, end));
            if (_bodyStart < 0)
            {
                // An interim answer (100 Continue): drop it and read the real one.
                Buffer.BlockCopy(_buffer, end + 4, _buffer, 0, _length - end - 4);
                _length -= end + 4;
            }
            else _bodyStart = end + 4;
        }
        return TryBody();
    }

    /// <summary>The server closed the connection: an answer without a length ends here. Returns <see cref="Complete"/>.</summary>
    public bool EndOfStream()
    {
        KeepAlive = false;
        if (Complete || _bodyStart < 0 || _chunked || _contentLength >= 0) return Complete;
        Body = Encoding.UTF8.GetString(_buffer, _bodyStart, _length - _bodyStart);
        return Complete = true;
    }

    private void ReadHead(string head)
    {
        var lines = head.Split("\r\n");
        var status = lines[0].Split(' ', 3);
        if (status.Length < 2 || !status[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || !int.TryParse(status[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var code))
            throw new FormatException($"not an HTTP/1.1 answer: '{lines[0]}'");
        if (code is >= 100 and < 200) return;
        Status = code;
        _bodyStart = 0;
        if (status[0] == "HTTP/1.0") KeepAlive = false;
        foreach (var line in lines.AsSpan(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0) continue;
            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) _contentLength = long.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)) _chunked = value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                if (value.Contains("close", StringComparison.OrdinalIgnoreCase)) KeepAlive = false;
                else if (value.Contains("keep-alive", StringComparison.OrdinalIgnoreCase)) KeepAlive = true;
            }
        }
        if (code is 204 or 304) _contentLength = 0;
    }

    private bool TryBody()
    {
        var body = _buffer.AsSpan(_bodyStart, _length - _bodyStart);
        if (_chunked)
        {
            var decoded = new List<byte>();
            var at = 0;
            while (true)
            {
                var lineEnd = body[at..].IndexOf("\r\n"u8);
                if (lineEnd < 0) return false;
                var sizeText = Encoding.ASCII.GetString(body.Slice(at, lineEnd)).Split(';')[0].Trim();
                if (!int.TryParse(sizeText, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out var size) || size < 0)
                    throw new FormatException($"not a chunk size: '{sizeText}'");
                at += lineEnd + 2;
                if (size == 0)
                {
                    // Trailers (none expected) end with an empty line.
                    var trailerEnd = body[at..].IndexOf("\r\n"u8);
                    while (trailerEnd > 0)
                    {
                        at += trailerEnd + 2;
                        trailerEnd = body[at..].IndexOf("\r\n"u8);
                    }
                    if (trailerEnd < 0) return false;
                    Body = Encoding.UTF8.GetString([.. decoded]);
                    return Complete = true;
                }
                if (body.Length - at < size + 2) return false;
                if (body[at + size] != '\r' || body[at + size + 1] != '\n') throw new FormatException("a chunk does not end where its size says");
                decoded.AddRange(body.Slice(at, size));
                at += size + 2;
            }
        }
        if (_contentLength < 0) return false; // read until the server closes
        if (body.Length < _contentLength) return false;
        Body = Encoding.UTF8.GetString(body[..(int)_contentLength]);
        return Complete = true;
    }
}

/// <summary>
/// One kept-alive HTTPS connection of a probe: a blocking socket (the reactor reads it only when poll says it is readable)
/// under an <see cref="SslStream"/>. Its receive timeout bounds the one wait the reactor's thread may do: reading the rest
/// of an answer whose first bytes are in.
/// </summary>
public sealed class HttpsConnection : IDisposable
{
    private readonly SslStream _tls;
    private readonly byte[] _buffer = new byte[16 * 1024];

    private HttpsConnection(Socket socket, SslStream tls)
    {
        Socket = socket;
        _tls = tls;
    }

    public Socket Socket { get; }

    /// <summary>A non-blocking connect: the SYN is out when this returns; the socket turns writable when the connect is done either way.</summary>
    public static Socket BeginConnect(IPEndPoint server)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, Blocking = false };
        try { socket.Connect(server); }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress) { /* the SYN is out */ }
        catch
        {
            socket.Dispose();
            throw;
        }
        return socket;
    }

    /// <summary>How a connect begun by <see cref="BeginConnect"/> ended, once the socket is writable: null when it is connected.</summary>
    public static SocketError? ConnectError(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var error = (SocketError)(int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
        return error == SocketError.Success ? null : error;
    }

    /// <summary>
    /// The TLS handshake on a connected socket, with blocking calls on the calling thread (one of its own: a handshake waits for
    /// the server and must not hold the probe thread), within <paramref name="timeout"/>; takes over the socket either way.
    /// Blocking on purpose, on a truly blocking duplicate of the socket (<see cref="BlockingTwin"/>): a socket that is not registered
    /// with .NET's socket engine wakes no epoll thread and no thread-pool worker when the answers the probe thread reads arrive
    /// (with asynchronous opening that was ~900 wake-ups a second with every probe at 50 ms).
    /// </summary>
    public static HttpsConnection Handshake(Socket connected, SslClientAuthenticationOptions ssl, TimeSpan timeout, TimeSpan readTimeout)
    {
        ArgumentNullException.ThrowIfNull(connected);
        ArgumentNullException.ThrowIfNull(ssl);
        try
        {
            connected = BlockingTwin(connected);
            connected.SendTimeout = connected.ReceiveTimeout = (int)Math.Max(1, timeout.TotalMilliseconds);
            var tls = new SslStream(new NetworkStream(connected, ownsSocket: true), leaveInnerStreamOpen: false);
            try { tls.AuthenticateAsClient(ssl); }
            catch
            {
                tls.Dispose();
                throw;
            }
            connected.SendTimeout = 0;
            connected.ReceiveTimeout = (int)Math.Max(1, readTimeout.TotalMilliseconds);
            return new HttpsConnection(connected, tls);
        }
        catch
        {
            connected.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The connected socket as a truly blocking one. A socket made non-blocking once (for the connect on the probe thread) stays
    /// non-blocking under .NET, which then runs each blocking call through its socket engine: the descriptor is registered with
    /// epoll, and every answer that arrives wakes the engine's thread and a thread-pool worker, read or not (measured with
    /// strace: ~100 wake-ups a second with every probe at 50 ms, about a fifth of the runner's CPU). A duplicate of the
    /// descriptor with O_NONBLOCK cleared, in a Socket of its own, blocks in the kernel instead (timeouts become
    /// SO_RCVTIMEO/SO_SNDTIMEO); the original is closed, the connection lives on in the duplicate.
    /// </summary>
    private static Socket BlockingTwin(Socket connected)
    {
        var fd = Dup((int)connected.Handle);
        if (fd < 0) throw new SocketException(Marshal.GetLastPInvokeError());
        var twin = new SafeSocketHandle(fd, ownsHandle: true);
        var flags = Fcntl(fd, FGetFl, 0);
        if (flags < 0 || Fcntl(fd, FSetFl, flags & ~ONonBlock) < 0)
        {
            var error = Marshal.GetLastPInvokeError();
            twin.Dispose();
            throw new SocketException(error);
        }
        var socket = new Socket(twin);
        connected.Dispose();
        return socket;
    }

    private const int FGetFl = 3, FSetFl = 4, ONonBlock = 0x800;

    [DllImport("libc", EntryPoint = "dup", SetLastError = true)]
    private static extern int Dup(int fd);

    [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static extern int Fcntl(int fd, int command, int argument);

    /// <summary>An idle connection the server has not closed (a readable idle socket with nothing to read is an end of stream).</summary>
    public bool StillOpen()
    {
        try { return !Socket.Poll(0, SelectMode.SelectRead) || Socket.Available > 0; }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { return false; }
    }

    public void Send(byte[] request) => _tls.Write(request);

    /// <summary>Reads the answer (the socket is readable, so the first read does not wait); false when the server closed first.</summary>
    public bool Receive(Http1Response answer)
    {
        while (true)
        {
            var n = _tls.Read(_buffer);
            if (n == 0) return answer.EndOfStream();
            if (answer.Feed(_buffer.AsSpan(0, n))) return true;
        }
    }

    public void Dispose() => _tls.Dispose();
}

/// <summary>
/// A probe's kept-alive connections: used by the reactor's thread, each connected there and shaken hands with on a
/// short-lived thread of its own (see <see cref="HttpsConnection.Handshake"/> for why not asynchronously). An attempt takes an idle connection when it starts, or
/// opens one of its own (<see cref="HttpsOpening"/>) and uses only that one. An opening outlives its attempt: when the
/// attempt times out first (a slow handshake on a busy host), the connection still lands here for attempts that start
/// later instead of being thrown away, so slow handshakes cannot keep every attempt failing. At most
/// <see cref="MaxOpenings"/> are in flight; each ends with its attempt (connecting) or by its connect timeout (shaking hands).
/// </summary>
public sealed class HttpsConnectionPool(IPEndPoint server, SslClientAuthenticationOptions ssl, TimeSpan timeout) : IDisposable
{
    private readonly Stack<HttpsConnection> _idle = new();
    private int _openings;
    private int _handshakes;
    private bool _disposed;

    /// <summary>TLS handshakes begun (connects that succeeded), each on a short-lived thread.</summary>
    public int Handshakes => Volatile.Read(ref _handshakes);

    /// <summary>How long the reactor's thread may wait for the rest of an answer whose first bytes are in (a server writes one in one go).</summary>
    public static readonly TimeSpan RestOfAnswerTimeout = TimeSpan.FromMilliseconds(250);

    /// <summary>Openings in flight at most: with a 1 s connect timeout, one SYN every 50 ms while the server does not answer.</summary>
    public const int MaxOpenings = 24;

    /// <summary>Stack of an opening's thread: a TLS handshake needs far less than the default 8 MiB.</summary>
    private const int OpeningStackSize = 512 * 1024;

    /// <summary>
    /// Idle connections kept at most: as many as openings may be in flight. HTTP/1.1 carries one request at a time, so a server
    /// answering in 2 s to an attempt every 50 ms needs ~40 connections at once; keeping only 4 of them closed the rest as they
    /// came back and opened them anew moments later (measured on an overloaded lab: a TLS handshake per attempt, the runner at
    /// 18-24 % of a core, which loaded the apiservers further).
    /// </summary>
    public const int MaxIdle = MaxOpenings;

    /// <summary>How long a connection whose attempt gave up may take to deliver the late answer before it is closed.</summary>
    public static readonly TimeSpan DrainFor = TimeSpan.FromSeconds(2);

    /// <summary>Connections waiting for a late answer at most.</summary>
    public const int MaxDraining = MaxOpenings;

    private readonly List<(HttpsConnection Connection, Http1Response Answer, long Until)> _draining = [];

    /// <summary>
    /// An attempt gave up while its answer was on the way (a slow server, not a dead one): rather than closing the connection and
    /// shaking hands anew for the next attempt, it waits for that answer (read when the next attempt looks for an idle connection)
    /// and then serves again; one that has not answered after <see cref="DrainFor"/> is closed. Measured: a surviving apiserver
    /// slow for 1.4 s while etcd chose a new leader cost one TLS handshake per attempt, ~28 each.
    /// </summary>
    public void Drain(HttpsConnection connection, Http1Response answerSoFar)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(answerSoFar);
        lock (_idle)
        {
            if (!_disposed && _draining.Count < MaxDraining)
            {
                _draining.Add((connection, answerSoFar, Environment.TickCount64 + (long)DrainFor.TotalMilliseconds));
                return;
            }
        }
        connection.Dispose();
    }

    /// <summary>Moves draining connections whose late answer is in to the idle ones; closes those that closed, failed or waited too long. Under the lock.</summary>
    private void ReapDraining()
    {
        for (var i = _draining.Count - 1; i >= 0; i--)
        {
            var (connection, answer, until) = _draining[i];
            try
            {
                if (connection.Socket.Poll(0, SelectMode.SelectRead))
                {
                    _draining.RemoveAt(i);
                    if (connection.Receive(answer) && answer.KeepAlive && _idle.Count < MaxIdle) _idle.Push(connection);
                    else connection.Dispose();
                }
                else if (Environment.TickCount64 > until)
                {
                    _draining.RemoveAt(i);
                    connection.Dispose();
                }
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or FormatException or System.Security.Authentication.AuthenticationException)
            {
                _draining.RemoveAt(i);
                connection.Dispose();
            }
        }
    }

    /// <summary>The most recently used idle connection still open, or null.</summary>
    public HttpsConnection? TakeIdle()
    {
        lock (_idle)
        {
            if (_draining.Count > 0) ReapDraining();
            while (_idle.TryPop(out var connection))
            {
                if (connection.StillOpen()) return connection;
                connection.Dispose();
            }
            return null;
        }
    }

    public void Return(HttpsConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        lock (_idle)
        {
            if (!_disposed && _idle.Count < MaxIdle)
            {
                _idle.Push(connection);
                return;
            }
        }
        connection.Dispose();
    }

    /// <summary>
    /// Starts opening a connection for the attempt that calls it (on the probe thread): the SYN leaves at once and the attempt
    /// waits for <see cref="HttpsOpening.Connecting"/> to turn writable with its other sockets; only a connect that succeeded
    /// gets a short-lived thread, for the TLS handshake (given up after the connect timeout). So a dead or refusing server
    /// costs a SYN per attempt, not a thread. <paramref name="done"/> is called when a handshake ends either way. Null when
    /// <see cref="MaxOpenings"/> are already in flight.
    /// </summary>
    public HttpsOpening? Open(Action done)
    {
        ArgumentNullException.ThrowIfNull(done);
        if (Interlocked.Increment(ref _openings) > MaxOpenings)
        {
            Interlocked.Decrement(ref _openings);
            return null;
        }
        var opening = new HttpsOpening(Return, () => Interlocked.Decrement(ref _openings), (opening, socket) =>
        {
            Interlocked.Increment(ref _handshakes);
            var thread = new Thread(() =>
            {
                try { opening.Complete(HttpsConnection.Handshake(socket, ssl, timeout, RestOfAnswerTimeout), null); }
                catch (Exception e) { opening.Complete(null, e); }
                finally { done(); }
            }, OpeningStackSize) { IsBackground = true, Name = "hakubelab tls" };
            thread.Start();
        });
        try { opening.BeginConnect(server, timeout); }
        catch (SocketException e) { opening.Complete(null, e); }
        return opening;
    }

    public void Dispose()
    {
        lock (_idle)
        {
            _disposed = true;
            while (_idle.TryPop(out var connection)) connection.Dispose();
            foreach (var (connection, _, _) in _draining) connection.Dispose();
            _draining.Clear();
        }
    }
}

/// <summary>
/// One connection being opened for one attempt: connecting (<see cref="Connecting"/>, moved on by the attempt on the probe
/// thread with <see cref="ConnectReady"/>), then shaking hands on a thread of its own, then done. The attempt that started it
/// takes its connection, and only that one: an attempt whose own SYN went unanswered must fail, not succeed on a connection a
/// later attempt opened after the failover (its start time would put the recovery too early). Abandoned (the attempt timed
/// out) while connecting, the SYN is given up; while shaking hands, the connection goes to the pool when it is open, for
/// attempts that start later (slow handshakes on a busy host must not keep every attempt failing).
/// </summary>
public sealed class HttpsOpening
{
    private readonly object _gate = new();
    private readonly Action<HttpsConnection> _toPool;
    private readonly Action _ended;
    private readonly Action<HttpsOpening, Socket> _handshake;
    private HttpsConnection? _connection;
    private bool _abandoned;
    private bool _completed;
    private Exception? _error;

    internal HttpsOpening(Action<HttpsConnection> toPool, Action ended, Action<HttpsOpening, Socket> handshake)
    {
        _toPool = toPool;
        _ended = ended;
        _handshake = handshake;
    }

    /// <summary>The socket of a connect in progress (wait until it is writable, then call <see cref="ConnectReady"/>); null after.</summary>
    public Socket? Connecting { get; private set; }

    /// <summary>The opening has ended: with a connection (see <see cref="Take"/>) or with <see cref="Error"/>.</summary>
    public bool IsCompleted { get { lock (_gate) return _completed; } }

    /// <summary>Why the opening failed; null while it runs or when it succeeded.</summary>
    public Exception? Error { get { lock (_gate) return _error; } }

    /// <summary>
    /// While connecting: when the connect is given up (<see cref="System.Diagnostics.Stopwatch"/> timestamp). The connect has a
    /// timeout of its own, shorter than a slow probe's: a SYN that waited for the VIP's ARP and left only after the failover would
    /// make an attempt that started long before it succeed, and date the recovery too early.
    /// </summary>
    public long? ConnectDeadline => Connecting is null ? null : _connectDeadline;

    private long _connectDeadline;

    internal void BeginConnect(IPEndPoint server, TimeSpan timeout)
    {
        _connectDeadline = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        Connecting = HttpsConnection.BeginConnect(server);
    }

    /// <summary>
    /// Moves a connect on: connected, the handshake starts on a thread of its own; failed or past its deadline, the opening
    /// fails; otherwise (not writable yet) nothing happens.
    /// </summary>
    public void ConnectReady()
    {
        if (Connecting is not { } socket) return;
        SocketError? error;
        try
        {
            error = HttpsConnection.ConnectError(socket);
            if (error is null && !socket.Poll(0, SelectMode.SelectWrite))
            {
                if (System.Diagnostics.Stopwatch.GetTimestamp() < _connectDeadline) return;
                error = SocketError.TimedOut;
            }
        }
        catch (ObjectDisposedException) { error = SocketError.OperationAborted; }
        Connecting = null;
        if (error is { } e)
        {
            socket.Dispose();
            Complete(null, new SocketException((int)e));
            return;
        }
        _handshake(this, socket);
    }

    internal void Complete(HttpsConnection? connection, Exception? error)
    {
        lock (_gate)
        {
            if (_completed)
            {
                connection?.Dispose();
                return;
            }
            _completed = true;
            _error = error;
            _ended();
            if (connection is null) return;
            if (_abandoned) _toPool(connection);
            else _connection = connection;
        }
    }

    /// <summary>The opened connection, once; null before, after a failure, or when taken.</summary>
    public HttpsConnection? Take()
    {
        lock (_gate)
        {
            var connection = _connection;
            _connection = null;
            return connection;
        }
    }

    /// <summary>The attempt is over: a connect in progress is given up; a connection, now or when its handshake is done, is for later attempts.</summary>
    public void Abandon()
    {
        if (Connecting is { } socket)
        {
            Connecting = null;
            socket.Dispose();
            Complete(null, new SocketException((int)SocketError.TimedOut));
        }
        lock (_gate)
        {
            _abandoned = true;
            if (_connection is { } connection)
            {
                _connection = null;
                _toPool(connection);
            }
        }
    }
}
