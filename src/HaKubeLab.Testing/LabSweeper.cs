using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Docker.DotNet;
using Docker.DotNet.Models;
using HaKubeLab.Runtime;

namespace HaKubeLab.Testing;

/// <summary>
/// Cleanup without Ryuk. Every object a test lab makes carries <see cref="RunLabel"/> (this process's run) and
/// <see cref="PidLabel"/>; at fixture start the sweep removes labs whose process is gone (a crashed or killed
/// run), at fixture end the lab's own objects go by label. Labs still up when the process is asked to stop
/// (SIGINT, SIGTERM, SIGHUP, normal exit) are removed before it ends.
/// </summary>
public static class LabSweeper
{
    /// <summary>Label naming the test run (one per test process) that made an object.</summary>
    public const string RunLabel = "io.hakubelab.test-run";

    /// <summary>Label with the PID of the test process that made an object.</summary>
    public const string PidLabel = "io.hakubelab.test-pid";

    /// <summary>This process's run id.</summary>
    public static string RunId { get; } = Guid.NewGuid().ToString("n")[..12];

    private static readonly ConcurrentDictionary<string, byte> Active = new();
    private static readonly List<PosixSignalRegistration> Signals = [];
    private static int _hooked;

    /// <summary>The labels that mark an object as made by this run.</summary>
    public static IReadOnlyDictionary<string, string> Labels { get; } = new Dictionary<string, string>
    {
        [RunLabel] = RunId,
        [PidLabel] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Removes every lab made by a test process that no longer runs; returns their names.</summary>
    public static async Task<IReadOnlyList<string>> SweepStaleAsync(IDockerClient docker, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(docker);
        var labs = new HashSet<string>(StringComparer.Ordinal);
        foreach (var labels in await LabelledAsync(docker, new() { [RunLabel] = true }, ct).ConfigureAwait(false))
        {
            if (labels.TryGetValue(PidLabel, out var pid) && int.TryParse(pid, out var p) && ProcessRuns(p)) continue;
            if (labels.TryGetValue(LabLabels.Lab, out var lab)) labs.Add(lab);
        }
        foreach (var lab in labs) await LabRuntime.DownAsync(docker, lab, ct).ConfigureAwait(false);
        return [.. labs];
    }

    /// <summary>Removes the lab by its lab label (also what a restore recreated) and whatever else this run labelled for it.</summary>
    /// A create call still in flight when a bring-up was cancelled can land after the first pass, so it sweeps
    /// until nothing with the lab's label is left (at most five passes).
    public static async Task SweepLabAsync(IDockerClient docker, string lab, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(docker);
        Exception? last = null;
        for (var pass = 0; pass < 5; pass++)
        {
            try
            {
                await LabRuntime.DownAsync(docker, lab, ct).ConfigureAwait(false);
                last = null;
            }
            catch (DockerApiException e) { last = e; } // e.g. a volume still in use by a container created meanwhile
            if (last is null && (await LabelledAsync(docker, new() { [$"{LabLabels.Lab}={lab}"] = true }, ct).ConfigureAwait(false)).Count == 0) return;
            await Task.Delay(500, ct).ConfigureAwait(false);
        }
        throw new InvalidOperationException($"Lab {lab} could not be removed completely; run './hakubelab down --lab {lab}'.", last);
    }

    /// <summary>Objects (containers, networks, volumes) labelled by this run that are still in Docker.</summary>
    public static async Task<int> CountOwnAsync(IDockerClient docker, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(docker);
        return (await LabelledAsync(docker, new() { [$"{RunLabel}={RunId}"] = true }, ct).ConfigureAwait(false)).Count;
    }

    internal static void Track(string lab)
    {
        Hook();
        Active[lab] = 0;
    }

    internal static void Untrack(string lab) => Active.TryRemove(lab, out _);

    private static void Hook()
    {
        if (Interlocked.Exchange(ref _hooked, 1) == 1) return;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => RemoveActive("process exit");
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP })
            Signals.Add(PosixSignalRegistration.Create(signal, context => RemoveActive(context.Signal.ToString())));
    }

    /// <summary>Removes the labs still up, synchronously (a process being stopped has no time for async cleanup).</summary>
    private static void RemoveActive(string why)
    {
        if (Active.IsEmpty) return;
        try
        {
            using var docker = DockerConnection.Create();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            foreach (var lab in Active.Keys)
            {
                Console.Error.WriteLine($"HaKubeLab.Testing: {why}: removing test lab {lab}");
                LabRuntime.DownAsync(docker, lab, cts.Token).GetAwaiter().GetResult();
                Active.TryRemove(lab, out _);
            }
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"HaKubeLab.Testing: could not remove every test lab on {why} ({e.Message}); the next fixture start sweeps them.");
        }
    }

    private static bool ProcessRuns(int pid) => pid == Environment.ProcessId || Directory.Exists($"/proc/{pid}");

    private static async Task<List<IDictionary<string, string>>> LabelledAsync(IDockerClient docker, Dictionary<string, bool> label, CancellationToken ct)
    {
        var filter = new Dictionary<string, IDictionary<string, bool>> { ["label"] = label };
        var all = new List<IDictionary<string, string>>();
        all.AddRange((await docker.Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = filter }, ct).ConfigureAwait(false)).Select(c => c.Labels));
        all.AddRange((await docker.Networks.ListNetworksAsync(new NetworksListParameters { Filters = filter }, ct).ConfigureAwait(false)).Select(n => n.Labels));
        all.AddRange(((await docker.Volumes.ListAsync(new VolumesListParameters { Filters = filter }, ct).ConfigureAwait(false)).Volumes ?? []).Select(v => v.Labels));
        return all;
    }
}
