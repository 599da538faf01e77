using System.Net;
using HaKubeLab.Lint.Parsing;
using HaKubeLab.Topology;

namespace HaKubeLab.Lint;

/// <summary>Everything read from the inputs, for rules that compare files with each other.</summary>
internal sealed class LintContext
{
    public required LintOptions Options { get; init; }
    public Findings Findings { get; } = new();
    public List<HaproxyFile> Haproxy { get; } = [];
    public List<KeepalivedFile> Keepalived { get; } = [];
    public List<KubeadmFile> Kubeadm { get; } = [];
    public List<ShellFile> Shell { get; } = [];
    public List<RunbookMarkdown> Runbooks { get; } = [];
    /// <summary>Shell variables in input order (a later assignment wins), e.g. the runbook's MASTER_VIP and POD_SUBNET.</summary>
    public Dictionary<string, ShAssignment> Variables { get; } = [];
    /// <summary>A topology given as an option or found among the inputs.</summary>
    public LabTopology? Topology { get; set; }

    /// <summary>Ports haproxy binds (frontends and listens of every haproxy.cfg).</summary>
    public IReadOnlyList<int> LoadBalancerPorts => [.. Haproxy.SelectMany(h => h.BindPorts()).Select(b => b.Port).Distinct()];

    /// <summary>The VIPs keepalived manages, with where each is written.</summary>
    public IEnumerable<(IPAddress Vip, string File, int Line)> KeepalivedVips() =>
        from k in Keepalived
        from i in k.Instances
        from block in i.ChildrenNamed("virtual_ipaddress")
        from entry in block.Children
        let ip = ParseAddress(entry.Keyword)
        where ip is not null
        select (ip, k.File, entry.Line);

    /// <summary>The VIP: keepalived's first, else the topology's.</summary>
    public IPAddress? Vip => KeepalivedVips().Select(v => v.Vip).FirstOrDefault() ?? Topology?.Vip;

    /// <summary>The masters' addresses: the topology's nodes, else haproxy's backend servers, else keepalived's unicast addresses.</summary>
    public IReadOnlyList<(string Name, IPAddress Ip)> NodeAddresses()
    {
        if (Topology is { } t) return [.. t.Nodes.Select(n => (n.Name, n.Ip))];
        var servers = Servers().Select(s => (s.Name, s.Ip)).Where(s => s.Ip is not null).Select(s => (s.Name, s.Ip!)).DistinctBy(s => s.Item2).ToList();
        if (servers.Count > 0) return servers;
        var unicast = Keepalived.SelectMany(k => k.Instances).SelectMany(i =>
            (i.Child("unicast_src_ip") is { } src ? [src.Arg(0)] : Array.Empty<string>())
            .Concat(i.ChildrenNamed("unicast_peer").SelectMany(p => p.Children.Select(c => c.Keyword))));
        return [.. unicast.Select(ParseAddress).OfType<IPAddress>().Distinct().Select((ip, n) => ($"node {n + 1}", ip))];
    }

    /// <summary>The backend servers of every haproxy.cfg.</summary>
    public IEnumerable<(string Name, IPAddress? Ip, int? Port, HaDirective Line, HaSection Backend, string File)> Servers() =>
        from h in Haproxy
        from s in h.Sections where s.HasServers
        from d in s.All("server")
        let address = d.Arg(1)
        let colon = address.LastIndexOf(':')
        select (d.Arg(0), ParseAddress(colon > 0 ? address[..colon] : address), colon > 0 ? HaproxyFile.PortOf(address) : null, d, s, h.File);

    /// <summary>The apiserver's port: InitConfiguration's localAPIEndpoint.bindPort, the topology's, else kubeadm's default 6443.</summary>
    public int ApiServerPort
    {
        get
        {
            foreach (var f in Kubeadm)
                foreach (var d in f.Documents.Where(d => d.Kind == "InitConfiguration"))
                    if (KubeadmFile.Node(d.Root, "localAPIEndpoint") is YamlDotNet.RepresentationModel.YamlMappingNode ep
                        && int.TryParse(KubeadmFile.Scalar(ep, "bindPort"), out var port))
                        return port;
            return Topology?.Kubernetes.ApiServerPort ?? 6443;
        }
    }

    /// <summary>"192.168.100.190", "192.168.100.190/32", "192.168.100.190/24 dev eth0" -> the address; null when not an IPv4 address.</summary>
    public static IPAddress? ParseAddress(string text)
    {
        var s = text.Split('/')[0].Trim('"', '[', ']');
        return IPAddress.TryParse(s, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && s.Count(c => c == '.') == 3 ? ip : null;
    }

    /// <summary>Whether any shell input runs containers with Docker (the runbook's haproxy and keepalived).</summary>
    public bool UsesDocker => Shell.Any(s => s.Commands.Any(c => c.Words.Count > 1 && c.Words[0] == "docker" && c.Words[1] == "run"));
}
