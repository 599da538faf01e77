using Docker.DotNet;
using Docker.DotNet.Models;

namespace HaKubeLab.Runtime;

/// <summary>Result of a command run inside a container.</summary>
public sealed record ExecResult(long ExitCode, string Stdout, string Stderr)
{
    public bool Succeeded => ExitCode == 0;
}

/// <summary>Thin adapter: runs a command in a container through the Docker API.</summary>
public static class DockerExec
{
    public static async Task<ExecResult> RunAsync(IDockerClient docker, string container, IReadOnlyList<string> command, CancellationToken cancellationToken)
    {
        var created = await docker.Exec.CreateContainerExecAsync(container, new ContainerExecCreateParameters
        {
            Cmd = [.. command],
            AttachStdout = true,
            AttachStderr = true,
        }, cancellationToken).ConfigureAwait(false);
        using var stream = await docker.Exec.StartContainerExecAsync(created.ID, new ContainerExecStartParameters(), cancellationToken).ConfigureAwait(false);
        var (stdout, stderr) = await stream.ReadOutputToEndAsync(cancellationToken).ConfigureAwait(false);
        var inspect = await docker.Exec.InspectContainerExecAsync(created.ID, cancellationToken).ConfigureAwait(false);
        return new ExecResult(inspect.ExitCode ?? -1, stdout, stderr);
    }
}
