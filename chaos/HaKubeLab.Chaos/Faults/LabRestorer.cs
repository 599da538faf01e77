using Docker.DotNet;
using HaKubeLab.Bootstrap;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Chaos.Faults;

/// <summary>
/// Brings a lab's containers (and Kubernetes' per-node pod routes) back after node faults, through the
/// lab runtime's own idempotent bring-up: <see cref="LabRuntime.UpAsync"/> starts stopped containers and
/// recreates the sidecars of a node that was restarted (they still sit in its dead network namespace);
/// <see cref="LabLifecycle.UpAsync"/> then skips the kubeadm steps that are done and writes the routes again.
/// </summary>
/// <remarks>It brings the lab back as its record says (topology and images): no image build, no topology file.</remarks>
public sealed class LabRestorer(RunningLab lab, Action<string> log)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly IDockerClient docker = lab.Docker;
    private readonly LabTopology topology = lab.Topology;
    private readonly LabImageSet _images = lab.Record.Images;

    /// <summary>The lab being restored.</summary>
    public RunningLab Lab { get; } = lab;

    public bool Kubernetes { get; } = lab.Kubernetes;

    /// <summary>Starts what is stopped, unpauses what is paused, recreates the sidecars of restarted nodes; returns once VIP:port answers.</summary>
    public async Task RestoreContainersAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var took = await new LabRuntime(docker, topology).UpAsync(_images, Progress("restore"), new LabRuntime.UpOptions(RemoveOnFailure: false), ct).ConfigureAwait(false);
            log($"restore: containers back, {topology.Vip}:{topology.LoadBalancer.Port} answers ({took.TotalSeconds:0.0} s)");
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// After a node came back: waits until the API answers through the VIP (a restarted etcd member needs a
    /// moment; the bootstrap's first step asks the API), then re-runs the idempotent bootstrap, which
    /// writes the pod routes the restart lost.
    /// </summary>
    public async Task RestoreKubernetesAsync(CancellationToken ct)
    {
        if (!Kubernetes) return;
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using (var client = ClusterReadiness.Client(Lab.Record.KubeconfigPath, TimeSpan.FromSeconds(3)))
            {
                while (true)
                {
                    try
                    {
                        if (await ClusterReadiness.ReadyzAsync(client, ct).ConfigureAwait(false) == "ok") break;
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested) { }
                    if (clock.Elapsed > TimeSpan.FromMinutes(4))
                        throw new ChaosException($"restore: the API did not answer /readyz through the VIP within 4 min after the nodes came back; see ./hakubelab status --lab {topology.Name}");
                    await Task.Delay(1000, ct).ConfigureAwait(false);
                }
            }
            await LabLifecycle.UpAsync(docker, topology, _images, withKubernetes: true, Progress("restore kubernetes"), new LabRuntime.UpOptions(RemoveOnFailure: false), ct).ConfigureAwait(false);
            log($"restore: Kubernetes ready through the VIP, pod routes written ({clock.Elapsed.TotalSeconds:0.0} s)");
        }
        finally
        {
            _gate.Release();
        }
    }

    private IProgress<LabProgress> Progress(string prefix) => new SyncProgress(p =>
    {
        if (p.Done && (p.Failed || p.Elapsed > TimeSpan.FromSeconds(2))) log($"{prefix}: {p.Action} {(p.Failed ? "FAILED " + p.Detail : "")}({p.Elapsed.TotalSeconds:0.0} s)");
    });

    private sealed class SyncProgress(Action<LabProgress> report) : IProgress<LabProgress>
    {
        public void Report(LabProgress value) => report(value);
    }
}

/// <summary>The chaos runner refused or could not finish something; the message says what and what to do.</summary>
public sealed class ChaosException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A fault this host cannot inject (e.g. delay without netem); raised before anything is injected.</summary>
public sealed class FaultUnsupportedException(string message) : Exception(message);
