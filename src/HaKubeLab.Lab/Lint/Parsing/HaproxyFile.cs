namespace HaKubeLab.Lint.Parsing;

/// <summary>One directive line of haproxy.cfg: keyword, arguments, its line (in the user's file) and trailing comment.</summary>
internal sealed record HaDirective(int Line, string Keyword, IReadOnlyList<string> Args, string Comment)
{
    public string Arg(int i) => i < Args.Count ? Args[i] : "";
}

/// <summary>A section: global, defaults, frontend, backend, listen, ...</summary>
internal sealed class HaSection(string type, string name, int line)
{
    public string Type { get; } = type;
    public string Name { get; } = name;
    public int Line { get; } = line;
    public List<HaDirective> Directives { get; } = [];
    /// <summary>The defaults section in force for this proxy (the last one above it).</summary>
    public HaSection? Defaults { get; set; }

    public bool IsProxy => Type is "frontend" or "backend" or "listen";
    public bool AcceptsTraffic => Type is "frontend" or "listen";
    public bool HasServers => Type is "backend" or "listen";

    public IEnumerable<HaDirective> All(string keyword) => Directives.Where(d => d.Keyword == keyword);
    public HaDirective? Last(string keyword) => Directives.LastOrDefault(d => d.Keyword == keyword);

    /// <summary>'mode' of this proxy: its own, else its defaults', else haproxy's default, tcp.</summary>
    public string Mode => (Last("mode") ?? Defaults?.Last("mode"))?.Arg(0) is { Length: > 0 } m ? m : "tcp";

    /// <summary>Whether 'option NAME' is in force here (own line or inherited, and not cancelled by 'no option NAME').</summary>
    public HaDirective? Option(string name)
    {
        HaDirective? Find(HaSection s)
        {
            HaDirective? found = null;
            foreach (var d in s.Directives)
            {
                if (d.Keyword == "option" && d.Arg(0) == name) found = d;
                else if (d.Keyword == "no" && d.Arg(0) == "option" && d.Arg(1) == name) found = null;
            }
            return found;
        }
        var own = Find(this);
        if (own is not null) return own;
        if (Directives.Any(d => d.Keyword == "no" && d.Arg(0) == "option" && d.Arg(1) == name)) return null;
        return Defaults is null ? null : Find(Defaults);
    }
}

/// <summary>haproxy.cfg, read tolerantly: anything malformed becomes a finding, never an exception.</summary>
internal sealed class HaproxyFile
{
    private static readonly HashSet<string> SectionKeywords =
        ["global", "defaults", "frontend", "backend", "listen", "userlist", "peers", "resolvers", "mailers", "program", "cache", "http-errors", "ring", "log-forward", "crt-store", "traces"];

    public required string File { get; init; }
    public List<HaSection> Sections { get; } = [];

    public IEnumerable<HaSection> Proxies => Sections.Where(s => s.IsProxy);
    public HaSection? Global => Sections.FirstOrDefault(s => s.Type == "global");

    /// <summary>Every 'bind' port of frontends and listens, with its line.</summary>
    public IEnumerable<(int Port, HaDirective Bind)> BindPorts() =>
        from s in Sections where s.AcceptsTraffic
        from d in s.All("bind")
        from a in d.Args.Take(1).SelectMany(a => a.Split(','))
        let port = PortOf(a)
        where port is not null
        select (port.Value, d);

    /// <summary>Port of "*:9443", "0.0.0.0:9443", ":9443", "[::]:9443"; null when none can be read.</summary>
    public static int? PortOf(string address)
    {
        var colon = address.LastIndexOf(':');
        var p = colon >= 0 ? address[(colon + 1)..] : address;
        var dash = p.IndexOf('-');
        if (dash > 0) p = p[..dash];
        return int.TryParse(p, out var port) && port is > 0 and < 65536 ? port : null;
    }

    public static HaproxyFile Parse(string file, string text, int lineOffset, Findings findings)
    {
        var result = new HaproxyFile { File = file };
        HaSection? current = null, defaults = null;
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lineOffset + i + 1;
            var (words, comment, openQuote) = Words.Split(lines[i].TrimEnd('\r'), "#");
            if (openQuote)
                findings.Add("LINT002", file, line, "A quote opened on this line is never closed.",
                    "haproxy refuses to start: 'unmatched quote'.", "Close the quote (the file may have been cut off while being written).");
            if (words.Count == 0) continue;
            var keyword = words[0];
            if (SectionKeywords.Contains(keyword))
            {
                current = new HaSection(keyword, words.Count > 1 ? words[1] : "", line) { Defaults = defaults };
                if (keyword == "defaults") defaults = current;
                result.Sections.Add(current);
                continue;
            }
            if (current is null)
            {
                findings.Add("LINT002", file, line, $"'{keyword}' appears before any section (global, defaults, frontend, backend, listen).",
                    "haproxy refuses to start: 'unknown keyword out of section'.", "Put it inside the section it belongs to, or remove the line.");
                continue;
            }
            current.Directives.Add(new HaDirective(line, keyword, words.Skip(1).ToList(), comment));
        }
        return result;
    }
}
