using System.Collections.Immutable;

namespace HaKubeLab.Chaos.Scenarios;

/// <summary>Every fault the runner can inject. Names in scenario files are in <see cref="FaultKinds"/>.</summary>
public enum FaultKind
{
    NodeKill,
    NodeStop,
    NodePause,
    NodeRestart,
    HaproxyKill,
    HaproxyStop,
    HaproxyCrash,
    KeepalivedKill,
    KeepalivedStop,
    KeepalivedCrash,
    ApiServerKill,
    EtcdKill,
    KubeletKill,
    NetworkPartition,
    NetworkLoss,
    NetworkRate,
    NetworkDelay,
}

/// <summary>What a fault does, for scenario authors (<c>chaos list --faults</c>) and reports.</summary>
public sealed record FaultInfo(FaultKind Kind, string Name, string Description, bool NeedsKubernetes = false);

/// <summary>The fault names used in scenario files and what each one does.</summary>
public static class FaultKinds
{
    public static readonly ImmutableArray<FaultInfo> All =
    [
        new(FaultKind.NodeKill, "node-kill", "SIGKILL the node container (a host losing power); its sidecars lose the network with it. Undo: start it, recreate its haproxy and keepalived (and restore the pod routes when Kubernetes runs)."),
        new(FaultKind.NodeStop, "node-stop", "docker stop the node container (graceful shutdown of systemd). Undo as node-kill."),
        new(FaultKind.NodePause, "node-pause", "docker pause the node and its haproxy and keepalived containers (a frozen host: its interface keeps the VIP, nothing answers). Undo: unpause."),
        new(FaultKind.NodeRestart, "node-restart", "docker stop the node (fault time when it has stopped), then start it and recreate its sidecars at once, as a host reboot brings them back."),
        new(FaultKind.HaproxyKill, "haproxy-kill", "docker kill (SIGKILL) the node's haproxy container; Docker counts that as a manual stop, so the restart policy does not bring it back. Undo: start it."),
        new(FaultKind.HaproxyStop, "haproxy-stop", "docker stop the node's haproxy container (graceful). Undo: start it."),
        new(FaultKind.HaproxyCrash, "haproxy-crash", "SIGKILL haproxy's main process from the host (the container's PID 1 as the host sees it): the container exits 137 and the restart policy 'always' restarts it. Undo: make sure it runs."),
        new(FaultKind.KeepalivedKill, "keepalived-kill", "docker kill (SIGKILL) the node's keepalived container: no priority-0 advert, the VIP stays configured on the interface. Undo: start it."),
        new(FaultKind.KeepalivedStop, "keepalived-stop", "docker stop the node's keepalived container: keepalived (PID 1) gets SIGTERM, sends a priority-0 advert and removes the VIP. Undo: start it."),
        new(FaultKind.KeepalivedCrash, "keepalived-crash", "SIGKILL keepalived's main process from the host; the restart policy restarts the container. Undo: make sure it runs."),
        new(FaultKind.ApiServerKill, "kube-apiserver-kill", "SIGKILL kube-apiserver inside the node (pkill in the node's PID namespace); the kubelet restarts the static pod.", NeedsKubernetes: true),
        new(FaultKind.EtcdKill, "etcd-kill", "SIGKILL etcd inside the node; the kubelet restarts the static pod.", NeedsKubernetes: true),
        new(FaultKind.KubeletKill, "kubelet-kill", "SIGKILL the kubelet inside the node; systemd restarts it. Undo: make sure the service runs.", NeedsKubernetes: true),
        new(FaultKind.NetworkPartition, "network-partition", "Take the node's eth0 down inside its namespace (a pulled cable: keepalived goes to FAULT, nothing reaches the node). Undo: link up, default route (and pod routes) back."),
        new(FaultKind.NetworkLoss, "network-loss", "Drop packets at random on the node's eth0, both ways: iptables -m statistic --mode random --probability P in the node's namespace. Needs 'probability'. Undo: delete the rules."),
        new(FaultKind.NetworkRate, "network-rate", "Limit the node's egress on eth0 with tc tbf. Needs 'rate' (e.g. 1mbit). Undo: delete the qdisc."),
        new(FaultKind.NetworkDelay, "network-delay", "Add delay (and jitter) on the node's eth0 with tc netem. Needs 'delay'. Fails before anything is injected when the kernel has no netem: never reports a delay it did not add."),
    ];

    public static string Name(FaultKind kind) => Info(kind).Name;

    public static FaultInfo Info(FaultKind kind) => All.First(f => f.Kind == kind);

    public static FaultKind? Parse(string name) => All.FirstOrDefault(f => f.Name == name)?.Kind;
}
