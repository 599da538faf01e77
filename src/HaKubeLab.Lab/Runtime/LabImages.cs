using System.Diagnostics;

namespace HaKubeLab.Runtime;

/// <summary>The lab's locally built images, tagged by the hash of their inputs.</summary>
/// <param name="KubernetesVersion">The Kubernetes version built into the node image (v1.20.2).</param>
/// <param name="Busybox">A static busybox preloaded in the nodes, for the lab's own pod checks.</param>
public sealed record LabImageSet(string Base, string Haproxy, string Keepalived, string Node, string KubernetesVersion = "v1.20.2", string Busybox = "");

/// <summary>Raised when an image build fails; names the failing step.</summary>
public sealed class ImageBuildException(string message) : Exception(message);

/// <summary>
/// Builds (or finds cached) images through scripts/images/build.sh, the same script a user
/// without .NET runs for docker-compose.lab.yml, so there is one image recipe.
/// </summary>
public static class LabImages
{
    public static async Task<LabImageSet> EnsureAsync(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var script = RepositoryLayout.Script("images/build.sh");
        var psi = new ProcessStartInfo("bash", [script, "all"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(psi) ?? throw new ImageBuildException($"could not start {script}");
        var lastLines = new Queue<string>();
        var stderr = Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            {
                progress?.Report(line);
                lock (lastLines)
                {
                    lastLines.Enqueue(line);
                    if (lastLines.Count > 20) lastLines.Dequeue();
                }
            }
        }, cancellationToken);
        string stdout;
        try
        {
            stdout = await process.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            await stderr.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        if (process.ExitCode != 0)
        {
            string tail;
            lock (lastLines) tail = string.Join(Environment.NewLine, lastLines);
            throw new ImageBuildException($"Image build failed ({script} exited {process.ExitCode}). Last lines:{Environment.NewLine}{tail}");
        }
        var tags = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1].Trim());
        string Tag(string name) => tags.TryGetValue(name, out var t) ? t : throw new ImageBuildException($"{script} printed no tag for '{name}'.");
        return new LabImageSet(Tag("base"), Tag("haproxy"), Tag("keepalived"), Tag("node"), Tag("kubernetes"), Tag("busybox"));
    }
}
