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
        options ??= new LabRuntime.UpOptions();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var runtime = new LabRuntime(docker, topology);
        var isNew = (await runtime.ListAsync(cancellationToken).ConfigureAwait(false)).Count == 0;
        var lb = await runtime.UpAsync(images, progress, options, cancellationToken).ConfigureAwait(false);
        if (!withKubernetes) return new LabUpResult(lb, clock.Elapsed, null);
        var bootstrap = new KubeadmBootstrap(topology, Inventory.ForLab(topology), new KubernetesBuild(images.KubernetesVersion), LabPaths.LabDir(topology.Name), progress);
        try
        {
            var result = await bootstrap.RunAsync(cancellationToken).ConfigureAwait(false);
            return new LabUpResult(lb, clock.Elapsed, result);
        }
        catch (Exception) when (options.RemoveOnFailure && isNew)
        {
            // As kind does: a lab this call created and could not finish is removed (also on Ctrl-C).
            await LabRuntime.DownAsync(docker, topology.Name, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }
}
