using System.Collections.Immutable;

namespace HaKubeLab.Chaos.Scenarios;

/// <summary>
/// A chaos scenario as read from a YAML file in <c>chaos/scenarios/</c>: probes run side by side for
/// <see cref="Duration"/> while the <see cref="Steps"/> run one after another; the
/// <see cref="Expectations"/> are checked against what the probes measured.
/// </summary>
/// <example>
/// <code>
/// name: node-kill-vip-holder
/// duration: 30s
/// steps:
///   - wait: 3s
///   - { fault: node-kill, target: vip-holder, id: kill }
///   - wait: 15s
///   - recover: kill
/// expectations:
///   - failover_seconds &lt; 5
///   - availability.vip_tcp &gt;= 0.8
///   - vip_holder_after: not m01
/// </code>
/// </example>
public sealed record Scenario
{
    public required string Name { get; init; }
    public string Description { get; init; } = "";
    /// <summary>The file it was read from (or a label such as &lt;scenario&gt;).</summary>
    public string File { get; init; } = "<scenario>";
    /// <summary>How long the probes run, counted from the start; extended when the steps take longer.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Whether the scenario refuses to run on a lab without Kubernetes.</summary>
    public bool RequiresKubernetes { get; init; }
    public ProbeSettings Probes { get; init; } = new();
    /// <summary>The probe through the VIP that <c>failover_seconds</c> is measured on (default vip_tcp).</summary>
    public string FailoverProbe { get; init; } = ProbeNames.VipTcp;
    /// <summary>Seed for the <c>random</c> and <c>non-holder</c> targets; null picks one per run (and records it).</summary>
    public int? Seed { get; init; }
    public ImmutableArray<ScenarioStep> Steps { get; init; } = [];
    public ImmutableArray<Expectation> Expectations { get; init; } = [];
}

/// <summary>Per-probe intervals and timeouts; every probe that applies to the lab runs unless switched off.</summary>
/// <param name="Interval">Default interval of every probe (50 ms).</param>
public sealed record ProbeSettings(TimeSpan Interval)
{
    public ProbeSettings() : this(TimeSpan.FromMilliseconds(50)) { }

    /// <summary>Intervals set for single probes (key: probe name, or <c>readyz_nodes</c> for every per-node readyz).</summary>
    public ImmutableDictionary<string, TimeSpan> Intervals { get; init; } = ImmutableDictionary<string, TimeSpan>.Empty;

    /// <summary>Timeouts set for single probes; otherwise <see cref="ProbeNames.DefaultTimeout"/>.</summary>
    public ImmutableDictionary<string, TimeSpan> Timeouts { get; init; } = ImmutableDictionary<string, TimeSpan>.Empty;

    /// <summary>Probes switched off (names as in <see cref="ProbeNames"/>, or <c>readyz_nodes</c>).</summary>
    public ImmutableHashSet<string> Off { get; init; } = [];

    public TimeSpan IntervalOf(string probe) =>
        Intervals.TryGetValue(probe, out var i) ? i
        : ProbeNames.IsNodeReadyz(probe) && Intervals.TryGetValue(ProbeNames.ReadyzNodes, out var n) ? n
        : Interval;

    public TimeSpan TimeoutOf(string probe) =>
        Timeouts.TryGetValue(probe, out var t) ? t
        : ProbeNames.IsNodeReadyz(probe) && Timeouts.TryGetValue(ProbeNames.ReadyzNodes, out var n) ? n
        : ProbeNames.DefaultTimeout(probe);

    public bool IsOff(string probe) => Off.Contains(probe) || (ProbeNames.IsNodeReadyz(probe) && Off.Contains(ProbeNames.ReadyzNodes));
}

/// <summary>The probes' names, as used in scenario files, expectations and reports.</summary>
public static class ProbeNames
{
    /// <summary>TCP connect to VIP:load-balancer port (haproxy on the VIP holder).</summary>
    public const string VipTcp = "vip_tcp";
    /// <summary>TCP connect to VIP:apiserver port (6443); Kubernetes only.</summary>
    public const string VipApiTcp = "vip_api_tcp";
    /// <summary>HTTPS GET /readyz at the kubeconfig's server (the control-plane endpoint through the VIP); Kubernetes only.</summary>
    public const string ReadyzVip = "readyz_vip";
    /// <summary>Prefix of the per-node readyz probes: <c>readyz.m01</c> is HTTPS GET https://&lt;m01's IP&gt;:6443/readyz.</summary>
    public const string ReadyzNodePrefix = "readyz.";
    /// <summary>Every per-node readyz probe at once (settings only).</summary>
    public const string ReadyzNodes = "readyz_nodes";
    /// <summary>Create or update a ConfigMap through the VIP; Kubernetes only.</summary>
    public const string ApiWrite = "api_write";
    /// <summary>Which node's interface carries the VIP.</summary>
    public const string VipHolder = "vip_holder";

    /// <summary>Probes that go through the VIP (failover is measured on these).</summary>
    public static readonly ImmutableArray<string> ThroughVip = [VipTcp, VipApiTcp, ReadyzVip, ApiWrite];

    /// <summary>Every fixed probe name (per-node readyz probes come on top).</summary>
    public static readonly ImmutableArray<string> Fixed = [VipTcp, VipApiTcp, ReadyzVip, ApiWrite, VipHolder];

    public static bool IsNodeReadyz(string probe) => probe.StartsWith(ReadyzNodePrefix, StringComparison.Ordinal);

    public static string NodeReadyz(string node) => ReadyzNodePrefix + node;

    /// <summary>Whether the probe needs Kubernetes (before <c>kubeadm init</c> it is "not applicable", not a failure).</summary>
    public static bool NeedsKubernetes(string probe) => probe is VipApiTcp or ReadyzVip or ApiWrite || IsNodeReadyz(probe);

    /// <summary>
    /// A TCP connect on the lab bridge takes well under a millisecond, so 250 ms only fails what is really
    /// unreachable (a SYN to a MAC nobody answers for) while keeping the resolution during an outage near
    /// timeout + interval; HTTPS needs a TLS handshake with a busy apiserver, a write an etcd commit.
    /// </summary>
    public static TimeSpan DefaultTimeout(string probe) => probe switch
    {
        VipTcp or VipApiTcp => TimeSpan.FromMilliseconds(250),
        ApiWrite => TimeSpan.FromSeconds(2),
        _ => TimeSpan.FromSeconds(1),
    };
}

/// <summary>One step of a scenario; <see cref="Line"/> is where it starts in the file.</summary>
public abstract record ScenarioStep(int Line)
{
    /// <summary>A short description for logs, spans and reports.</summary>
    public abstract string Describe();
}

/// <summary>Inject a fault into a target; with <see cref="For"/> it is undone again after that long.</summary>
/// <param name="Id">Name a later <c>recover</c> step refers to; defaults to "fault1", "fault2", ... in order.</param>
public sealed record FaultStep(int Line, string Id, FaultKind Kind, TargetSpec Target, FaultParameters Parameters, TimeSpan? For) : ScenarioStep(Line)
{
    public override string Describe() =>
        $"fault {FaultKinds.Name(Kind)} on {Target}{Parameters.Describe()}{(For is { } f ? $" for {Durations.Format(f)}" : "")}";
}

/// <summary>Do nothing for a while (the probes keep running).</summary>
public sealed record WaitStep(int Line, TimeSpan Duration) : ScenarioStep(Line)
{
    public override string Describe() => $"wait {Durations.Format(Duration)}";
}

/// <summary>Wait until the named probe succeeds again (e.g. between the nodes of a rolling restart); fails the run after <see cref="Timeout"/>.</summary>
public sealed record WaitUntilStep(int Line, string Probe, TimeSpan Timeout) : ScenarioStep(Line)
{
    public override string Describe() => $"wait until {Probe} succeeds (at most {Durations.Format(Timeout)})";
}

/// <summary>Undo a fault injected earlier (by id), or every fault still active (<c>all</c>).</summary>
public sealed record RecoverStep(int Line, string Which) : ScenarioStep(Line)
{
    public const string All = "all";
    public override string Describe() => Which == All ? "recover all faults" : $"recover {Which}";
}

/// <summary>Extra settings of network faults.</summary>
/// <param name="Probability">Packet loss probability 0-1 (network-loss).</param>
/// <param name="Rate">Rate limit in tc's syntax, e.g. 1mbit (network-rate).</param>
/// <param name="Delay">Added delay (network-delay; needs netem).</param>
/// <param name="Jitter">Delay variation (network-delay; needs netem).</param>
public sealed record FaultParameters(double? Probability = null, string? Rate = null, TimeSpan? Delay = null, TimeSpan? Jitter = null)
{
    public static FaultParameters None { get; } = new();

    public string Describe() =>
        (Probability is { } p ? $" loss {p:0.###}" : "") + (Rate is { } r ? $" rate {r}" : "")
        + (Delay is { } d ? $" delay {Durations.Format(d)}" : "") + (Jitter is { } j ? $" jitter {Durations.Format(j)}" : "");
}

/// <summary>How a fault's target is chosen: by node name or by role, resolved when the step runs.</summary>
public enum TargetRole
{
    /// <summary>The node named in <see cref="TargetSpec.Node"/>.</summary>
    Named,
    /// <summary>The node whose interface carries the VIP when the step runs.</summary>
    VipHolder,
    /// <summary>A running node that does not carry the VIP and has no active fault (picked with the run's seed).</summary>
    NonHolder,
    /// <summary>The node whose etcd member leads (Kubernetes only; asked with etcdctl in a node).</summary>
    EtcdLeader,
    /// <summary>Any running node without an active fault (picked with the run's seed).</summary>
    Random,
    /// <summary>The master whose kube-controller-manager holds the lease kube-system/kube-controller-manager (Kubernetes only).</summary>
    ControllerManagerLeader,
    /// <summary>The master whose kube-scheduler holds the lease kube-system/kube-scheduler (Kubernetes only).</summary>
    SchedulerLeader,
    /// <summary>A running member container of the external etcd topology without an active fault (picked with the run's seed).</summary>
    EtcdNode,
}

/// <summary>A fault's target: never an address, always a node of the lab.</summary>
public sealed record TargetSpec(TargetRole Role, string? Node = null)
{
    public static readonly ImmutableArray<string> RoleNames = ["vip-holder", "non-holder", "etcd-leader", "random", "controller-manager-leader", "scheduler-leader", "etcd-node"];

    /// <summary>The roles only a lab with Kubernetes has (they are looked up from etcd or the API).</summary>
    public bool NeedsKubernetes => Role is TargetRole.EtcdLeader or TargetRole.ControllerManagerLeader or TargetRole.SchedulerLeader or TargetRole.EtcdNode;

    public override string ToString() => Role switch
    {
        TargetRole.Named => Node!,
        TargetRole.VipHolder => "vip-holder",
        TargetRole.NonHolder => "non-holder",
        TargetRole.EtcdLeader => "etcd-leader",
        TargetRole.ControllerManagerLeader => "controller-manager-leader",
        TargetRole.SchedulerLeader => "scheduler-leader",
        TargetRole.EtcdNode => "etcd-node",
        _ => "random",
    };

    /// <summary>Parses a role keyword or a node name; null when it is neither a role nor a valid node name.</summary>
    public static TargetSpec? TryParse(string text) => text switch
    {
        "vip-holder" => new(TargetRole.VipHolder),
        "non-holder" => new(TargetRole.NonHolder),
        "etcd-leader" => new(TargetRole.EtcdLeader),
        "random" => new(TargetRole.Random),
        "controller-manager-leader" => new(TargetRole.ControllerManagerLeader),
        "scheduler-leader" => new(TargetRole.SchedulerLeader),
        "etcd-node" => new(TargetRole.EtcdNode),
        _ when System.Text.RegularExpressions.Regex.IsMatch(text, "^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$") => new(TargetRole.Named, text),
        _ => null,
    };
}

/// <summary>Durations as written in scenario files: <c>50ms</c>, <c>10s</c>, <c>1m</c>, <c>1m30s</c>, or a plain number of seconds.</summary>
public static class Durations
{
    private static readonly System.Text.RegularExpressions.Regex Part = new(@"(\d+(?:\.\d+)?)(ms|s|m|h)", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        text = text.Trim();
        if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var plain))
        {
            if (plain < 0 || double.IsNaN(plain) || double.IsInfinity(plain)) return false;
            value = TimeSpan.FromSeconds(plain);
            return true;
        }
        var pos = 0;
        var total = 0.0;
        foreach (System.Text.RegularExpressions.Match m in Part.Matches(text))
        {
            if (m.Index != pos) return false;
            var n = double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            total += m.Groups[2].Value switch { "ms" => n / 1000, "s" => n, "m" => n * 60, _ => n * 3600 };
            pos = m.Index + m.Length;
        }
        if (pos != text.Length || pos == 0) return false;
        value = TimeSpan.FromSeconds(total);
        return true;
    }

    public static string Format(TimeSpan t) =>
        t.TotalSeconds < 1 ? $"{t.TotalMilliseconds:0.#} ms" : $"{t.TotalSeconds:0.###} s";
}
