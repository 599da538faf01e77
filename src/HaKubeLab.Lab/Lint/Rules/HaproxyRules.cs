using System.Text.RegularExpressions;
using HaKubeLab.Lint.Parsing;

namespace HaKubeLab.Lint.Rules;

/// <summary>Rules on haproxy.cfg (HA001-HA009).</summary>
internal static partial class HaproxyRules
{
    /// <summary>Options that need 'mode http'; in a TCP proxy haproxy ignores them and warns at start.</summary>
    private static readonly Dictionary<string, string> HttpOptions = new()
    {
        ["httplog"] = "haproxy falls back to 'option tcplog' and warns at every start ('option httplog' not usable with frontend ... (needs 'mode http'))",
        ["forwardfor"] = "haproxy ignores it and warns at every start ('option forwardfor' ignored ... as it requires HTTP mode); with TLS passing through no header can be added, so the apiservers see haproxy's address as the client's",
        ["http-server-close"] = "It has no effect in TCP mode: haproxy passes the connection through and never closes it per request, whatever the line says",
        ["httpclose"] = "It has no effect in TCP mode",
        ["http-keep-alive"] = "It has no effect in TCP mode",
        ["http-buffer-request"] = "It has no effect in TCP mode",
        ["originalto"] = "haproxy ignores it in TCP mode",
    };

    [GeneratedRegex(@"^(path|path_beg|path_end|path_dir|path_dom|path_reg|path_sub|path_len|url|url_beg|url_end|url_dir|url_dom|url_reg|url_sub|url_param|urlp|base|base_beg|base_sub|method|hdr|hdr_\w+|req\.hdr\w*|req\.cook\w*|cook\w*|http_\w+|status|query|capture\.req\.\w+)(\(|$)")]
    private static partial Regex HttpFetch();

    public static void Run(LintContext ctx)
    {
        foreach (var h in ctx.Haproxy)
        {
            SyslogToLoopback(ctx, h);
            DefaultsModeHttp(ctx, h);
            HttpOptionsInTcp(ctx, h);
            HttpAcls(ctx, h);
            HealthChecks(ctx, h);
            Pidfile(ctx, h);
            Wiring(ctx, h);
        }
        BackendsMatchNodes(ctx);
    }

    private static void SyslogToLoopback(LintContext ctx, HaproxyFile h)
    {
        foreach (var d in h.Global?.All("log") ?? [])
        {
            var target = d.Arg(0);
            var host = target.Split(':')[0];
            if (host is "127.0.0.1" or "localhost" or "::1")
                ctx.Findings.Add("HA001", h.File, d.Line, $"'log {target} {d.Arg(1)}' sends haproxy's log as UDP syslog to {host}:514.",
                    "Nothing listens there in a container, and a default rsyslog has no UDP input: every log line (connection errors, backends going down) is dropped without a trace.",
                    "In a container log to its output: 'log stdout format raw local0' (docker logs shows it); on a host, enable rsyslog's imudp on 127.0.0.1 and route the facility to a file.");
        }
    }

    private static void DefaultsModeHttp(LintContext ctx, HaproxyFile h)
    {
        foreach (var defaults in h.Sections.Where(s => s.Type == "defaults"))
        {
            var mode = defaults.Last("mode");
            if (mode?.Arg(0) != "http") continue;
            var users = h.Proxies.Where(p => p.Defaults == defaults).ToList();
            if (users.Count == 0 || users.Any(p => p.Mode == "http")) continue;
            ctx.Findings.Add("HA002", h.File, mode.Line, $"The defaults say 'mode http' while every proxy using them ({string.Join(", ", users.Select(p => $"{p.Type} {p.Name}"))}) is TCP.",
                "The HTTP settings in the defaults are inherited by TCP proxies that cannot use them (haproxy warns at every start), and a proxy added without its own 'mode tcp' would parse the apiservers' TLS as HTTP and fail every request.",
                "Set 'mode tcp' and 'option tcplog' in the defaults and drop the HTTP-only options (httplog, forwardfor, http-server-close, timeout http-*).");
        }
    }

    private static void HttpOptionsInTcp(LintContext ctx, HaproxyFile h)
    {
        var hits = new Dictionary<HaDirective, List<HaSection>>();
        foreach (var p in h.Proxies.Where(p => p.Mode == "tcp"))
            foreach (var name in HttpOptions.Keys)
            {
                // httplog only matters where traffic is logged: frontends and listens.
                if (name == "httplog" && !p.AcceptsTraffic) continue;
                if (p.Option(name) is { } d) (hits.TryGetValue(d, out var l) ? l : hits[d] = []).Add(p);
            }
        foreach (var (d, proxies) in hits.OrderBy(kv => kv.Key.Line))
        {
            var name = d.Arg(0);
            ctx.Findings.Add("HA003", h.File, d.Line, $"'option {name}' needs 'mode http' but applies to the TCP {string.Join(", ", proxies.Select(p => $"{p.Type} {p.Name}"))}.",
                HttpOptions[name] + ".", $"Remove 'option {name}' (for TCP logging use 'option tcplog').");
        }
    }

    private static void HttpAcls(LintContext ctx, HaproxyFile h)
    {
        foreach (var p in h.Proxies.Where(p => p.AcceptsTraffic))
        {
            foreach (var group in p.All("acl").GroupBy(a => a.Arg(0)))
            {
                var name = group.Key;
                var used = p.Directives.Any(d => d.Keyword != "acl" && d.Args.Any(a => a == name || a == "!" + name || a.Contains($"{{ {name}", StringComparison.Ordinal)));
                var httpFetches = group.Select(a => a.Arg(1)).Where(f => p.Mode == "tcp" && HttpFetch().IsMatch(f)).Distinct().ToList();
                if (httpFetches.Count == 0 && used) continue;
                var lines = group.Count() == 1 ? $"line {group.First().Line}" : $"lines {group.First().Line}-{group.Last().Line}";
                var what = httpFetches.Count > 0
                    ? $"ACL '{name}' ({lines}) matches on {string.Join("/", httpFetches)}, HTTP samples a TCP {p.Type} never has{(used ? "" : ", and nothing uses it")}."
                    : $"ACL '{name}' ({lines}) is defined but nothing uses it.";
                ctx.Findings.Add("HA004", h.File, group.First().Line, what,
                    "Dead configuration (here left over from haproxy's web-application sample): it can never take effect, and it suggests routing that does not happen.",
                    $"Delete the 'acl {name}' lines.");
            }
        }
    }

    private static void HealthChecks(LintContext ctx, HaproxyFile h)
    {
        foreach (var b in h.Sections.Where(s => s.HasServers))
        {
            var servers = b.All("server").ToList();
            var defaultServer = b.All("default-server").Concat(b.Defaults?.All("default-server") ?? []).SelectMany(d => d.Args).ToHashSet();
            bool Has(HaDirective s, string word) => s.Args.Contains(word) || defaultServer.Contains(word);
            foreach (var s in servers.Where(s => !Has(s, "check")))
                ctx.Findings.Add("HA009", h.File, s.Line, $"Server '{s.Arg(0)}' has no 'check'.",
                    "haproxy never notices that this apiserver is down and keeps sending it its share of new connections: those clients fail.",
                    $"Add 'check' (better: 'check check-ssl verify none' with 'option httpchk GET /healthz') to 'server {s.Arg(0)}'.");

            var checkedServers = servers.Where(s => Has(s, "check")).ToList();
            if (checkedServers.Count == 0) continue;
            var httpchk = b.Option("httpchk");
            if (httpchk is null)
            {
                ctx.Findings.Add("HA005", h.File, b.Line, $"Backend '{b.Name}' checks its servers by a TCP connect only.",
                    "An apiserver whose port accepts connections but which is not healthy (starting, lost etcd, /healthz failing) keeps receiving requests; haproxy only notices when the process is gone.",
                    "Ask /healthz over TLS, as kubeadm's HA guide does: 'option httpchk GET /healthz', 'http-check expect status 200', and 'check check-ssl verify none' on each server.");
                continue;
            }
            // An HTTP check sent in clear text to the apiserver's TLS port gets no 200: every server goes DOWN.
            var plain = checkedServers.Where(s => !Has(s, "check-ssl") && !Has(s, "ssl") && !b.Directives.Any(d => d.Keyword == "http-check" && d.Arg(0) == "connect" && d.Args.Contains("ssl"))).ToList();
            if (plain.Count > 0)
                ctx.Findings.Add("HA005", h.File, httpchk.Line, $"'option httpchk' is sent in clear text to {string.Join(", ", plain.Select(s => s.Arg(0)))}, whose apiserver port speaks TLS.",
                    "The apiserver answers the clear-text request with an error, so haproxy marks every server DOWN and refuses all traffic.",
                    "Add 'check-ssl verify none' to the servers (or 'http-check connect ssl').", LintSeverity.Error);
        }
    }

    private static void Pidfile(LintContext ctx, HaproxyFile h)
    {
        var pidfile = h.Global?.Last("pidfile");
        if (pidfile is null || !(pidfile.Arg(0).StartsWith("/var/run/", StringComparison.Ordinal) || pidfile.Arg(0).StartsWith("/run/", StringComparison.Ordinal))) return;
        var docker = ctx.Shell.SelectMany(s => s.Commands.Select(c => (s, c))).Select(x => (x.s, x.c, Image: ShellRules.DockerRunImage(x.c)))
            .FirstOrDefault(x => x.Image is { } i && IsNonRootHaproxyImage(i) && !x.c.Words.Any(w => w is "--user=root" or "-u=root") && !Follows(x.c.Words, "--user", "root") && !Follows(x.c.Words, "-u", "root"));
        if (docker.Image is not null)
            ctx.Findings.Add("HA006", h.File, pidfile.Line, $"'pidfile {pidfile.Arg(0)}' with the '{docker.Image}' image ({docker.s.File}:{docker.c.Line}), which runs haproxy as user haproxy (official image 2.4 and later).",
                "haproxy cannot create the pidfile and exits at start ('[ALERT] Cannot create pidfile'); with --restart=always the container restarts forever and nothing listens on the load-balancer port.",
                "Delete the pidfile line (a container needs none), or pin an image and point the pidfile at a directory that user can write.", LintSeverity.Error);
        else
            ctx.Findings.Add("HA006", h.File, pidfile.Line, $"'pidfile {pidfile.Arg(0)}' needs root to write.",
                "Run as a non-root user (the official haproxy image does so from 2.4), haproxy exits at start with 'Cannot create pidfile'.",
                "Delete the pidfile line when haproxy runs in a container, or point it at a directory haproxy's user can write.");
    }

    private static bool Follows(IReadOnlyList<string> words, string option, string value) =>
        words.Select((w, i) => (w, i)).Any(x => x.w == option && x.i + 1 < words.Count && words[x.i + 1] == value);

    /// <summary>The official haproxy image from 2.4 on ('haproxy', 'haproxy:latest', 'haproxy:2.8', 'haproxy:lts-alpine') runs as user haproxy.</summary>
    private static bool IsNonRootHaproxyImage(string image)
    {
        var name = image.Split('@')[0];
        var slash = name.LastIndexOf('/');
        var colon = name.LastIndexOf(':');
        var repo = colon > slash ? name[..colon] : name;
        var tag = colon > slash ? name[(colon + 1)..] : "latest";
        if (repo is not ("haproxy" or "library/haproxy" or "docker.io/haproxy" or "docker.io/library/haproxy")) return false;
        var m = Regex.Match(tag, @"^(\d+)\.(\d+)");
        return !m.Success || int.Parse(m.Groups[1].Value) > 2 || (int.Parse(m.Groups[1].Value) == 2 && int.Parse(m.Groups[2].Value) >= 4);
    }

    private static void Wiring(LintContext ctx, HaproxyFile h)
    {
        var backends = h.Sections.Where(s => s.Type is "backend" or "listen").Select(s => s.Name).ToHashSet();
        foreach (var p in h.Proxies)
        {
            if (p.AcceptsTraffic && !p.All("bind").Any())
                ctx.Findings.Add("HA007", h.File, p.Line, $"{p.Type} '{p.Name}' has no 'bind' line.",
                    "It listens nowhere: no client reaches the apiservers through it (haproxy refuses to start a frontend without bind).",
                    $"Add 'bind *:<port>' to {p.Type} '{p.Name}' (the file may have been cut off).");
            foreach (var d in p.Directives.Where(d => d.Keyword is "default_backend" or "use_backend"))
                if (d.Arg(0) is { Length: > 0 } target && !backends.Contains(target))
                    ctx.Findings.Add("HA007", h.File, d.Line, $"'{d.Keyword} {target}' names no backend in this file.",
                        "haproxy refuses to start ('unable to find required default_backend').", $"Define 'backend {target}' or correct the name.");
            if (p.Type == "backend" && !p.All("server").Any() && !p.All("server-template").Any())
                ctx.Findings.Add("HA007", h.File, p.Line, $"Backend '{p.Name}' has no server.",
                    "Every connection to it is refused (503 / closed): the apiservers are unreachable through haproxy.",
                    "Add a 'server <name> <ip>:6443 check' line per master (the file may have been cut off).");
        }
        if (h.Sections.Count > 0 && !h.Proxies.Any(p => p.AcceptsTraffic))
            ctx.Findings.Add("HA007", h.File, h.Sections[^1].Line, "No frontend or listen section: haproxy listens on no port.",
                "Nothing answers on the load-balancer port.", "Add the frontend that binds the load-balancer port (the file may have been cut off).");
    }

    private static void BackendsMatchNodes(LintContext ctx)
    {
        var servers = ctx.Servers().ToList();
        if (servers.Count == 0) return;
        var apiPort = ctx.ApiServerPort;
        var nodes = ctx.Topology is null ? null : ctx.NodeAddresses();
        var vip = ctx.Vip;
        foreach (var s in servers)
        {
            if (s.Ip is not null && vip is not null && s.Ip.Equals(vip))
                ctx.Findings.Add("HA008", s.File, s.Line.Line, $"Server '{s.Name}' is the VIP {vip} itself.",
                    "haproxy on the VIP holder forwards to itself: connections loop until they time out.", "Point the servers at the masters' own addresses.");
            else if (nodes is not null && s.Ip is not null && !nodes.Any(n => n.Ip.Equals(s.Ip)))
                ctx.Findings.Add("HA008", s.File, s.Line.Line, $"Server '{s.Name}' ({s.Ip}) is not one of the masters ({string.Join(", ", nodes.Select(n => $"{n.Name} {n.Ip}"))}).",
                    "That share of connections goes to a host without this cluster's apiserver.", "List exactly the masters' addresses in the backend.");
            if (s.Port is { } port && port != apiPort)
                ctx.Findings.Add("HA008", s.File, s.Line.Line, $"Server '{s.Name}' uses port {port}, the apiservers listen on {apiPort}.",
                    "Every connection to that server is refused; with all servers like it the load balancer forwards nowhere.", $"Use :{apiPort} (the apiserver's bindPort).");
        }
        if (nodes is not null)
            foreach (var missing in nodes.Where(n => !servers.Any(s => n.Ip.Equals(s.Ip))))
                ctx.Findings.Add("HA008", servers[0].File, servers[0].Backend.Line, $"Master {missing.Name} ({missing.Ip}) is not a server of backend '{servers[0].Backend.Name}'.",
                    "Its apiserver gets no traffic through the load balancer; losing the others is an outage although it runs.", $"Add 'server {missing.Name} {missing.Ip}:{apiPort} check'.");
    }
}
