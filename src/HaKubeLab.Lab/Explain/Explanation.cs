using System.Collections.Immutable;
using HaKubeLab.Topology;

namespace HaKubeLab.Explain;

/// <summary>The settings an explanation is based on, as keepalived and haproxy run them (after the profile).</summary>
public sealed record ExplainSettings(
    string Profile,
    string Vip,
    int LoadBalancerPort,
    int ApiServerPort,
    string ControlPlaneEndpoint,
    bool EndpointThroughLoadBalancer,
    int AdvertInterval,
    string TrackScript,
    int CheckInterval,
    int Fall,
    int Rise,
    int Weight,
    bool Nopreempt,
    string HaproxyCheck,
    TimeSpan HaproxyCheckInterval,
    int HaproxyCheckFall);

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

/// <summary>What one fault does, predicted from the VRRP rules and the check timers.</summary>
/// <param name="Fault">The fault with its node resolved (e.g. <c>haproxy:m01</c>).</param>
/// <param name="HolderBefore">The node holding the VIP when the fault happens.</param>
/// <param name="After">Where the VIP is and what answers once the lab has settled.</param>
/// <param name="VipMoves">The VIP leaves the node that held it before the fault.</param>
/// <param name="StaleVipOn">A node that keeps the VIP on its interface although keepalived gave it up (a killed keepalived cannot remove it).</param>
/// <param name="Detection">Fault to the moment keepalived counts the track script as failed; null when no script result changes.</param>
/// <param name="Takeover">Fault to the moment the new holder has the VIP; null when the VIP does not move.</param>
/// <param name="HaproxyMarksDown">Fault to the moment haproxy takes a dead apiserver out of rotation; null when no apiserver dies.</param>
/// <param name="Story">The prediction in sentences a trainer can read aloud.</param>
public sealed record FaultPrediction(
    string Fault,
    string? HolderBefore,
    VipState After,
    bool VipMoves,
    string? StaleVipOn,
    TimeWindow? Detection,
    TimeWindow? Takeover,
    TimeWindow? HaproxyMarksDown,
    IReadOnlyList<string> Story);

/// <summary>Who holds the VIP with the current settings, and what each fault would do.</summary>
public sealed record Explanation(ExplainSettings Settings, VipState Now, IReadOnlyList<string> NowStory, IReadOnlyList<FaultPrediction> Predictions);
