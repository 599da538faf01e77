using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Runtime;

namespace HaKubeLab.Chaos.Faults;

/// <summary>
/// One fault in place on a running lab, injected by the chaos runner's own injectors. Undo it with
/// <see cref="UndoAsync"/> or by disposing it (idempotent; safe after a half-done injection).
/// </summary>
public sealed class InjectedFault : IAsyncDisposable
{
    private readonly IFault _fault;
    private int _undone;

    internal InjectedFault(IFault fault, DateTimeOffset callStarted, DateTimeOffset faultTime, DateTimeOffset callEnded)
    {
        _fault = fault;
        CallStarted = callStarted;
        FaultTime = faultTime;
        CallEnded = callEnded;
    }

    public FaultKind Kind => _fault.Kind;
    public string Node => _fault.Node;

    /// <summary>How the fault was done (e.g. "docker kill -s SIGKILL ...").</summary>
    public string Mechanism => _fault.Mechanism;

    /// <summary>When the fault took effect as the injector knows it (the moment its Docker or shell call returned).</summary>
    public DateTimeOffset FaultTime { get; }

    /// <summary>The injector's call window: the fault took effect somewhere inside it.</summary>
    public DateTimeOffset CallStarted { get; }
    public DateTimeOffset CallEnded { get; }

    public bool Undone => Volatile.Read(ref _undone) == 1;

    /// <summary>Puts the lab back (start, unpause, link up, rules removed; restores Kubernetes' pod routes after node faults).</summary>
    public async Task UndoAsync(CancellationToken ct = default)
    {
        await _fault.UndoAsync(ct).ConfigureAwait(false);
        Volatile.Write(ref _undone, 1);
    }

    public async ValueTask DisposeAsync()
    {
        if (Undone) return;
        // Bounded, and deaf to the caller's cancellation: a fault must not be left in place.
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await UndoAsync(limit.Token).ConfigureAwait(false);
    }

    public override string ToString() => $"{FaultKinds.Name(Kind)} on {Node} ({Mechanism})";
}

/// <summary>
/// Faults on a running lab outside a scenario (the AppHost's commands, the QA test library): the same injectors and
/// preflight checks as <see cref="ChaosRunner"/>, so a fault means the same thing everywhere.
/// </summary>
/// <example>
/// <code>
/// await using var lab = await RunningLab.OpenAsync("hakubelab", ct);
/// await using var kill = await LabFaults.InjectAsync(lab, FaultKind.NodeKill, "m01", ct: ct);
/// // ... measure ...; disposing undoes it
/// </code>
/// </example>
public static class LabFaults
{
    /// <summary>Injects <paramref name="kind"/> on <paramref name="node"/>; throws <see cref="FaultUnsupportedException"/> before anything is done when this host cannot do it.</summary>
    public static async Task<InjectedFault> InjectAsync(RunningLab lab, FaultKind kind, string node, FaultParameters? parameters = null, Action<string>? log = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(lab);
        ArgumentException.ThrowIfNullOrEmpty(node);
        var clock = new RunClock();
        log ??= _ => { };
        var context = new FaultContext(lab.Docker, lab.Topology, clock, new LabRestorer(lab, log), log);
        await FaultFactory.PreflightAsync(kind, context, lab.Kubernetes, ct).ConfigureAwait(false);
        var fault = FaultFactory.Create(kind, lab.Topology.Node(node).Name, parameters ?? FaultParameters.None, context);
        var started = clock.WallAt(clock.Now);
        var faultTime = await fault.InjectAsync(ct).ConfigureAwait(false);
        return new InjectedFault(fault, started, clock.WallAt(faultTime), clock.WallAt(clock.Now));
    }
}
