namespace HaKubeLab.Lint.Parsing;

/// <summary>Collects findings; the severity defaults to the rule's.</summary>
internal sealed class Findings : List<Finding>
{
    public void Add(string id, string file, int line, string problem, string effect, string fix, LintSeverity? severity = null) =>
        Add(new Finding(id, severity ?? LintRules.Get(id).Severity, file, Math.Max(1, line), problem, effect, fix));
}

/// <summary>Splits a configuration line into words the way haproxy and keepalived do: blanks separate, quotes group, '#' starts a comment.</summary>
internal static class Words
{
    /// <param name="line">One line of the file.</param>
    /// <param name="commentChars">Characters that start a comment at the beginning of a word.</param>
    /// <param name="braces">Treat '{' and '}' as words of their own (keepalived).</param>
    /// <param name="quotes">Characters that quote (keepalived knows only the double quote).</param>
    /// <returns>The words, the comment text (without its marker), and whether a quote was left open.</returns>
    public static (List<string> Words, string Comment, bool OpenQuote) Split(string line, string commentChars, bool braces = false, string quotes = "\"'")
    {
        var words = new List<string>();
        var current = new System.Text.StringBuilder();
        var inWord = false;
        char quote = '\0';
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quote != '\0')
            {
                if (c == quote) quote = '\0';
                else if (c == '\\' && quote == '"' && i + 1 < line.Length) current.Append(line[++i]);
                else current.Append(c);
                continue;
            }
            if (char.IsWhiteSpace(c))
            {
                if (inWord) { words.Add(current.ToString()); current.Clear(); inWord = false; }
                continue;
            }
            if (!inWord && commentChars.Contains(c))
                return (words, line[(i + 1)..].TrimStart(commentChars.ToCharArray()).Trim(), false);
            if (braces && c is '{' or '}')
            {
                if (inWord) { words.Add(current.ToString()); current.Clear(); inWord = false; }
                words.Add(c.ToString());
                continue;
            }
            inWord = true;
            if (quotes.Contains(c)) quote = c;
            else if (c == '\\' && i + 1 < line.Length) current.Append(line[++i]);
            else current.Append(c);
        }
        if (inWord) words.Add(current.ToString());
        return (words, "", quote != '\0');
    }
}
