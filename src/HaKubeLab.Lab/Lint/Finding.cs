namespace HaKubeLab.Lint;

/// <summary>How bad a finding is. Any <see cref="Error"/> makes <c>hakubelab lint</c> exit non-zero.</summary>
public enum LintSeverity
{
    /// <summary>Worth knowing; nothing breaks because of it.</summary>
    Info,

    /// <summary>Risky or misleading: works today, fails under conditions the runbook does not rule out.</summary>
    Warning,

    /// <summary>Breaks or defeats what the file is for (HA, the cluster's settings), or the file cannot be read.</summary>
    Error,
}

/// <summary>One problem in one file: a stable rule id, where, what is wrong, what it causes and the fix.</summary>
/// <param name="Id">The rule's stable id (see <see cref="LintRules"/>), e.g. <c>KA002</c>.</param>
/// <param name="Severity">The rule's severity, or a stronger/weaker one where the context decides (e.g. HA006).</param>
/// <param name="File">The file as the user named it (for a runbook, the markdown file; lines are its lines).</param>
/// <param name="Line">1-based line; 1 when the problem is the whole file.</param>
/// <param name="Problem">What is wrong.</param>
/// <param name="Effect">What it causes.</param>
/// <param name="Fix">How to fix it.</param>
public sealed record Finding(string Id, LintSeverity Severity, string File, int Line, string Problem, string Effect, string Fix)
{
    /// <summary>The rule's short name, e.g. <c>track-script-cannot-move-vip</c>.</summary>
    public string Rule => LintRules.Get(Id).Name;

    public override string ToString() =>
        $"{File}:{Line}: {Severity.ToString().ToLowerInvariant()} {Id} {Rule}: {Problem} Effect: {Effect} Fix: {Fix}";
}

/// <summary>A rule of the catalog: its id, name, default severity and what it looks for.</summary>
public sealed record LintRule(string Id, string Name, LintSeverity Severity, string Checks);
