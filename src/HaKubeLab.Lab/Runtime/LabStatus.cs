using System.Text.Json.Serialization;

namespace HaKubeLab.Runtime;

/// <summary>A container of the lab and its Docker state (running, exited, paused, missing).</summary>
public sealed record PartStatus(string Name, string Container, string State);

/// <summary>One node: its address, its container's state, its sidecars, whether it carries the VIP, and (once Kubernetes runs) its apiserver and etcd.</summary>
public sealed record NodeStatus(string Name, string Ip, string State, IReadOnlyList<PartStatus> Sidecars, bool HoldsVip, string? ApiServer = null, string? Etcd = null);

/// <summary>One external etcd member: its container's state and etcdctl's view of it (healthy, unhealthy, unreachable, down).</summary>
public sealed record EtcdNodeStatus(string Name, string Ip, string Container, string State, string? Health, bool Leader);

/// <summary>What <c>status</c> shows; the JSON form is read by scripts and CI.</summary>
public sealed record LabStatus(
    string Lab,
    string? Subnet,
    string? Vip,
    int? LoadBalancerPort,
    [property: JsonPropertyName("vipHolder")] string? VipHolder,
    bool? LoadBalancerAnswers,
    IReadOnlyList<NodeStatus> Nodes,
    bool Kubernetes = false,
    string? EtcdLeader = null,
    LeaderSnapshot? Leaders = null)
{
    /// <summary>"stacked" (an etcd member on each master) or "external" (etcd nodes of their own, <see cref="EtcdNodes"/>); null when the lab does not exist.</summary>
    public string? EtcdTopology { get; init; }

    /// <summary>The external etcd topology's members; null when etcd is stacked. <see cref="EtcdLeader"/> then names one of them.</summary>
    public IReadOnlyList<EtcdNodeStatus>? EtcdNodes { get; init; }

    public bool Exists => Nodes.Count > 0 || Subnet is not null;
}

/// <summary>What <c>down</c> removed.</summary>
public sealed record TeardownResult(int Containers, int Networks, int Volumes, bool StateDirRemoved);
