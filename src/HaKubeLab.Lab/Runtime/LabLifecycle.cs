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
    /// <summary>
    /// Brings the lab up (and Kubernetes unless <paramref name="withKubernetes"/> is false). With
    /// <see cref="LabRuntime.UpOptions.RemoveOnFailure"/>, a lab this call created is removed when any phase fails or is
    /// cancelled; a lab that existed before is left as it is.
    /// </summary>
    public static async Task<LabUpResult> UpAsync(IDockerClient docker, LabTopology topology, LabImageSet images, bool withKubernetes,
        IProgress<LabProgress>? progress = null, LabRuntime.UpOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(docker);
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(images);
        options ??= new LabRuntime.UpOptions();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var runtime = new LabRuntime(docker, topology);
        // Decided once, before anything is made, for every phase: only a lab this call created is removed.
        var created = !await LabRuntime.ExistsAsync(docker, topology.Name, cancellationToken).ConfigureAwait(false);
        try
        {
            var lb = await runtime.UpAsync(images, progress, options with { RemoveOnFailure = false }, cancellationToken).ConfigureAwait(false);
            if (!withKubernetes) return new LabUpResult(lb, clock.Elapsed, null);
            var bootstrap = new KubeadmBootstrap(topology, Inventory.ForLab(topology), new KubernetesBuild(images.KubernetesVersion), LabPaths.LabDir(topology.Name), progress);
            var result = await bootstrap.RunAsync(cancellationToken).ConfigureAwait(false);
            return new LabUpResult(lb, clock.Elapsed, result);
        }
        catch (Exception e) when (options.RemoveOnFailure && created)
        {
            // As kind does: a lab this call created and could not finish is removed (also on Ctrl-C).
            await LabRuntime.RemoveUnfinishedAsync(docker, topology.Name, progress, e).ConfigureAwait(false);
            throw;
        }
    }
}
