using System.Text;
using HaKubeLab.Lint.Parsing;
using HaKubeLab.Lint.Rules;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Lint;

/// <summary>
/// Reads haproxy.cfg, keepalived.conf, kubeadm configurations, shell scripts, topologies and markdown
/// runbooks (any combination), and reports what is inconsistent or risky, each finding with its rule
/// id, severity, file, line, what is wrong, what it causes and the fix. Pure except for reading files;
/// malformed or unreadable input gives findings, never an exception.
/// </summary>
/// <example>
/// <code>
/// var report = Linter.LintFiles(["haproxy.cfg", "keepalived.conf", "init-master.sh"]);
/// foreach (var f in report.Findings) Console.WriteLine(f);
/// return report.ExitCode;
/// </code>
/// </example>
public static class Linter
{
    /// <summary>Lints files (a directory means every file below it that lint recognises).</summary>
    public static LintReport LintFiles(IEnumerable<string> paths, LintOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var sources = new List<LintSource>();
        var unreadable = new Findings();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                foreach (var file in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                    if (Read(file, unreadable) is { } text && LintSource.DetectKind(file, text) is not (LintFileKind.Unknown or LintFileKind.Topology))
                        sources.Add(new LintSource(file, text));
                continue;
            }
            if (Read(path, unreadable) is { } content) sources.Add(new LintSource(path, content));
        }
        var report = Lint(sources, options);
        return unreadable.Count == 0 ? report : new LintReport([.. unreadable, .. report.Findings]);
    }

    /// <summary>Lints the files a topology renders (its profile's haproxy.cfg, every node's keepalived.conf, the kubeadm configuration and init script).</summary>
    public static LintReport LintTopology(LabTopology topology, LintOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var build = new KubernetesBuild();
        var secrets = LabSecrets.Generate();
        var sources = new List<LintSource>();
        var first = RunbookFiles.FirstMaster(topology);
        foreach (var node in topology.Nodes)
            foreach (var file in RunbookFiles.ForNode(topology, node, secrets, build))
            {
                // haproxy.cfg is the same on every node: lint it once.
                if (file.NodePath == RunbookFiles.HaproxyConfigPath && node != first) continue;
                // The init script's here-document is the kubeadm-config.yaml linted beside it.
                var embedded = file.NodePath != RunbookFiles.InitScriptPath;
                sources.Add(new LintSource($"{node.Name}{file.NodePath}", file.Content, EmbeddedConfigs: embedded));
            }
        return Lint(sources, (options ?? new LintOptions()) with { Topology = options?.Topology ?? topology });
    }

    /// <summary>Lints texts already in memory.</summary>
    public static LintReport Lint(IEnumerable<LintSource> sources, LintOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var ctx = new LintContext { Options = options ?? new LintOptions() };
        ctx.Topology = ctx.Options.Topology;
        var order = new List<string>();

        // Runbooks become the files their code blocks stand for, with the runbook's line numbers.
        var expanded = new List<LintSource>();
        foreach (var source in sources)
        {
            if (!order.Contains(source.File)) order.Add(source.File);
            var kind = source.Kind == LintFileKind.Auto ? LintSource.DetectKind(source.File, source.Text) : source.Kind;
            if (kind == LintFileKind.Runbook)
            {
                var md = RunbookMarkdown.Parse(source.File, source.Text, ctx.Findings);
                ctx.Runbooks.Add(md);
                foreach (var block in md.Blocks)
                {
                    var blockKind = LintSource.DetectKindFromContent(block.Text);
                    if (blockKind is not (LintFileKind.Unknown or LintFileKind.Runbook))
                        expanded.Add(new LintSource(source.File, block.Text, blockKind, source.LineOffset + block.FirstLine - 1, source.EmbeddedConfigs));
                }
            }
            else expanded.Add(source with { Kind = kind });
        }

        // Shell first: its variables (MASTER_VIP, POD_SUBNET) fill the kubeadm configuration its here-document writes.
        foreach (var s in expanded.Where(s => s.Kind == LintFileKind.Shell))
        {
            var shell = ShellFile.Parse(s.File, s.Text, s.LineOffset, ctx.Findings);
            ctx.Shell.Add(shell);
            foreach (var a in shell.Assignments) ctx.Variables[a.Name] = a;
        }
        foreach (var (s, shell) in expanded.Where(s => s.Kind == LintFileKind.Shell).Zip(ctx.Shell))
        {
            if (!s.EmbeddedConfigs) continue;
            foreach (var h in shell.Heredocs.Where(h => LintSource.DetectKindFromContent(h.Body) == LintFileKind.Kubeadm))
                ctx.Kubeadm.Add(KubeadmFile.Parse(s.File, h.Body, h.BodyLine - 1, ctx.Findings, ctx.Variables));
        }

        foreach (var s in expanded)
        {
            switch (s.Kind)
            {
                case LintFileKind.Haproxy: ctx.Haproxy.Add(HaproxyFile.Parse(s.File, s.Text, s.LineOffset, ctx.Findings)); break;
                case LintFileKind.Keepalived: ctx.Keepalived.Add(KeepalivedFile.Parse(s.File, s.Text, s.LineOffset, ctx.Findings)); break;
                case LintFileKind.Kubeadm: ctx.Kubeadm.Add(KubeadmFile.Parse(s.File, s.Text, s.LineOffset, ctx.Findings, ctx.Variables)); break;
                case LintFileKind.Topology: ReadTopology(ctx, s); break;
                case LintFileKind.Unknown:
                    ctx.Findings.Add("LINT003", s.File, s.LineOffset + 1, "Lint cannot tell what this file is.",
                        "Nothing in it is checked.", "Name it haproxy.cfg, keepalived.conf, kubeadm-config.yaml or *.sh, or pass a markdown runbook.");
                    break;
            }
        }

        RunGroup(ctx, "haproxy", HaproxyRules.Run);
        RunGroup(ctx, "keepalived", KeepalivedRules.Run);
        RunGroup(ctx, "kubeadm", KubeadmRules.Run);
        RunGroup(ctx, "shell", ShellRules.Run);
        RunGroup(ctx, "runbook", RunbookRules.Run);

        var findings = ctx.Findings
            .DistinctBy(f => (f.Id, f.File, f.Line, f.Problem))
            .OrderBy(f => order.IndexOf(f.File) is var i and >= 0 ? i : int.MaxValue)
            .ThenBy(f => f.File, StringComparer.Ordinal)
            .ThenBy(f => f.Line)
            .ThenBy(f => f.Id, StringComparer.Ordinal)
            .ToList();
        return new LintReport(findings);
    }

    private static void ReadTopology(LintContext ctx, LintSource s)
    {
        try
        {
            var topology = TopologyLoader.Parse(s.Text, s.File);
            ctx.Topology ??= topology;
        }
        catch (TopologyException e)
        {
            foreach (var error in e.Errors)
                ctx.Findings.Add("TOP001", s.File, s.LineOffset + (error.Line ?? 1), $"{error.Field}: {error.Problem}",
                    "'hakubelab up' and 'render' refuse this topology.", error.Fix);
        }
    }

    /// <summary>A rule group that throws must not take the others down: its failure is a finding.</summary>
    internal static void RunGroup(LintContext ctx, string group, Action<LintContext> rules)
    {
        try
        {
            rules(ctx);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            ctx.Findings.Add("LINT004", "(lint)", 1, $"The {group} rules stopped on this input: {e.GetType().Name}: {e.Message}",
                "Findings of that group may be missing.", "Report this input to the HaKubeLab maintainers.");
        }
    }

    private static string? Read(string path, Findings findings)
    {
        try
        {
            var bytes = File.ReadAllBytes(path);
            if (Array.IndexOf(bytes, (byte)0) >= 0)
            {
                findings.Add("LINT001", path, 1, "The file is binary (it contains NUL bytes), not a configuration.",
                    "Nothing in it can be checked.", "Pass the text configuration file.");
                return null;
            }
            return new UTF8Encoding(false, false).GetString(bytes).TrimStart('\uFEFF');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            var why = e switch
            {
                FileNotFoundException or DirectoryNotFoundException => "does not exist",
                UnauthorizedAccessException => "cannot be read (permission denied)",
                _ => $"cannot be read ({e.Message})",
            };
            findings.Add("LINT001", path, 1, $"The file {why}.", "Nothing in it can be checked.", "Pass a readable file (check the path and permissions).");
            return null;
        }
    }
}
