using System.Collections.Immutable;
using System.Net;
using System.Text.RegularExpressions;
using HaKubeLab.Lint.Parsing;
using HaKubeLab.Topology;

namespace HaKubeLab.Lint.Rules;

/// <summary>Rules on keepalived.conf (KA001-KA015), alone and across the nodes' files.</summary>
internal static partial class KeepalivedRules
{
    private static readonly HashSet<string> WellKnownPasswords = new(StringComparer.OrdinalIgnoreCase)
    {
        "password", "passw0rd", "pass", "secret", "changeme", "keepalived", "admin", "1111", "11111111", "1234", "12345678", "123456", "k8s", "kubernetes", "vrrp", "vrrppass",
    };

    [GeneratedRegex(@"\bgrep\s+(?:-[A-Za-z]+\s+)*['""]?(\d{2,5})['""]?(?=[\s)|;]|$)")]
    private static partial Regex GrepBarePort();

    [GeneratedRegex(@"(?::|\bport\s*=?\s*|\bgrep\s+(?:-[A-Za-z]+\s+)*['""]?:?)(\d{2,5})\b")]
    private static partial Regex PortInScript();

    [GeneratedRegex(@"\b(netstat|ss|lsof|pidof|pgrep|killall|ps)\b")]
    private static partial Regex ListeningCheck();

    [GeneratedRegex(@"\b(curl|wget)\b|healthz|readyz|livez")]
    private static partial Regex ApiCheck();

    public static void Run(LintContext ctx)
    {
        foreach (var k in ctx.Keepalived)
        {
            foreach (var s in k.Scripts) Script(ctx, k, s);
            foreach (var i in k.Instances) Instance(ctx, k, i);
        }
        NodesAgree(ctx);
        VipInNodeSubnet(ctx);
        TrackScriptCanMoveVip(ctx);
    }

    private static void Script(LintContext ctx, KeepalivedFile k, KaNode s)
    {
        Range(ctx, k, s, "interval", 1, 3600, "the script would never run, or keepalived refuses the block");
        Range(ctx, k, s, "weight", -253, 253, "keepalived ignores the weight");
        Range(ctx, k, s, "fall", 1, 1000, "keepalived ignores the value");
        Range(ctx, k, s, "rise", 1, 1000, "keepalived ignores the value");
        if (s.Child("script") is not { } line) return;
        var script = line.Arg(0);

        if (Regex.IsMatch(script, @"\bnetstat\b"))
            ctx.Findings.Add("KA007", k.File, line.Line, $"The track script '{s.Arg(0)}' calls netstat.",
                "netstat comes from net-tools, deprecated and missing from minimal hosts and images; where it is missing the check fails on every node all the time, so the weight is never applied anywhere and no failure is ever detected.",
                "Use ss from iproute2 ('ss -Hltn sport = :9443 | grep -q .') or, better, ask the API through haproxy with curl (see KA008).");
        if (GrepBarePort().Match(script) is { Success: true } g)
            ctx.Findings.Add("KA006", k.File, line.Line, $"The track script greps for '{g.Groups[1].Value}' anywhere in the line.",
                $"It also matches ports such as 1{g.Groups[1].Value} or {g.Groups[1].Value}0, addresses, and (with netstat -p) process ids and unix-socket inode numbers containing those digits: the check can pass while haproxy is dead.",
                $"Match the listening port exactly ('ss -Hltn sport = :{g.Groups[1].Value} | grep -q .'), or check the API through haproxy with curl.");
        if (ListeningCheck().IsMatch(script) && !ApiCheck().IsMatch(script))
            ctx.Findings.Add("KA008", k.File, line.Line, $"The track script '{s.Arg(0)}' only checks that something listens (or a process exists).",
                "A haproxy that listens but reaches no healthy apiserver, or a hung one, counts as healthy: the VIP stays where the API does not answer.",
                "Check what clients need, through the local haproxy: script \"/usr/bin/curl -sfk --max-time 2 -o /dev/null https://127.0.0.1:9443/healthz\" (kubeadm's HA guide).");

        var lbPorts = ctx.LoadBalancerPorts;
        if (lbPorts.Count > 0)
        {
            var ports = PortInScript().Matches(script).Select(m => int.Parse(m.Groups[1].Value)).Where(p => p is > 0 and < 65536).Distinct().ToList();
            if (ports.Count > 0 && !ports.Any(lbPorts.Contains))
                ctx.Findings.Add("KA010", k.File, line.Line, $"The track script checks port {string.Join("/", ports)}, haproxy binds {string.Join("/", lbPorts)}.",
                    "A dead haproxy is never noticed: the VIP stays on a node whose load-balancer port refuses every connection.",
                    $"Check the load-balancer port {lbPorts[0]}.");
        }
    }

    private static void Instance(LintContext ctx, KeepalivedFile k, KaNode i)
    {
        var state = i.Child("state")?.Arg(0).ToUpperInvariant();
        if (i.Child("nopreempt") is { } nopreempt && state == "MASTER")
        {
            var comment = nopreempt.Comment.Contains("可抢占", StringComparison.Ordinal) && !nopreempt.Comment.Contains("不可抢占", StringComparison.Ordinal)
                ? $" Its comment ('{nopreempt.Comment}': 'can preempt') says the opposite of what nopreempt means."
                : "";
            ctx.Findings.Add("KA001", k.File, nopreempt.Line, $"'nopreempt' in instance {i.Arg(0)} whose state is MASTER (line {i.Child("state")!.Line}).{comment}",
                "keepalived clears it at start ('nopreempt will not work with initial state MASTER - clearing'): this node preempts while the others do not, so the nodes run different rules from one file.",
                "Use 'state BACKUP' on every node together with nopreempt (keepalived's documented requirement), or drop nopreempt.");
        }

        Range(ctx, k, i, "priority", 1, 255, "keepalived refuses the instance");
        Range(ctx, k, i, "virtual_router_id", 1, 255, "keepalived refuses the instance");
        var v3 = Version3(k, i);
        if (!v3)
            Range(ctx, k, i, "advert_int", 1, 255, "keepalived falls back to 1 s");
        else if (i.Child("advert_int") is { } adv)
        {
            // VRRPv3 carries the interval in centiseconds (RFC 5798): 0.01 .. 40.95 s.
            if (!double.TryParse(adv.Arg(0), System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out var sec))
                ctx.Findings.Add("KA013", k.File, adv.Line, $"'advert_int' has no number ('{adv.Arg(0)}').", "keepalived cannot read it: it falls back to 1 s.", "Give 'advert_int' seconds, e.g. 0.1 with VRRPv3.");
            else if (sec is < 0.01 or > 40.95)
                ctx.Findings.Add("KA013", k.File, adv.Line, $"'advert_int {adv.Arg(0)}' is outside VRRPv3's 0.01..40.95 s.", "keepalived falls back to 1 s.", "Use a value between 0.01 and 40.95 (e.g. 0.1).");
        }
        if (v3 && i.Child("authentication") is { } v3auth)
            ctx.Findings.Add("KA016", k.File, v3auth.Line, $"vrrp_instance {i.Arg(0)} has an authentication block, but speaks VRRPv3.",
                "VRRPv3 (RFC 5798) has no authentication; keepalived refuses the block, so the password protects nothing.",
                "Remove the authentication block; restrict who is heard with unicast_peer and check_unicast_src on a private segment.");

        if (i.Child("authentication") is { } auth && auth.Child("auth_pass") is { } pass)
        {
            var p = pass.Arg(0);
            if (p.Length > TopologyValidator.MaxAuthPassLength)
                ctx.Findings.Add("KA003", k.File, pass.Line, $"auth_pass is {p.Length} characters; VRRP PASS authentication carries {TopologyValidator.MaxAuthPassLength}.",
                    $"keepalived truncates it to '{p[..TopologyValidator.MaxAuthPassLength]}': nodes whose passwords differ only after the 8th character still accept each other, and the file does not say what is really used.",
                    $"Use at most {TopologyValidator.MaxAuthPassLength} characters.");
            if (WellKnownPasswords.Contains(p))
                ctx.Findings.Add("KA004", k.File, pass.Line, $"auth_pass is the literal '{p}', published with the runbook.",
                    "Anyone on the segment who has read the runbook can send adverts that the nodes accept, e.g. with priority 255 to pull the VIP away; PASS authentication is clear text anyway, so it only guards against accidents, and a copied literal does not even do that between two clusters on one segment.",
                    $"Generate a random password of {TopologyValidator.MaxAuthPassLength} characters per cluster (e.g. 'openssl rand -base64 6'), and keep the VRRP segment private.");
        }

        foreach (var peers in i.ChildrenNamed("unicast_peer").Where(p => p.IsBlock && p.Children.Count == 0))
            ctx.Findings.Add("KA005", k.File, peers.Line, "The unicast_peer block is empty.",
                "keepalived ignores it and falls back to multicast, logging 'A unicast keyword has been specified without any unicast peers. Defaulting to multicast. This usage is deprecated'. Multicast VRRP is filtered on most cloud networks: there every node becomes MASTER and all hold the VIP.",
                "List the other masters' addresses in unicast_peer (and set unicast_src_ip), or delete the block to use multicast deliberately.");

        foreach (var notify in i.Children.Where(c => c.Keyword.StartsWith("notify", StringComparison.Ordinal) && c.Arg(0).StartsWith("/container/service/", StringComparison.Ordinal)))
            ctx.Findings.Add("KA009", k.File, notify.Line, $"{notify.Keyword} runs '{notify.Arg(0)}', a script inside the osixia/keepalived image.",
                "It exists only in that image and only prints the new state; keepalived run any other way cannot find it, and nothing alerts anyone on a failover.",
                "Point notify at a script of your own that is installed with the configuration (or drop it), and alert on state changes.");

        var tracked = i.ChildrenNamed("track_script").SelectMany(t => t.Children).ToList();
        foreach (var t in tracked.Where(t => k.Script(t.Keyword) is null && !ctx.Keepalived.Any(o => o.Script(t.Keyword) is not null)))
            ctx.Findings.Add("KA014", k.File, t.Line, $"track_script names '{t.Keyword}', which no vrrp_script defines.",
                "keepalived ignores it ('track script ... not found, ignoring'): nothing is tracked and the VIP stays on a node whose haproxy is dead.",
                $"Define 'vrrp_script {t.Keyword} {{ ... }}' or correct the name.");
        if (tracked.Count == 0 && !i.ChildrenNamed("track_process").Any())
            ctx.Findings.Add("KA015", k.File, i.Line, $"vrrp_instance {i.Arg(0)} tracks no script.",
                "The VIP moves only when a whole node or its keepalived dies; with haproxy or the apiserver dead on the holder, the VIP stays and the API is unreachable through it.",
                "Add a vrrp_script that checks the API through the local haproxy and list it in track_script.");
    }

    /// <summary>The instance speaks VRRPv3: 'version 3' in it, or 'vrrp_version 3' in global_defs.</summary>
    private static bool Version3(KeepalivedFile k, KaNode instance) =>
        (instance.Child("version")?.Arg(0) ?? k.Top.LastOrDefault(n => n.Keyword == "global_defs")?.Child("vrrp_version")?.Arg(0)) == "3";

    private static void Range(LintContext ctx, KeepalivedFile k, KaNode block, string keyword, int min, int max, string effect)
    {
        if (block.Child(keyword) is not { } c) return;
        if (!int.TryParse(c.Arg(0), out var v))
            ctx.Findings.Add("KA013", k.File, c.Line, $"'{keyword}' has no number ('{c.Arg(0)}').", $"keepalived cannot read it: {effect}.", $"Give '{keyword}' a whole number between {min} and {max}.");
        else if (v < min || v > max)
            ctx.Findings.Add("KA013", k.File, c.Line, $"'{keyword} {v}' is outside {min}..{max}.", $"{char.ToUpperInvariant(effect[0])}{effect[1..]}.", $"Use a value between {min} and {max}.");
    }

    /// <summary>The nodes' files must agree on what makes them one VRRP group.</summary>
    private static void NodesAgree(LintContext ctx)
    {
        var instances = ctx.Keepalived.Select(k => (k, i: k.Instances.FirstOrDefault())).Where(x => x.i is not null).ToList();
        if (instances.Count < 2) return;
        var (firstFile, first) = instances[0];
        static string Vips(KaNode i) => string.Join(" ", i.ChildrenNamed("virtual_ipaddress").SelectMany(v => v.Children).Select(c => c.Keyword).Order(StringComparer.Ordinal));
        var checks = new (string What, Func<KaNode, string?> Value, Func<KaNode, KaNode?> Line, string Effect)[]
        {
            ("virtual_router_id", i => i.Child("virtual_router_id")?.Arg(0), i => i.Child("virtual_router_id"), "they are two VRRP groups: each elects its own MASTER and both hold the VIP"),
            ("auth_pass", i => i.Child("authentication")?.Child("auth_pass")?.Arg(0) is { } p ? p[..Math.Min(8, p.Length)] : null, i => i.Child("authentication")?.Child("auth_pass"), "each node drops the other's adverts: both become MASTER and hold the VIP"),
            ("auth_type", i => i.Child("authentication")?.Child("auth_type")?.Arg(0), i => i.Child("authentication")?.Child("auth_type"), "each node drops the other's adverts: both become MASTER and hold the VIP"),
            ("virtual_ipaddress", Vips, i => i.Child("virtual_ipaddress"), "after a failover the VIP clients use is not the one brought up"),
            ("advert_int", i => i.Child("advert_int")?.Arg(0) ?? "1", i => i.Child("advert_int"), "keepalived drops adverts with another interval: the nodes do not see each other and both become MASTER"),
        };
        foreach (var (k, i) in instances.Skip(1))
            foreach (var (what, value, line, effect) in checks)
                if (value(first!) != value(i!))
                    ctx.Findings.Add("KA011", k.File, line(i!)?.Line ?? i!.Line, $"{what} is '{value(i!) ?? "(none)"}' here but '{value(first!) ?? "(none)"}' in {firstFile.File}.",
                        $"The nodes are not one VRRP group: {effect}.", $"Use the same {what} on every node.");
    }

    private static void VipInNodeSubnet(LintContext ctx)
    {
        foreach (var (vip, file, line) in ctx.KeepalivedVips())
        {
            if (ctx.Topology is { } t)
            {
                if (!t.Subnet.Contains(vip))
                    ctx.Findings.Add("KA012", file, line, $"The VIP {vip} is outside the nodes' subnet {t.Subnet}.",
                        "No client on the nodes' network can reach it: gratuitous ARP for it is ignored and traffic to it leaves through the default route.",
                        $"Pick a free address inside {t.Subnet}.");
                continue;
            }
            // Without a topology the subnet is not known: assume the /24 the masters share.
            var nodes = ctx.NodeAddresses();
            if (nodes.Count == 0) continue;
            var nets = nodes.Select(n => new IPNetwork(IpMath.FromUInt32(IpMath.ToUInt32(n.Ip) & 0xFFFFFF00), 24)).Distinct().ToList();
            if (nets.Count == 1 && !nets[0].Contains(vip))
                ctx.Findings.Add("KA012", file, line, $"The VIP {vip} is not in {nets[0]}, where the masters ({string.Join(", ", nodes.Select(n => n.Ip))}) are.",
                    "If the masters' subnet is that /24, no client on it can reach the VIP: gratuitous ARP for it is ignored and traffic to it leaves through the default route.",
                    "Pick a free address in the masters' subnet.", LintSeverity.Warning);
        }
    }

    /// <summary>
    /// The election math (<see cref="VrrpElection"/>) on the files' own settings: for each node as VIP
    /// holder, does a failing track script move the VIP? With one file, the other nodes are taken to run
    /// the same file with state BACKUP (as the runbook says), one per haproxy server or topology node.
    /// </summary>
    private static void TrackScriptCanMoveVip(LintContext ctx)
    {
        var files = ctx.Keepalived.Select(k => (k, i: k.Instances.FirstOrDefault())).Where(x => x.i is not null).Select(x => (x.k, i: x.i!)).ToList();
        if (files.Count == 0) return;
        var (file, inst) = files[0];
        var trackRef = inst.ChildrenNamed("track_script").SelectMany(t => t.Children).FirstOrDefault();
        var script = trackRef is null ? null : ctx.Keepalived.Select(k => k.Script(trackRef.Keyword)).FirstOrDefault(s => s is not null);
        if (trackRef is null || script is null) return;

        // A weight on the track_script line overrides the script's.
        var weightLine = trackRef.Args.Count >= 2 && trackRef.Arg(0) == "weight" ? trackRef : script.Child("weight");
        var weight = weightLine is null ? 0 : int.TryParse(weightLine == trackRef ? trackRef.Arg(1) : weightLine.Arg(0), out var w) ? w : 0;
        int Int(KaNode n, string key, int fallback) => n.Int(key) ?? fallback;
        double Seconds(KaNode n, string key, double fallback) =>
            n.Child(key) is { } c && double.TryParse(c.Arg(0), System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : fallback;

        var known = ctx.NodeAddresses();
        var count = files.Count > 1 ? files.Count : Math.Max(2, known.Count > 0 ? known.Count : 3);
        var nodes = ImmutableArray.CreateBuilder<NodeSpec>();
        for (var n = 0; n < count; n++)
        {
            var source = n < files.Count ? files[n].i : inst;
            var state = n < files.Count ? source.Child("state")?.Arg(0).ToUpperInvariant() == "MASTER" ? VrrpState.Master : VrrpState.Backup : VrrpState.Backup;
            var name = n < known.Count ? known[n].Name : files.Count > 1 ? Path.GetFileName(Path.GetDirectoryName(files[n].k.File)) is { Length: > 0 } d ? d : $"node {n + 1}" : $"node {n + 1}";
            var ip = n < known.Count ? known[n].Ip : IpMath.FromUInt32(0x0A000001u + (uint)n);
            nodes.Add(new NodeSpec { Name = name, Ip = ip, State = state, Priority = Math.Clamp(Int(source, "priority", 100), 1, 255) });
        }
        if (nodes.Select(n => n.Name).Distinct().Count() != nodes.Count) return;
        var topology = new LabTopology
        {
            Name = "lint",
            // Only the election's skew time depends on the profile: VRRPv3 scales it by the advert interval.
            Profile = Version3(file, inst) ? RenderProfile.Fast : RenderProfile.Seed,
            Subnet = IPNetwork.Parse("10.0.0.0/8"),
            Vip = IPAddress.Parse("10.255.255.254"),
            Nodes = nodes.ToImmutable(),
            Keepalived = new KeepalivedSettings
            {
                Weight = weight,
                Nopreempt = inst.Child("nopreempt") is not null,
                AdvertInterval = Math.Max(0.01, Seconds(inst, "advert_int", 1)),
                CheckInterval = Math.Max(1, Int(script, "interval", 1)),
                Fall = Math.Max(1, Int(script, "fall", 1)),
                Rise = Math.Max(1, Int(script, "rise", 1)),
            },
        };

        var stuck = new List<(NodeSpec Holder, ElectionOutcome Outcome)>();
        foreach (var holder in topology.Nodes)
        {
            var outcome = VrrpElection.After(topology, holder.Name, new Dictionary<string, NodeCondition> { [holder.Name] = new(HaproxyUp: false) });
            if (outcome.PossibleHolders.SequenceEqual([holder.Name])) stuck.Add((holder, outcome));
        }
        if (stuck.Count == 0) return;

        var initial = VrrpElection.Initial(topology);
        var severity = stuck.Any(s => initial.PossibleHolders.Contains(s.Holder.Name)) ? LintSeverity.Error : LintSeverity.Warning;
        var line = weightLine?.Line ?? script.Line;
        var nopreempt = inst.Child("nopreempt");
        var lbPort = ctx.LoadBalancerPorts is [var p, ..] ? $"VIP:{p}" : "the load-balancer port on the VIP";
        var priorities = string.Join(", ", topology.Nodes.Select(n => $"{n.Name} {n.Priority}{(n.State == VrrpState.Master ? " MASTER" : "")}"));
        ctx.Findings.Add("KA002", file.File, line,
            $"With weight {weight}, priorities {priorities}{(nopreempt is null ? "" : $" and nopreempt (line {nopreempt.Line})")}, a failing track script on {string.Join(" or ", stuck.Select(s => s.Holder.Name))} does not move the VIP: {stuck[0].Outcome.Reason}.",
            $"When haproxy dies on the VIP holder, the VIP stays there and {lbPort} refuses every connection although the other nodes are healthy: the track script detects the failure and nothing happens.",
            "Make a failing node fall below every healthy one and let the others preempt: drop nopreempt and use a negative weight larger than the priority spread (kubeadm's guide: weight -2 with priorities 101/100). Or keep nopreempt with weight 0, so a failing check puts the holder in FAULT and releases the VIP.",
            severity);
    }
}
