using Docker.DotNet;
using HaKubeLab.Chaos.Probes;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Chaos.Faults;

/// <summary>
/// Turns a target (a node name or a role) into a node of the lab when the step runs. Targets are never
/// addresses: a role is looked up from the lab's own state (its interfaces, etcd), a name must be a node.
/// </summary>
public sealed class TargetResolver(FaultContext context, VipHolderMonitor monitor, Random random, bool kubernetes)
{
    /// <summary>The node for <paramref name="target"/> and how it was chosen.</summary>
    /// <param name="busy">Nodes with an active fault: <c>random</c> and <c>non-holder</c> skip them.</param>
    public async Task<(string Node, string How)> ResolveAsync(TargetSpec target, IReadOnlySet<string> busy, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(busy);
        var topology = context.Topology;
        switch (target.Role)
        {
            case TargetRole.Named:
                return topology.Etcd.Nodes.FirstOrDefault(n => n.Name == target.Node && topology.Nodes.All(m => m.Name != n.Name)) is { } member
                    ? (member.Name, "by name (an external etcd member)")
                    : (topology.Node(target.Node!).Name, "by name");
            case TargetRole.VipHolder:
            {
                var look = monitor.Current ?? throw new ChaosException("no VIP-holder look yet");
                if (look.Reading.Holder is { } holder)
                    return (holder, look.Reading.DualMaster ? $"carries the VIP and the host's ARP entry points at it ({look.Label} carry it)" : $"carries the VIP (interface, t={look.T:0.00} s)");
                throw new ChaosException(look.Holders.IsEmpty
                    ? "target vip-holder: no node carries the VIP right now"
                    : $"target vip-holder: {look.Label} all carry the VIP and the host's ARP entry names none of them");
            }
            case TargetRole.EtcdLeader:
            {
                if (!kubernetes) throw new ChaosException("target etcd-leader needs Kubernetes; this lab has none");
                var leader = await context.Restorer.Lab.Leaders.EtcdAsync(history: false, ct).ConfigureAwait(false);
                return leader.Holder is { } h ? (h, $"leads etcd (etcdctl endpoint status{(leader.Term is { } term ? $", term {term}" : "")})")
                    : throw new ChaosException($"target etcd-leader: no etcd member reports a leader ({leader.Problem})");
            }
            case TargetRole.ControllerManagerLeader or TargetRole.SchedulerLeader:
            {
                var role = target.Role == TargetRole.ControllerManagerLeader ? "controller-manager-leader" : "scheduler-leader";
                if (!kubernetes) throw new ChaosException($"target {role} needs Kubernetes; this lab has none");
                var (cm, scheduler) = await context.Restorer.Lab.Leaders.LeasesAsync(ct).ConfigureAwait(false);
                var lease = target.Role == TargetRole.ControllerManagerLeader ? cm : scheduler;
                if (lease.Holder is not { } holder) throw new ChaosException($"target {role}: {lease.Problem ?? "the lease names no holder"}");
                if (lease.Expired(DateTimeOffset.UtcNow)) throw new ChaosException($"target {role}: the lease of {lease.Identity} expired at {lease.RenewTime?.AddSeconds(lease.LeaseDurationSeconds ?? 0):HH:mm:ss.fff}: nobody leads now");
                return (topology.Node(holder).Name, $"holds the lease kube-system/{lease.Role} ({lease.Identity}, renewed {lease.RenewTime:HH:mm:ss.fff})");
            }
            case TargetRole.EtcdNode:
            {
                if (topology.Etcd.Topology != EtcdTopology.External || topology.Etcd.Nodes.IsEmpty)
                    throw new ChaosException($"target etcd-node needs the external etcd topology; lab '{topology.Name}' runs etcd stacked on its masters (target etcd-leader or a master with etcd-kill)");
                var members = new List<string>();
                foreach (var m in topology.Etcd.Nodes)
                {
                    try
                    {
                        var c = await context.Docker.Containers.InspectContainerAsync(LabNames.Container(topology.Name, m.Name, LabRole.Etcd), ct).ConfigureAwait(false);
                        if (c.State is { Running: true, Paused: false } && !busy.Contains(m.Name)) members.Add(m.Name);
                    }
                    catch (DockerContainerNotFoundException) { }
                }
                if (members.Count == 0) throw new ChaosException("target etcd-node: no running etcd member is free of faults");
                var pick = members[random.Next(members.Count)];
                return (pick, $"picked at random (seeded) from the running etcd members {string.Join(", ", members)}");
            }
            default:
            {
                var running = await RunningAsync(ct).ConfigureAwait(false);
                var holders = monitor.Current?.Holders ?? [];
                var candidates = topology.Nodes.Select(n => n.Name)
                    .Where(n => running.Contains(n) && !busy.Contains(n) && (target.Role != TargetRole.NonHolder || !holders.Contains(n)))
                    .ToList();
                if (candidates.Count == 0)
                    throw new ChaosException($"target {target}: no running node {(target.Role == TargetRole.NonHolder ? "without the VIP " : "")}is free of faults");
                var pick = candidates[random.Next(candidates.Count)];
                return (pick, $"picked at random (seeded) from {string.Join(", ", candidates)}");
            }
        }
    }

    private async Task<HashSet<string>> RunningAsync(CancellationToken ct)
    {
        var result = new HashSet<string>();
        foreach (var node in context.Topology.Nodes)
        {
            try
            {
                var c = await context.Docker.Containers.InspectContainerAsync(context.Container(node.Name), ct).ConfigureAwait(false);
                if (c.State is { Running: true, Paused: false } && c.NetworkSettings?.Networks?.ContainsKey(LabNames.Network(context.Topology.Name)) == true)
                    result.Add(node.Name);
            }
            catch (DockerContainerNotFoundException) { }
        }
        return result;
    }
}
