using Docker.DotNet;
using HaKubeLab.Bootstrap;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Runtime;

/// <summary>What a full bring-up did: the load-balancer tier, then (optionally) Kubernetes.</summary>
public sealed record LabUpResult(TimeSpan LoadBalancerTier, TimeSpan Total, BootstrapResult? Kubernetes);

/// <summary>
/// The whole bring-up the CLI's <c>up</c>, the AppHost and the tests share: the lab's containers
/// (<see cref="LabRuntime.UpAsync"/>), then the runbook's kubeadm bootstrap over SSH.
/// </summary>
public static class LabLifecycle
{
    public static async Task<LabUpResult> UpAsync(IDockerClient docker, LabTopology topology, LabImageSet images, bool withKubernetes,
        IProgress<LabProgress>? progress = null, LabRuntime.UpOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(docker);
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(images);
        options ??= new LabRuntime.UpOptions();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var runtime = new LabRuntime(docker, topology);
        EnsureImagesFit(topology, images);
        var isNew = (await runtime.ListAsync(cancellationToken).ConfigureAwait(false)).Count == 0;
        var lb = await runtime.UpAsync(images, progress, options with { Kubernetes = withKubernetes }, cancellationToken).ConfigureAwait(false);
        if (!withKubernetes) return new LabUpResult(lb, clock.Elapsed, null);
        var bootstrap = new KubeadmBootstrap(topology, Inventory.ForLab(topology), images.Versions, LabPaths.LabDir(topology.Name), progress);
        try
        {
            var result = await bootstrap.RunAsync(cancellationToken).ConfigureAwait(false);
            if (LabRecord.TryReadOrNull(topology.Name) is { } record) (record with { KubernetesReadyAt = DateTimeOffset.UtcNow }).Write();
            return new LabUpResult(lb, clock.Elapsed, result);
        }
        catch (Exception) when (options.RemoveOnFailure && isNew)
        {
            // As kind does: a lab this call created and could not finish is removed (also on Ctrl-C).
            await LabRuntime.DownAsync(docker, topology.Name, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Refuses images built for another image repository than the topology names (the kubeadm config would name images the node lacks).</summary>
    public static void EnsureImagesFit(LabTopology topology, LabImageSet images)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(images);
        if (images.ImageRepository != topology.Kubernetes.ImageRepository)
            throw new LabException($"kubernetes.imageRepository: the topology names '{topology.Kubernetes.ImageRepository}', the images were built under '{images.ImageRepository}'. " +
                                   "Build the images for the topology's repository (LabImages.EnsureAsync(topology.Kubernetes.ImageRepository, ...)), as './hakubelab up' does.");
    }
}
