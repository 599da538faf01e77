using System.Collections.Immutable;
using HaKubeLab.Failover;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Explain;

/// <summary>What explain assumes about the lab besides the topology.</summary>
/// <param name="ApiServersRunning">The apiservers run (after kubeadm); false for a load-balancer tier brought up without Kubernetes.</param>
public sealed record ExplainOptions(bool ApiServersRunning = true)
{
    /// <summary>Parts already lost besides what <see cref="State"/> says (e.g. <c>explain --lose etcd:m02</c>), for the survival prediction.</summary>
    public IReadOnlyList<LostPart> Lost { get; init; } = [];

    /// <summary>Earlier faults still in place (per node) and the VIP holder; null: a healthy lab. Its <see cref="LabState.ApiServersRunning"/> is taken from <see cref="ApiServersRunning"/>.</summary>
    public LabState? State { get; init; }

    /// <summary>The lab state the predictions start from (with <see cref="Lost"/> masters, sidecars and apiservers down).</summary>
    public LabState StartState
    {
        get
        {
            var state = (State ?? LabState.Healthy) with { ApiServersRunning = ApiServersRunning };
            foreach (var l in Lost)
            {
                var c = state.Of(l.Name);
                state = l.Part switch
                {
                    ControlPlanePart.Master => state.With(l.Name, c with { NodeUp = false }),
                    ControlPlanePart.Haproxy => state.With(l.Name, c with { HaproxyUp = false }),
                    ControlPlanePart.Keepalived => state.With(l.Name, c with { KeepalivedUp = false }),
                    // A stacked apiserver without its own etcd member cannot serve.
                    ControlPlanePart.ApiServer or ControlPlanePart.EtcdMember => state.With(l.Name, c with { ApiServerUp = false }),
                    _ => state,
                };
            }
            return state;
        }
    }
}

/// <summary>
/// Explains, for a topology as its profile renders it, who holds the VIP, who would take it if a node,
/// a haproxy, a keepalived, an apiserver (or any other <see cref="FaultKind"/>) failed, after how long
/// (VRRP and check timers), and whether the load-balancer port and the API stay reachable: the
/// <see cref="FailoverModel"/>'s answers in sentences.
/// </summary>
/// <example>
/// <code>
/// var e = Explainer.Explain(LabTopology.Default, [Fault.Parse("haproxy")]);
/// Console.WriteLine(e.Predictions[0].After.Holder);               // m01: nopreempt keeps it there
/// Console.WriteLine(e.Predictions[0].After.LoadBalancerAnswers);  // False
/// </code>
/// </example>
public static class Explainer
{
    /// <summary>The faults explained when none is named: each part of the VIP holder.</summary>
    public static IReadOnlyList<Fault> DefaultFaults { get; } =
        [new(FaultKind.NodeKill), new(FaultKind.HaproxyKill), new(FaultKind.KeepalivedKill), new(FaultKind.ApiServerKill)];

    /// <summary>The topology with the VRRP settings its profile really renders (<see cref="FailoverModel.AsRendered"/>).</summary>
    public static LabTopology AsRendered(LabTopology topology) => FailoverModel.AsRendered(topology);

    /// <summary>Explains the current holder and each of <paramref name="faults"/> (default: <see cref="DefaultFaults"/>).</summary>
    /// <exception cref="ArgumentException">A fault names a node the topology does not have.</exception>
    public static Explanation Explain(LabTopology topology, IEnumerable<Fault>? faults = null, ExplainOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        options ??= new ExplainOptions();
        var t = AsRendered(topology);
        var settings = FailoverModel.Settings(t);
        var state = options.StartState;
        var now = FailoverModel.Now(t, state);
        var lost = options.ApiServersRunning ? LostNow(t, options) : [];
        var predictions = (faults ?? DefaultFaults).Select(f => Predict(t, state, now, f)).Select(p => options.ApiServersRunning ? WithSurvival(t, p, lost, state.Holder) : p).ToList();
        ExplainedSurvival? survival = null;
        if (options.ApiServersRunning)
        {
            var s = TopologySurvival.Predict(t, lost, state.Holder);
            survival = new ExplainedSurvival(s.Topology, s.Members, s.Quorum, s.Tolerates, TopologySurvival.DescribeWhatStopsWrites(t), s.Story, s);
        }
        return new Explanation(settings, now, NowStory(t, settings, now, options), predictions, survival);
    }

    /// <summary>The parts lost now: what the lab state says is down, plus <see cref="ExplainOptions.Lost"/>.</summary>
    private static List<LostPart> LostNow(LabTopology t, ExplainOptions options)
    {
        var lost = new List<LostPart>(options.Lost);
        foreach (var (node, c) in options.StartState.Conditions)
        {
            if (t.Nodes.All(n => n.Name != node)) continue;
            if (!c.NodeUp) lost.Add(new LostPart(ControlPlanePart.Master, node));
            else
            {
                if (!c.HaproxyUp) lost.Add(new LostPart(ControlPlanePart.Haproxy, node));
                if (!c.KeepalivedUp) lost.Add(new LostPart(ControlPlanePart.Keepalived, node));
            }
        }
        return [.. lost.Distinct()];
    }

    /// <summary>The prediction with what the topology survives while the fault holds (the parts lost now plus the fault's).</summary>
    private static FaultPrediction WithSurvival(LabTopology t, FaultPrediction p, List<LostPart> lost, string? holder)
    {
        if (p.Outcome is not { } o || TopologySurvival.LostBy(o.Kind, o.Node) is not { } part) return p;
        try
        {
            var s = TopologySurvival.Predict(t, [.. lost, part], holder);
            return p with { Survival = s, Story = [.. p.Story, $"While it is down: {s.Summary}."] };
        }
        catch (ArgumentException) { return p; }
    }

    /// <summary>What one fault does, as explain tells it.</summary>
    /// <exception cref="ArgumentException">The fault names a node the topology does not have.</exception>
    public static FaultPrediction Predict(LabTopology topology, Fault fault, ExplainOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(fault);
        options ??= new ExplainOptions();
        var t = AsRendered(topology);
        return Predict(t, options.StartState, FailoverModel.Now(t, options.StartState), fault);
    }

    /// <summary>The track script's result per node as the profile's script sees it (<see cref="FailoverModel.ResolveTrackScripts"/>).</summary>
    public static Dictionary<string, NodeCondition> Resolve(LabTopology topology, IReadOnlyDictionary<string, NodeCondition> conditions) =>
        FailoverModel.ResolveTrackScripts(topology, conditions);

    private static FaultPrediction Predict(LabTopology t, LabState state, VipState now, Fault fault)
    {
        var o = FailoverModel.Predict(t, fault.Kind, fault.Node, state);
        var resolved = fault with { Node = o.Node };
        var story = FaultStory(t, o.Settings, resolved, now, o, state);
        return new FaultPrediction(resolved.ToString(), o.HolderBefore, o.After, o.VipMoves, o.StaleVipOn, o.Detection, o.Takeover, o.HaproxyMarksDown, story,
            o.Failover, o.DownUntilUndone, o.Recovery, o);
    }

    private static string Names(IEnumerable<string> names, string conjunction = "or")
    {
        var list = names.ToList();
        return list.Count switch { 0 => "no node", 1 => list[0], _ => $"{string.Join(", ", list[..^1])} {conjunction} {list[^1]}" };
    }

    private static string Priorities(ImmutableDictionary<string, int> p, LabTopology t) =>
        string.Join(", ", t.Nodes.Where(n => p.ContainsKey(n.Name)).Select(n => $"{n.Name} {p[n.Name]}"));

    private static List<string> NowStory(LabTopology t, FailoverSettings s, VipState now, ExplainOptions options)
    {
        var k = t.Keepalived;
        var story = new List<string>
        {
            now.PossibleHolders.Length switch
            {
                0 => $"No node holds the VIP {s.Vip}: {now.Reason}.",
                1 => $"{now.Holder} holds the VIP {s.Vip}: {now.Reason}.",
                _ => $"{Names(now.PossibleHolders)} holds the VIP {s.Vip}: {now.Reason}.",
            },
            $"Effective priorities: {Priorities(now.Priorities, t)} " +
                (k.Weight > 0 ? $"(priority + {k.Weight} while the track script passes)." : k.Weight < 0 ? $"(priority, minus {-k.Weight} while the track script fails)." : "(weight 0: a failing track script puts the node in FAULT)."),
            $"The track script ({s.TrackScript}) runs every {k.CheckInterval} s; {k.Fall} failure{(k.Fall == 1 ? "" : "s")} in a row count{(k.Fall == 1 ? "s" : "")} as failed, {k.Rise} success{(k.Rise == 1 ? "" : "es")} as recovered.",
        };
        var masters = t.Nodes.Where(n => n.State == VrrpState.Master).Select(n => n.Name).ToList();
        var others = t.Nodes.Where(n => n.State != VrrpState.Master).Select(n => n.Name).ToList();
        story.Add(!k.Nopreempt
            ? "No nopreempt: any node with a strictly higher effective priority takes the VIP from the holder."
            : masters.Count > 0
                ? $"nopreempt is set, but keepalived clears it on {Names(masters)} (state MASTER): {Names(masters, "and")} may preempt, {Names(others, "and")} may not."
                : "nopreempt: no backup takes the VIP from a live holder, whatever the priorities.");
        story.Add($"{s.Vip}:{s.LoadBalancerPort} {(now.LoadBalancerAnswers ? "answers" : "refuses connections")}. " +
            (s.EndpointThroughLoadBalancer
                ? $"The cluster endpoint {s.ControlPlaneEndpoint} goes through haproxy, which checks each apiserver by {s.HaproxyCheck}."
                : $"The cluster endpoint {s.ControlPlaneEndpoint} is not haproxy's port: it is the VIP holder's own apiserver, so API traffic never passes haproxy."));
        if (!options.ApiServersRunning)
            story.Add("No apiserver runs (load-balancer tier only): the API does not answer through the VIP" +
                (FailoverModel.TracksApi(t.Profile) ? "; every node's track script fails alike, so all nodes sit at the same lowered priority and the VIP stays where it started." : "."));
        return story;
    }

    // The model's phrases start with a name (haproxy, m01, network-loss) as often as not: keep their case.
    private static string Sentence(string text) => text.EndsWith('.') ? text : text + ".";

    private static string What(LabTopology t, FailoverSettings s, FaultKind kind, string node) => kind switch
    {
        FaultKind.NodeKill => $"{node} goes down, with its apiserver, haproxy and keepalived; its VRRP adverts stop.",
        FaultKind.NodeStop => $"{node} is stopped (a graceful shutdown), with its apiserver, haproxy and keepalived; its VRRP adverts stop.",
        FaultKind.NodePause => $"{node} freezes with its haproxy and keepalived (docker pause): its adverts stop, its interface keeps the VIP, nothing on it answers.",
        FaultKind.NodeRestart => $"{node} reboots: down with its apiserver, haproxy and keepalived until it has started again; its VRRP adverts stop meanwhile.",
        FaultKind.HaproxyKill => $"haproxy on {node} dies: nothing listens on {node}:{s.LoadBalancerPort} any more.",
        FaultKind.HaproxyStop => $"haproxy on {node} is stopped: nothing listens on {node}:{s.LoadBalancerPort} any more.",
        FaultKind.HaproxyCrash => $"haproxy on {node} crashes; Docker's restart policy starts it again within about a second.",
        FaultKind.KeepalivedKill => $"keepalived on {node} is killed: its adverts stop, and nobody removes the VIP from {node}'s interface.",
        FaultKind.KeepalivedStop => $"keepalived on {node} is stopped: it sends a priority-0 advert and removes the VIP from {node}'s interface.",
        FaultKind.KeepalivedCrash => $"keepalived on {node} crashes without a priority-0 advert; Docker's restart policy starts it again within about a second.",
        FaultKind.ApiServerKill => $"The apiserver on {node} dies.",
        FaultKind.EtcdKill => $"etcd on {node} dies: {node}'s apiserver, which uses only its local etcd, cannot serve until the kubelet has restarted etcd.",
        FaultKind.KubeletKill => $"The kubelet on {node} dies; its static pods keep running and systemd restarts it.",
        FaultKind.ControllerManagerKill => $"kube-controller-manager on {node} dies; the kubelet restarts it. If it held the kube-controller-manager lease, no controller runs until another instance takes the lease.",
        FaultKind.SchedulerKill => $"kube-scheduler on {node} dies; the kubelet restarts it. If it held the kube-scheduler lease, no pod is scheduled until another instance takes the lease.",
        FaultKind.EtcdNodeKill => $"The external etcd member {node} dies (its container is killed); the masters and their load balancer are untouched.",
        FaultKind.NetworkPartition => $"{node}'s network link goes down: nothing reaches it, its adverts stop and the VIP cannot be reached there.",
        FaultKind.NetworkLoss => $"{node}'s network drops packets at random.",
        FaultKind.NetworkRate => $"{node}'s outgoing traffic is rate-limited.",
        FaultKind.NetworkDelay => $"{node}'s network delays every packet.",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown fault kind"),
    };

    private static List<string> FaultStory(LabTopology t, FailoverSettings s, Fault fault, VipState now, FailoverOutcome o, LabState state)
    {
        var node = fault.Node!;
        var before = o.HolderBefore;
        var after = o.After;
        var lb = $"{s.Vip}:{s.LoadBalancerPort}";
        var story = new List<string> { What(t, s, fault.Kind, node) };

        if (!o.Predictable || (o.Recovery == FaultRecovery.QuickRestart && node == before))
        {
            story.Add(Sentence(o.Reason));
            story.Add(Sentence("Timing: " + o.Basis));
            return story;
        }

        var failing = o.FailingTrackScripts;
        var apiKind = fault.Kind is FaultKind.ApiServerKill or FaultKind.EtcdKill;
        if (failing.Length > 0)
            story.Add($"The track script on {Names(failing)} fails within {o.Detection}: " +
                string.Join("; ", failing.Select(n => after.Priorities.TryGetValue(n, out var p)
                    ? $"{n}'s priority {(now.Priorities.TryGetValue(n, out var p0) && p0 != p ? $"drops from {p0} to {p}" : $"stays {p}")}"
                    : $"{n} goes to FAULT")) + ".");
        else if (fault.Kind is FaultKind.HaproxyKill or FaultKind.HaproxyStop || apiKind)
            story.Add(apiKind && !FailoverModel.TracksApi(t.Profile)
                ? $"No track script notices: the runbook's checks only that something listens on {s.LoadBalancerPort}."
                : apiKind
                    ? "The track scripts keep passing: each asks through its own haproxy, which sends the request to an apiserver that answers."
                    : "No track script result changes.");
        else if (fault.Kind is FaultKind.KubeletKill or FaultKind.ControllerManagerKill or FaultKind.SchedulerKill or FaultKind.EtcdNodeKill)
            story.Add("Nothing VRRP or haproxy sees changes.");

        if (before is null)
            story.Add($"Nobody held the VIP before; afterwards: {Names(after.PossibleHolders)}.");
        else if (o.VipMoves && fault.Kind == FaultKind.KeepalivedStop && node == before)
            story.Add($"{o.Reason}. {Names(after.PossibleHolders)} takes the VIP {o.Takeover} after the fault " +
                $"(the priority-0 advert makes the backups wait only their skew time, {(s.VrrpVersion == 3 ? $"(256 - priority) x {s.AdvertText}/256 s" : "(256 - priority)/256 s")}, not the master-down interval).");
        else if (o.VipMoves)
        {
            var mdi = VrrpElection.MasterDownInterval(t, after.PossibleHolders.Max(h => after.Priorities.GetValueOrDefault(h, 1)));
            var holderDuring = node == before ? FailoverModel.During(fault.Kind, state.Of(before)) : state.Of(before);
            var counted = o.Detection is not null && holderDuring.InElection;
            story.Add($"{o.ElectionReason}. {Names(after.PossibleHolders)} takes the VIP {o.Takeover} after the fault " +
                $"(master-down interval 3 x {s.AdvertText} s + skew = {mdi.TotalSeconds:0.###} s{(counted ? ", counted from the failed check" : "")}; up to one advert sooner, as the backup's timer runs from the last advert it accepted).");
        }
        else if (after.PossibleHolders.IsEmpty)
            story.Add($"{o.ElectionReason}.");
        else
            story.Add($"{o.ElectionReason}. The VIP stays on {Names(after.PossibleHolders)}.");

        if (o.StaleVipOn is { } stale)
            story.Add(fault.Kind == FaultKind.NodePause
                ? $"{stale} keeps the address on its frozen interface and its kernel still answers ARP for it (and completes TCP handshakes nobody serves), so traffic can flip back to {stale} until it is unpaused."
                : $"{stale} keeps the address on its interface: the new holder's gratuitous ARP points clients at itself, but each later ARP request for the VIP gets two answers, so traffic can flip back to {stale} until keepalived there starts again and removes it.");

        if (o.HaproxyMarksDown is { } m)
            story.Add($"haproxy takes {node}'s apiserver out of rotation within {m} ({s.HaproxyCheck} every {s.HaproxyCheckInterval.TotalSeconds:0.##} s, {s.HaproxyCheckFall} failures); until then connections it sends there are retried on another server (option redispatch).");
        else if (o.HaproxyKeepsDeadApiServer)
            story.Add($"haproxy's {s.HaproxyCheck} check still connects to {node}'s apiserver port, so it keeps {node} in rotation and the API requests it sends there fail.");

        story.Add($"{lb} {(after.LoadBalancerAnswers ? "answers" : "refuses every connection")}; the API through it {(after.ApiThroughLoadBalancer ? "answers" : "does not answer")}.");
        if (!s.EndpointThroughLoadBalancer)
            story.Add(after.ApiThroughEndpoint
                ? $"The cluster endpoint {s.ControlPlaneEndpoint} reaches the own apiserver of {Names(after.PossibleHolders)}, bypassing haproxy: it answers."
                : $"The cluster endpoint {s.ControlPlaneEndpoint} reaches the own apiserver of {Names(after.PossibleHolders)}, which is down: kubectl, kubelets, controller-managers and schedulers using it fail until it is back, although other apiservers are healthy.");
        if (fault.Kind == FaultKind.NodeRestart)
            story.Add($"Once {node} is back with its sidecars it takes part in VRRP again.");
        return story;
    }
}
