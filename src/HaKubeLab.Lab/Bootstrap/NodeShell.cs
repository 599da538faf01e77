using System.Text;
using HaKubeLab.Runtime;
using Renci.SshNet;

namespace HaKubeLab.Bootstrap;

/// <summary>Where the bootstrap runs its commands: one host of the inventory.</summary>
public interface INodeShell : IAsyncDisposable
{
    string Name { get; }
    Task<ExecResult> RunAsync(string command, CancellationToken cancellationToken);
    Task WriteFileAsync(string path, string content, string mode, CancellationToken cancellationToken);
}

/// <summary>Raised when a host cannot be reached or refuses the key; says which host and why.</summary>
public sealed class SshConnectException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Thin adapter over SSH.NET: runs commands as a person would over SSH, on lab nodes and on real
/// hosts alike. Host keys are trusted on first use and pinned in a known_hosts file.
/// </summary>
public sealed class SshNodeShell : INodeShell
{
    private readonly SshClient _client;
    public string Name { get; }

    private SshNodeShell(string name, SshClient client)
    {
        Name = name;
        _client = client;
    }

    public static async Task<SshNodeShell> ConnectAsync(InventoryHost host, string privateKeyPem, string knownHostsPath, TimeSpan deadline, CancellationToken cancellationToken)
    {
        var key = new PrivateKeyFile(new MemoryStream(Encoding.ASCII.GetBytes(privateKeyPem)));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Exception? last = null;
        while (clock.Elapsed < deadline)
        {
            var client = new SshClient(host.Address, host.Port, host.User, key) { };
            client.ConnectionInfo.Timeout = TimeSpan.FromSeconds(5);
            PreferClassicKeyExchange(client.ConnectionInfo);
            string? mismatch = null;
            client.HostKeyReceived += (_, e) =>
            {
                var fingerprint = e.FingerPrintSHA256;
                mismatch = KnownHosts.Check(knownHostsPath, host.Address, fingerprint);
                e.CanTrust = mismatch is null;
            };
            try
            {
                await client.ConnectAsync(cancellationToken).ConfigureAwait(false);
                return new SshNodeShell(host.Name, client);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                client.Dispose();
                if (mismatch is not null) throw new SshConnectException($"{host.Name} ({host.Address}): {mismatch}", e);
                last = e;
                await Task.Delay(500, cancellationToken).ConfigureAwait(false);
            }
        }
        throw new SshConnectException($"cannot SSH to {host.Name} ({host.User}@{host.Address}:{host.Port}) within {deadline.TotalSeconds:0} s: {last?.Message}", last);
    }

    /// <summary>
    /// Leaves out the post-quantum hybrid key exchanges (sntrup761, ML-KEM), which SSH.NET runs in managed code:
    /// sntrup761's key generation cost ~0.4 s of CPU per connection (perf, in a chaos run's restore), against a few
    /// milliseconds for curve25519-sha256. The connection is to a lab node on the lab's own bridge, for minutes.
    /// </summary>
    internal static void PreferClassicKeyExchange(ConnectionInfo connection)
    {
        foreach (var name in connection.KeyExchangeAlgorithms.Keys.Where(k => k.StartsWith("sntrup", StringComparison.Ordinal) || k.StartsWith("mlkem", StringComparison.Ordinal)).ToList())
            connection.KeyExchangeAlgorithms.Remove(name);
    }

    public async Task<ExecResult> RunAsync(string command, CancellationToken cancellationToken)
    {
        using var cmd = _client.CreateCommand(command);
        await cmd.ExecuteAsync(cancellationToken).ConfigureAwait(false);
        return new ExecResult(cmd.ExitStatus ?? -1, cmd.Result, cmd.Error);
    }

    /// <summary>Writes through a temporary name and a rename, so a reader never sees half a file.</summary>
    public async Task WriteFileAsync(string path, string content, string mode, CancellationToken cancellationToken)
    {
        var b64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(content));
        var dir = Path.GetDirectoryName(path) ?? "/";
        var r = await RunAsync($"mkdir -p '{dir}' && echo '{b64}' | base64 -d > '{path}.tmp' && chmod {mode} '{path}.tmp' && mv '{path}.tmp' '{path}'", cancellationToken).ConfigureAwait(false);
        if (!r.Succeeded) throw new InvalidOperationException($"{Name}: writing {path} failed: {r.Stderr.Trim()}");
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>Trust on first use: a host's key fingerprint is recorded, and a changed one refused.</summary>
public static class KnownHosts
{
    private static readonly object Gate = new();

    /// <summary>Null when the fingerprint is trusted (recording it if new); otherwise why not.</summary>
    public static string? Check(string path, string address, string fingerprint)
    {
        lock (Gate)
        {
            var lines = File.Exists(path) ? File.ReadAllLines(path) : [];
            var known = lines.Select(l => l.Split(' ', 2)).FirstOrDefault(p => p.Length == 2 && p[0] == address);
            if (known is not null)
                return known[1] == fingerprint ? null : $"host key changed (known {known[1]}, offered {fingerprint}); if the node was recreated, remove its line from {path}";
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.AppendAllText(path, $"{address} {fingerprint}\n");
            return null;
        }
    }
}
