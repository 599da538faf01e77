using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using Xunit.Abstractions;

namespace HaKubeLab.Tests.Integration;

/// <summary>
/// Runs <c>./hakubelab chaos ...</c> as a user (and CI) does: the real CLI against a real lab, its exit
/// code, its printed run folder and the files in it. (The chaos runner is exercised through the CLI; this
/// project does not reference the chaos assembly.)
/// </summary>
public static class ChaosCli
{
    private static readonly SemaphoreSlim FirstCall = new(1, 1);
    private static bool _built;

    /// <summary>What a CLI run printed and wrote.</summary>
    public sealed record Outcome(int ExitCode, string Output, string? RunFolder)
    {
        public JsonElement Result => JsonDocument.Parse(File.ReadAllText(Path.Combine(RunFolder!, "result.json"))).RootElement;
        public XDocument JUnit => XDocument.Load(Path.Combine(RunFolder!, "junit.xml"));
        public string Summary => File.ReadAllText(Path.Combine(RunFolder!, "summary.md"));
        public string Svg => File.ReadAllText(Path.Combine(RunFolder!, "timeline.svg"));
    }

    /// <summary>Runs the CLI; <paramref name="whileRunning"/> sees each output line (e.g. to send Ctrl-C at a given point).</summary>
    public static async Task<Outcome> RunAsync(ITestOutputHelper output, string[] args, Action<Process, string>? whileRunning = null, TimeSpan? timeout = null)
    {
        // The script builds the CLI when its sources changed: once, before parallel test classes call it.
        await FirstCall.WaitAsync();
        try
        {
            if (!_built)
            {
                var build = await RunCoreAsync(output, ["chaos", "list"], null, TimeSpan.FromMinutes(10));
                Assert.True(build.ExitCode == 0, "building the CLI ('./hakubelab chaos list') failed:\n" + build.Output);
                _built = true;
            }
        }
        finally
        {
            FirstCall.Release();
        }
        return await RunCoreAsync(output, args, whileRunning, timeout ?? TimeSpan.FromMinutes(10));
    }

    private static async Task<Outcome> RunCoreAsync(ITestOutputHelper output, string[] args, Action<Process, string>? whileRunning, TimeSpan timeout)
    {
        var root = RepositoryLayout.Root();
        var psi = new ProcessStartInfo(Path.Combine(root, "hakubelab"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = root,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["HAKUBELAB_ROOT"] = root;
        psi.Environment.Remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        using var process = Process.Start(psi)!;
        var text = new StringBuilder();
        void OnLine(string? line)
        {
            if (line is null) return;
            lock (text) text.AppendLine(line);
            TestLab.Log(output, "  | " + line);
            whileRunning?.Invoke(process, line);
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"hakubelab {string.Join(' ', args)} did not finish within {timeout}:\n{text}");
        }
        process.WaitForExit(); // drains the output
        var all = text.ToString();
        var folder = all.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("Run folder: ", StringComparison.Ordinal))?["Run folder: ".Length..];
        return new Outcome(process.ExitCode, all, folder);
    }

    /// <summary>Writes a topology file for a test lab (moved to its own name and subnet) so the CLI restores it as it was made.</summary>
    public static string WriteTopology(LabTopology t, string dir)
    {
        Directory.CreateDirectory(dir);
        var k = t.Keepalived;
        var yaml = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"name: {t.Name}")
            .AppendLine(CultureInfo.InvariantCulture, $"subnet: {t.Subnet}")
            .AppendLine(CultureInfo.InvariantCulture, $"vip: {t.Vip}")
            .AppendLine(CultureInfo.InvariantCulture, $"profile: {t.Profile.ToString().ToLowerInvariant()}")
            .AppendLine(CultureInfo.InvariantCulture, $"loadBalancer: {{ port: {t.LoadBalancer.Port} }}")
            .AppendLine(CultureInfo.InvariantCulture, $"keepalived: {{ virtualRouterId: {k.VirtualRouterId}, advertInterval: {k.AdvertInterval}, checkInterval: {k.CheckInterval}, weight: {k.Weight}, fall: {k.Fall}, rise: {k.Rise}, nopreempt: {(k.Nopreempt ? "true" : "false")}, interface: {k.Interface} }}")
            .AppendLine("nodes:");
        foreach (var n in t.Nodes)
            yaml.AppendLine(CultureInfo.InvariantCulture, $"  - {{ name: {n.Name}, ip: {n.Ip}, state: {n.State.ToString().ToUpperInvariant()}, priority: {n.Priority} }}");
        yaml.AppendLine(CultureInfo.InvariantCulture, $"kubernetes: {{ podSubnet: {t.Kubernetes.PodSubnet}, serviceSubnet: {t.Kubernetes.ServiceSubnet}, apiServerPort: {t.Kubernetes.ApiServerPort} }}");
        var path = Path.Combine(dir, "topology.yaml");
        File.WriteAllText(path, yaml.ToString());
        var loaded = TopologyLoader.LoadFile(path);
        Assert.Equal((t.Name, t.Subnet, t.Vip, t.Keepalived with { AuthPass = null }), (loaded.Name, loaded.Subnet, loaded.Vip, loaded.Keepalived));
        Assert.Equal(t.Nodes.AsEnumerable(), loaded.Nodes.AsEnumerable());
        return path;
    }

    /// <summary>A test case of junit.xml by the start of its name.</summary>
    public static XElement TestCase(this XDocument junit, string nameStart) =>
        junit.Descendants("testcase").Single(t => ((string)t.Attribute("name")!).StartsWith(nameStart, StringComparison.Ordinal));

    public static double Number(this JsonElement e, string property) => e.GetProperty(property).GetDouble();
}
