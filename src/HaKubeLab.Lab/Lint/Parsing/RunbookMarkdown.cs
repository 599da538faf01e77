namespace HaKubeLab.Lint.Parsing;

/// <summary>A fenced code block of a markdown runbook: its language tag, text, and the file line of its first text line.</summary>
internal sealed record CodeBlock(string Language, string Text, int FirstLine);

/// <summary>A line of prose (outside code blocks) with its line number.</summary>
internal sealed record ProseLine(int Line, string Text);

/// <summary>A markdown runbook split into code blocks (each linted as the file it stands for) and prose.</summary>
internal sealed class RunbookMarkdown
{
    public required string File { get; init; }
    public List<CodeBlock> Blocks { get; } = [];
    public List<ProseLine> Prose { get; } = [];

    public static bool LooksLikeMarkdown(string text) => text.Contains("\n```", StringComparison.Ordinal) || text.StartsWith("```", StringComparison.Ordinal);

    public static RunbookMarkdown Parse(string file, string text, Findings findings)
    {
        var result = new RunbookMarkdown { File = file };
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        for (var i = 0; i < lines.Length; i++)
        {
            var trimmed = lines[i].TrimStart();
            if (!trimmed.StartsWith("```", StringComparison.Ordinal))
            {
                result.Prose.Add(new ProseLine(i + 1, lines[i]));
                continue;
            }
            var open = i;
            var language = trimmed[3..].Trim();
            var body = new List<string>();
            var closed = false;
            while (++i < lines.Length)
            {
                if (lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal)) { closed = true; break; }
                body.Add(lines[i]);
            }
            if (!closed)
                findings.Add("LINT002", file, open + 1, "A code block opened here is never closed with ```.",
                    "Everything after it reads as code; a reader copying the block copies the rest of the runbook too.", "Close the block with a line ```.");
            result.Blocks.Add(new CodeBlock(language, string.Join('\n', body) + "\n", open + 2));
        }
        return result;
    }
}
