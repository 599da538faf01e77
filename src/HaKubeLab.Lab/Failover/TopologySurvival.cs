using System.Collections.Immutable;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Failover;

/// <summary>A part of the control plane that can be lost.</summary>
public enum ControlPlanePart
{
    /// <summary>A whole master (node container): its apiserver, controller-manager, scheduler, haproxy, keepalived and, stacked, its etcd member.</summary>
    Master,
    /// <summary>A whole member container of the external etcd topology.</summary>
    EtcdNode,
    /// <summary>The etcd process on a master (stacked topology).</summary>
    EtcdMember,
    /// <summary>The kube-apiserver on a master.</summary>
    ApiServer,
    /// <summary>The kube-controller-manager on a master.</summary>
    ControllerManager,
    /// <summary>The kube-scheduler on a master.</summary>
    Scheduler,
    /// <summary>The haproxy sidecar of a master.</summary>
    Haproxy,
    /// <summary>The keepalived sidecar of a master.</summary>
    Keepalived,
}

/// <summary>One lost part: a kind on a master (or, for <see cref="ControlPlanePart.EtcdNode"/>, an etcd member container).</summary>
public sealed record LostPart(ControlPlanePart Part, string Name)
{
    private static readonly ImmutableDictionary<string, ControlPlanePart> Words = new Dictionary<string, ControlPlanePart>
    {
        ["node"] = ControlPlanePart.Master, ["master"] = ControlPlanePart.Master, ["etcd-node"] = ControlPlanePart.EtcdNode,
        ["etcd"] = ControlPlanePart.EtcdMember, ["apiserver"] = ControlPlanePart.ApiServer, ["kube-apiserver"] = ControlPlanePart.ApiServer,
        ["controller-manager"] = ControlPlanePart.ControllerManager, ["kube-controller-manager"] = ControlPlanePart.ControllerManager,
        ["scheduler"] = ControlPlanePart.Scheduler, ["kube-scheduler"] = ControlPlanePart.Scheduler,
        ["haproxy"] = ControlPlanePart.Haproxy, ["keepalived"] = ControlPlanePart.Keepalived,
    }.ToImmutableDictionary();

    /// <summary>
    /// <c>m01</c> (a master) or <c>e01</c> (an external etcd member) alone, or <c>PART:NAME</c> with PART one of node, etcd-node,
    /// etcd, apiserver, controller-manager, scheduler, haproxy, keepalived (e.g. <c>etcd:m02</c>, <c>haproxy:m01</c>).
    /// </summary>
    /// <exception cref="FormatException">Neither form, or a name the topology does not have; the message names the known ones.</exception>
    public static LostPart Parse(string text, LabTopology topology)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        ArgumentNullException.ThrowIfNull(topology);
        var parts = text.Trim().Split(':', 2);
        string name;
        ControlPlanePart part;
        if (parts.Length == 1)
        {
            name = parts[0];
            part = topology.Etcd.Nodes.Any(n => n.Name == name) && topology.Nodes.All(n => n.Name != name) ? ControlPlanePart.EtcdNode : ControlPlanePart.Master;
        }
        else
        {
            if (!Words.TryGetValue(parts[0].ToLowerInvariant(), out part))
                throw new FormatException($"Unknown part '{parts[0]}' in '{text}': use {string.Join(", ", Words.Keys.Order(StringComparer.Ordinal))} (e.g. etcd:m02), or a node name alone.");
            name = parts[1];
        }
        var known = part == ControlPlanePart.EtcdNode ? topology.Etcd.Nodes.Select(n => n.Name).ToList() : [.. topology.Nodes.Select(n => n.Name)];
        if (!known.Contains(name))
            throw new FormatException(part == ControlPlanePart.EtcdNode && known.Count == 0
                ? $"'{text}': lab '{topology.Name}' has no external etcd members (etcd runs stacked on its masters; lose 'etcd:{topology.Nodes[0].Name}' instead)."
                : $"'{text}': no {(part == ControlPlanePart.EtcdNode ? "etcd member" : "master")} '{name}' in lab '{topology.Name}'. Known: {string.Join(", ", known)}.");
        if (part == ControlPlanePart.EtcdMember && topology.Etcd.Topology == EtcdTopology.External)
            throw new FormatException($"'{text}': lab '{topology.Name}' runs etcd on members of its own ({string.Join(", ", topology.Etcd.Nodes.Select(n => n.Name))}), not on the masters: lose an etcd member by its name.");
        return new LostPart(part, name);
    }

    public override string ToString() => Part switch
    {
        ControlPlanePart.Master or ControlPlanePart.EtcdNode => Name,
        ControlPlanePart.EtcdMember => $"etcd:{Name}",
        ControlPlanePart.ApiServer => $"apiserver:{Name}",
        ControlPlanePart.ControllerManager => $"controller-manager:{Name}",
        ControlPlanePart.Scheduler => $"scheduler:{Name}",
        ControlPlanePart.Haproxy => $"haproxy:{Name}",
        _ => $"keepalived:{Name}",
    };
}

/// <summary>Client-go's leader election as kube-controller-manager and kube-scheduler run it (their defaults in v1.20).</summary>
/// <param name="LeaseDuration">How long a lease counts after its last renewal (--leader-elect-lease-duration, 15 s).</param>
/// <param name="RenewDeadline">How long the leader keeps trying to renew before it gives up leading (--leader-elect-renew-deadline, 10 s).</param>
/// <param name="RetryPeriod">Between attempts to acquire or renew (--leader-elect-retry-period, 2 s); client-go jitters each wait by up to 1.2 x.</param>
public sealed record LeaderElectionSettings(TimeSpan LeaseDuration, TimeSpan RenewDeadline, TimeSpan RetryPeriod)
{
    /// <summary>The v1.20 defaults kubeadm leaves in place: 15 s, 10 s, 2 s.</summary>
    public static LeaderElectionSettings Default { get; } = new(TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2));

    /// <summary>client-go's JitterFactor for the acquire loop (wait.JitterUntil(..., RetryPeriod, 1.2, ...)).</summary>
    public const double Jitter = 1.2;

    /// <summary>
    /// How long nobody leads after the leader dies: its last renewal was up to one retry period before the death, the lease
    /// counts for the lease duration after that renewal, and a candidate notices on its next attempt (each wait is the retry
    /// period plus up to 1.2 x of it): [lease - retry, lease + retry x 2.2].
    /// </summary>
    public TimeWindow GapAfterLeaderLoss => TimeWindow.FromSeconds(
        Math.Max(0, (LeaseDuration - RetryPeriod).TotalSeconds),
        LeaseDuration.TotalSeconds + RetryPeriod.TotalSeconds * (1 + Jitter));

    public string Basis =>
        $"lease duration {LeaseDuration.TotalSeconds:0.#} s after the dead leader's last renewal (it renews every {RetryPeriod.TotalSeconds:0.#} s), " +
        $"then a candidate's next attempt (every {RetryPeriod.TotalSeconds:0.#} s, jittered up to {(RetryPeriod.TotalSeconds * (1 + Jitter)):0.#} s): {GapAfterLeaderLoss}";
}

/// <summary>etcd's own election timers: etcd's defaults (kubeadm leaves them), or the fast profile's shorter election timeout.</summary>
public sealed record EtcdElection(TimeSpan Heartbeat, TimeSpan ElectionTimeout)
{
    /// <summary>etcd's defaults, which kubeadm leaves: heartbeat 100 ms, election timeout 1000 ms.</summary>
    public static EtcdElection Default { get; } = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(1000));

    /// <summary>
    /// The fast profile's stacked members: heartbeat 100 ms, election timeout halved to 500 ms, so the followers of a dead
    /// leader elect a new one after 0.5-1 s instead of 1-2 s. Writes through the VIP wait for that when the VIP holder also led etcd.
    /// </summary>
    public static EtcdElection Fast { get; } = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500));

    /// <summary>The timers a lab's etcd runs with: the fast profile's apply to the stacked members kubeadm runs; external members keep etcd's defaults.</summary>
    public static EtcdElection For(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        return topology.Profile == RenderProfile.Fast && topology.Etcd.Topology == EtcdTopology.Stacked ? Fast : Default;
    }

    /// <summary>
    /// How long etcd has no leader after the leader dies: a follower campaigns once its randomized election timeout
    /// ([timeout, 2 x timeout]) passes without a heartbeat, then one round of votes (allowed 0.5 s).
    /// </summary>
    public TimeWindow GapAfterLeaderLoss => TimeWindow.FromSeconds(ElectionTimeout.TotalSeconds - Heartbeat.TotalSeconds, 2 * ElectionTimeout.TotalSeconds + 0.5);

    public string Basis => $"a follower campaigns after its randomized election timeout ({ElectionTimeout.TotalMilliseconds:0}-{2 * ElectionTimeout.TotalMilliseconds:0} ms without a heartbeat), then one round of votes: {GapAfterLeaderLoss}";
}

/// <summary>What a topology survives: the answer for one set of lost parts.</summary>
/// <param name="Topology">Stacked (etcd members = masters) or external (members of their own).</param>
/// <param name="Lost">The parts lost.</param>
/// <param name="Members">Every etcd member.</param>
/// <param name="MembersLeft">The members still running.</param>
/// <param name="Quorum">Members needed for etcd to commit: a majority, floor(n/2) + 1.</param>
/// <param name="Tolerates">Members the cluster can lose and keep quorum: n - quorum.</param>
/// <param name="QuorumKept">Enough members run to elect a leader and commit writes.</param>
/// <param name="ServingApiServers">Masters whose apiserver runs and reaches etcd with quorum (stacked: through its own member only).</param>
/// <param name="Vip">Where the VIP ends and what answers through it (<see cref="FailoverModel.Now"/> with the lost parts).</param>
/// <param name="WritesThroughVip">A write through the cluster endpoint (what kubectl and the api_write probe use) commits.</param>
/// <param name="ApiThroughLoadBalancer">An API request to VIP:load-balancer-port gets a serving apiserver.</param>
/// <param name="DeadApiServersInRotation">Apiservers whose port accepts but cannot serve and that haproxy's TCP check keeps in rotation (seed profile): some requests fail.</param>
/// <param name="ControllerManagerCandidates">Masters whose controller-manager can lead (it runs and its own apiserver, which it talks to, serves).</param>
/// <param name="SchedulerCandidates">The same for the scheduler.</param>
/// <param name="Story">The prediction in sentences a trainer can read aloud.</param>
public sealed record SurvivalPrediction(
    EtcdTopology Topology,
    ImmutableArray<LostPart> Lost,
    ImmutableArray<string> Members,
    ImmutableArray<string> MembersLeft,
    int Quorum,
    int Tolerates,
    bool QuorumKept,
    ImmutableArray<string> ServingApiServers,
    VipState Vip,
    bool WritesThroughVip,
    bool ApiThroughLoadBalancer,
    ImmutableArray<string> DeadApiServersInRotation,
    ImmutableArray<string> ControllerManagerCandidates,
    ImmutableArray<string> SchedulerCandidates,
    ImmutableArray<string> Story)
{
    public bool ControllerManagerLeaderPossible => !ControllerManagerCandidates.IsEmpty;
    public bool SchedulerLeaderPossible => !SchedulerCandidates.IsEmpty;

    /// <summary>One line: "quorum 2 of 3 kept; writes through the VIP: yes; controller-manager leader: possible ...".</summary>
    public string Summary =>
        $"etcd {MembersLeft.Length}/{Members.Length} members (quorum {Quorum}) {(QuorumKept ? "kept" : "LOST")}; writes through the VIP: {(WritesThroughVip ? "yes" : "NO")}; " +
        $"API via VIP:LB: {(ApiThroughLoadBalancer ? DeadApiServersInRotation.IsEmpty ? "yes" : "partly" : "no")}; controller-manager leader: {(ControllerManagerLeaderPossible ? "possible" : "none")}; scheduler leader: {(SchedulerLeaderPossible ? "possible" : "none")}";
}

/// <summary>
/// What each HA topology survives, pure: the etcd members (stacked: one per master; external: the etcd nodes),
/// the quorum, which apiservers can serve, whether the API and writes answer through the VIP, and whether the
/// controller-manager and scheduler can have a leader, for any set of lost parts. The VIP part is the
/// <see cref="FailoverModel"/>'s (one place for VRRP facts); this adds etcd and leader election.
/// </summary>
/// <remarks>
/// Facts it rests on, as kubeadm v1.20 sets a lab up: a stacked apiserver talks only to its own etcd member
/// (<c>--etcd-servers=https://127.0.0.1:2379</c>); an external one to every member. kube-apiserver reads with
/// quorum (linearizable) reads, so without quorum it answers neither writes nor most reads and its /readyz
/// fails. The controller-manager and the scheduler talk to their own master's apiserver (their kubeconfigs name
/// the node's address) and need lease writes to lead.
/// </remarks>
public static class TopologySurvival
{
    /// <summary>Members needed for quorum among <paramref name="members"/>: floor(n/2) + 1.</summary>
    public static int QuorumOf(int members) => members <= 0 ? 0 : members / 2 + 1;

    /// <summary>What a fault takes away while it holds, for the predictor; null for faults that take no part away (packet loss, a killed kubelet).</summary>
    public static LostPart? LostBy(FaultKind kind, string node)
    {
        ArgumentNullException.ThrowIfNull(node);
        ControlPlanePart? part = kind switch
        {
            FaultKind.NodeKill or FaultKind.NodeStop or FaultKind.NodePause or FaultKind.NodeRestart or FaultKind.NetworkPartition => ControlPlanePart.Master,
            FaultKind.HaproxyKill or FaultKind.HaproxyStop or FaultKind.HaproxyCrash => ControlPlanePart.Haproxy,
            FaultKind.KeepalivedKill or FaultKind.KeepalivedStop or FaultKind.KeepalivedCrash => ControlPlanePart.Keepalived,
            FaultKind.ApiServerKill => ControlPlanePart.ApiServer,
            FaultKind.EtcdKill => ControlPlanePart.EtcdMember,
            FaultKind.ControllerManagerKill => ControlPlanePart.ControllerManager,
            FaultKind.SchedulerKill => ControlPlanePart.Scheduler,
            FaultKind.EtcdNodeKill => ControlPlanePart.EtcdNode,
            _ => null,
        };
        return part is { } p ? new LostPart(p, node) : null;
    }

    /// <summary>The etcd members of <paramref name="topology"/>: the masters (stacked) or the etcd nodes (external).</summary>
    public static ImmutableArray<string> Members(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        return topology.Etcd.Topology == EtcdTopology.External ? [.. topology.Etcd.Nodes.Select(n => n.Name)] : [.. topology.Nodes.Select(n => n.Name)];
    }

    /// <summary>Predicts what runs with <paramref name="lost"/> gone.</summary>
    /// <param name="topology">The lab (its profile decides the VRRP settings and the seed's TCP check).</param>
    /// <param name="lost">The parts lost (may be empty).</param>
    /// <param name="holder">The VIP holder before the losses, when known; null: whoever the election gives.</param>
    /// <exception cref="ArgumentException">A part names a master or member the topology does not have.</exception>
    public static SurvivalPrediction Predict(LabTopology topology, IEnumerable<LostPart> lost, string? holder = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(lost);
        var t = FailoverModel.AsRendered(topology);
        var losses = lost.Distinct().ToImmutableArray();
        foreach (var l in losses)
        {
            var ok = l.Part == ControlPlanePart.EtcdNode ? t.Etcd.Nodes.Any(n => n.Name == l.Name) : t.Nodes.Any(n => n.Name == l.Name);
            if (!ok) throw new ArgumentException($"{l}: lab '{t.Name}' has no such {(l.Part == ControlPlanePart.EtcdNode ? "etcd member" : "master")}.", nameof(lost));
        }
        bool Gone(ControlPlanePart part, string name) => losses.Contains(new LostPart(part, name));
        bool MasterUp(string m) => !Gone(ControlPlanePart.Master, m);

        var external = t.Etcd.Topology == EtcdTopology.External && !t.Etcd.Nodes.IsEmpty;
        var members = Members(t);
        var left = external
            ? members.Where(m => !Gone(ControlPlanePart.EtcdNode, m)).ToImmutableArray()
            : members.Where(m => MasterUp(m) && !Gone(ControlPlanePart.EtcdMember, m)).ToImmutableArray();
        var quorum = QuorumOf(members.Length);
        var quorumKept = left.Length >= quorum;

        var listening = t.Nodes.Where(n => MasterUp(n.Name) && !Gone(ControlPlanePart.ApiServer, n.Name)).Select(n => n.Name).ToImmutableArray();
        // Stacked: an apiserver reaches etcd only through its own member; external: through any member with quorum.
        var serving = listening.Where(m => quorumKept && (external || left.Contains(m))).ToImmutableArray();

        var conditions = t.Nodes.ToImmutableDictionary(n => n.Name, n => new NodeCondition(
            NodeUp: MasterUp(n.Name),
            KeepalivedUp: !Gone(ControlPlanePart.Keepalived, n.Name),
            HaproxyUp: !Gone(ControlPlanePart.Haproxy, n.Name),
            ApiServerUp: serving.Contains(n.Name)));
        var state = new LabState { Conditions = conditions, Holder = holder is not null && t.Nodes.Any(n => n.Name == holder) ? holder : null };
        var vip = FailoverModel.Now(t, state);
        var settings = FailoverModel.Settings(t);
        // The seed's haproxy checks by TCP connect: an apiserver that listens but cannot serve stays in rotation.
        var deadInRotation = t.Profile != RenderProfile.Recommended && vip.LoadBalancerAnswers
            ? listening.Where(m => !serving.Contains(m)).ToImmutableArray() : [];
        var apiLb = vip.ApiThroughLoadBalancer && !serving.IsEmpty;
        var writes = quorumKept && vip.ApiThroughEndpoint && !serving.IsEmpty;

        ImmutableArray<string> Candidates(ControlPlanePart part) =>
            [.. t.Nodes.Select(n => n.Name).Where(m => MasterUp(m) && !Gone(part, m) && serving.Contains(m))];
        var cm = Candidates(ControlPlanePart.ControllerManager);
        var scheduler = Candidates(ControlPlanePart.Scheduler);

        var story = Story(t, external, losses, members, left, quorum, quorumKept, listening, serving, vip, settings, writes, apiLb, deadInRotation, cm, scheduler);
        return new SurvivalPrediction(external ? EtcdTopology.External : EtcdTopology.Stacked, losses, members, left, quorum, members.Length - quorum, quorumKept,
            serving, vip, writes, apiLb, deadInRotation, cm, scheduler, story);
    }

    /// <summary>
    /// The smallest sets of whole machines (masters, external etcd nodes) whose loss stops writes through the VIP:
    /// e.g. stacked 3 masters: any 2 masters; external 3 + 3: any 2 etcd nodes, or all 3 masters.
    /// </summary>
    public static ImmutableArray<ImmutableArray<LostPart>> WhatStopsWrites(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var machines = topology.Nodes.Select(n => new LostPart(ControlPlanePart.Master, n.Name))
            .Concat(topology.Etcd.Topology == EtcdTopology.External ? topology.Etcd.Nodes.Select(n => new LostPart(ControlPlanePart.EtcdNode, n.Name)) : [])
            .ToList();
        if (machines.Count > 14) throw new ArgumentException($"{machines.Count} machines: too many to enumerate every loss.", nameof(topology));
        var minimal = new List<ImmutableArray<LostPart>>();
        foreach (var mask in Enumerable.Range(1, (1 << machines.Count) - 1).OrderBy(BitCount).ThenBy(m => m))
        {
            if (minimal.Any(s => (s.Aggregate(0, (acc, p) => acc | (1 << machines.IndexOf(p))) & mask) == s.Aggregate(0, (acc, p) => acc | (1 << machines.IndexOf(p))))) continue;
            var set = machines.Where((_, i) => (mask & (1 << i)) != 0).ToImmutableArray();
            if (!Predict(topology, set).WritesThroughVip) minimal.Add(set);
        }
        return [.. minimal];
    }

    private static int BitCount(int v) => System.Numerics.BitOperations.PopCount((uint)v);

    /// <summary>"any 2 of the 3 masters (m01, m02, m03)" style words for <see cref="WhatStopsWrites"/>.</summary>
    public static IReadOnlyList<string> DescribeWhatStopsWrites(LabTopology topology)
    {
        var sets = WhatStopsWrites(topology);
        var lines = new List<string>();
        foreach (var group in sets.GroupBy(s => (Masters: s.Count(p => p.Part == ControlPlanePart.Master), Etcd: s.Count(p => p.Part == ControlPlanePart.EtcdNode))))
        {
            var (m, e) = group.Key;
            var total = (Masters: topology.Nodes.Length, Etcd: topology.Etcd.Nodes.Length);
            var parts = new List<string>();
            if (m > 0) parts.Add(m == total.Masters ? $"all {m} masters" : $"{m} of the {total.Masters} masters");
            if (e > 0) parts.Add(e == total.Etcd ? $"all {e} etcd nodes" : $"{e} of the {total.Etcd} etcd nodes");
            var every = group.Count() == Combinations(total.Masters, m) * Combinations(total.Etcd, e);
            var wholeKinds = (m == 0 || m == total.Masters) && (e == 0 || e == total.Etcd);
            lines.Add(!every ? $"{string.Join(" and ", parts)}: {string.Join("; ", group.Select(s => string.Join(" + ", s)))}"
                : wholeKinds ? string.Join(" and ", parts) : $"any {string.Join(" and ", parts)}");
        }
        return lines;
    }

    private static long Combinations(int n, int k)
    {
        if (k < 0 || k > n) return 0;
        long r = 1;
        for (var i = 1; i <= k; i++) r = r * (n - k + i) / i;
        return r;
    }

    private static string Names(IEnumerable<string> names, string conjunction = "and")
    {
        var list = names.ToList();
        return list.Count switch { 0 => "none", 1 => list[0], _ => $"{string.Join(", ", list[..^1])} {conjunction} {list[^1]}" };
    }

    private static ImmutableArray<string> Story(LabTopology t, bool external, ImmutableArray<LostPart> lost, ImmutableArray<string> members, ImmutableArray<string> left,
        int quorum, bool quorumKept, ImmutableArray<string> listening, ImmutableArray<string> serving, VipState vip, FailoverSettings s, bool writes, bool apiLb,
        ImmutableArray<string> deadInRotation, ImmutableArray<string> cm, ImmutableArray<string> scheduler)
    {
        var story = new List<string>
        {
            external
                ? $"External topology: etcd runs on {members.Length} nodes of its own ({Names(members)}); every apiserver talks to all of them."
                : $"Stacked topology: each of the {members.Length} masters carries an etcd member ({Names(members)}), and each apiserver talks only to its own member.",
            $"etcd needs a majority, {quorum} of {members.Length} members, to elect a leader and commit anything: it survives the loss of {members.Length - quorum} member{(members.Length - quorum == 1 ? "" : "s")}" +
                (members.Length % 2 == 0 ? $" (an even count buys nothing: {members.Length - 1} members would tolerate as many)." : "."),
        };
        if (lost.IsEmpty) story.Add("Nothing is lost.");
        else story.Add($"Lost: {Names(lost.Select(l => l.ToString()))}. Members left: {Names(left)} ({left.Length} of {members.Length}).");
        story.Add(quorumKept
            ? $"Quorum is kept ({left.Length} >= {quorum})."
            : $"Quorum is LOST ({left.Length} < {quorum}): etcd elects no leader and commits nothing; kube-apiserver's quorum reads fail too, so the API answers neither writes nor most reads (/readyz fails), although its port may still accept connections.");
        if (quorumKept && !external)
        {
            var noMember = listening.Where(m => !left.Contains(m)).ToList();
            if (noMember.Count > 0) story.Add($"{Names(noMember)} {(noMember.Count == 1 ? "runs an apiserver whose" : "run apiservers whose")} own etcd member is gone: stacked, {(noMember.Count == 1 ? "it" : "they")} cannot serve.");
        }
        story.Add($"Apiservers that can serve: {Names(serving)}.");
        story.Add(vip.PossibleHolders.IsEmpty
            ? $"No master is left to hold the VIP {s.Vip}: nothing answers through it."
            : $"The VIP {s.Vip} is on {Names(vip.PossibleHolders, "or")}; {s.Vip}:{s.LoadBalancerPort} {(vip.LoadBalancerAnswers ? "accepts connections" : "refuses connections")}.");
        story.Add(apiLb
            ? deadInRotation.IsEmpty
                ? $"The API through {s.Vip}:{s.LoadBalancerPort} answers."
                : $"The API through {s.Vip}:{s.LoadBalancerPort} answers only partly: haproxy's TCP check keeps {Names(deadInRotation)} in rotation, whose apiserver accepts but cannot serve."
            : $"The API through {s.Vip}:{s.LoadBalancerPort} does not answer.");
        story.Add(writes
            ? $"Writes through the cluster endpoint {s.ControlPlaneEndpoint} (kubectl, the api_write probe) commit."
            : $"Writes through the cluster endpoint {s.ControlPlaneEndpoint} fail" + (!quorumKept ? " (no quorum)." : !s.EndpointThroughLoadBalancer && vip.PossibleHolders.Length > 0 ? " (the endpoint is the holder's own apiserver, which cannot serve)." : "."));
        var election = LeaderElectionSettings.Default;
        story.Add(cm.IsEmpty
            ? "No kube-controller-manager can lead: each talks to its own master's apiserver and must write its lease; no controller runs (no pods replaced, no endpoints updated)."
            : $"A kube-controller-manager can lead ({Names(cm, "or")}); if the leader was lost, the others take over once its lease runs out ({election.GapAfterLeaderLoss}).");
        story.Add(scheduler.IsEmpty
            ? "No kube-scheduler can lead: new pods stay Pending."
            : $"A kube-scheduler can lead ({Names(scheduler, "or")}); a lost leader is replaced after {election.GapAfterLeaderLoss}.");
        return [.. story];
    }
}
