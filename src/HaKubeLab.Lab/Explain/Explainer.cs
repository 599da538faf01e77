using System.Collections.Immutable;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Explain;

/// <summary>What explain assumes about the lab besides the topology.</summary>
/// <param name="ApiServersRunning">The apiservers run (after kubeadm); false for a load-balancer tier brought up without Kubernetes.</param>
public sealed record ExplainOptions(bool ApiServersRunning = true);

/// <summary>
/// Explains, for a topology as its profile renders it, who holds the VIP, who would take it if a node,
/// a haproxy, a keepalived or an apiserver failed, after how long (VRRP and check timers), and whether
/// the load-balancer port and the API stay reachable. Built on <see cref="VrrpElection"/>; pure.
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
    // Connect timeouts the profiles' haproxy.cfg set ('timeout connect'); a check's connect waits min(this, inter).
    private static readonly TimeSpan SeedConnectTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan RecommendedConnectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The faults explained when none is named: each part of the VIP holder.</summary>
    public static IReadOnlyList<Fault> DefaultFaults { get; } =
        [new(FaultKind.Node), new(FaultKind.Haproxy), new(FaultKind.Keepalived), new(FaultKind.ApiServer)];

    /// <summary>The topology with the VRRP settings its profile really renders (<see cref="KeepalivedConfigRenderer.Settings"/>).</summary>
    public static LabTopology AsRendered(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        return topology with { Keepalived = KeepalivedConfigRenderer.Settings(topology) };
    }

    /// <summary>Explains the current holder and each of <paramref name="faults"/> (default: <see cref="DefaultFaults"/>).</summary>
    /// <exception cref="ArgumentException">A fault names a node the topology does not have.</exception>
    public static Explanation Explain(LabTopology topology, IEnumerable<Fault>? faults = null, ExplainOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        options ??= new ExplainOptions();
        var t = AsRendered(topology);
        var settings = Settings(t);
        var baseline = t.Nodes.ToDictionary(n => n.Name, _ => new NodeCondition(ApiServerUp: options.ApiServersRunning));
        var now = VrrpElection.Initial(t, Resolve(t, baseline));
        var nowState = State(t, settings, now, baseline, stale: null);
        var predictions = (faults ?? DefaultFaults).Select(f => Predict(t, settings, baseline, nowState, f)).ToList();
        return new Explanation(settings, nowState, NowStory(t, settings, nowState, options), predictions);
    }

    /// <summary>
    /// The track script's result per node as the profile's script sees it: the seed's checks that haproxy
    /// listens; the recommended one asks /healthz through the local haproxy, so it also fails when no
    /// apiserver anywhere answers.
    /// </summary>
    public static Dictionary<string, NodeCondition> Resolve(LabTopology topology, IReadOnlyDictionary<string, NodeCondition> conditions)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(conditions);
        NodeCondition Cond(NodeSpec n) => conditions.GetValueOrDefault(n.Name, NodeCondition.Healthy);
        if (topology.Profile != RenderProfile.Recommended)
            return topology.Nodes.ToDictionary(n => n.Name, Cond);
        var anyApi = topology.Nodes.Any(n => Cond(n).NodeUp && Cond(n).ApiServerUp);
        return topology.Nodes.ToDictionary(n => n.Name, n => Cond(n) with { TrackScriptResult = Cond(n).HaproxyUp && anyApi });
    }

    private static ExplainSettings Settings(LabTopology t)
    {
        var k = t.Keepalived;
        var endpoint = KubeadmConfigRenderer.ControlPlaneEndpoint(t);
        var recommended = t.Profile == RenderProfile.Recommended;
        return new ExplainSettings(
            Profile: recommended ? "recommended" : "seed",
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
            HaproxyCheck: recommended ? "GET /healthz over TLS" : "TCP connect",
            HaproxyCheckInterval: HaproxyConfigRenderer.RecommendedCheckInter,
            HaproxyCheckFall: HaproxyConfigRenderer.RecommendedCheckFall);
    }

    private static bool AnyApi(LabTopology t, IReadOnlyDictionary<string, NodeCondition> c) =>
        t.Nodes.Any(n => c[n.Name].NodeUp && c[n.Name].ApiServerUp);

    private static VipState State(LabTopology t, ExplainSettings s, ElectionOutcome o, IReadOnlyDictionary<string, NodeCondition> c, string? stale)
    {
        var holders = o.PossibleHolders;
        var lbAnswers = o.LoadBalancerAnswers;
        // A killed keepalived that no other node replaces leaves the VIP where it was.
        if (holders.IsEmpty && stale is not null)
        {
            holders = [stale];
            lbAnswers = c[stale].NodeUp && c[stale].HaproxyUp;
        }
        var apiLb = lbAnswers && AnyApi(t, c);
        var apiEndpoint = s.EndpointThroughLoadBalancer
            ? apiLb
            : !holders.IsEmpty && holders.All(h => c[h].NodeUp && c[h].ApiServerUp);
        return new VipState(holders.Length == 1 ? holders[0] : null, holders, o.EffectivePriorities, lbAnswers, apiLb, apiEndpoint, o.Reason);
    }

    private static FaultPrediction Predict(LabTopology t, ExplainSettings s, Dictionary<string, NodeCondition> baseline, VipState now, Fault fault)
    {
        var before = now.Holder ?? now.PossibleHolders.FirstOrDefault();
        var node = t.Node(fault.Node ?? before ?? t.Nodes[0].Name).Name;
        var resolved = fault with { Node = node };
        var conditions = new Dictionary<string, NodeCondition>(baseline);
        conditions[node] = fault.Kind switch
        {
            FaultKind.Node => conditions[node] with { NodeUp = false },
            FaultKind.Haproxy => conditions[node] with { HaproxyUp = false },
            FaultKind.Keepalived => conditions[node] with { KeepalivedUp = false },
            FaultKind.ApiServer => conditions[node] with { ApiServerUp = false },
            _ => throw new ArgumentOutOfRangeException(nameof(fault)),
        };

        var scriptsBefore = Resolve(t, baseline);
        var scriptsAfter = Resolve(t, conditions);
        var outcome = before is null ? VrrpElection.Initial(t, scriptsAfter) : VrrpElection.After(t, before, scriptsAfter);
        var stale = fault.Kind == FaultKind.Keepalived && node == before ? node : null;
        var after = State(t, s, outcome, conditions, stale);
        var moves = before is not null && !after.PossibleHolders.Contains(before) && !after.PossibleHolders.IsEmpty;
        if (!moves && stale is not null) stale = null; // nobody replaced it: it is the holder, not a stale copy

        // Nodes whose track script goes from passing to failing (a dead node runs no script: its adverts just stop).
        var failing = t.Nodes.Where(n => conditions[n.Name].InElection && scriptsBefore[n.Name].TrackScriptPasses && !scriptsAfter[n.Name].TrackScriptPasses).Select(n => n.Name).ToList();
        TimeWindow? detection = failing.Count > 0 ? VrrpElection.TrackScriptDetection(t) : null;

        TimeWindow? takeover = null;
        if (moves)
        {
            var winner = after.PossibleHolders.Max(h => outcome.EffectivePriorities.GetValueOrDefault(h, 1));
            var mdi = VrrpElection.TakeoverWindow(t, winner);
            // A holder still in the election loses the VIP only after its script fails (lower priority, or FAULT with weight 0).
            var holderStillAdvertises = conditions[before!].InElection;
            takeover = holderStillAdvertises && detection is { } d ? d + mdi : mdi;
        }

        TimeWindow? marksDown = null;
        if (fault.Kind == FaultKind.ApiServer && baseline[node].ApiServerUp)
            // A dead process refuses at once: 'fall' failed checks 'inter' apart.
            marksDown = new(s.HaproxyCheckInterval * (s.HaproxyCheckFall - 1), s.HaproxyCheckInterval * s.HaproxyCheckFall);
        else if (fault.Kind == FaultKind.Node && baseline[node].ApiServerUp)
        {
            // A vanished node does not refuse: each check waits for its connect timeout, at most 'inter'.
            var connect = t.Profile == RenderProfile.Recommended ? RecommendedConnectTimeout : SeedConnectTimeout;
            var wait = connect < s.HaproxyCheckInterval ? connect : s.HaproxyCheckInterval;
            marksDown = new(s.HaproxyCheckInterval * (s.HaproxyCheckFall - 1), (s.HaproxyCheckInterval + wait) * s.HaproxyCheckFall);
        }

        var story = FaultStory(t, s, resolved, before, now, after, outcome, moves, stale, failing, detection, takeover, marksDown, conditions);
        return new FaultPrediction(resolved.ToString(), before, after, moves, stale, detection, takeover, marksDown, story);
    }

    private static string Names(IEnumerable<string> names, string conjunction = "or")
    {
        var list = names.ToList();
        return list.Count switch { 0 => "no node", 1 => list[0], _ => $"{string.Join(", ", list[..^1])} {conjunction} {list[^1]}" };
    }

    private static string Priorities(ImmutableDictionary<string, int> p, LabTopology t) =>
        string.Join(", ", t.Nodes.Where(n => p.ContainsKey(n.Name)).Select(n => $"{n.Name} {p[n.Name]}"));

    private static List<string> NowStory(LabTopology t, ExplainSettings s, VipState now, ExplainOptions options)
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
                (t.Profile == RenderProfile.Recommended ? "; every node's track script fails alike, so all nodes sit at the same lowered priority and the VIP stays where it started." : "."));
        return story;
    }

    private static List<string> FaultStory(LabTopology t, ExplainSettings s, Fault fault, string? before, VipState now, VipState after, ElectionOutcome outcome,
        bool moves, string? stale, List<string> failing, TimeWindow? detection, TimeWindow? takeover, TimeWindow? marksDown, Dictionary<string, NodeCondition> c)
    {
        var node = fault.Node!;
        var lb = $"{s.Vip}:{s.LoadBalancerPort}";
        var story = new List<string>
        {
            fault.Kind switch
            {
                FaultKind.Node => $"{node} goes down, with its apiserver, haproxy and keepalived; its VRRP adverts stop.",
                FaultKind.Haproxy => $"haproxy on {node} dies: nothing listens on {node}:{s.LoadBalancerPort} any more.",
                FaultKind.Keepalived => $"keepalived on {node} is killed: its adverts stop, and nobody removes the VIP from {node}'s interface.",
                _ => $"The apiserver on {node} dies.",
            },
        };

        if (failing.Count > 0)
            story.Add($"The track script on {Names(failing)} fails within {detection}: " +
                string.Join("; ", failing.Select(n => outcome.EffectivePriorities.TryGetValue(n, out var p)
                    ? $"{n}'s priority {(now.Priorities.TryGetValue(n, out var p0) && p0 != p ? $"drops from {p0} to {p}" : $"stays {p}")}"
                    : $"{n} goes to FAULT")) + ".");
        else if (fault.Kind is FaultKind.Haproxy or FaultKind.ApiServer)
            story.Add(fault.Kind == FaultKind.ApiServer && t.Profile != RenderProfile.Recommended
                ? $"No track script notices: the runbook's checks only that something listens on {s.LoadBalancerPort}."
                : fault.Kind == FaultKind.ApiServer
                    ? "The track scripts keep passing: each asks through its own haproxy, which sends the request to an apiserver that answers."
                    : "No track script result changes.");

        if (before is null)
            story.Add($"Nobody held the VIP before; afterwards: {Names(after.PossibleHolders)}.");
        else if (moves)
        {
            var mdi = VrrpElection.MasterDownInterval(t, after.PossibleHolders.Max(h => outcome.EffectivePriorities.GetValueOrDefault(h, 1)));
            story.Add($"{outcome.Reason}. {Names(after.PossibleHolders)} takes the VIP {takeover} after the fault " +
                $"(master-down interval 3 x {t.Keepalived.AdvertInterval} s + skew = {mdi.TotalSeconds:0.##} s{(detection is not null && c[before].InElection ? ", counted from the failed check" : "")}; up to one advert sooner, as the backup's timer runs from the last advert it accepted).");
        }
        else
            story.Add($"{outcome.Reason}. The VIP stays on {Names(after.PossibleHolders)}.");

        if (stale is not null)
            story.Add($"{stale} keeps the address on its interface: the new holder's gratuitous ARP points clients at itself, but each later ARP request for the VIP gets two answers, so traffic can flip back to {stale} until keepalived there starts again and removes it.");

        if (marksDown is { } m)
            story.Add($"haproxy takes {node}'s apiserver out of rotation within {m} ({s.HaproxyCheck} every {s.HaproxyCheckInterval.TotalSeconds:0} s, {s.HaproxyCheckFall} failures); until then connections it sends there are retried on another server (option redispatch).");

        story.Add($"{lb} {(after.LoadBalancerAnswers ? "answers" : "refuses every connection")}; the API through it {(after.ApiThroughLoadBalancer ? "answers" : "does not answer")}.");
        if (!s.EndpointThroughLoadBalancer)
            story.Add(after.ApiThroughEndpoint
                ? $"The cluster endpoint {s.ControlPlaneEndpoint} reaches the own apiserver of {Names(after.PossibleHolders)}, bypassing haproxy: it answers."
                : $"The cluster endpoint {s.ControlPlaneEndpoint} reaches the own apiserver of {Names(after.PossibleHolders)}, which is down: kubectl, kubelets, controller-managers and schedulers using it fail until it is back, although other apiservers are healthy.");
        return story;
    }
}
