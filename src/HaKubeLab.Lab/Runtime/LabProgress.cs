using System.Diagnostics;

namespace HaKubeLab.Runtime;

/// <summary>One step of a bring-up or teardown, reported when it starts and when it ends.</summary>
public sealed record LabProgress(string Action, string Detail, bool Done, TimeSpan Elapsed, bool Failed = false);

/// <summary>
/// Runs named actions with a visible start and end (as kind does), each an OpenTelemetry-compatible
/// Activity on the lab's source (<see cref="Telemetry.TelemetryNames.Lab"/>) or the one given (the bootstrap's).
/// </summary>
public sealed class LabActions(IProgress<LabProgress>? progress, ActivitySource? source = null)
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
