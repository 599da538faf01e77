using System.Diagnostics;

namespace HaKubeLab.Runtime;

/// <summary>One step of a bring-up or teardown, reported when it starts and when it ends.</summary>
/// <param name="Failed">The step did not finish: it failed, or it was interrupted (then <paramref name="Interrupted"/> is true too).</param>
/// <param name="Interrupted">The step stopped because the caller cancelled (Ctrl-C, SIGTERM), not because it failed.</param>
public sealed record LabProgress(string Action, string Detail, bool Done, TimeSpan Elapsed, bool Failed = false, bool Interrupted = false);

/// <summary>
/// Runs named actions with a visible start and end (as kind does), each an OpenTelemetry-compatible
/// Activity on the lab's source (<see cref="Telemetry.TelemetryNames.Lab"/>) or the one given (the bootstrap's).
/// </summary>
/// <param name="progress">Where each step's start and end are reported.</param>
/// <param name="cancellation">The caller's token: a step that ends with an error after it was cancelled is reported, and rethrown, as interrupted.</param>
/// <param name="source">The ActivitySource of its spans (default: the lab runtime's; the bootstrap passes its own).</param>
public sealed class LabActions(IProgress<LabProgress>? progress, CancellationToken cancellation = default, ActivitySource? source = null)
{
    /// <summary>The lab runtime's source (<see cref="Telemetry.LabTelemetry.Lab"/>).</summary>
    public static ActivitySource Source => Telemetry.LabTelemetry.Lab;

    private readonly ActivitySource _source = source ?? Telemetry.LabTelemetry.Lab;

    public async Task<T> RunAsync<T>(string action, Func<Activity?, Task<T>> body, string detail = "")
    {
        using var activity = _source.StartActivity(action);
        var clock = Stopwatch.StartNew();
        progress?.Report(new LabProgress(action, detail, false, TimeSpan.Zero));
        try
        {
            var result = await body(activity).ConfigureAwait(false);
            progress?.Report(new LabProgress(action, detail, true, clock.Elapsed));
            return result;
        }
        // Without the caller's token any cancellation counts; with it, only the caller's (an HTTP timeout is a failure).
        catch (Exception e) when (cancellation.IsCancellationRequested || (e is OperationCanceledException && !cancellation.CanBeCanceled))
        {
            // Cancelled mid-step, some libraries (SSH, HTTP) throw their own error for the torn-down call:
            // it is an interruption all the same, and callers see one exception type for it.
            activity?.SetStatus(ActivityStatusCode.Error, "interrupted");
            progress?.Report(new LabProgress(action, "interrupted", true, clock.Elapsed, Failed: true, Interrupted: true));
            if (e is OperationCanceledException) throw;
            throw new OperationCanceledException($"{action}: interrupted ({e.Message})", e, cancellation);
        }
        catch (Exception e)
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            progress?.Report(new LabProgress(action, e.Message, true, clock.Elapsed, Failed: true));
            throw;
        }
    }

    public Task RunAsync(string action, Func<Activity?, Task> body, string detail = "") =>
        RunAsync<bool>(action, async a => { await body(a).ConfigureAwait(false); return true; }, detail);
}
