using System.Text.RegularExpressions;

namespace HaKubeLab.Lint.Parsing;

/// <summary>A command line of a shell script (continuations joined), with its first line and its words.</summary>
internal sealed record ShCommand(int Line, string Text, IReadOnlyList<string> Words);

/// <summary>VAR=value or export VAR=value.</summary>
internal sealed record ShAssignment(string Name, string Value, string File, int Line);

/// <summary>A here-document: the file it writes and its body, with the line of the body's first line.</summary>
internal sealed record ShHeredoc(string? Target, string Body, int BodyLine, int OpenLine);

/// <summary>A shell script read line by line: enough to find commands, assignments and here-documents; never fails.</summary>
internal sealed partial class ShellFile
{
    public required string File { get; init; }
    public List<ShCommand> Commands { get; } = [];
    public List<ShAssignment> Assignments { get; } = [];
    public List<ShHeredoc> Heredocs { get; } = [];

    [GeneratedRegex(@"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")]
    private static partial Regex Assignment();

    [GeneratedRegex(@"<<(-?)\s*(['""]?)([A-Za-z_][A-Za-z0-9_]*)\2")]
    private static partial Regex HeredocStart();

    [GeneratedRegex(@">\s*([^\s<>;&|]+)")]
    private static partial Regex Redirect();

    public static ShellFile Parse(string file, string text, int lineOffset, Findings findings)
    {
        var result = new ShellFile { File = file };
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        for (var i = 0; i < lines.Length; i++)
        {
            var first = i;
            var line = lines[i];
            if (line.TrimStart().StartsWith('#')) continue;
            while (line.EndsWith('\\') && i + 1 < lines.Length) line = line[..^1] + " " + lines[++i];
            var (words, _, _) = Words.Split(line, "#");
            if (words.Count == 0) continue;
            var lineNo = lineOffset + first + 1;
            result.Commands.Add(new ShCommand(lineNo, line.Trim(), words));

            if (Assignment().Match(line) is { Success: true } a)
                result.Assignments.Add(new ShAssignment(a.Groups[1].Value, Unquote(a.Groups[2].Value), file, lineNo));

            if (HeredocStart().Match(line) is { Success: true } h)
            {
                var end = h.Groups[3].Value;
                var strip = h.Groups[1].Value == "-";
                var target = Redirect().Matches(line).Select(m => m.Groups[1].Value).FirstOrDefault(t => !t.StartsWith('&'));
                var body = new List<string>();
                var closed = false;
                var bodyStart = i + 1;
                while (++i < lines.Length)
                {
                    var candidate = strip ? lines[i].TrimStart('\t') : lines[i];
                    if (candidate == end) { closed = true; break; }
                    body.Add(lines[i]);
                }
                if (!closed)
                    findings.Add("LINT002", file, lineNo, $"The here-document started here is never ended by a line '{end}'.",
                        "The shell writes the rest of the script into the file (or stops with a syntax error); the commands after it never run.",
                        $"End the here-document with a line containing only {end} (the script may have been cut off).");
                result.Heredocs.Add(new ShHeredoc(target, string.Join('\n', body) + (body.Count > 0 ? "\n" : ""), lineOffset + bodyStart + 1, lineNo));
            }
        }
        return result;
    }

    /// <summary>The value of VAR=value as the shell would assign it (quotes removed, a trailing comment dropped).</summary>
    private static string Unquote(string raw)
    {
        raw = raw.Trim();
        if (raw.Length >= 2 && (raw[0] == '"' || raw[0] == '\'') && raw.IndexOf(raw[0], 1) is var close and > 0)
            return raw[1..close];
        var hash = raw.IndexOf(" #", StringComparison.Ordinal);
        if (hash >= 0) raw = raw[..hash];
        var space = raw.IndexOfAny([' ', '\t', ';']);
        return space >= 0 ? raw[..space] : raw;
    }
}
