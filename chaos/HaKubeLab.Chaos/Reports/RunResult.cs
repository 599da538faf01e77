using System.Text.Json;
using System.Text.Json.Serialization;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Probes;
using HaKubeLab.Topology;

namespace HaKubeLab.Chaos.Reports;

/// <summary>
/// Everything a run measured: the JSON result file is this record. All times <c>t</c> are seconds on the
/// run's monotonic clock since its start (<see cref="StartedAt"/> is the wall-clock time of t = 0).
/// </summary>
public sealed record RunResult
{
    public required string Scenario { get; init; }
    public required string ScenarioFile { get; init; }
    public string Description { get; init; } = "";
    public required LabInfo Lab { get; init; }
    public required string RunFolder { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public string Clock { get; init; } = "t: seconds since the start on a monotonic clock (Stopwatch); startedAt is the wall-clock time of t = 0";
    public required int Seed { get; init; }
    /// <summary>The scenario's duration in seconds.</summary>
    public required double DurationSeconds { get; init; }
    /// <summary>End of the measured window (probes stopped); longer than the duration when the steps took longer.</summary>
    public required double MeasuredUntil { get; init; }
    public required IReadOnlyList<ProbeResult> Probes { get; init; }
    public required VipHolderResult VipHolder { get; init; }
    public required IReadOnlyList<FaultResult> Faults { get; init; }
    public required IReadOnlyList<StepResult> Steps { get; init; }
    public IReadOnlyList<ExpectationResult> Expectations { get; init; } = [];
    public required CpuResult Cpu { get; init; }
    /// <summary>How exactly wall-clock instants (engine events, the capture, keepalived's lines) map onto the run clock; null in results written before it.</summary>
    public ClockCheck? ClockCheck { get; init; }
    /// <summary>What the lab's bridge carried (VRRP, gratuitous ARP, handshakes to the VIP) and the takeover per fault; says why when there was no capture.</summary>
    public Wire.WireResult? Wire { get; init; }
    public RestoreResult? Restore { get; init; }
    public bool Interrupted { get; init; }
    /// <summary>What stopped the steps early (a failed injection, a wait_until that timed out), if anything.</summary>
    public string? Error { get; init; }

    /// <summary>The leaders during the run (etcd, controller-manager, scheduler), their gaps, and the survival prediction per fault; null without Kubernetes.</summary>
    public LeadersResult? Leaders { get; init; }

    /// <summary>Every expectation held (or was skipped), nothing went wrong and the lab was restored.</summary>
    public bool Passed => Error is null && !Interrupted && Restore?.Ok != false && Expectations.All(e => e.Status != ExpectationStatus.Failed);

    public static readonly JsonSerializerOptions Json = new()
    {
        // Every sample is in the file: compact keeps a minute of seven probes at 20 Hz under a megabyte.
        WriteIndented = false,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}

/// <summary>How well the wall clock and the run's monotonic clock agreed: wall-clock stamps are mapped onto the run through <see cref="RunResult.StartedAt"/>.</summary>
/// <param name="StartBracketMicroseconds">How long the start's wall-clock read took between its two monotonic reads (the mapping's uncertainty).</param>
/// <param name="DriftMilliseconds">How far the wall clock moved against the run clock by the end of the measured window (a step or slew of the system clock).</param>
public sealed record ClockCheck(double StartBracketMicroseconds, double DriftMilliseconds)
{
    /// <summary>Within a millisecond over the whole run: a mapped stamp is as good as the probes' own times.</summary>
    public bool Agreed => Math.Abs(DriftMilliseconds) < 1 && StartBracketMicroseconds < 1000;

    public string Describe()
    {
        var read = StartBracketMicroseconds < 1 ? "1 us" : $"{N(StartBracketMicroseconds, "0.#")} us";
        return Agreed
            ? $"wall-clock stamps (engine events, the capture, keepalived's lines) map onto the run clock to within {read}; the wall clock moved {N(DriftMilliseconds, "0.###")} ms against it over the run"
            : $"the wall clock moved {N(DriftMilliseconds, "0.###")} ms against the run clock during the run (a step or slew of the system clock; start read within {read}): fault times from engine events, the wire timeline and keepalived's lines are uncertain by that much";
    }

    private static string N(double v, string format) => v.ToString(format, System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>The lab the run went against.</summary>
/// <param name="RunbookSettings">The keepalived settings are the runbook's (nopreempt, weight 11, check every 2 s ...).</param>
public sealed record LabInfo(string Name, string Subnet, string Vip, int LoadBalancerPort, int ApiServerPort, bool Kubernetes, string Profile, string Keepalived, bool RunbookSettings, IReadOnlyList<string> Nodes);

/// <summary>One probe's figures and every sample.</summary>
/// <param name="WorstGapMs">The largest gap between attempt starts (an attempt that hung until its timeout widens it).</param>
/// <param name="OutageSeconds">Time spent in outages.</param>
public sealed record ProbeResult(
    string Name,
    string Target,
    double IntervalMs,
    double TimeoutMs,
    bool Applicable,
    string? NotApplicableReason,
    int Attempts,
    int Failures,
    double? Availability,
    IReadOnlyList<Outage> Outages,
    double OutageSeconds,
    double? LatencyP50Ms,
    double? LatencyP99Ms,
    double? WorstGapMs,
    IReadOnlyList<ProbeSample> Samples)
{
    public string Resolution => $"{IntervalMs:0.#} ms (interval); during an outage up to timeout + interval = {TimeoutMs + IntervalMs:0.#} ms";
}

/// <summary>The VIP-holder timeline from the interfaces, the host's ARP view and keepalived's own log.</summary>
public sealed record VipHolderResult(
    string Source,
    string Accuracy,
    double IntervalMs,
    string? Initial,
    string? Final,
    IReadOnlyList<HolderChange> Changes,
    IReadOnlyList<KeepalivedTransition> Keepalived,
    IReadOnlyList<HolderSample> Samples);

/// <summary>One fault: when and how it was done and undone, what was predicted, what was measured.</summary>
/// <param name="InjectStarted">When the injector's call started.</param>
/// <param name="FaultTime">When the fault took effect: the Docker engine's event, or when the injector's call returned (see <paramref name="FaultTimeSource"/>).</param>
/// <param name="UndoneAt">When its undo finished; null if it was never undone during the measured window (then at cleanup).</param>
/// <param name="UndoStarted">When the undo call started: the fault ended somewhere between this and <paramref name="UndoneAt"/>.</param>
/// <param name="Failover">Per probe through the VIP: failover time and whether the probe was interrupted at all.</param>
/// <param name="VipMovedAfter">Fault time to the first change of the VIP holder on the interfaces, if any.</param>
/// <param name="Verdict">Measured failover (on the scenario's failover probe) beside the prediction, allowing the probe's resolution.</param>
/// <param name="PredictedFailover">
/// The prediction as a failover time (from the fault time): the VRRP window counts from the moment the fault
/// took effect. With the engine's timestamp that moment is known and the window is the VRRP window; otherwise it lies
/// somewhere during the injector's call, so [window min - call length, window max].
/// </param>
/// <param name="FaultTimeSource">Where <paramref name="FaultTime"/> comes from: a Docker engine event (with its timestamp) or the injector's call returning.</param>
/// <param name="CallEnded">When the injector's call returned; the call ran from <paramref name="InjectStarted"/> to here.</param>
public sealed record FaultResult(
    string Id,
    string Kind,
    string Node,
    string Target,
    string Mechanism,
    int Line,
    double InjectStarted,
    double FaultTime,
    double? UndoneAt,
    string? UndoError,
    string? HolderBefore,
    FailoverPrediction Prediction,
    IReadOnlyDictionary<string, FailoverFigure> Failover,
    double? VipMovedAfter,
    string? VipMovedTo,
    TimeWindow? PredictedFailover,
    string? Verdict = null,
    string FaultTimeSource = "",
    double? CallEnded = null,
    double? UndoStarted = null)
{
    /// <summary>How long the injector's call ran (the fault took effect inside it).</summary>
    public double CallSeconds => Math.Round((CallEnded ?? FaultTime) - InjectStarted, 4);
}

/// <summary>The failover time of one fault on one probe.</summary>
/// <param name="Seconds">Fault time to the first successful probe after it; null when none came before the run ended.</param>
/// <param name="Interrupted">Whether any probe failed in between (false: this probe did not notice the fault).</param>
/// <param name="AfterUndo">The first success came only after the fault was undone.</param>
/// <param name="OutageStart">Start of the first outage that began after the injector's call started (the fault can take effect before its call returns).</param>
/// <param name="OutageSeconds">That outage's length: first failure to next success.</param>
public sealed record FailoverFigure(double? Seconds, bool Interrupted, bool AfterUndo, double? OutageStart = null, double? OutageSeconds = null);

public sealed record StepResult(int Line, string Description, double Start, double End, string? Error);

/// <summary>CPU used by the runner's process over the measured window (probes, monitor and fault calls).</summary>
/// <param name="SteadyCpuSeconds">The same from 5 s into the run to its end, after start-up (JIT, first connections).</param>
/// <param name="ProbeThreadCpuSeconds">The probes' own thread (every probe attempt and the VIP-holder look) over the same window; the rest of
/// the process is the fault calls, the restore of the lab, the leader monitor, the wire capture and start-up.</param>
/// <param name="ProbeThreadNice">The probe thread's niceness (-10 when the runner may raise it, 0 when not).</param>
/// <param name="TlsHandshakes">TLS handshakes the HTTPS probes and looks began over the window (each on a short-lived thread of its
/// own, outside the probe thread's figure): a few at the start, then one per connection the servers closed or left hanging.</param>
public sealed record CpuResult(double ProcessCpuSeconds, double WallSeconds, int Cores, string Note, double? SteadyCpuSeconds = null, double? SteadyWallSeconds = null,
    double? ProbeThreadCpuSeconds = null, int? ProbeThreadNice = null, int? TlsHandshakes = null)
{
    public double PercentOfOneCore => WallSeconds <= 0 ? 0 : 100 * ProcessCpuSeconds / WallSeconds;

    public double? ProbeThreadPercentOfOneCore => WallSeconds > 0 && ProbeThreadCpuSeconds is { } c ? 100 * c / WallSeconds : null;

    public double? SteadyPercentOfOneCore => SteadyWallSeconds is > 0 && SteadyCpuSeconds is { } c ? 100 * c / SteadyWallSeconds.Value : null;
}

/// <summary>Whether the lab was back to healthy after the run undid every fault.</summary>
/// <param name="CpuSeconds">The runner's CPU time for the restore (after the measured window, so not in <see cref="CpuResult"/>).</param>
public sealed record RestoreResult(bool Ok, double Seconds, string Detail, double? CpuSeconds = null);

public enum ExpectationStatus { Passed, Failed, Skipped }

/// <summary>One expectation checked.</summary>
/// <param name="PredictedToFail">The VRRP prediction for these faults already says this threshold cannot hold.</param>
/// <param name="Explanation">Why (the prediction's reasoning) when it was predicted to fail.</param>
public sealed record ExpectationResult(int Line, string Text, ExpectationStatus Status, double? Measured, string Message, bool PredictedToFail, string? Explanation);
