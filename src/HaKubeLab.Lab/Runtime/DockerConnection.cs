using Docker.DotNet;

namespace HaKubeLab.Runtime;

/// <summary>Raised when no Docker engine answers; the message says how to get one.</summary>
public sealed class DockerUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Connects to the local Docker engine (DOCKER_HOST or the default socket).</summary>
public static class DockerConnection
{
    /// <summary>The engine from Debian bookworm (20.10) speaks API 1.41 and refuses newer versions.</summary>
    public static readonly Version DefaultApiVersion = new(1, 41);

    public static DockerClient Create()
    {
        var version = Version.TryParse(Environment.GetEnvironmentVariable("DOCKER_API_VERSION"), out var v) ? v : DefaultApiVersion;
        var host = Environment.GetEnvironmentVariable("DOCKER_HOST");
        var builder = new DockerClientBuilder().WithApiVersion(version);
        if (!string.IsNullOrEmpty(host)) builder = builder.WithEndpoint(new Uri(host));
        else builder = builder.WithEndpoint(new Uri("unix:///var/run/docker.sock"));
        return builder.Build();
    }

    /// <summary>Connects and pings the engine; throws <see cref="DockerUnavailableException"/> with the fix when none answers.</summary>
    public static async Task<DockerClient> ConnectAsync(CancellationToken cancellationToken)
    {
        var client = Create();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await client.System.PingAsync(timeout.Token).ConfigureAwait(false);
            return client;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            client.Dispose();
            throw new DockerUnavailableException(
                $"No Docker engine answers at {Environment.GetEnvironmentVariable("DOCKER_HOST") ?? "unix:///var/run/docker.sock"} ({e.GetBaseException().Message}). " +
                "Run scripts/ensure-host.sh (installs Debian's docker.io and starts dockerd when run as root), or start your Docker engine.", e);
        }
    }
}
