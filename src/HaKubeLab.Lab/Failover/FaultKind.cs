using System.Collections.Immutable;

namespace HaKubeLab.Failover;

/// <summary>
/// Every fault the lab knows: what the chaos runner injects, what <c>explain</c> explains and what the
/// failover model predicts. Names (scenario files, <c>--fail</c>) are in <see cref="FaultKinds"/>.
/// </summary>
public enum FaultKind
{
    /// <summary>The node container SIGKILLed (a host losing power), sidecars losing the network with it.</summary>
    NodeKill,
    /// <summary>The node container stopped gracefully.</summary>
    NodeStop,
    /// <summary>The node and its sidecars frozen (docker pause): the interface keeps the VIP, nothing answers.</summary>
    NodePause,
    /// <summary>The node stopped and started again with its sidecars (a host reboot).</summary>
    NodeRestart,
    /// <summary>haproxy SIGKILLed (docker kill): the restart policy does not bring it back.</summary>
    HaproxyKill,
    /// <summary>haproxy stopped gracefully.</summary>
    HaproxyStop,
    /// <summary>haproxy's main process SIGKILLed from the host: the restart policy restarts it.</summary>
    HaproxyCrash,
    /// <summary>keepalived SIGKILLed: no priority-0 advert, the VIP stays on the interface.</summary>
    KeepalivedKill,
    /// <summary>keepalived stopped gracefully: it sends a priority-0 advert and removes the VIP.</summary>
    KeepalivedStop,
    /// <summary>keepalived's main process SIGKILLed from the host: the restart policy restarts it.</summary>
    KeepalivedCrash,
    /// <summary>kube-apiserver SIGKILLed inside the node; the kubelet restarts it.</summary>
    ApiServerKill,
    /// <summary>etcd SIGKILLed inside the node; the kubelet restarts it.</summary>
    EtcdKill,
    /// <summary>The kubelet SIGKILLed inside the node; systemd restarts it.</summary>
    KubeletKill,
    /// <summary>The node's link taken down (a pulled cable).</summary>
    NetworkPartition,
    /// <summary>Packets dropped at random on the node's link.</summary>
    NetworkLoss,
    /// <summary>The node's egress rate-limited.</summary>
    NetworkRate,
    /// <summary>Delay (and jitter) added on the node's link.</summary>
    NetworkDelay,
    /// <summary>kube-controller-manager SIGKILLed inside the node; the kubelet restarts it (a leader's lease runs out first).</summary>
    ControllerManagerKill,
    /// <summary>kube-scheduler SIGKILLed inside the node; the kubelet restarts it.</summary>
    SchedulerKill,
    /// <summary>A member container of the external etcd topology SIGKILLed (docker kill); not a master.</summary>
    EtcdNodeKill,
}

/// <summary>What a fault does, for scenario authors (<c>chaos list --faults</c>) and reports.</summary>
/// <param name="Kind">The fault.</param>
/// <param name="Name">Its name in scenario files and reports (e.g. <c>node-kill</c>); never changes.</param>
/// <param name="Description">How the chaos runner injects and undoes it.</param>
/// <param name="NeedsKubernetes">Only a lab running Kubernetes has the process it kills.</param>
/// <param name="ShortName">The word <c>explain --fail</c> has always accepted for it (node, haproxy, keepalived, apiserver); null for the others.</param>
public sealed record FaultInfo(FaultKind Kind, string Name, string Description, bool NeedsKubernetes = false, string? ShortName = null)
{
    /// <summary>The short name where there is one, else the full name (how explain prints a fault).</summary>
    public string DisplayName => ShortName ?? Name;
}

/// <summary>The fault names used in scenario files and what each one does.</summary>
public static class FaultKinds
{
    public static readonly ImmutableArray<FaultInfo> All =
    [
        new(FaultKind.NodeKill, "node-kill", "SIGKILL the node container (a host losing power); its sidecars lose the network with it. Undo: start it, recreate its haproxy and keepalived (and restore the pod routes when Kubernetes runs).", ShortName: "node"),
        new(FaultKind.NodeStop, "node-stop", "docker stop the node container (graceful shutdown of systemd). Undo as node-kill."),
        new(FaultKind.NodePause, "node-pause", "docker pause the node and its haproxy and keepalived containers (a frozen host: its interface keeps the VIP, nothing answers). Undo: unpause."),
        new(FaultKind.NodeRestart, "node-restart", "docker stop the node (fault time when it has stopped), then start it and recreate its sidecars at once, as a host reboot brings them back."),
        new(FaultKind.HaproxyKill, "haproxy-kill", "docker kill (SIGKILL) the node's haproxy container; Docker counts that as a manual stop, so the restart policy does not bring it back. Undo: start it.", ShortName: "haproxy"),
        new(FaultKind.HaproxyStop, "haproxy-stop", "docker stop the node's haproxy container (graceful). Undo: start it."),
        new(FaultKind.HaproxyCrash, "haproxy-crash", "SIGKILL haproxy's main process from the host (the container's PID 1 as the host sees it): the container exits 137 and the restart policy 'always' restarts it. Undo: make sure it runs."),
        new(FaultKind.KeepalivedKill, "keepalived-kill", "docker kill (SIGKILL) the node's keepalived container: no priority-0 advert, the VIP stays configured on the interface. Undo: start it.", ShortName: "keepalived"),
        new(FaultKind.KeepalivedStop, "keepalived-stop", "docker stop the node's keepalived container: keepalived (PID 1) gets SIGTERM, sends a priority-0 advert and removes the VIP. Undo: start it."),
        new(FaultKind.KeepalivedCrash, "keepalived-crash", "SIGKILL keepalived's main process from the host; the restart policy restarts the container. Undo: make sure it runs."),
        new(FaultKind.ApiServerKill, "kube-apiserver-kill", "SIGKILL kube-apiserver inside the node (pkill in the node's PID namespace); the kubelet restarts the static pod.", NeedsKubernetes: true, ShortName: "apiserver"),
        new(FaultKind.EtcdKill, "etcd-kill", "SIGKILL etcd inside the node; the kubelet restarts the static pod.", NeedsKubernetes: true),
        new(FaultKind.KubeletKill, "kubelet-kill", "SIGKILL the kubelet inside the node; systemd restarts it. Undo: make sure the service runs.", NeedsKubernetes: true),
        new(FaultKind.NetworkPartition, "network-partition", "Take the node's eth0 down inside its namespace (a pulled cable: keepalived goes to FAULT, nothing reaches the node). Undo: link up, default route (and pod routes) back."),
        new(FaultKind.NetworkLoss, "network-loss", "Drop packets at random on the node's eth0, both ways: iptables -m statistic --mode random --probability P in the node's namespace. Needs 'probability'. Undo: delete the rules."),
        new(FaultKind.NetworkRate, "network-rate", "Limit the node's egress on eth0 with tc tbf. Needs 'rate' (e.g. 1mbit). Undo: delete the qdisc."),
        new(FaultKind.ControllerManagerKill, "kube-controller-manager-kill", "SIGKILL kube-controller-manager inside the node (pkill in the node's PID namespace); the kubelet restarts the static pod. On the leader, no controller runs until another instance takes the lease (lease duration 15 s).", NeedsKubernetes: true),
        new(FaultKind.SchedulerKill, "kube-scheduler-kill", "SIGKILL kube-scheduler inside the node; the kubelet restarts the static pod. On the leader, no pod is scheduled until another instance takes the lease (lease duration 15 s).", NeedsKubernetes: true),
        new(FaultKind.EtcdNodeKill, "etcd-node-kill", "docker kill (SIGKILL) a member container of the external etcd topology (e01 ...; target a member name, etcd-node or etcd-leader). Undo: start it. Only for labs with etcd.topology external.", NeedsKubernetes: true),
        new(FaultKind.NetworkDelay, "network-delay", "Add delay (and jitter) on the node's eth0 with tc netem. Needs 'delay'. Fails before anything is injected when the kernel has no netem: never reports a delay it did not add."),
    ];

    /// <summary>The fault's name in scenario files (e.g. <c>node-kill</c>).</summary>
    public static string Name(FaultKind kind) => Info(kind).Name;

    /// <summary>What <paramref name="kind"/> is and does.</summary>
    public static FaultInfo Info(FaultKind kind) => All.First(f => f.Kind == kind);

    /// <summary>The kind with this full name (as scenario files spell it, case-sensitive), or null.</summary>
    public static FaultKind? Parse(string name) => All.FirstOrDefault(f => f.Name == name)?.Kind;

    /// <summary>
    /// The kind for a full name or one of explain's short words (node, haproxy, keepalived, apiserver;
    /// also kube-apiserver), ignoring case; null when it is neither.
    /// </summary>
    public static FaultKind? ParseAny(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var n = name.Trim().ToLowerInvariant();
        if (n == "kube-apiserver") return FaultKind.ApiServerKill;
        return All.FirstOrDefault(f => f.Name == n || f.ShortName == n)?.Kind;
    }
}
