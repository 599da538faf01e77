using Docker.DotNet;
using HaKubeLab.Chaos.Probes;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Runtime;

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
                return (topology.Node(target.Node!).Name, "by name");
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
                var nodes = await RunningAsync(ct).ConfigureAwait(false);
                var health = await ControlPlaneHealth.CheckAsync(context.Docker, topology.Name,
                    [.. topology.Nodes.Select(n => (n.Name, n.Ip.ToString(), nodes.Contains(n.Name)))], topology.Kubernetes.ApiServerPort, ct).ConfigureAwait(false);
                return health.EtcdLeader is { } leader ? (leader, "leads etcd (etcdctl endpoint status)") : throw new ChaosException("target etcd-leader: no etcd member reports a leader (quorum lost?)");
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
                if (c.State.Running && !c.State.Paused && c.NetworkSettings?.Networks?.ContainsKey(LabNames.Network(context.Topology.Name)) == true)
                    result.Add(node.Name);
            }
            catch (DockerContainerNotFoundException) { }
        }
        return result;
    }
}
