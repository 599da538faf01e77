namespace HaKubeLab.Lint.Parsing;

/// <summary>A keepalived.conf statement; a block when it was followed by '{'.</summary>
internal sealed class KaNode(string keyword, IReadOnlyList<string> args, int line, string comment)
{
    public string Keyword { get; } = keyword;
    public IReadOnlyList<string> Args { get; } = args;
    public int Line { get; } = line;
    public string Comment { get; set; } = comment;
    public bool IsBlock { get; set; }
    public bool Closed { get; set; }
    public List<KaNode> Children { get; } = [];

    public string Arg(int i) => i < Args.Count ? Args[i] : "";
    public KaNode? Child(string keyword) => Children.LastOrDefault(c => c.Keyword == keyword);
    public IEnumerable<KaNode> ChildrenNamed(string keyword) => Children.Where(c => c.Keyword == keyword);

    /// <summary>The integer value of child <paramref name="keyword"/>, or null when absent or not a number.</summary>
    public int? Int(string keyword) => Child(keyword) is { } c && int.TryParse(c.Arg(0), out var v) ? v : null;
}

/// <summary>keepalived.conf, read tolerantly: unclosed blocks, stray braces and open quotes become findings.</summary>
internal sealed class KeepalivedFile
{
    public required string File { get; init; }
    public List<KaNode> Top { get; } = [];

    public IEnumerable<KaNode> Instances => Top.Where(n => n.Keyword == "vrrp_instance" && n.IsBlock);
    public IEnumerable<KaNode> Scripts => Top.Where(n => n.Keyword == "vrrp_script" && n.IsBlock);
    public KaNode? Script(string name) => Scripts.LastOrDefault(s => s.Arg(0) == name);

    public static KeepalivedFile Parse(string file, string text, int lineOffset, Findings findings)
    {
        var result = new KeepalivedFile { File = file };
        var stack = new Stack<KaNode>();
        List<KaNode> Siblings() => stack.Count == 0 ? result.Top : stack.Peek().Children;
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lineOffset + i + 1;
            var (words, comment, openQuote) = Words.Split(lines[i].TrimEnd('\r'), "#!", braces: true, quotes: "\"");
            if (openQuote)
                findings.Add("LINT002", file, line, "A double quote opened on this line is never closed.",
                    "keepalived reads the rest of the line as one word: the script or value is wrong.", "Close the quote (the file may have been cut off while being written).");
            var pending = new List<string>();
            KaNode? lastOnLine = null;
            void Flush()
            {
                if (pending.Count == 0) return;
                lastOnLine = new KaNode(pending[0], pending.Skip(1).ToList(), line, comment);
                Siblings().Add(lastOnLine);
                pending.Clear();
            }
            foreach (var w in words)
            {
                if (w == "{")
                {
                    Flush();
                    // "name\n{" puts the brace on its own line: it opens the statement above.
                    var opener = lastOnLine ?? Siblings().LastOrDefault();
                    if (opener is null || opener.IsBlock)
                    {
                        findings.Add("LINT002", file, line, "A '{' that opens no named block.", "keepalived skips or misreads what follows.", "Put the block's keyword (e.g. vrrp_instance VI_1) before the '{'.");
                        opener = new KaNode("{", [], line, comment);
                        Siblings().Add(opener);
                    }
                    opener.IsBlock = true;
                    stack.Push(opener);
                    lastOnLine = null;
                }
                else if (w == "}")
                {
                    Flush();
                    if (stack.Count == 0)
                        findings.Add("LINT002", file, line, "A '}' that closes no block.", "keepalived's reading of the blocks after it is off by one.", "Remove the extra '}' or add the missing opening line.");
                    else
                        stack.Pop().Closed = true;
                    lastOnLine = null;
                }
                else pending.Add(w);
            }
            Flush();
        }
        foreach (var open in stack)
            findings.Add("LINT002", file, open.Line, $"The block '{string.Join(' ', new[] { open.Keyword }.Concat(open.Args))}' opened here is never closed.",
                "keepalived fails to load the configuration or silently drops the block (the file looks cut off).", "Add the missing '}' (check the file was written completely).");
        return result;
    }
}
