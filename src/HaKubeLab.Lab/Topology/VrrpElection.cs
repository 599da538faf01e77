using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace HaKubeLab.Topology;

/// <summary>What is up on one node, as the election sees it.</summary>
/// <param name="NodeUp">The node (its container) runs.</param>
/// <param name="KeepalivedUp">keepalived runs on the node.</param>
/// <param name="HaproxyUp">haproxy runs on the node.</param>
/// <param name="ApiServerUp">The node's kube-apiserver answers; the runbook's track script does not look at it.</param>
public sealed record NodeCondition(bool NodeUp = true, bool KeepalivedUp = true, bool HaproxyUp = true, bool ApiServerUp = true)
{
    public static NodeCondition Healthy { get; } = new();

    /// <summary>
    /// The track script's result when it checks more than the runbook's does (e.g. the API through the
    /// local haproxy); null means the runbook's check: something listens on the load-balancer port.
    /// </summary>
    public bool? TrackScriptResult { get; init; }

    /// <summary>The runbook's track script checks that something listens on the load-balancer port, i.e. haproxy runs.</summary>
    public bool TrackScriptPasses => NodeUp && (TrackScriptResult ?? HaproxyUp);

    /// <summary>A node takes part in VRRP only while its keepalived runs.</summary>
    public bool InElection => NodeUp && KeepalivedUp;
}

/// <summary>Who holds the VIP after an event, and why.</summary>
/// <param name="Holder">The node expected to hold the VIP; null when no node can, or when several tie (see <paramref name="PossibleHolders"/>).</param>
/// <param name="PossibleHolders">Every node that may end up holding it (more than one only on a priority tie).</param>
/// <param name="EffectivePriorities">Priority after the track script's weight, per node taking part.</param>
/// <param name="LoadBalancerAnswers">Whether a TCP connect to VIP:load-balancer-port succeeds (the holder's haproxy runs).</param>
/// <param name="Reason">Why, in words (the VRRP rule that decided).</param>
public sealed record ElectionOutcome(
    string? Holder,
    ImmutableArray<string> PossibleHolders,
    ImmutableDictionary<string, int> EffectivePriorities,
    bool LoadBalancerAnswers,
    string Reason);

/// <summary>
/// VRRP election math as keepalived applies it: effective priority = priority + weight while the
/// track script passes (positive weight) or fails (negative weight); a backup takes the VIP from a
/// live master only when its priority is strictly higher and it may preempt; keepalived clears
/// <c>nopreempt</c> on an instance whose initial state is MASTER.
/// </summary>
public static class VrrpElection
{
    public static int EffectivePriority(LabTopology topology, NodeSpec node, NodeCondition condition)
    {
        var w = topology.Keepalived.Weight;
        var bonus = w > 0 ? (condition.TrackScriptPasses ? w : 0) : (condition.TrackScriptPasses ? 0 : w);
        return Math.Clamp(node.Priority + bonus, 1, 254);
    }

    /// <summary>keepalived ignores <c>nopreempt</c> when the initial state is MASTER ("nopreempt will not work with initial state MASTER - clearing").</summary>
    public static bool MayPreempt(LabTopology topology, NodeSpec node) => !topology.Keepalived.Nopreempt || node.State == VrrpState.Master;

    /// <summary>With weight 0 a failing track script puts the instance in FAULT: it gives up the VIP and cannot take it.</summary>
    private static bool Eligible(LabTopology topology, NodeCondition c) =>
        c.InElection && (topology.Keepalived.Weight != 0 || c.TrackScriptPasses);

    /// <summary>The holder once the lab has settled after <c>up</c>, keepalived started in node order, everything healthy.</summary>
    public static ElectionOutcome Initial(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        return Initial(topology, topology.Nodes.ToDictionary(n => n.Name, _ => NodeCondition.Healthy));
    }

    /// <summary>
    /// The holder once the lab has settled after <c>up</c> with keepalived started in node order, while
    /// <paramref name="conditions"/> hold from the start (e.g. no apiserver runs yet).
    /// </summary>
    /// <param name="topology">The lab, with the VRRP settings keepalived runs.</param>
    /// <param name="conditions">Per node name; nodes not listed are healthy.</param>
    public static ElectionOutcome Initial(LabTopology topology, IReadOnlyDictionary<string, NodeCondition> conditions)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(conditions);
        var first = topology.Nodes.FirstOrDefault(n => n.State == VrrpState.Master);
        if (first is null)
            return Elect(topology, conditions, topology.Nodes, "no node starts as MASTER: after the master-down interval the highest priority takes the VIP");
        var after = After(topology, first.Name, conditions);
        return after.Holder == first.Name
            ? after with { Reason = $"{first.Name} starts in state MASTER and takes the VIP at once; no backup has a higher priority that may preempt it" }
            : after;
    }

    /// <summary>The holder after the conditions change while <paramref name="currentHolder"/> holds the VIP.</summary>
    /// <param name="topology">The lab, with the VRRP settings keepalived runs.</param>
    /// <param name="currentHolder">The node holding the VIP before the change.</param>
    /// <param name="conditions">Per node name; nodes not listed are healthy.</param>
    public static ElectionOutcome After(LabTopology topology, string currentHolder, IReadOnlyDictionary<string, NodeCondition> conditions)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(conditions);
        var holder = topology.Node(currentHolder);
        NodeCondition Cond(NodeSpec n) => conditions.GetValueOrDefault(n.Name, NodeCondition.Healthy);

        if (!Eligible(topology, Cond(holder)))
        {
            var why = !Cond(holder).NodeUp ? "is down" : !Cond(holder).KeepalivedUp ? "has no keepalived running" : "is in FAULT (track script failed, weight 0)";
            return Elect(topology, conditions, topology.Nodes.Where(n => n != holder),
                $"{holder.Name} {why}: its adverts stop and, after the master-down interval, the highest remaining priority takes the VIP");
        }

        var holderPriority = EffectivePriority(topology, holder, Cond(holder));
        var challengers = topology.Nodes
            .Where(n => n != holder && Eligible(topology, Cond(n)) && EffectivePriority(topology, n, Cond(n)) > holderPriority)
            .ToList();
        var preempting = challengers.Where(n => MayPreempt(topology, n)).ToList();
        if (preempting.Count > 0)
            return Elect(topology, conditions, preempting,
                $"{holder.Name} drops to priority {holderPriority}; {string.Join(", ", preempting.Select(n => n.Name))} may preempt with a higher priority and takes the VIP");

        var reason = challengers.Count > 0
            ? $"{holder.Name} keeps the VIP at priority {holderPriority}: {string.Join(", ", challengers.Select(n => n.Name))} have a higher priority but nopreempt stops them from taking it"
            : $"{holder.Name} keeps the VIP: no other node has a higher priority ({holderPriority})";
        return Outcome(topology, conditions, [holder], reason);
    }

    private static ElectionOutcome Elect(LabTopology topology, IReadOnlyDictionary<string, NodeCondition> conditions, IEnumerable<NodeSpec> candidates, string reason)
    {
        NodeCondition Cond(NodeSpec n) => conditions.GetValueOrDefault(n.Name, NodeCondition.Healthy);
        var eligible = candidates.Where(n => Eligible(topology, Cond(n))).ToList();
        if (eligible.Count == 0)
            return Outcome(topology, conditions, [], reason + "; but no node is left to take it: the VIP is gone");
        var best = eligible.Max(n => EffectivePriority(topology, n, Cond(n)));
        var top = eligible.Where(n => EffectivePriority(topology, n, Cond(n)) == best).ToList();
        if (top.Count > 1)
            reason += $" ({string.Join(" and ", top.Select(n => n.Name))} tie at priority {best}: whichever master-down timer fires first wins, on a collision the higher IP)";
        return Outcome(topology, conditions, top, reason);
    }

    private static ElectionOutcome Outcome(LabTopology topology, IReadOnlyDictionary<string, NodeCondition> conditions, IReadOnlyList<NodeSpec> possible, string reason)
    {
        NodeCondition Cond(NodeSpec n) => conditions.GetValueOrDefault(n.Name, NodeCondition.Healthy);
        var priorities = topology.Nodes.Where(n => Cond(n).InElection)
            .ToImmutableDictionary(n => n.Name, n => EffectivePriority(topology, n, Cond(n)));
        var holder = possible.Count == 1 ? possible[0] : null;
        // On a tie the VIP lands on one of them; the load balancer answers if every candidate's haproxy runs.
        var answers = possible.Count > 0 && possible.All(n => Cond(n).HaproxyUp);
        return new(holder?.Name, [.. possible.Select(n => n.Name)], priorities, answers, reason);
    }

    /// <summary>The VRRP version the profile's keepalived speaks: 3 for the fast profile (sub-second adverts), else 2 (keepalived's default, the runbook's).</summary>
    public static int Version(RenderProfile profile) => profile == RenderProfile.Fast ? 3 : 2;

    /// <summary>
    /// The skew time of a backup of the given priority: VRRPv2 (RFC 3768) (256 - priority)/256 s; VRRPv3 (RFC 5798)
    /// ((256 - priority) x advert interval)/256, so it shrinks with the advert interval.
    /// </summary>
    public static TimeSpan SkewTime(LabTopology topology, int priority)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var scale = Version(topology.Profile) == 3 ? topology.Keepalived.AdvertInterval : 1.0;
        return TimeSpan.FromSeconds((256 - priority) * scale / 256.0);
    }

    /// <summary>Master-down interval for a backup of the given priority: 3 x advert_int + skew time (<see cref="SkewTime"/>).</summary>
    public static TimeSpan MasterDownInterval(LabTopology topology, int priority) =>
        TimeSpan.FromSeconds(3 * topology.Keepalived.AdvertInterval) + SkewTime(topology, priority);

    /// <summary>
    /// When a backup of <paramref name="priority"/> takes the VIP after the master's adverts stop (or turn
    /// lower than a preempting backup's priority): at most the master-down interval, and up to one advert
    /// interval sooner, because the backup's timer runs from the last advert it accepted, not from the fault.
    /// </summary>
    public static TimeWindow TakeoverWindow(LabTopology topology, int priority)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var mdi = MasterDownInterval(topology, priority);
        return new(mdi - TimeSpan.FromSeconds(topology.Keepalived.AdvertInterval), mdi);
    }

    /// <summary>
    /// How long keepalived takes to count the track script as failed after the checked thing dies: the
    /// script runs every <c>interval</c> s and must fail <c>fall</c> times in a row, so between
    /// (fall - 1) x interval (the fault lands just before a run) and fall x interval.
    /// </summary>
    public static TimeWindow TrackScriptDetection(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var k = topology.Keepalived;
        var fall = Math.Max(1, k.Fall);
        return new(TimeSpan.FromSeconds((fall - 1) * k.CheckInterval), TimeSpan.FromSeconds(fall * k.CheckInterval));
    }

    /// <summary>How long a recovered check needs before the weight applies again: between (rise - 1) x interval and rise x interval.</summary>
    public static TimeWindow TrackScriptRecovery(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var k = topology.Keepalived;
        var rise = Math.Max(1, k.Rise);
        return new(TimeSpan.FromSeconds((rise - 1) * k.CheckInterval), TimeSpan.FromSeconds(rise * k.CheckInterval));
    }
}

/// <summary>
/// A predicted duration: the earliest and the latest it can be. The one window type of the lab (explain,
/// the failover model, chaos reports); JSON writes it as seconds, <c>{"min": 2.5664, "max": 3.5664}</c>.
/// </summary>
[JsonConverter(typeof(TimeWindowJsonConverter))]
public readonly record struct TimeWindow(TimeSpan Min, TimeSpan Max)
{
    /// <summary>No time at all: the fault goes unnoticed.</summary>
    public static TimeWindow Zero => default;

    /// <summary>A window from seconds.</summary>
    public static TimeWindow FromSeconds(double min, double max) => new(TimeSpan.FromSeconds(min), TimeSpan.FromSeconds(max));

    /// <summary>The earliest end in seconds.</summary>
    public double MinSeconds => Min.TotalSeconds;

    /// <summary>The latest end in seconds.</summary>
    public double MaxSeconds => Max.TotalSeconds;

    /// <summary>Both ends shifted by the other window's ends (one step after another).</summary>
    public static TimeWindow operator +(TimeWindow a, TimeWindow b) => new(a.Min + b.Min, a.Max + b.Max);

    /// <summary>Whether <paramref name="seconds"/> lies in the window, widened by <paramref name="slack"/> seconds each side.</summary>
    public bool Contains(double seconds, double slack = 0) => seconds >= MinSeconds - slack && seconds <= MaxSeconds + slack;

    /// <inheritdoc/>
    public override string ToString() => Min == Max ? $"{Max.TotalSeconds:0.##} s" : $"{Min.TotalSeconds:0.##}-{Max.TotalSeconds:0.##} s";
}

/// <summary>Writes a <see cref="TimeWindow"/> as <c>{"min": seconds, "max": seconds}</c> (4 decimals) and reads it back.</summary>
public sealed class TimeWindowJsonConverter : JsonConverter<TimeWindow>
{
    /// <inheritdoc/>
    public override TimeWindow Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("A time window is an object {\"min\": seconds, \"max\": seconds}.");
        double min = 0, max = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var name = reader.GetString();
            reader.Read();
            if (string.Equals(name, "min", StringComparison.OrdinalIgnoreCase)) min = reader.GetDouble();
            else if (string.Equals(name, "max", StringComparison.OrdinalIgnoreCase)) max = reader.GetDouble();
            else reader.Skip();
        }
        return TimeWindow.FromSeconds(min, max);
    }

    /// <inheritdoc/>
    public override void Write(Utf8JsonWriter writer, TimeWindow value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteNumber("min", Math.Round(value.MinSeconds, 4));
        writer.WriteNumber("max", Math.Round(value.MaxSeconds, 4));
        writer.WriteEndObject();
    }
}
