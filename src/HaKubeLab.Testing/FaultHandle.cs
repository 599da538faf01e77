using HaKubeLab.Failover;
using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Chaos.Faults;
using HaKubeLab.Chaos.Scenarios;

namespace HaKubeLab.Testing;

/// <summary>
/// An injected fault and its undo. Disposing it (<c>await using</c>) undoes the fault and waits until the lab
/// has settled, so the next test finds a whole lab, also when the test threw half-way.
/// </summary>
public sealed class FaultHandle : IAsyncDisposable
{
    private readonly EphemeralLab _lab;
    private readonly InjectedFault _fault;
    private int _undone;

    internal FaultHandle(EphemeralLab lab, InjectedFault fault, string? holderBefore, FailoverPrediction prediction, double injectStarted, double faultTime)
    {
        _lab = lab;
        _fault = fault;
        HolderBefore = holderBefore;
        Prediction = prediction;
        InjectStarted = injectStarted;
        FaultTime = faultTime;
    }

    /// <summary>What was injected.</summary>
    public FaultKind Kind => _fault.Kind;

    /// <summary>The fault's name as scenario files write it, e.g. <c>node-kill</c>.</summary>
    public string KindName => FaultKinds.Name(Kind);

    /// <summary>The node it was injected on.</summary>
    public string Node => _fault.Node;

    /// <summary>How it was done, e.g. "docker kill -s SIGKILL (node container)".</summary>
    public string Mechanism => _fault.Mechanism;

    /// <summary>Who held the VIP just before the fault (null: nobody).</summary>
    public string? HolderBefore { get; }

    /// <summary>The failover model's prediction, made just before the fault.</summary>
    public FailoverPrediction Prediction { get; }

    /// <summary>When the injector's call started, seconds on <see cref="EphemeralLab.Clock"/>.</summary>
    public double InjectStarted { get; }

    /// <summary>When the injector's call returned (the fault is in place by then), seconds on <see cref="EphemeralLab.Clock"/>.</summary>
    public double FaultTime { get; }

    /// <summary>When the undo started, or null while the fault is in place.</summary>
    public double? UndoneAt { get; private set; }

    /// <summary>The chaos runner's handle of the fault (wall-clock times, its own undo).</summary>
    public InjectedFault Injected => _fault;

    /// <summary>Undoes the fault (idempotent) and waits until the lab has settled.</summary>
    public async Task UndoAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _undone, 1) == 1) return;
        UndoneAt = _lab.Clock.Now;
        try
        {
            await _fault.UndoAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is Runtime.LabException or ChaosException && !cancellationToken.IsCancellationRequested)
        {
            // A node restarted on a loaded machine now and then exits during boot; the restore is idempotent, so try
            // once more, and say what the node logged.
            _lab.Log($"undo of {KindName} on {Node} failed ({e.Message}); the node's last log lines:{Environment.NewLine}{await _lab.LogTailAsync(Node, 15, cancellationToken).ConfigureAwait(false)}{Environment.NewLine}trying the undo once more");
            await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
            await _fault.UndoAsync(cancellationToken).ConfigureAwait(false);
        }
        await _lab.WaitUntilSettledAsync(null, cancellationToken).ConfigureAwait(false);
        _lab.Log($"undone {KindName} on {Node} ({_lab.Clock.Now - UndoneAt:0.0} s to a settled lab)");
    }

    /// <inheritdoc cref="UndoAsync"/>
    public ValueTask DisposeAsync() => new(UndoAsync(CancellationToken.None));

    public override string ToString() => $"{KindName} on {Node} at t={FaultTime:0.000} s, injector call {FaultTime - InjectStarted:0.00} s ({Mechanism})";
}
