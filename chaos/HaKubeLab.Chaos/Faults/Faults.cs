using System.Diagnostics;
using System.Globalization;
using Docker.DotNet;
using Docker.DotNet.Models;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Chaos.Faults;

/// <summary>What every fault needs: the lab, the Docker engine, the run clock and the restorer.</summary>
public sealed record FaultContext(IDockerClient Docker, LabTopology Topology, RunClock Clock, LabRestorer Restorer, Action<string> Log)
{
    public string Container(string node, LabRole role = LabRole.Node) => LabNames.Container(Topology.Name, node, role);

    public async Task<ExecResult> ShAsync(string node, string script, CancellationToken ct) =>
        await DockerExec.RunAsync(Docker, Container(node), ["sh", "-c", script], ct).ConfigureAwait(false);

    public async Task<ExecResult> MustAsync(string node, string script, CancellationToken ct)
    {
        var r = await ShAsync(node, script, ct).ConfigureAwait(false);
        if (!r.Succeeded) throw new ChaosException($"in {Container(node)}: '{script}' failed (exit {r.ExitCode}): {(r.Stderr + r.Stdout).Trim()}");
        return r;
    }
}

/// <summary>
/// One injected fault. <see cref="InjectAsync"/> returns the fault time: the run-clock moment the Docker
/// or shell call that does it returned. <see cref="UndoAsync"/> puts the lab back; it is idempotent and
/// safe after a half-done injection, so the runner can always call it (end of scenario, failure, Ctrl-C).
/// </summary>
public interface IFault
{
    FaultKind Kind { get; }
    string Node { get; }

    /// <summary>Which mechanism the fault uses, for the report (e.g. "docker kill" vs "SIGKILL of PID 1 from the host").</summary>
    string Mechanism { get; }

    /// <summary>True when the lab heals from it without help (crashes the restart policy or the kubelet answers); undo then only checks.</summary>
    bool HealsItself { get; }

    Task<double> InjectAsync(CancellationToken ct);

    Task UndoAsync(CancellationToken ct);
}

/// <summary>Creates injectors and checks, before anything is injected, that this host can do them.</summary>
public static class FaultFactory
{
    public static IFault Create(FaultKind kind, string node, FaultParameters parameters, FaultContext context)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(context);
        if (kind == FaultKind.EtcdNodeKill) return new EtcdNodeFault(context, EtcdNodeFault.Member(context.Topology, node));
        context.Topology.Node(node); // names the known nodes when it is not one
        FailoverModel.EnsureApplies(context.Topology, kind); // etcd-kill on a master of an external-etcd lab: nothing to kill
        return kind switch
        {
            FaultKind.NodeKill => new NodeFault(context, node, kind, "docker kill -s SIGKILL (node container)"),
            FaultKind.NodeStop => new NodeFault(context, node, kind, "docker stop (node container; systemd shuts down)"),
            FaultKind.NodeRestart => new NodeFault(context, node, kind, "docker stop, then start and recreate the sidecars (as a reboot brings them back)"),
            FaultKind.NodePause => new PauseFault(context, node),
            FaultKind.HaproxyKill => new SidecarFault(context, node, kind, LabRole.Haproxy, SidecarAction.DockerKill),
            FaultKind.HaproxyStop => new SidecarFault(context, node, kind, LabRole.Haproxy, SidecarAction.DockerStop),
            FaultKind.HaproxyCrash => new SidecarFault(context, node, kind, LabRole.Haproxy, SidecarAction.Crash),
            FaultKind.KeepalivedKill => new SidecarFault(context, node, kind, LabRole.Keepalived, SidecarAction.DockerKill),
            FaultKind.KeepalivedStop => new SidecarFault(context, node, kind, LabRole.Keepalived, SidecarAction.DockerStop),
            FaultKind.KeepalivedCrash => new SidecarFault(context, node, kind, LabRole.Keepalived, SidecarAction.Crash),
            FaultKind.ApiServerKill => new ProcessFault(context, node, kind, "kube-apiserver"),
            FaultKind.EtcdKill => new ProcessFault(context, node, kind, "etcd"),
            FaultKind.KubeletKill => new ProcessFault(context, node, kind, "kubelet"),
            FaultKind.ControllerManagerKill => new ProcessFault(context, node, kind, "kube-controller-manager"),
            FaultKind.SchedulerKill => new ProcessFault(context, node, kind, "kube-scheduler"),
            FaultKind.NetworkPartition => new PartitionFault(context, node),
            FaultKind.NetworkLoss => new LossFault(context, node, parameters.Probability ?? throw new ArgumentException("network-loss needs a probability", nameof(parameters))),
            FaultKind.NetworkRate => new RateFault(context, node, parameters.Rate ?? throw new ArgumentException("network-rate needs a rate", nameof(parameters))),
            FaultKind.NetworkDelay => new DelayFault(context, node, parameters.Delay ?? throw new ArgumentException("network-delay needs a delay", nameof(parameters)), parameters.Jitter),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    /// <summary>
    /// Checks a fault kind can be done here before the run starts; throws <see cref="FaultUnsupportedException"/>
    /// saying why and what to do instead. Delay needs netem: it is tried in a throwaway network namespace
    /// inside a node (<c>unshare -n</c>), so the check touches no interface the lab uses.
    /// </summary>
    public static async Task PreflightAsync(FaultKind kind, FaultContext context, bool kubernetes, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(context);
        var info = FaultKinds.Info(kind);
        if (info.NeedsKubernetes && !kubernetes)
            throw new FaultUnsupportedException($"{info.Name} needs Kubernetes, and lab '{context.Topology.Name}' has none (no kubeconfig). Bring it up with './hakubelab up' (without --no-kubernetes).");
        var probeNode = context.Topology.Nodes[0].Name;
        switch (kind)
        {
            case FaultKind.EtcdNodeKill when context.Topology.Etcd.Topology != HaKubeLab.Topology.EtcdTopology.External:
                throw new FaultUnsupportedException($"etcd-node-kill kills a member container of the external etcd topology, and lab '{context.Topology.Name}' runs etcd stacked on its masters. Use etcd-kill (target etcd-leader or a master) there, or bring up a lab with 'etcd: {{ topology: external }}'.");
            case FaultKind.NetworkDelay:
            {
                var r = await context.ShAsync(probeNode, "unshare -n sh -c 'ip link set lo up && tc qdisc add dev lo root netem delay 1ms && tc qdisc del dev lo root' 2>&1", ct).ConfigureAwait(false);
                if (!r.Succeeded)
                    throw new FaultUnsupportedException(
                        $"network-delay needs the kernel's netem qdisc, and this kernel has none: 'tc qdisc add ... netem' said '{r.Stdout.Trim()}' (CONFIG_NET_SCH_NETEM is not set). " +
                        "Nothing was injected and no delay is reported. Use network-loss (iptables statistic) or network-rate (tc tbf), which work here, or run on a kernel with netem.");
                break;
            }
            case FaultKind.NetworkLoss:
            {
                var r = await context.ShAsync(probeNode, "iptables -m statistic -h >/dev/null 2>&1 && command -v iptables", ct).ConfigureAwait(false);
                if (!r.Succeeded) throw new FaultUnsupportedException("network-loss needs iptables with the statistic match in the node image; it is missing.");
                break;
            }
            case FaultKind.NetworkRate:
            {
                var r = await context.ShAsync(probeNode, "unshare -n sh -c 'ip link set lo up && tc qdisc add dev lo root tbf rate 1mbit burst 32kbit latency 400ms && tc qdisc del dev lo root' 2>&1", ct).ConfigureAwait(false);
                if (!r.Succeeded) throw new FaultUnsupportedException($"network-rate needs tc's tbf qdisc: '{r.Stdout.Trim()}'.");
                break;
            }
            case FaultKind.HaproxyCrash or FaultKind.KeepalivedCrash:
            {
                var role = kind == FaultKind.HaproxyCrash ? LabRole.Haproxy : LabRole.Keepalived;
                var c = await context.Docker.Containers.InspectContainerAsync(context.Container(probeNode, role), ct).ConfigureAwait(false);
                if (!SidecarFault.HostSeesPid((int)(c.State?.Pid ?? 0), c.ID))
                    throw new FaultUnsupportedException($"{info.Name} kills the sidecar's main process from the host, so the runner must run as root on the Docker host; it cannot see PID {c.State?.Pid} of {c.Name.TrimStart('/')}. " +
                                                        $"Use {info.Name.Replace("-crash", "-kill", StringComparison.Ordinal)} (docker kill) instead.");
                break;
            }
        }
    }
}

/// <summary>Base: the context, the node, and the "undone" bookkeeping.</summary>
public abstract class FaultBase(FaultContext context, string node, FaultKind kind) : IFault
{
    protected FaultContext Context { get; } = context;
    public FaultKind Kind { get; } = kind;
    public string Node { get; } = node;
    public abstract string Mechanism { get; }
    public virtual bool HealsItself => false;
    public abstract Task<double> InjectAsync(CancellationToken ct);
    public abstract Task UndoAsync(CancellationToken ct);

    protected double Now => Context.Clock.Now;

    protected async Task<ContainerInspectResponse?> InspectAsync(string container, CancellationToken ct)
    {
        try { return await Context.Docker.Containers.InspectContainerAsync(container, ct).ConfigureAwait(false); }
        catch (DockerContainerNotFoundException) { return null; }
    }
}

/// <summary>node-kill, node-stop, node-restart: the node container goes down; undo restores it and its sidecars.</summary>
public sealed class NodeFault(FaultContext context, string node, FaultKind kind, string mechanism) : FaultBase(context, node, kind)
{
    public override string Mechanism { get; } = mechanism;

    public override async Task<double> InjectAsync(CancellationToken ct)
    {
        var name = Context.Container(Node);
        if (Kind == FaultKind.NodeKill)
            await Context.Docker.Containers.KillContainerAsync(name, new ContainerKillParameters { Signal = "SIGKILL" }, ct).ConfigureAwait(false);
        else
            await Context.Docker.Containers.StopContainerAsync(name, new ContainerStopParameters { WaitBeforeKillSeconds = 10 }, ct).ConfigureAwait(false);
        var faultTime = Now;
        if (Kind == FaultKind.NodeRestart)
        {
            // A reboot brings the host and its --restart always containers back; here the runtime does that.
            await UndoAsync(ct).ConfigureAwait(false);
        }
        return faultTime;
    }

    public override async Task UndoAsync(CancellationToken ct)
    {
        // Start through the runtime (not docker start): it then knows the node restarted and recreates its sidecars.
        await Context.Restorer.RestoreContainersAsync(ct).ConfigureAwait(false);
        await Context.Restorer.RestoreKubernetesAsync(ct).ConfigureAwait(false);
    }
}

/// <summary>node-pause: freezes the node and both sidecars (they share its network namespace but not its cgroup).</summary>
public sealed class PauseFault(FaultContext context, string node) : FaultBase(context, node, FaultKind.NodePause)
{
    private readonly LabRole[] _order = [LabRole.Keepalived, LabRole.Haproxy, LabRole.Node];

    public override string Mechanism => "docker pause of the node, its haproxy and its keepalived (a frozen host)";

    public override async Task<double> InjectAsync(CancellationToken ct)
    {
        // Pausing only the node container would leave keepalived sending adverts from its namespace.
        await Task.WhenAll(_order.Select(r => Context.Docker.Containers.PauseContainerAsync(Context.Container(Node, r), ct))).ConfigureAwait(false);
        return Now;
    }

    public override async Task UndoAsync(CancellationToken ct)
    {
        foreach (var role in _order.Reverse())
        {
            var c = await InspectAsync(Context.Container(Node, role), ct).ConfigureAwait(false);
            if (c?.State?.Paused == true) await Context.Docker.Containers.UnpauseContainerAsync(c.ID, ct).ConfigureAwait(false);
        }
    }
}

/// <summary>How a sidecar fault acts.</summary>
public enum SidecarAction
{
    /// <summary>docker kill: Docker counts it as a manual stop, the restart policy leaves it down.</summary>
    DockerKill,
    /// <summary>docker stop: SIGTERM (haproxy's image: SIGUSR1), then SIGKILL after 10 s.</summary>
    DockerStop,
    /// <summary>SIGKILL of the container's main process from the host: an unexpected exit the restart policy answers.</summary>
    Crash,
}

/// <summary>haproxy-* and keepalived-*: one sidecar of one node.</summary>
public sealed class SidecarFault(FaultContext context, string node, FaultKind kind, LabRole role, SidecarAction action) : FaultBase(context, node, kind)
{
    private string _startedBefore = "";

    public override string Mechanism => action switch
    {
        SidecarAction.DockerKill => $"docker kill -s SIGKILL {Context.Container(Node, role)} (a manual stop: restart policy 'always' does not restart it)",
        SidecarAction.DockerStop => $"docker stop {Context.Container(Node, role)}",
        _ => $"SIGKILL of {Context.Container(Node, role)}'s PID 1 from the host's PID namespace (inside its own namespace PID 1 ignores SIGKILL); the container exits 137 and restart policy 'always' restarts it",
    };

    public override bool HealsItself => action == SidecarAction.Crash;

    public override async Task<double> InjectAsync(CancellationToken ct)
    {
        var name = Context.Container(Node, role);
        switch (action)
        {
            case SidecarAction.DockerKill:
                await Context.Docker.Containers.KillContainerAsync(name, new ContainerKillParameters { Signal = "SIGKILL" }, ct).ConfigureAwait(false);
                return Now;
            case SidecarAction.DockerStop:
                await Context.Docker.Containers.StopContainerAsync(name, new ContainerStopParameters { WaitBeforeKillSeconds = 10 }, ct).ConfigureAwait(false);
                return Now;
            default:
                var c = await Context.Docker.Containers.InspectContainerAsync(name, ct).ConfigureAwait(false);
                if (c.State is not { Running: true }) throw new ChaosException($"{name} is not running; nothing to crash");
                var pid = (int)c.State.Pid;
                // PIDs are reused: kill only what the container's cgroup says is its process.
                if (!HostSeesPid(pid, c.ID)) throw new ChaosException($"PID {pid} is not {name}'s process as the host sees it; not killing it");
                _startedBefore = c.State.StartedAt;
                using (var p = Process.GetProcessById(pid)) p.Kill();
                return Now;
        }
    }

    public override async Task UndoAsync(CancellationToken ct)
    {
        var name = Context.Container(Node, role);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var c = await InspectAsync(name, ct).ConfigureAwait(false);
            if (c is null) throw new ChaosException($"{name} is gone; run ./hakubelab up to recreate it");
            // A crash is undone when the restart policy brought it back (a new start time).
            if (c.State is { Running: true } && (action != SidecarAction.Crash || c.State.StartedAt != _startedBefore)) return;
            var node = await InspectAsync(Context.Container(Node), ct).ConfigureAwait(false);
            if (node?.State?.Running != true)
            {
                // Its node is down too: the node's own undo (or the final restore) recreates the sidecar.
                await Context.Restorer.RestoreContainersAsync(ct).ConfigureAwait(false);
                return;
            }
            if (action != SidecarAction.Crash || clock.Elapsed > TimeSpan.FromSeconds(15))
            {
                if (c.State is not { Running: true }) await Context.Docker.Containers.StartContainerAsync(c.ID, new ContainerStartParameters(), ct).ConfigureAwait(false);
                return;
            }
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Whether the host can signal <paramref name="pid"/> and it is the container's (its cgroup names the container ID).</summary>
    internal static bool HostSeesPid(int pid, string containerId)
    {
        if (pid <= 0) return false;
        try { return File.ReadAllText($"/proc/{pid}/cgroup").Contains(containerId, StringComparison.Ordinal); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }
}

/// <summary>kube-apiserver-kill, etcd-kill, kubelet-kill: SIGKILL of a process in the node's PID namespace (pkill -x).</summary>
public sealed class ProcessFault(FaultContext context, string node, FaultKind kind, string process) : FaultBase(context, node, kind)
{
    // pkill/pgrep -x match the kernel's comm, which keeps 15 characters: kube-controller-manager is "kube-controller".
    private readonly string _comm = process.Length > 15 ? process[..15] : process;

    public override string Mechanism => $"pkill -KILL -x {_comm} inside {Context.Container(Node)} (the kubelet restarts static pods, systemd the kubelet)";
    public override bool HealsItself => true;

    public override async Task<double> InjectAsync(CancellationToken ct)
    {
        var r = await Context.ShAsync(Node, $"pkill -KILL -x {_comm}", ct).ConfigureAwait(false);
        var faultTime = Now;
        if (r.ExitCode == 1) throw new ChaosException($"no {process} process runs in {Context.Container(Node)}; nothing was killed");
        if (!r.Succeeded) throw new ChaosException($"pkill {process} in {Context.Container(Node)} failed (exit {r.ExitCode}): {r.Stderr.Trim()}");
        return faultTime;
    }

    public override async Task UndoAsync(CancellationToken ct)
    {
        var node = await InspectAsync(Context.Container(Node), ct).ConfigureAwait(false);
        if (node?.State?.Running != true) return; // the node's own fault undoes more than this
        if (process == "kubelet") await Context.ShAsync(Node, "systemctl is-active -q kubelet || systemctl start kubelet", ct).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(90))
        {
            if ((await Context.ShAsync(Node, $"pgrep -x {_comm} >/dev/null", ct).ConfigureAwait(false)).Succeeded) return;
            await Task.Delay(500, ct).ConfigureAwait(false);
        }
        Context.Log($"warning: {process} did not come back in {Context.Container(Node)} within 90 s");
    }
}

/// <summary>
/// network-partition: the node's lab interface goes down inside its namespace (a pulled cable: the link
/// drops, keepalived goes to FAULT, nothing reaches the node). Not <c>docker network disconnect</c>: Docker
/// deletes the interface, keepalived keeps its VRRP socket on the deleted ifindex and never takes the VIP
/// again, and a reconnected interface comes back as eth1, which keepalived's config does not name; renaming
/// it breaks Docker's own bookkeeping (a later disconnect leaves the old interface behind). Both seen in the lab.
/// </summary>
public sealed class PartitionFault(FaultContext context, string node) : FaultBase(context, node, FaultKind.NetworkPartition)
{
    private string Iface => Context.Topology.Keepalived.Interface;

    public override string Mechanism => $"ip link set {Iface} down inside {Context.Container(Node)} (a pulled cable); undo: link up, default route via {Context.Topology.Gateway} back";

    public override async Task<double> InjectAsync(CancellationToken ct)
    {
        await Context.MustAsync(Node, $"ip link set {Iface} down", ct).ConfigureAwait(false);
        return Now;
    }

    public override async Task UndoAsync(CancellationToken ct)
    {
        var container = await InspectAsync(Context.Container(Node), ct).ConfigureAwait(false);
        if (container?.State?.Running != true || container.State.Paused) return; // the node's own undo brings it back whole
        await Context.MustAsync(Node, $"ip link set {Iface} up && ip route replace default via {Context.Topology.Gateway} dev {Iface}", ct).ConfigureAwait(false);
        // The pod routes went down with the link.
        await Context.Restorer.RestoreKubernetesAsync(ct).ConfigureAwait(false);
    }
}

/// <summary>network-loss: random drops both ways on the node's interface with iptables' statistic match.</summary>
public sealed class LossFault(FaultContext context, string node, double probability) : FaultBase(context, node, FaultKind.NetworkLoss)
{
    private string Rules(string op) =>
        $"iptables {op} INPUT -i {Context.Topology.Keepalived.Interface} -m statistic --mode random --probability {probability.ToString("0.####", CultureInfo.InvariantCulture)} -m comment --comment hakubelab-chaos -j DROP && " +
        $"iptables {op} OUTPUT -o {Context.Topology.Keepalived.Interface} -m statistic --mode random --probability {probability.ToString("0.####", CultureInfo.InvariantCulture)} -m comment --comment hakubelab-chaos -j DROP";

    public override string Mechanism => $"iptables -m statistic --mode random --probability {probability:0.###} -j DROP on INPUT and OUTPUT of {Context.Topology.Keepalived.Interface} in {Context.Container(Node)}";

    public override async Task<double> InjectAsync(CancellationToken ct)
    {
        await Context.MustAsync(Node, Rules("-I"), ct).ConfigureAwait(false);
        return Now;
    }

    public override async Task UndoAsync(CancellationToken ct)
    {
        // Delete every rule this runner tagged, also ones a crashed earlier run left behind.
        await Context.ShAsync(Node, "for c in INPUT OUTPUT; do iptables -S $c | grep -- '--comment hakubelab-chaos' | sed 's/^-A/-D/' | while read -r r; do eval iptables $r; done; done", ct).ConfigureAwait(false);
    }
}

/// <summary>network-rate: egress rate limit on the node's interface with tc tbf.</summary>
public sealed class RateFault(FaultContext context, string node, string rate) : FaultBase(context, node, FaultKind.NetworkRate)
{
    public override string Mechanism => $"tc qdisc replace dev {Context.Topology.Keepalived.Interface} root tbf rate {rate} burst 32kbit latency 400ms in {Context.Container(Node)}";

    public override async Task<double> InjectAsync(CancellationToken ct)
    {
        await Context.MustAsync(Node, $"tc qdisc replace dev {Context.Topology.Keepalived.Interface} root tbf rate {rate} burst 32kbit latency 400ms", ct).ConfigureAwait(false);
        return Now;
    }

    public override Task UndoAsync(CancellationToken ct) =>
        Context.ShAsync(Node, $"tc qdisc del dev {Context.Topology.Keepalived.Interface} root 2>/dev/null; true", ct);
}

/// <summary>network-delay: tc netem on the node's interface; the preflight refuses it on a kernel without netem.</summary>
public sealed class DelayFault(FaultContext context, string node, TimeSpan delay, TimeSpan? jitter) : FaultBase(context, node, FaultKind.NetworkDelay)
{
    private string Args => $"delay {delay.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture)}ms" +
                           (jitter is { } j ? $" {j.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture)}ms" : "");

    public override string Mechanism => $"tc qdisc replace dev {Context.Topology.Keepalived.Interface} root netem {Args} in {Context.Container(Node)}";

    public override async Task<double> InjectAsync(CancellationToken ct)
    {
        var iface = Context.Topology.Keepalived.Interface;
        var r = await Context.ShAsync(Node, $"tc qdisc replace dev {iface} root netem {Args} 2>&1 && tc qdisc show dev {iface}", ct).ConfigureAwait(false);
        var faultTime = Now;
        // Report a delay only when the qdisc is really there.
        if (!r.Succeeded || !r.Stdout.Contains("netem", StringComparison.Ordinal))
            throw new FaultUnsupportedException($"network-delay could not be added on {Node}: {r.Stdout.Trim()}. No delay was injected.");
        return faultTime;
    }

    public override Task UndoAsync(CancellationToken ct) =>
        Context.ShAsync(Node, $"tc qdisc del dev {Context.Topology.Keepalived.Interface} root 2>/dev/null; true", ct);
}
