using System.Diagnostics;

namespace HaKubeLab.Runtime;

/// <summary>The lab's locally built images, tagged by the hash of their inputs.</summary>
/// <param name="KubernetesVersion">The Kubernetes version built into the node image (<see cref="LabVersions.Kubernetes"/>).</param>
/// <param name="Busybox">A static busybox preloaded in the nodes, for the lab's own pod checks.</param>
/// <param name="ImageRepository">The repository the control-plane images in the node are tagged under (the kubeadm config's imageRepository).</param>
/// <param name="EtcdVersion">The etcd image tag in the node (<see cref="LabVersions.Etcd"/>).</param>
public sealed record LabImageSet(string Base, string Haproxy, string Keepalived, string Node, string KubernetesVersion, string Busybox, string ImageRepository, string EtcdVersion)
{
    /// <summary>What the kubeadm configuration must name for these images.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Rendering.KubernetesBuild Versions => new(KubernetesVersion, EtcdVersion);
}

/// <summary>Raised when an image build fails; names the failing step.</summary>
public sealed class ImageBuildException(string message) : Exception(message);

/// <summary>
/// Builds (or finds cached) images through scripts/images/build.sh, the same script a user
/// without .NET runs for docker-compose.lab.yml, so there is one image recipe.
/// </summary>
public static class LabImages
{
    /// <summary>The images with the runbook's (default) image repository.</summary>
    public static Task<LabImageSet> EnsureAsync(IProgress<string>? progress, CancellationToken cancellationToken) =>
        EnsureAsync(null, progress, cancellationToken);

    /// <summary>
    /// The images for <paramref name="imageRepository"/> (a topology's kubernetes.imageRepository; null: the default from
    /// versions.env): the control-plane images are tagged under it, so the kubeadm config rendered for that topology
    /// names images that exist in the node. Runs scripts/images/build.sh all and returns the tags it printed.
    /// </summary>
    /// <param name="imageRepository">The repository to tag the control-plane images under; null for the default.</param>
    /// <param name="progress">Receives the script's progress lines (its stderr).</param>
    /// <param name="cancellationToken">Stops the build (SIGINT to its process group, as a terminal's Ctrl-C would) and throws <see cref="OperationCanceledException"/>.</param>
    public static async Task<LabImageSet> EnsureAsync(string? imageRepository, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var script = RepositoryLayout.Script("images/build.sh");
        // In a session of its own: a terminal's Ctrl-C reaches only the caller, which stops the build itself and
        // reports an interruption (exit 130), not a build that "failed" because it died of the same signal first.
        var isolate = File.Exists("/usr/bin/setsid");
        var psi = new ProcessStartInfo(isolate ? "/usr/bin/setsid" : "bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in isolate ? ["bash", script, "all"] : new[] { script, "all" }) psi.ArgumentList.Add(a);
        psi.Environment["HAKUBELAB_IMAGE_REPOSITORY"] = imageRepository ?? LabVersions.ImageRepository;
        using var process = Process.Start(psi) ?? throw new ImageBuildException($"could not start {script}");
        var lastLines = new Queue<string>();
        var stderr = Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync(CancellationToken.None).ConfigureAwait(false) is { } line)
            {
                progress?.Report(line);
                lock (lastLines)
                {
                    lastLines.Enqueue(line);
                    if (lastLines.Count > 20) lastLines.Dequeue();
                }
            }
        }, CancellationToken.None);
        string stdout;
        try
        {
            stdout = await process.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            await stderr.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await StopAsync(process).ConfigureAwait(false);
            throw;
        }
        cancellationToken.ThrowIfCancellationRequested();

        if (process.ExitCode != 0)
        {
            string tail;
            lock (lastLines) tail = string.Join(Environment.NewLine, lastLines);
            throw new ImageBuildException($"Image build failed ({script} exited {process.ExitCode}). Last lines:{Environment.NewLine}{tail}");
        }
        var tags = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1].Trim());
        string Tag(string name) => tags.TryGetValue(name, out var t) ? t : throw new ImageBuildException($"{script} printed no tag for '{name}'.");
        string TagOr(string name, string fallback) => tags.TryGetValue(name, out var t) ? t : fallback;
        return new LabImageSet(Tag("base"), Tag("haproxy"), Tag("keepalived"), Tag("node"), Tag("kubernetes"), Tag("busybox"),
            TagOr("image_repository", imageRepository ?? LabVersions.ImageRepository), TagOr("etcd", LabVersions.Etcd));
    }

    /// <summary>
    /// Stops the build as Ctrl-C would (SIGINT to its process group: docker build cancels, traps run), and kills
    /// whatever is left after a few seconds.
    /// </summary>
    private static async Task StopAsync(Process process)
    {
        const int SigInt = 2;
        try
        {
            if (!process.HasExited && LibC.Kill(-process.Id, SigInt) == 0)
            {
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try { await process.WaitForExitAsync(grace.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { /* still running: killed below */ }
            }
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException) { /* it has exited meanwhile */ }
    }
}
