using System.Diagnostics;
using System.Runtime.InteropServices;

namespace HaKubeLab.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM for a command that must finish its clean-up before the process ends. The first
/// signal cancels the command's token; the process is not ended by it, so the command can remove what it made
/// and return its own exit code (130). A command using this must be a synchronous action: System.CommandLine
/// gives an asynchronous one a 2-second termination timeout on Ctrl-C, which ends the process mid-clean-up.
/// </summary>
internal sealed class Signals
{
    private readonly Stopwatch _sinceSignal = new();

    /// <summary>Time since the first signal (zero when none came).</summary>
    public TimeSpan SinceSignal => _sinceSignal.Elapsed;

    /// <summary>Runs <paramref name="body"/> with a token the first SIGINT or SIGTERM cancels, and returns its exit code.</summary>
    /// <param name="body">The command; it gets this scope (for <see cref="SinceSignal"/>) and the token.</param>
    /// <param name="onFirst">Printed (stderr) at the first signal: what happens now.</param>
    /// <param name="onRepeat">Printed at every further signal: why the process does not end yet.</param>
    public static int Run(Func<Signals, CancellationToken, Task<int>> body, string onFirst, string onRepeat)
    {
        ArgumentNullException.ThrowIfNull(body);
        var scope = new Signals();
        using var cts = new CancellationTokenSource();
        var signals = 0;
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true; // the command ends the process, once it has cleaned up
            if (Interlocked.Increment(ref signals) == 1)
            {
                scope._sinceSignal.Start();
                Console.Error.WriteLine(onFirst);
                cts.Cancel();
            }
            else Console.Error.WriteLine(onRepeat);
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        return body(scope, cts.Token).GetAwaiter().GetResult();
    }
}

/// <summary>Reports on the caller's thread, so progress lines are printed in order and before what follows them.</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
