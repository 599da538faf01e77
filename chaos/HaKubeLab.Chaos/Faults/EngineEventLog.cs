using HaKubeLab.Runtime;

namespace HaKubeLab.Chaos.Faults;

/// <summary>
/// The lab's Docker events during a run, with the engine's own timestamps: when a fault that Docker sees (a container
/// dying, stopping, being paused) took effect, known more directly than from when the injector's call returned
/// (a <c>docker kill</c> call returns only after Docker tore the container's network down: 0.2-0.9 s later).
/// </summary>
public sealed class EngineEventLog : IAsyncDisposable
{
    private readonly List<LabEvent> _events = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _follow;

    public EngineEventLog(RunningLab lab, DateTimeOffset since)
    {
        ArgumentNullException.ThrowIfNull(lab);
        _follow = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in lab.EventsAsync(since, _stop.Token).ConfigureAwait(false))
                    lock (_events) _events.Add(e);
            }
            catch (OperationCanceledException) { }
        });
    }

    public IReadOnlyList<LabEvent> Events
    {
        get { lock (_events) return [.. _events]; }
    }

    /// <summary>
    /// The container event that marks <paramref name="kind"/> taking effect; null for faults Docker does not see (processes
    /// inside a node, network rules). A kill or crash takes effect when the process is gone (<c>die</c>). A graceful stop takes
    /// effect when it is asked (<c>kill</c>: the stop signal <c>docker stop</c> sends): keepalived then gives the VIP up at
    /// once with a priority-0 advert, 0.5-1 s before the container is gone, which counted from <c>die</c> read as a VIP moving
    /// before its fault.
    /// </summary>
    public static (LabRole Role, string Action)? Marker(FaultKind kind) => kind switch
    {
        FaultKind.NodeKill => (LabRole.Node, "die"),
        FaultKind.NodeStop or FaultKind.NodeRestart => (LabRole.Node, "kill"),
        FaultKind.NodePause => (LabRole.Node, "pause"),
        FaultKind.HaproxyKill or FaultKind.HaproxyCrash => (LabRole.Haproxy, "die"),
        FaultKind.HaproxyStop => (LabRole.Haproxy, "kill"),
        FaultKind.KeepalivedKill or FaultKind.KeepalivedCrash => (LabRole.Keepalived, "die"),
        FaultKind.KeepalivedStop => (LabRole.Keepalived, "kill"),
        FaultKind.EtcdNodeKill => (LabRole.Etcd, "die"),
        _ => null,
    };

    /// <summary>What the marker event means, for the report's fault-time source.</summary>
    public static string Meaning(string action) => action switch
    {
        "kill" => "the stop signal of a graceful stop",
        "die" => "the container's process exited",
        "pause" => "the container's processes frozen",
        _ => action,
    };

    /// <summary>The first marker event of <paramref name="kind"/> on <paramref name="node"/> at or after <paramref name="from"/>, waiting up to <paramref name="wait"/> for it.</summary>
    public async Task<LabEvent?> WaitForAsync(FaultKind kind, string node, DateTimeOffset from, TimeSpan wait, CancellationToken ct)
    {
        if (Marker(kind) is not { } marker) return null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var e = Events.FirstOrDefault(x => x.Node == node && x.Role == marker.Role && x.Action == marker.Action && x.Time >= from);
            if (e is not null || clock.Elapsed > wait) return e;
            await Task.Delay(20, ct).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try { await _follow.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); }
        catch (Exception) { /* stopping */ }
        _stop.Dispose();
    }
}
