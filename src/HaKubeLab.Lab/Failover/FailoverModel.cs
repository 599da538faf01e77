using System.Collections.Immutable;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Failover;

/// <summary>
/// What the lab looks like when a fault comes: which nodes, sidecars and apiservers are already down
/// (earlier faults still in place) and who holds the VIP.
/// </summary>
public sealed record LabState
{
    /// <summary>Everything runs, apiservers included; the holder is whoever the election gives after <c>up</c>.</summary>
    public static LabState Healthy { get; } = new();

    /// <summary>The apiservers run (after kubeadm); false for a load-balancer tier brought up without Kubernetes.</summary>
    public bool ApiServersRunning { get; init; } = true;

    /// <summary>Per node name, what earlier faults left down; nodes not listed are healthy.</summary>
    public ImmutableDictionary<string, NodeCondition> Conditions { get; init; } = ImmutableDictionary<string, NodeCondition>.Empty;

    /// <summary>The node holding the VIP (e.g. as observed); null: whoever the election gives after <c>up</c> under <see cref="Conditions"/>.</summary>
    public string? Holder { get; init; }

    /// <summary>The condition of <paramref name="node"/>: its entry in <see cref="Conditions"/>, or healthy (apiserver per <see cref="ApiServersRunning"/>).</summary>
    public NodeCondition Of(string node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return Conditions.GetValueOrDefault(node) ?? new NodeCondition(ApiServerUp: ApiServersRunning);
    }

    /// <summary>This state with <paramref name="node"/> in <paramref name="condition"/>.</summary>
    public LabState With(string node, NodeCondition condition) => this with { Conditions = Conditions.SetItem(node, condition) };

    /// <summary>
    /// The state of a running lab as a snapshot shows it: a node container that does not run (stopped, paused)
    /// counts as down, so do sidecars that do not run; the holder is the snapshot's effective holder.
    /// Whether apiservers answer a snapshot cannot tell: that is <paramref name="apiServersRunning"/>.
    /// </summary>
    public static LabState From(Runtime.LabSnapshot snapshot, bool apiServersRunning)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var conditions = ImmutableDictionary.CreateBuilder<string, NodeCondition>();
        foreach (var n in snapshot.Nodes)
        {
            var c = new NodeCondition(NodeUp: n.Node.Running, KeepalivedUp: n.Keepalived.Running, HaproxyUp: n.Haproxy.Running, ApiServerUp: apiServersRunning);
            if (!c.NodeUp || !c.KeepalivedUp || !c.HaproxyUp) conditions[n.Name] = c;
        }
        return new LabState { ApiServersRunning = apiServersRunning, Conditions = conditions.ToImmutable(), Holder = snapshot.Vip.Holder };
    }
}

/// <summary>The settings a prediction is based on, as keepalived and haproxy run them (after the profile).</summary>
/// <param name="Profile">seed, recommended or fast.</param>
/// <param name="Vip">The virtual IP.</param>
/// <param name="LoadBalancerPort">haproxy's port on every node and on the VIP.</param>
/// <param name="ApiServerPort">Each apiserver's own port.</param>
/// <param name="ControlPlaneEndpoint">What kubeadm writes into every kubeconfig (seed: VIP:6443, bypassing haproxy; recommended: VIP:load-balancer-port).</param>
/// <param name="EndpointThroughLoadBalancer">The cluster endpoint is haproxy's port on the VIP.</param>
/// <param name="AdvertInterval">VRRP advert interval, s (fractional with VRRPv3).</param>
/// <param name="TrackScript">What the track script checks, in words.</param>
/// <param name="CheckInterval">How often the track script runs, s.</param>
/// <param name="Fall">Failures in a row that count as failed.</param>
/// <param name="Rise">Successes in a row that count as recovered.</param>
/// <param name="Weight">The track script's weight.</param>
/// <param name="Nopreempt">nopreempt as configured (keepalived clears it on a MASTER-state instance).</param>
/// <param name="HaproxyCheck">How haproxy checks each apiserver.</param>
/// <param name="HaproxyCheckInterval">haproxy's check interval (inter).</param>
/// <param name="HaproxyCheckFall">haproxy's failed checks before a server is marked down.</param>
public sealed record FailoverSettings(
    string Profile,
    string Vip,
    int LoadBalancerPort,
    int ApiServerPort,
    string ControlPlaneEndpoint,
    bool EndpointThroughLoadBalancer,
    double AdvertInterval,
    string TrackScript,
    int CheckInterval,
    int Fall,
    int Rise,
    int Weight,
    bool Nopreempt,
    string HaproxyCheck,
    TimeSpan HaproxyCheckInterval,
    int HaproxyCheckFall)
{
    /// <summary>The VRRP version keepalived speaks (3: sub-second adverts, no authentication).</summary>
    public int VrrpVersion { get; init; } = 2;

    /// <summary>haproxy's connect timeout (its checks wait at most min(this, inter) for a silent server).</summary>
    public TimeSpan HaproxyConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The advert interval as keepalived.conf writes it ("1", "0.1").</summary>
    public string AdvertText => AdvertInterval.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>Where the VIP is and what answers through it, before or after a fault.</summary>
/// <param name="Holder">The node holding the VIP; null when several may (a priority tie) or none does.</param>
/// <param name="PossibleHolders">Every node that may hold it (more than one on a priority tie).</param>
/// <param name="Priorities">Effective priority per node taking part in VRRP.</param>
/// <param name="LoadBalancerAnswers">A TCP connect to VIP:load-balancer-port succeeds.</param>
/// <param name="ApiThroughLoadBalancer">API requests to VIP:load-balancer-port get an apiserver's answer.</param>
/// <param name="ApiThroughEndpoint">API requests to the cluster's controlPlaneEndpoint (what kubeconfigs use) get an answer.</param>
/// <param name="Reason">The VRRP reasoning, from <see cref="VrrpElection"/>.</param>
public sealed record VipState(
    string? Holder,
    ImmutableArray<string> PossibleHolders,
    ImmutableDictionary<string, int> Priorities,
    bool LoadBalancerAnswers,
    bool ApiThroughLoadBalancer,
    bool ApiThroughEndpoint,
    string Reason);

/// <summary>How a fault ends.</summary>
public enum FaultRecovery
{
    /// <summary>It stays until it is undone (killed or stopped containers, a pulled link, tc/iptables rules).</summary>
    UntilUndone,
    /// <summary>A restart policy brings the part back within about a second, before VRRP's timers run out (crashed sidecars).</summary>
    QuickRestart,
    /// <summary>The part comes back by itself, but only after the timers could act (kubelet restarting a static pod, systemd the kubelet, a host reboot).</summary>
    RestartsByItself,
}

/// <summary>What one fault does to the VIP, the load balancer and the API: the one answer explain and chaos share.</summary>
public sealed record FailoverOutcome
{
    /// <summary>The fault.</summary>
    public required FaultKind Kind { get; init; }

    /// <summary>The node it hits.</summary>
    public required string Node { get; init; }

    /// <summary>The settings the prediction is based on.</summary>
    public required FailoverSettings Settings { get; init; }

    /// <summary>Who held the VIP when the fault came; null when no node did.</summary>
    public required string? HolderBefore { get; init; }

    /// <summary>Where the VIP was and what answered before the fault.</summary>
    public required VipState Before { get; init; }

    /// <summary>Where the VIP is and what answers once the lab has settled with the fault in place.</summary>
    public required VipState After { get; init; }

    /// <summary>The VIP leaves <see cref="HolderBefore"/> for another node.</summary>
    public required bool VipMoves { get; init; }

    /// <summary>No node holds the VIP afterwards (nobody is left to take it).</summary>
    public bool VipGone => After.PossibleHolders.IsEmpty;

    /// <summary>A node that keeps the VIP on its interface although another took it (a killed keepalived or a frozen node cannot remove it).</summary>
    public required string? StaleVipOn { get; init; }

    /// <summary>Nodes whose track script goes from passing to failing.</summary>
    public required ImmutableArray<string> FailingTrackScripts { get; init; }

    /// <summary>Fault to the moment keepalived counts the track script as failed; null when no script result changes.</summary>
    public required TimeWindow? Detection { get; init; }

    /// <summary>Fault to the moment the new holder has the VIP; null when the VIP does not move.</summary>
    public required TimeWindow? Takeover { get; init; }

    /// <summary>
    /// How long VIP:load-balancer-port is unreachable, from the moment the fault takes effect: [0, 0] when it
    /// should not notice; null when VRRP does not predict it (see <see cref="DownUntilUndone"/>, <see cref="Recovery"/>, <see cref="Predictable"/>).
    /// </summary>
    public required TimeWindow? Failover { get; init; }

    /// <summary>VIP:load-balancer-port stays unreachable until the fault is undone.</summary>
    public required bool DownUntilUndone { get; init; }

    /// <summary>Fault to the moment haproxy takes a dead apiserver out of rotation; null when none dies or haproxy never notices.</summary>
    public required TimeWindow? HaproxyMarksDown { get; init; }

    /// <summary>The dead apiserver stays in haproxy's rotation (its TCP check still connects), so requests sent there fail.</summary>
    public required bool HaproxyKeepsDeadApiServer { get; init; }

    /// <summary>How the fault ends.</summary>
    public required FaultRecovery Recovery { get; init; }

    /// <summary>The VRRP rules predict the outcome; false for packet loss, rate limits and delays (chance decides).</summary>
    public required bool Predictable { get; init; }

    /// <summary>The lab's state for the next fault: this fault carried over unless it heals by itself, and the holder afterwards.</summary>
    public required LabState StateAfter { get; init; }

    /// <summary>The election's own reasoning (<see cref="ElectionOutcome.Reason"/>).</summary>
    public required string ElectionReason { get; init; }

    /// <summary>Why the VIP ends where it does, in words (the election's reasoning, with what this fault kind adds).</summary>
    public required string Reason { get; init; }

    /// <summary>The timing arithmetic, in words.</summary>
    public required string Basis { get; init; }
}

/// <summary>
/// The one failover model of the lab: given the settings a topology's profile renders, the lab's state
/// (earlier faults still in place, the VIP holder) and a fault, who holds the VIP before and after, after
/// how long, what answers on VIP:load-balancer-port and on the cluster endpoint, whether a stale VIP stays
/// behind and whether the load balancer is down until the fault is undone. Built on <see cref="VrrpElection"/>;
/// pure. <c>explain</c> turns it into sentences; the chaos runner adds what is particular to a run.
/// </summary>
/// <example>
/// <code>
/// var o = FailoverModel.Predict(LabTopology.Default, FaultKind.HaproxyKill);
/// Console.WriteLine(o.After.Holder);          // m01: nopreempt keeps it there
/// Console.WriteLine(o.DownUntilUndone);       // True
/// </code>
/// </example>
public static class FailoverModel
{
    /// <summary>The profile's keepalived tracks the API through the local haproxy (recommended, fast), not only haproxy's port (seed).</summary>
    public static bool TracksApi(RenderProfile profile) => profile != RenderProfile.Seed;

    /// <summary>The topology with the VRRP settings its profile really renders (<see cref="KeepalivedConfigRenderer.Settings"/>).</summary>
    public static LabTopology AsRendered(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        return topology with { Keepalived = KeepalivedConfigRenderer.Settings(topology) };
    }

    /// <summary>The runbook's keepalived settings (the topology defaults) with the seed profile: "the runbook is why".</summary>
    public static bool HasRunbookSettings(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var d = new KeepalivedSettings();
        var k = AsRendered(topology).Keepalived;
        return topology.Profile == RenderProfile.Seed && k.AdvertInterval == d.AdvertInterval && k.CheckInterval == d.CheckInterval && k.Weight == d.Weight
               && k.Fall == d.Fall && k.Rise == d.Rise && k.Nopreempt == d.Nopreempt && topology.Nodes.All(n => n.Priority == 100);
    }

    /// <summary>The settings keepalived and haproxy run for <paramref name="topology"/> (after its profile).</summary>
    public static FailoverSettings Settings(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var t = AsRendered(topology);
        var k = t.Keepalived;
        var endpoint = KubeadmConfigRenderer.ControlPlaneEndpoint(t);
        var recommended = TracksApi(t.Profile);
        var checks = HaproxyConfigRenderer.Checks(t.Profile);
        return new FailoverSettings(
            Profile: t.Profile.ToString().ToLowerInvariant(),
            Vip: t.Vip.ToString(),
            LoadBalancerPort: t.LoadBalancer.Port,
            ApiServerPort: t.Kubernetes.ApiServerPort,
            ControlPlaneEndpoint: endpoint,
            EndpointThroughLoadBalancer: endpoint.EndsWith($":{t.LoadBalancer.Port}", StringComparison.Ordinal),
            AdvertInterval: k.AdvertInterval,
            TrackScript: recommended
                ? $"chk_apiserver: GET https://127.0.0.1:{t.LoadBalancer.Port}/healthz through the node's own haproxy"
                : $"chk_haproxy: netstat shows something listening on {t.LoadBalancer.Port}",
            CheckInterval: k.CheckInterval,
            Fall: k.Fall,
            Rise: k.Rise,
            Weight: k.Weight,
            Nopreempt: k.Nopreempt,
            HaproxyCheck: checks.Check,
            HaproxyCheckInterval: checks.Inter,
            HaproxyCheckFall: checks.Fall)
        {
            VrrpVersion = VrrpElection.Version(t.Profile),
            HaproxyConnectTimeout = checks.ConnectTimeout,
        };
    }

    /// <summary>
    /// The track script's result per node as the profile's script sees it: the seed's checks that haproxy
    /// listens; the recommended one asks /healthz through the local haproxy, so it also fails when no
    /// apiserver anywhere answers.
    /// </summary>
    public static Dictionary<string, NodeCondition> ResolveTrackScripts(LabTopology topology, IReadOnlyDictionary<string, NodeCondition> conditions)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(conditions);
        NodeCondition Cond(NodeSpec n) => conditions.GetValueOrDefault(n.Name, NodeCondition.Healthy);
        if (!TracksApi(topology.Profile))
            return topology.Nodes.ToDictionary(n => n.Name, Cond);
        var anyApi = topology.Nodes.Any(n => Cond(n).NodeUp && Cond(n).ApiServerUp);
        return topology.Nodes.ToDictionary(n => n.Name, n => Cond(n) with { TrackScriptResult = Cond(n).HaproxyUp && anyApi });
    }

    /// <summary>What <paramref name="kind"/> does to a node in <paramref name="before"/>, as VRRP, haproxy and the API see it while the fault holds.</summary>
    public static NodeCondition During(FaultKind kind, NodeCondition before)
    {
        ArgumentNullException.ThrowIfNull(before);
        return kind switch
        {
            // A frozen node sends no adverts and serves nothing; a partitioned one is unreachable: both as good as down.
            FaultKind.NodeKill or FaultKind.NodeStop or FaultKind.NodePause or FaultKind.NodeRestart or FaultKind.NetworkPartition => before with { NodeUp = false },
            FaultKind.HaproxyKill or FaultKind.HaproxyStop or FaultKind.HaproxyCrash => before with { HaproxyUp = false },
            FaultKind.KeepalivedKill or FaultKind.KeepalivedStop or FaultKind.KeepalivedCrash => before with { KeepalivedUp = false },
            // kubeadm's apiserver talks only to its local etcd: without it, it cannot serve.
            FaultKind.ApiServerKill or FaultKind.EtcdKill => before with { ApiServerUp = false },
            // The static pods keep running while systemd restarts the kubelet; loss, rate and delay change nothing outright.
            _ => before,
        };
    }

    /// <summary>How <paramref name="kind"/> ends: undone by the runner, restarted before VRRP acts, or back by itself later.</summary>
    public static FaultRecovery Recovery(FaultKind kind) => kind switch
    {
        FaultKind.HaproxyCrash or FaultKind.KeepalivedCrash => FaultRecovery.QuickRestart,
        FaultKind.NodeRestart or FaultKind.ApiServerKill or FaultKind.EtcdKill or FaultKind.KubeletKill or FaultKind.ControllerManagerKill or FaultKind.SchedulerKill => FaultRecovery.RestartsByItself,
        _ => FaultRecovery.UntilUndone,
    };

    /// <summary>Whether VRRP predicts the fault's effect; packet loss, rate limits and delays are left to chance.</summary>
    public static bool IsPredictable(FaultKind kind) => kind is not (FaultKind.NetworkLoss or FaultKind.NetworkRate or FaultKind.NetworkDelay);

    /// <summary>Who holds the VIP in <paramref name="state"/> and what answers (nothing failing now).</summary>
    public static VipState Now(LabTopology topology, LabState? state = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        state ??= LabState.Healthy;
        var t = AsRendered(topology);
        var conditions = t.Nodes.ToDictionary(n => n.Name, n => state.Of(n.Name));
        var outcome = state.Holder is { } h ? VrrpElection.After(t, t.Node(h).Name, ResolveTrackScripts(t, conditions)) : VrrpElection.Initial(t, ResolveTrackScripts(t, conditions));
        return State(t, Settings(t), outcome, conditions, stale: null, apiInRotationButDead: false);
    }

    /// <summary>
    /// Refuses a fault that has nothing to act on in <paramref name="topology"/>: etcd-kill kills the stacked etcd member
    /// inside a master, and with external etcd the masters run none.
    /// </summary>
    /// <exception cref="ArgumentException">The fault does not apply to this topology; the message says what to do instead.</exception>
    public static void EnsureApplies(LabTopology topology, FaultKind kind)
    {
        ArgumentNullException.ThrowIfNull(topology);
        if (kind == FaultKind.EtcdKill && topology.Etcd.Topology == EtcdTopology.External)
            throw new ArgumentException(
                $"etcd-kill does not apply to lab '{topology.Name}': its etcd is external ({string.Join(", ", topology.Etcd.Nodes.Select(n => n.Name))}), so no etcd member runs inside a master. " +
                $"Kill an etcd node's container instead (docker kill {topology.Name}-{topology.Etcd.Nodes.FirstOrDefault()?.Name ?? "e01"}), or use a stacked lab.", nameof(kind));
    }

    /// <summary>Predicts what <paramref name="kind"/> on <paramref name="node"/> does in <paramref name="state"/>.</summary>
    /// <param name="topology">The lab; its profile decides the settings (<see cref="AsRendered"/>).</param>
    /// <param name="kind">The fault.</param>
    /// <param name="node">The node it hits; null: the VIP holder.</param>
    /// <param name="state">Earlier faults still in place and the holder; null: a healthy lab with apiservers.</param>
    /// <exception cref="ArgumentException"><paramref name="node"/> or the state's holder is not a node of the topology.</exception>
    public static FailoverOutcome Predict(LabTopology topology, FaultKind kind, string? node = null, LabState? state = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        EnsureApplies(topology, kind);
        state ??= LabState.Healthy;
        var t = AsRendered(topology);
        var s = Settings(t);
        var k = t.Keepalived;
        var baseline = t.Nodes.ToDictionary(n => n.Name, n => state.Of(n.Name));
        var scriptsBefore = ResolveTrackScripts(t, baseline);
        var nowOutcome = state.Holder is { } observed ? VrrpElection.After(t, t.Node(observed).Name, scriptsBefore) : VrrpElection.Initial(t, scriptsBefore);
        var before = State(t, s, nowOutcome, baseline, stale: null, apiInRotationButDead: false);
        var holderBefore = state.Holder is { } h ? t.Node(h).Name : before.Holder ?? before.PossibleHolders.FirstOrDefault();
        // An external etcd member is not a master: VRRP and haproxy see nothing of it (its effect is etcd's quorum: TopologySurvival).
        var etcdMember = kind == FaultKind.EtcdNodeKill;
        node = etcdMember ? EtcdMember(t, node) : t.Node(node ?? holderBefore ?? t.Nodes[0].Name).Name;
        var onHolder = node == holderBefore;

        var recovery = Recovery(kind);
        var predictable = IsPredictable(kind);
        var conditions = new Dictionary<string, NodeCondition>(baseline);
        if (!etcdMember) conditions[node] = During(kind, baseline[node]);
        // A sidecar restarted within about a second is back before any VRRP timer runs out: the election sees nothing.
        var election = recovery == FaultRecovery.QuickRestart ? baseline : conditions;
        var scriptsAfter = ResolveTrackScripts(t, election);
        var outcome = holderBefore is null ? VrrpElection.Initial(t, scriptsAfter) : VrrpElection.After(t, holderBefore, scriptsAfter);

        // A killed keepalived cannot remove the VIP, and a frozen node's kernel keeps answering ARP for it.
        var stale = onHolder && kind is FaultKind.KeepalivedKill or FaultKind.NodePause ? node : null;
        var seed = !TracksApi(t.Profile);
        // The seed's haproxy checks by TCP connect: an apiserver whose port still accepts (etcd gone, node frozen) stays in rotation.
        var apiWasUp = !etcdMember && baseline[node].NodeUp && baseline[node].ApiServerUp;
        var keepsDead = seed && apiWasUp && kind is FaultKind.EtcdKill or FaultKind.NodePause;
        var after = State(t, s, outcome, conditions, stale, keepsDead);
        var moves = holderBefore is not null && !after.PossibleHolders.Contains(holderBefore) && !after.PossibleHolders.IsEmpty;
        if (!moves) stale = null; // nobody replaced it: it is the holder, not a stale copy

        var failing = t.Nodes.Where(n => election[n.Name].InElection && scriptsBefore[n.Name].TrackScriptPasses && !scriptsAfter[n.Name].TrackScriptPasses)
            .Select(n => n.Name).ToImmutableArray();
        TimeWindow? detection = failing.Length > 0 ? VrrpElection.TrackScriptDetection(t) : null;

        var best = after.PossibleHolders.IsEmpty ? 1 : after.PossibleHolders.Max(p => outcome.EffectivePriorities.GetValueOrDefault(p, 1));
        var gracefulStop = onHolder && kind == FaultKind.KeepalivedStop;
        var holderStillAdvertises = holderBefore is not null && election[holderBefore].InElection;
        TimeWindow? takeover = null;
        if (moves)
            // A stopping keepalived sends priority 0: backups wait only their skew time, not the master-down interval.
            takeover = gracefulStop ? new TimeWindow(TimeSpan.Zero, VrrpElection.SkewTime(t, best))
                // A holder still in the election loses the VIP only after its script fails (lower priority, or FAULT with weight 0).
                : holderStillAdvertises && detection is { } d ? d + VrrpElection.TakeoverWindow(t, best)
                : VrrpElection.TakeoverWindow(t, best);

        var lbDown = !after.LoadBalancerAnswers;
        var downUntilUndone = predictable && lbDown && recovery == FaultRecovery.UntilUndone && before.LoadBalancerAnswers;
        TimeWindow? failover = !predictable || recovery == FaultRecovery.QuickRestart || lbDown ? null
            : moves ? takeover
            : TimeWindow.Zero;

        TimeWindow? marksDown = null;
        if (apiWasUp && !conditions[node].ApiServerUp && !keepsDead && kind is FaultKind.ApiServerKill or FaultKind.EtcdKill)
            // A dead process refuses (an apiserver without etcd fails /healthz) at once: 'fall' failed checks 'inter' apart.
            marksDown = new(s.HaproxyCheckInterval * (s.HaproxyCheckFall - 1), s.HaproxyCheckInterval * s.HaproxyCheckFall);
        else if (apiWasUp && !conditions[node].NodeUp && !keepsDead)
        {
            // A vanished (or frozen) node does not refuse: each check waits for its connect timeout, at most 'inter'.
            var connect = s.HaproxyConnectTimeout;
            var wait = connect < s.HaproxyCheckInterval ? connect : s.HaproxyCheckInterval;
            marksDown = new(s.HaproxyCheckInterval * (s.HaproxyCheckFall - 1), (s.HaproxyCheckInterval + wait) * s.HaproxyCheckFall);
        }

        var carried = recovery == FaultRecovery.UntilUndone && !etcdMember ? state.With(node, conditions[node]) : state;
        var stateAfter = carried with { Holder = after.Holder };

        return new FailoverOutcome
        {
            Kind = kind,
            Node = node,
            Settings = s,
            HolderBefore = holderBefore,
            Before = before,
            After = after,
            VipMoves = moves,
            StaleVipOn = stale,
            FailingTrackScripts = failing,
            Detection = detection,
            Takeover = takeover,
            Failover = failover,
            DownUntilUndone = downUntilUndone,
            HaproxyMarksDown = marksDown,
            HaproxyKeepsDeadApiServer = keepsDead,
            Recovery = recovery,
            Predictable = predictable,
            StateAfter = stateAfter,
            ElectionReason = outcome.Reason,
            Reason = Reason(t, kind, node, holderBefore, outcome, after, conditions),
            Basis = Basis(t, kind, node, holderBefore, outcome, after, moves, gracefulStop, holderStillAdvertises, detection, best, recovery, predictable, downUntilUndone),
        };
    }

    /// <summary>The external etcd member called <paramref name="name"/>, or an error naming the members (or saying the lab's etcd is stacked).</summary>
    private static string EtcdMember(LabTopology t, string? name)
    {
        if (t.Etcd.Topology != EtcdTopology.External || t.Etcd.Nodes.IsEmpty)
            throw new ArgumentException($"etcd-node-kill needs the external etcd topology; lab '{t.Name}' runs etcd stacked on its masters (use etcd-kill on a master instead).", nameof(name));
        if (name is null) return t.Etcd.Nodes[0].Name;
        return t.Etcd.Nodes.FirstOrDefault(n => n.Name == name)?.Name
            ?? throw new ArgumentException($"No etcd member '{name}' in lab '{t.Name}'. Known members: {string.Join(", ", t.Etcd.Nodes.Select(n => n.Name))}.", nameof(name));
    }

    private static VipState State(LabTopology t, FailoverSettings s, ElectionOutcome o, IReadOnlyDictionary<string, NodeCondition> c, string? stale, bool apiInRotationButDead)
    {
        var holders = o.PossibleHolders;
        // A killed keepalived (or a frozen node) that no other node replaces leaves the VIP where it was.
        if (holders.IsEmpty && stale is not null) holders = [stale];
        // On a tie the VIP lands on one of them: the load balancer answers if every candidate's haproxy runs.
        var lbAnswers = !holders.IsEmpty && holders.All(h => c[h].NodeUp && c[h].HaproxyUp);
        var anyApi = t.Nodes.Any(n => c[n.Name].NodeUp && c[n.Name].ApiServerUp);
        var apiLb = lbAnswers && anyApi && !apiInRotationButDead;
        var apiEndpoint = s.EndpointThroughLoadBalancer
            ? apiLb
            : !holders.IsEmpty && holders.All(h => c[h].NodeUp && c[h].ApiServerUp);
        return new VipState(holders.Length == 1 ? holders[0] : null, holders, o.EffectivePriorities, lbAnswers, apiLb, apiEndpoint, o.Reason);
    }

    private static string Reason(LabTopology t, FaultKind kind, string node, string? holderBefore, ElectionOutcome outcome, VipState after,
        IReadOnlyDictionary<string, NodeCondition> c)
    {
        var name = FaultKinds.Name(kind);
        if (!IsPredictable(kind))
            return $"{name} does not change what VRRP sees outright; whether adverts get lost is chance";
        if (holderBefore is null)
            return $"no node held the VIP before the fault; {outcome.Reason}";
        if (kind == FaultKind.EtcdNodeKill)
            return $"{node} is an etcd member on a container of its own: VRRP and haproxy see nothing of it, so {outcome.Reason}; whether writes go on is etcd's quorum (see the survival prediction)";
        if (kind is FaultKind.ControllerManagerKill or FaultKind.SchedulerKill)
            return $"{(kind == FaultKind.ControllerManagerKill ? "kube-controller-manager" : "kube-scheduler")} on {node} dies and the kubelet restarts it: nothing VRRP or haproxy sees changes, so the VIP stays on {holderBefore}; if it led, its lease runs out before another instance takes over";
        if (node != holderBefore)
            return $"the fault is on {node}, not on the VIP holder {holderBefore}: {outcome.Reason}";
        var k = t.Keepalived;
        var recommended = TracksApi(t.Profile);
        switch (kind)
        {
            case FaultKind.KeepalivedCrash:
                return $"keepalived on {node} dies without a priority-0 advert and Docker's restart policy starts it again within about a second, before the backups' master-down interval runs out; the VIP stays configured on {node} meanwhile";
            case FaultKind.HaproxyCrash:
            {
                // Were the track script to catch haproxy down, the election would go as if it were killed.
                var caught = VrrpElection.After(t, holderBefore, ResolveTrackScripts(t, c));
                var ifCaught = caught.PossibleHolders.Length == 1 && caught.PossibleHolders[0] == holderBefore
                    ? $"even if it does, {caught.Reason}"
                    : $"only if it did would the VIP move ({caught.Reason})";
                var fall = Math.Max(1, k.Fall);
                var script = fall == 1
                    ? $"the track script runs every {k.CheckInterval} s and may catch the gap once (fall 1); {ifCaught}"
                    : $"the track script runs every {k.CheckInterval} s and must fail {fall} times in a row, longer than the restart takes; {ifCaught}";
                return $"haproxy on {node} dies and Docker's restart policy starts it again within about a second; the VIP stays on {node}: {script}";
            }
            case FaultKind.KeepalivedStop when outcome.PossibleHolders.Length > 0:
                // keepalived going down gracefully says so with a priority-0 advert: no master-down interval to wait for.
                return outcome.Reason.Replace("its adverts stop and, after the master-down interval,", "its last advert has priority 0 and, after only the skew time,", StringComparison.Ordinal);
            case FaultKind.KubeletKill:
                return $"the static pods on {node} keep running while systemd restarts the kubelet: nothing VRRP or haproxy sees changes, so the VIP stays on {node}";
            case FaultKind.ApiServerKill or FaultKind.EtcdKill:
            {
                var what = kind == FaultKind.EtcdKill ? $"{node}'s apiserver cannot serve without its local etcd" : $"the apiserver on {node} is down";
                var anyApi = t.Nodes.Any(n => c[n.Name].NodeUp && c[n.Name].ApiServerUp);
                var why = !recommended
                    ? $"the runbook's track script only checks that something listens on port {t.LoadBalancer.Port}, so the VIP stays on {node}"
                    : anyApi
                        ? $"each track script asks /healthz through its own haproxy, which sends it to an apiserver that answers, so the VIP stays on {node}"
                        : $"no apiserver answers anywhere: every track script fails alike, all priorities drop together and {outcome.Reason}";
                return $"{what} until the kubelet has restarted it; {why}";
            }
            default:
                return outcome.Reason;
        }
    }

    private static string Basis(LabTopology t, FaultKind kind, string node, string? holderBefore, ElectionOutcome outcome, VipState after, bool moves,
        bool gracefulStop, bool holderStillAdvertises, TimeWindow? detection, int best, FaultRecovery recovery, bool predictable, bool downUntilUndone)
    {
        var k = t.Keepalived;
        var lb = $"{t.Vip}:{t.LoadBalancer.Port}";
        string Mdi(int p)
        {
            var mdi = VrrpElection.MasterDownInterval(t, p).TotalSeconds;
            var ai = k.AdvertInterval.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture);
            var skew = VrrpElection.Version(t.Profile) == 3 ? $"(256 - {p}) x {ai}/256 s" : $"(256 - {p})/256 s";
            return $"master-down interval 3 x {ai} s + {skew} = {mdi:0.###} s, up to one advert interval ({ai} s) sooner because a backup's timer runs from the last advert it heard";
        }
        var detectionText = detection is { } d ? $"the track script fails after {d} (runs every {k.CheckInterval} s, fall {Math.Max(1, k.Fall)})" : null;
        var until = recovery == FaultRecovery.UntilUndone ? "until the fault is undone" : "until it is back";

        if (!predictable) return "not predicted: depends on which packets are lost or slowed";
        if (holderBefore is null) return "not predicted: no holder to fail over from";
        if (kind == FaultKind.KeepalivedCrash && node == holderBefore)
            return $"not a VRRP figure: Docker's restart delay; a takeover would need {Mdi(best)}";
        if (kind == FaultKind.HaproxyCrash && node == holderBefore)
            return $"not a VRRP figure: {lb} refuses until Docker has restarted haproxy (its restart delay plus haproxy's start, well under a second here)";
        if (moves)
        {
            if (gracefulStop)
                return $"keepalived stopping gracefully sends a priority-0 advert and removes the VIP; a backup takes over after its skew time {(VrrpElection.Version(t.Profile) == 3 ? $"(256 - {best}) x {k.AdvertInterval.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture)}/256 s" : $"(256 - {best})/256 s")} = {VrrpElection.SkewTime(t, best).TotalSeconds:0.###} s";
            if (holderStillAdvertises && detectionText is not null)
                return $"{detectionText}; then the preempting backup ignores the lower adverts and takes over after the {Mdi(best)}";
            return Mdi(best);
        }
        if (after.PossibleHolders.IsEmpty)
            return $"no node is left to take the VIP; nothing answers on {lb} {until}";
        if (!after.LoadBalancerAnswers)
            return detectionText is not null
                ? $"{detectionText}; nobody takes the VIP, so nothing answers on {lb} {until}"
                : $"nobody takes the VIP, so nothing answers on {lb} {until}";
        var api = kind is FaultKind.ApiServerKill or FaultKind.EtcdKill or FaultKind.KubeletKill
            ? "; API probes: until the kubelet has restarted it (not a VRRP figure)"
            : kind is FaultKind.ControllerManagerKill or FaultKind.SchedulerKill ? "; a killed leader's lease must run out before another instance leads (leader-election figure, not VRRP)"
            : kind == FaultKind.EtcdNodeKill ? "; writes depend on etcd's quorum (not a VRRP figure)" : "";
        return detectionText is not null ? $"{detectionText}; vip_tcp should not notice: no failover{api}" : $"vip_tcp should not notice: no failover{api}";
    }
}
