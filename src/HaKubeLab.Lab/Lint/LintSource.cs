using System.Text.RegularExpressions;

namespace HaKubeLab.Lint;

/// <summary>What a file is, as lint reads it.</summary>
public enum LintFileKind
{
    /// <summary>Decided from the name and the content (<see cref="LintSource.DetectKind"/>).</summary>
    Auto,
    Haproxy,
    Keepalived,
    /// <summary>A kubeadm configuration (ClusterConfiguration, InitConfiguration, KubeletConfiguration, ...).</summary>
    Kubeadm,
    /// <summary>A shell script: the init script, its settings (export MASTER_VIP=...), docker run lines.</summary>
    Shell,
    /// <summary>A HaKubeLab topology YAML.</summary>
    Topology,
    /// <summary>A markdown runbook: its code blocks are linted as the files they stand for, its prose against them.</summary>
    Runbook,
    Unknown,
}

/// <summary>Text to lint, named as the user knows it.</summary>
/// <param name="Text">The file's content.</param>
/// <param name="Kind">What the file is; <see cref="LintFileKind.Auto"/> decides from its name and content.</param>
/// <param name="File">The name findings carry (a path, or e.g. <c>m01/etc/keepalived/keepalived.conf</c> for rendered files).</param>
/// <param name="LineOffset">Added to every line (a block cut out of a larger file).</param>
/// <param name="EmbeddedConfigs">Lint the kubeadm configuration a shell script writes in a here-document.</param>
public sealed partial record LintSource(string File, string Text, LintFileKind Kind = LintFileKind.Auto, int LineOffset = 0, bool EmbeddedConfigs = true)
{
    [GeneratedRegex(@"^\s*(global|defaults|frontend|backend|listen)\b", RegexOptions.Multiline)]
    private static partial Regex HaproxySection();

    [GeneratedRegex(@"^\s*(vrrp_instance|vrrp_script|global_defs|virtual_server|vrrp_sync_group)\b", RegexOptions.Multiline)]
    private static partial Regex KeepalivedBlock();

    [GeneratedRegex(@"^apiVersion:\s*(kubeadm\.k8s\.io|kubelet\.config\.k8s\.io|kubeproxy\.config\.k8s\.io)/", RegexOptions.Multiline)]
    private static partial Regex KubeadmApi();

    [GeneratedRegex(@"^(nodes|vip|subnet|keepalived|loadBalancer|profile):", RegexOptions.Multiline)]
    private static partial Regex TopologyKey();

    [GeneratedRegex(@"^\s*(#!.*\b(ba|z|da)?sh\b|export\s+\w+=|\w+=\S*\s*$|(sudo\s+)?(docker|kubeadm|kubectl|wget|curl|cp|rm|mkdir|sed|systemctl|cat)\s)", RegexOptions.Multiline)]
    private static partial Regex ShellLine();

    /// <summary>The kind of <paramref name="text"/>, from its file name first, then its content.</summary>
    public static LintFileKind DetectKind(string file, string text)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(text);
        var name = Path.GetFileName(file).ToLowerInvariant();
        if (name.StartsWith("haproxy", StringComparison.Ordinal) && name.EndsWith(".cfg", StringComparison.Ordinal)) return LintFileKind.Haproxy;
        if (name.StartsWith("keepalived", StringComparison.Ordinal) && name.EndsWith(".conf", StringComparison.Ordinal)) return LintFileKind.Keepalived;
        if (name.StartsWith("kubeadm", StringComparison.Ordinal) && (name.EndsWith(".yaml", StringComparison.Ordinal) || name.EndsWith(".yml", StringComparison.Ordinal))) return LintFileKind.Kubeadm;
        if (name.EndsWith(".md", StringComparison.Ordinal)) return LintFileKind.Runbook;
        if (name.EndsWith(".sh", StringComparison.Ordinal)) return LintFileKind.Shell;
        return DetectKindFromContent(text);
    }

    /// <summary>The kind from the content alone (code blocks of a runbook carry no name).</summary>
    public static LintFileKind DetectKindFromContent(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (Parsing.RunbookMarkdown.LooksLikeMarkdown(text)) return LintFileKind.Runbook;
        // A script that writes a kubeadm config in a here-document is still a script.
        if (text.TrimStart().StartsWith("#!", StringComparison.Ordinal)) return LintFileKind.Shell;
        if (KeepalivedBlock().IsMatch(text)) return LintFileKind.Keepalived;
        if (HaproxySection().IsMatch(text)) return LintFileKind.Haproxy;
        if (KubeadmApi().IsMatch(text)) return ShellLine().IsMatch(text) && text.Contains("<<", StringComparison.Ordinal) ? LintFileKind.Shell : LintFileKind.Kubeadm;
        if (TopologyKey().IsMatch(text) && !text.Contains("apiVersion:", StringComparison.Ordinal)) return LintFileKind.Topology;
        if (ShellLine().IsMatch(text)) return LintFileKind.Shell;
        return LintFileKind.Unknown;
    }
}
