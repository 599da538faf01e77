using System.Collections.Immutable;
using System.Net;

namespace HaKubeLab.Runtime;

/// <summary>A container's state as Docker reports it, typed.</summary>
public enum ContainerState
{
    /// <summary>No such container.</summary>
    Missing,
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
    Removing,
}

/// <summary>One container of the lab.</summary>
/// <param name="ExitCode">The last exit code while <see cref="State"/> is Exited (or Dead); null otherwise.</param>
/// <param name="Since">When the container entered this state, where known (the engine's own timestamp).</param>
public sealed record PartState(LabRole Role, string Container, ContainerState State, long? ExitCode = null, DateTimeOffset? Since = null)
{
    public bool Running => State == ContainerState.Running;

    /// <summary>"running", "exited (137)", "paused", "missing".</summary>
    public string Text => State == ContainerState.Exited && ExitCode is { } code ? $"exited ({code})" : State.ToString().ToLowerInvariant();
}

/// <summary>One master: its node container, its sidecars and whether it carries the VIP.</summary>
public sealed record NodeSnapshot(string Name, IPAddress Ip, PartState Node, PartState Haproxy, PartState Keepalived, bool HoldsVip)
{
    public PartState Part(LabRole role) => role switch
    {
        LabRole.Node => Node,
        LabRole.Haproxy => Haproxy,
        LabRole.Keepalived => Keepalived,
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    public IEnumerable<PartState> Parts => [Node, Haproxy, Keepalived];
}

/// <summary>One member of the external etcd topology: its own container (role etcd), on the lab network at its fixed address.</summary>
public sealed record EtcdNodeSnapshot(string Name, IPAddress Ip, PartState Container);

/// <summary>Something Docker reported about one of the lab's containers.</summary>
/// <param name="Time">The engine's own timestamp of the event (nanosecond resolution on the wire).</param>
/// <param name="Action">Docker's action: start, die, stop, kill, pause, unpause, restart, create, destroy, oom.</param>
/// <param name="ExitCode">For die: the container's exit code.</param>
public sealed record LabEvent(DateTimeOffset Time, string Node, LabRole Role, string Container, string Action, long? ExitCode = null)
{
    public override string ToString() => $"{Container} {Action}{(ExitCode is { } c ? $" (exit {c})" : "")} at {Time:HH:mm:ss.fff}";
}

/// <summary>The lab at one moment: every container's state and who holds the VIP.</summary>
/// <param name="Cause">What made this snapshot (a Docker event), or null for a look (first snapshot, VIP change seen on the interfaces).</param>
public sealed record LabSnapshot(DateTimeOffset At, string Lab, ImmutableArray<NodeSnapshot> Nodes, VipHolderReading Vip, LabEvent? Cause = null)
{
    /// <summary>The external etcd topology's members (empty when etcd is stacked on the masters).</summary>
    public ImmutableArray<EtcdNodeSnapshot> EtcdNodes { get; init; } = [];

    /// <summary>Every node, sidecar and external etcd member runs and exactly one node holds the VIP.</summary>
    public bool Healthy => Nodes.All(n => n.Parts.All(p => p.Running)) && EtcdNodes.All(e => e.Container.Running) && Vip.Holder is not null && !Vip.DualMaster;

    /// <summary>The external etcd member called <paramref name="name"/>.</summary>
    public EtcdNodeSnapshot EtcdNode(string name) =>
        EtcdNodes.FirstOrDefault(n => n.Name == name) ?? throw new ArgumentException($"No etcd node '{name}' in lab '{Lab}'.", nameof(name));

    public NodeSnapshot Node(string name) =>
        Nodes.FirstOrDefault(n => n.Name == name) ?? throw new ArgumentException($"No node '{name}' in lab '{Lab}'.", nameof(name));

    /// <summary>What is not as it should be ("m02's haproxy is exited (137)", "no node holds the VIP"); empty when healthy.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        foreach (var n in Nodes)
            foreach (var p in n.Parts.Where(p => !p.Running))
                problems.Add(p.Role == LabRole.Node ? $"node {n.Name} is {p.Text}" : $"{n.Name}'s {LabNames.RoleLabel(p.Role)} is {p.Text}");
        foreach (var e in EtcdNodes.Where(e => !e.Container.Running))
            problems.Add($"etcd node {e.Name} is {e.Container.Text}");
        if (Vip.DualMaster) problems.Add($"{Vip.Label} all carry the VIP");
        else if (Vip.Holder is null) problems.Add("no node carries the VIP");
        return problems;
    }
}
