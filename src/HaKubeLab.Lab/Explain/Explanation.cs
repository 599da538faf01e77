using System.Text.Json.Serialization;
using HaKubeLab.Failover;
using HaKubeLab.Topology;

namespace HaKubeLab.Explain;

/// <summary>What one fault does, predicted from the VRRP rules and the check timers (<see cref="FailoverModel"/>), with its story.</summary>
/// <param name="Fault">The fault with its node resolved (e.g. <c>haproxy:m01</c>, <c>network-partition:m03</c>).</param>
/// <param name="HolderBefore">The node holding the VIP when the fault happens.</param>
/// <param name="After">Where the VIP is and what answers once the lab has settled.</param>
/// <param name="VipMoves">The VIP leaves the node that held it before the fault.</param>
/// <param name="StaleVipOn">A node that keeps the VIP on its interface although another took it (a killed keepalived or a frozen node cannot remove it).</param>
/// <param name="Detection">Fault to the moment keepalived counts the track script as failed; null when no script result changes.</param>
/// <param name="Takeover">Fault to the moment the new holder has the VIP; null when the VIP does not move.</param>
/// <param name="HaproxyMarksDown">Fault to the moment haproxy takes a dead apiserver out of rotation; null when no apiserver dies or haproxy never notices.</param>
/// <param name="Story">The prediction in sentences a trainer can read aloud.</param>
/// <param name="Failover">How long VIP:load-balancer-port is unreachable: [0, 0] unnoticed; null when VRRP does not predict it.</param>
/// <param name="DownUntilUndone">VIP:load-balancer-port stays unreachable until the fault is undone.</param>
/// <param name="Recovery">How the fault ends (undone, restarted at once, back by itself later).</param>
/// <param name="Outcome">The model's full answer the prediction was made from (not written to JSON).</param>
public sealed record FaultPrediction(
    string Fault,
    string? HolderBefore,
    VipState After,
    bool VipMoves,
    string? StaleVipOn,
    TimeWindow? Detection,
    TimeWindow? Takeover,
    TimeWindow? HaproxyMarksDown,
    IReadOnlyList<string> Story,
    TimeWindow? Failover = null,
    bool DownUntilUndone = false,
    FaultRecovery Recovery = FaultRecovery.UntilUndone,
    [property: JsonIgnore] FailoverOutcome? Outcome = null,
    SurvivalPrediction? Survival = null);

/// <summary>Who holds the VIP with the current settings, and what each fault would do.</summary>
public sealed record Explanation(FailoverSettings Settings, VipState Now, IReadOnlyList<string> NowStory, IReadOnlyList<FaultPrediction> Predictions,
    ExplainedSurvival? Survival = null);

/// <summary>What the topology survives (<see cref="TopologySurvival"/>), as explain quotes it: now (with any parts already lost) and what stops writes.</summary>
/// <param name="Topology">stacked or external.</param>
/// <param name="Members">The etcd members.</param>
/// <param name="Quorum">Members needed to commit.</param>
/// <param name="Tolerates">Members that may be lost.</param>
/// <param name="WhatStopsWrites">The smallest losses of whole machines that stop writes through the VIP, in words.</param>
/// <param name="Story">The predictor's sentences for the parts lost now.</param>
/// <param name="Now">The predictor's full answer for the parts lost now.</param>
public sealed record ExplainedSurvival(EtcdTopology Topology, IReadOnlyList<string> Members, int Quorum, int Tolerates, IReadOnlyList<string> WhatStopsWrites,
    IReadOnlyList<string> Story, SurvivalPrediction Now);
