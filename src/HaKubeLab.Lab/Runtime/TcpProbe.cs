using System.Net;
using System.Net.Sockets;

namespace HaKubeLab.Runtime;

/// <summary>A TCP connect with a deadline: the simplest "does VIP:port answer" question.</summary>
public static class TcpProbe
{
    public static async Task<bool> ConnectAsync(IPAddress address, int port, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(address, port), cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { return false; }
        catch (SocketException) { return false; }
    }

    /// <summary>Polls until a connect succeeds or the deadline passes; returns the time it took, or null.</summary>
    public static async Task<TimeSpan?> WaitForAsync(IPAddress address, int port, TimeSpan deadline, CancellationToken cancellationToken, TimeSpan? interval = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < deadline)
        {
            if (await ConnectAsync(address, port, TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false)) return clock.Elapsed;
            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
        }
        return null;
    }
}
