using System.Collections.Immutable;
using System.Net;

namespace HaKubeLab.Topology;

/// <summary>How the runbook's files are rendered.</summary>
public enum RenderProfile
{
    /// <summary>Exactly what the runbook writes, defects included (lint reports them).</summary>
    Seed,

    /// <summary>kubeadm's own HA guidance: endpoint through haproxy, TLS health checks.</summary>
    Recommended,

    /// <summary>
    /// The recommended profile tuned for sub-second failover: VRRPv3 with 0.1 s adverts (no PASS
    /// authentication: unicast peers with source checking instead), haproxy checks /healthz every
    /// 200 ms and shuts sessions to a dead server, etcd elects a new leader within about half a second.
    /// Its own keepalived defaults: <see cref="KeepalivedSettings.ForProfile"/>.
    /// </summary>
    Fast,
}

/// <summary>VRRP initial state of a keepalived instance.</summary>
public enum VrrpState
{
    Master,
    Backup,
}

/// <summary>
/// The one typed description of a lab. Every renderer, the runtime and the tests read it;
/// defaults are the runbook's values (<see cref="LabTopology.Default"/>).
/// </summary>
/// <example>
/// <code>
/// var topology = TopologyLoader.LoadFile("lab.yaml");      // or LabTopology.Default
/// string cfg = HaproxyConfigRenderer.Render(topology);
/// </code>
/// </example>
public sealed record LabTopology
{
    public required string Name { get; init; }
    public required IPNetwork Subnet { get; init; }
    public required IPAddress Vip { get; init; }
    public RenderProfile Profile { get; init; } = RenderProfile.Seed;
    public LoadBalancerSettings LoadBalancer { get; init; } = new();
    public KeepalivedSettings Keepalived { get; init; } = new();
    public required ImmutableArray<NodeSpec> Nodes { get; init; }
    public KubernetesSettings Kubernetes { get; init; } = new();
    /// <summary>Where etcd runs: on the masters (stacked, the runbook's choice) or on nodes of its own (external).</summary>
    public EtcdSettings Etcd { get; init; } = new();

    /// <summary>The lab network's gateway (the host side of the bridge): the first address of the subnet.</summary>
    public IPAddress Gateway => IpMath.Offset(Subnet.BaseAddress, 1);

    /// <summary>The runbook's lab: three masters at .191-.193, VIP .190, haproxy on 9443.</summary>
    public static LabTopology Default { get; } = new()
    {
        Name = "hakubelab",
        Subnet = IPNetwork.Parse("192.168.100.0/24"),
        Vip = IPAddress.Parse("192.168.100.190"),
        Nodes =
        [
            new NodeSpec { Name = "m01", Ip = IPAddress.Parse("192.168.100.191"), State = VrrpState.Master, Priority = 100 },
            new NodeSpec { Name = "m02", Ip = IPAddress.Parse("192.168.100.192") },
            new NodeSpec { Name = "m03", Ip = IPAddress.Parse("192.168.100.193") },
        ],
    };

    /// <summary>
    /// This lab in profile <paramref name="profile"/>. Keepalived settings that still carry the old profile's
    /// default (<see cref="KeepalivedSettings.ForProfile"/>) take the new profile's default; settings the
    /// topology set to something else are kept. <c>--profile fast</c> on a runbook topology thus gets 0.1 s adverts.
    /// </summary>
    public LabTopology WithProfile(RenderProfile profile)
    {
        if (profile == Profile) return this;
        var from = KeepalivedSettings.ForProfile(Profile);
        var to = KeepalivedSettings.ForProfile(profile);
        var k = Keepalived;
        T Pick<T>(T current, T oldDefault, T newDefault) => EqualityComparer<T>.Default.Equals(current, oldDefault) ? newDefault : current;
        return this with
        {
            Profile = profile,
            Keepalived = k with
            {
                AdvertInterval = Pick(k.AdvertInterval, from.AdvertInterval, to.AdvertInterval),
                CheckInterval = Pick(k.CheckInterval, from.CheckInterval, to.CheckInterval),
                Weight = Pick(k.Weight, from.Weight, to.Weight),
                Fall = Pick(k.Fall, from.Fall, to.Fall),
                Rise = Pick(k.Rise, from.Rise, to.Rise),
                Nopreempt = Pick(k.Nopreempt, from.Nopreempt, to.Nopreempt),
            },
        };
    }

    /// <summary>The node called <paramref name="name"/>, or an error naming the known nodes.</summary>
    public NodeSpec Node(string name) =>
        Nodes.FirstOrDefault(n => n.Name == name)
        ?? throw new ArgumentException($"No node '{name}' in lab '{Name}'. Known nodes: {string.Join(", ", Nodes.Select(n => n.Name))}.", nameof(name));

    /// <summary>
    /// A copy of this lab moved to another name and subnet, keeping each node's and the VIP's host part.
    /// Tests use it to run labs side by side without touching a user's lab.
    /// </summary>
    public LabTopology Relocate(string name, IPNetwork subnet)
    {
        IPAddress Move(IPAddress a) => IpMath.Rebase(a, Subnet, subnet);
        return this with
        {
            Name = name,
            Subnet = subnet,
            Vip = Move(Vip),
            Nodes = [.. Nodes.Select(n => n with { Ip = Move(n.Ip) })],
            Etcd = Etcd with { Nodes = [.. Etcd.Nodes.Select(n => n with { Ip = Move(n.Ip) })] },
        };
    }
}

/// <summary>One master: a node container with its haproxy and keepalived sidecars.</summary>
public sealed record NodeSpec
{
    public required string Name { get; init; }
    public required IPAddress Ip { get; init; }
    public VrrpState State { get; init; } = VrrpState.Backup;
    public int Priority { get; init; } = 100;
}

/// <summary>haproxy in front of the apiservers.</summary>
public sealed record LoadBalancerSettings
{
    /// <summary>The frontend port haproxy binds on every node (the runbook's 9443).</summary>
    public int Port { get; init; } = 9443;
}

/// <summary>keepalived's VRRP instance and its track script.</summary>
public sealed record KeepalivedSettings
{
    public int VirtualRouterId { get; init; } = 51;
    /// <summary>
    /// Seconds between VRRP adverts: whole seconds with VRRPv2 (seed, recommended); with VRRPv3 (the fast
    /// profile) hundredths of a second down to 0.01, e.g. 0.1.
    /// </summary>
    public double AdvertInterval { get; init; } = 1;
    /// <summary>Seconds between runs of the track script.</summary>
    public int CheckInterval { get; init; } = 2;
    /// <summary>Added to the priority while the track script succeeds (positive) or fails (negative).</summary>
    public int Weight { get; init; } = 11;
    /// <summary>Consecutive failures before the script counts as failed (keepalived's default 1).</summary>
    public int Fall { get; init; } = 1;
    /// <summary>Consecutive successes before the script counts as passing again (keepalived's default 1).</summary>
    public int Rise { get; init; } = 1;
    public bool Nopreempt { get; init; } = true;
    /// <summary>The interface that carries the VIP inside each node.</summary>
    public string Interface { get; init; } = "eth0";
    /// <summary>PASS authentication secret; null means one is generated per lab (VRRPv2 only: the fast profile has none).</summary>
    public string? AuthPass { get; init; }

    /// <summary>
    /// The keepalived defaults of <paramref name="profile"/>, used for every key a topology leaves out. seed and
    /// recommended: the runbook's (advert 1 s, track script every 2 s, weight 11, fall/rise 1, nopreempt; the
    /// recommended profile then overrides weight, fall/rise and nopreempt when it renders). fast: adverts every
    /// 0.1 s (VRRPv3), track script every 1 s (keepalived 2.2.7 runs scripts at whole seconds only) with fall 2 and
    /// rise 2 (one slow check on a loaded machine does not move the VIP), weight -2 and no nopreempt.
    /// </summary>
    public static KeepalivedSettings ForProfile(RenderProfile profile) => profile switch
    {
        RenderProfile.Fast => new KeepalivedSettings { AdvertInterval = 0.1, CheckInterval = 1, Weight = -2, Fall = 2, Rise = 2, Nopreempt = false },
        _ => new KeepalivedSettings(),
    };
}

/// <summary>Kubernetes networking and versions for the kubeadm configuration.</summary>
public sealed record KubernetesSettings
{
    public IPNetwork PodSubnet { get; init; } = IPNetwork.Parse("172.18.0.0/16");
    public IPNetwork ServiceSubnet { get; init; } = IPNetwork.Parse("172.19.0.0/16");
    public int ApiServerPort { get; init; } = 6443;
    /// <summary>The version the runbook asks for; the lab renders the version it actually built.</summary>
    public string Version { get; init; } = "v1.20.0";
    public string ImageRepository { get; init; } = "registry.cn-hangzhou.aliyuncs.com/google_containers";
    public string DnsDomain { get; init; } = "cluster.local";
}

/// <summary>The two HA topologies of Kubernetes' documentation (the runbook opens by contrasting them).</summary>
public enum EtcdTopology
{
    /// <summary>An etcd member on every master, talking only to its own apiserver (the runbook's choice).</summary>
    Stacked,

    /// <summary>An etcd cluster on nodes of its own; every apiserver talks to all members.</summary>
    External,
}

/// <summary>The topology key <c>etcd: { topology: stacked | external, nodes: [...] }</c>.</summary>
public sealed record EtcdSettings
{
    public EtcdTopology Topology { get; init; } = EtcdTopology.Stacked;

    /// <summary>The etcd nodes of the external topology (empty when stacked).</summary>
    public ImmutableArray<EtcdNodeSpec> Nodes { get; init; } = [];

    /// <summary>The external topology's default members: e01-e03 at .181-.183 of <paramref name="subnet"/>.</summary>
    public static ImmutableArray<EtcdNodeSpec> DefaultNodes(IPNetwork subnet) =>
        [.. Enumerable.Range(1, 3).Select(i => new EtcdNodeSpec { Name = $"e0{i}", Ip = IpMath.Offset(subnet.BaseAddress, (uint)(180 + i)) })];
}

/// <summary>One member of an external etcd cluster: a container of its own on the lab network.</summary>
public sealed record EtcdNodeSpec
{
    public required string Name { get; init; }
    public required IPAddress Ip { get; init; }
}
