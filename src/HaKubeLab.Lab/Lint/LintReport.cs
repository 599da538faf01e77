using HaKubeLab.Topology;

namespace HaKubeLab.Lint;

/// <summary>What lint checks against besides the files themselves.</summary>
/// <param name="Topology">The lab the files are meant for (nodes, subnet, VIP); null when only the files are known.</param>
/// <param name="InstalledKubernetesVersion">The kubeadm/kubelet version that will run the configuration (e.g. v1.20.2); null skips the check.</param>
public sealed record LintOptions(LabTopology? Topology = null, string? InstalledKubernetesVersion = null);

/// <summary>All findings of one lint run, in file and line order.</summary>
public sealed record LintReport(IReadOnlyList<Finding> Findings)
{
    public bool HasErrors => Findings.Any(f => f.Severity == LintSeverity.Error);

    /// <summary>0 when no finding is an error, 1 otherwise (what <c>hakubelab lint</c> exits with).</summary>
    public int ExitCode => HasErrors ? 1 : 0;

    public int Count(LintSeverity severity) => Findings.Count(f => f.Severity == severity);

    /// <summary>The distinct rule ids found, sorted.</summary>
    public IReadOnlyList<string> Ids => [.. Findings.Select(f => f.Id).Distinct().Order(StringComparer.Ordinal)];
}
