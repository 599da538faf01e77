using System.Net;
using System.Text.RegularExpressions;
using HaKubeLab.Lint.Parsing;
using HaKubeLab.Topology;
using YamlDotNet.RepresentationModel;

namespace HaKubeLab.Lint.Rules;

/// <summary>Rules on kubeadm configurations (KD001-KD011), alone and against haproxy, keepalived and the topology.</summary>
internal static partial class KubeadmRules
{
    /// <summary>Docker's default address pools: docker0 and user-defined networks get 172.17-31.0.0/16, then 192.168.x.0/20.</summary>
    private static readonly IPNetwork[] DockerPools =
        [.. Enumerable.Range(17, 15).Select(i => IPNetwork.Parse($"172.{i}.0.0/16")), IPNetwork.Parse("192.168.0.0/16")];

    [GeneratedRegex(@"^v?(\d+)\.(\d+)(?:\.(\d+))?")]
    private static partial Regex Version();

    public static void Run(LintContext ctx)
    {
        foreach (var f in ctx.Kubeadm)
            foreach (var d in f.Documents)
            {
                if (!KnownKind(ctx, f, d)) continue;
                UnknownFields(ctx, f, d.Kind!, d.Kind!, d.Root);
                if (d.Kind != "ClusterConfiguration") continue;
                Subnets(ctx, f, d);
                VersionMatchesInstalled(ctx, f, d);
                Endpoint(ctx, f, d);
                Etcd(ctx, f, d);
            }
        MasterVipVariable(ctx);
    }

    private static bool KnownKind(LintContext ctx, KubeadmFile f, KubeadmDocument d)
    {
        if (d.ApiVersion is null || d.Kind is null)
        {
            ctx.Findings.Add("KD008", f.File, d.Line, $"A document without {(d.ApiVersion is null ? "apiVersion" : "kind")}.",
                "kubeadm cannot tell what it is and refuses the configuration.", "Start each document with apiVersion and kind (e.g. kubeadm.k8s.io/v1beta2, ClusterConfiguration).");
            return false;
        }
        var group = d.ApiVersion.Split('/')[0];
        if (!KubeadmSchema.Kinds.TryGetValue(group, out var kinds) || !kinds.Contains(d.Kind) ||
            (group == "kubeadm.k8s.io" && !KubeadmSchema.KubeadmApiVersions.Contains(d.ApiVersion)))
        {
            ctx.Findings.Add("KD008", f.File, d.Line, $"kubeadm does not know '{d.ApiVersion}' / '{d.Kind}'.",
                "kubeadm refuses the configuration ('no kind ... is registered').", "Use kubeadm.k8s.io/v1beta2 (Kubernetes 1.15-1.25) or v1beta3 (1.22+) with ClusterConfiguration/InitConfiguration/JoinConfiguration.");
            return false;
        }
        if (d.ApiVersion == "kubeadm.k8s.io/v1beta2" && Parse(ctx.Options.InstalledKubernetesVersion) is { } installed && (installed.Major, installed.Minor).CompareTo((1, 26)) >= 0)
            ctx.Findings.Add("KD008", f.File, d.Line, $"kubeadm.k8s.io/v1beta2 with kubeadm {ctx.Options.InstalledKubernetesVersion}, which no longer reads it (removed in 1.26).",
                "kubeadm init refuses the configuration.", "Convert it: 'kubeadm config migrate --old-config kubeadm-config.yaml --new-config new.yaml' (apiVersion kubeadm.k8s.io/v1beta3).");
        return true;
    }

    private static void UnknownFields(LintContext ctx, KubeadmFile f, string path, string kind, YamlMappingNode map)
    {
        if (!KubeadmSchema.Fields.TryGetValue(path, out var known)) return;
        foreach (var (key, value) in map.Children)
        {
            if (key is not YamlScalarNode { Value: { } name }) continue;
            if (!known.Contains(name))
            {
                var where = path == kind ? kind : $"{kind} '{path[(kind.Length + 1)..]}'";
                var home = KubeadmSchema.BelongsTo.TryGetValue(name, out var h) ? $" It belongs in {h}." : "";
                var effect = name == "cgroupDriver"
                    ? "kubeadm 1.20 drops unknown fields without a word (later versions only warn 'unknown field'): the kubelet never gets this cgroup driver and uses its default, cgroupfs; with a container runtime on systemd cgroups the kubelet and the runtime disagree and pods fail to start."
                    : "kubeadm 1.20 drops unknown fields without a word (later versions only warn 'unknown field'): the setting never takes effect.";
                ctx.Findings.Add("KD002", f.File, f.LineOf(key), $"'{name}' is not a field of {where}.{home}", effect,
                    KubeadmSchema.BelongsTo.TryGetValue(name, out var home2) ? $"Move '{name}: {(value as YamlScalarNode)?.Value}' into {home2}." : $"Remove '{name}' or correct its spelling.");
            }
            else if (value is YamlMappingNode child)
                UnknownFields(ctx, f, $"{path}.{name}", kind, child);
        }
    }

    /// <summary>The problem text for a subnet with host bits or no CIDR at all; shared with the shell rules so a finding is made once.</summary>
    public static (string Problem, string Fix)? SubnetProblem(string name, string value)
    {
        var slash = value.IndexOf('/');
        if (slash < 0 || !IPAddress.TryParse(value[..slash], out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork
            || !int.TryParse(value[(slash + 1)..], out var prefix) || prefix is < 0 or > 32)
            return ($"{name} '{value}' is not a CIDR (address/prefix).", $"Write {name} as a network, e.g. 172.18.0.0/16.");
        var network = new IPNetwork(IpMath.FromUInt32(IpMath.ToUInt32(ip) & ~(prefix == 0 ? uint.MaxValue : (1u << (32 - prefix)) - 1)), prefix);
        return network.BaseAddress.Equals(ip) ? null
            : ($"{name} '{value}' is a host address, not a network: the network is {network}.", $"Use {network}.");
    }

    public const string SubnetEffect =
        "Tools disagree on what it means: Go's ParseCIDR in kubeadm and the controller-manager quietly masks it, other consumers (calico's IP pool, the runbook's own sed into the calico manifest, validation in newer tools) reject it or take the address literally; the pod network is not the one written.";

    private static IPNetwork? ParseNetwork(string value)
    {
        var slash = value.IndexOf('/');
        if (slash < 0 || !IPAddress.TryParse(value[..slash], out var ip) || !int.TryParse(value[(slash + 1)..], out var prefix) || prefix is < 0 or > 32) return null;
        return new IPNetwork(IpMath.FromUInt32(IpMath.ToUInt32(ip) & ~(prefix == 0 ? uint.MaxValue : (1u << (32 - prefix)) - 1)), prefix);
    }

    private static void Subnets(LintContext ctx, KubeadmFile f, KubeadmDocument d)
    {
        if (KubeadmFile.Node(d.Root, "networking") is not YamlMappingNode net) return;
        var parsed = new List<(string Name, IPNetwork Net, string File, int Line)>();
        foreach (var name in new[] { "podSubnet", "serviceSubnet" })
        {
            if (KubeadmFile.Node(net, name) is not YamlScalarNode { Value: { Length: > 0 } value } node) continue;
            var (file, line, variable) = f.OriginOf(node);
            foreach (var part in value.Split(',').Select(p => p.Trim()))
            {
                if (part.Contains(':')) continue; // IPv6 half of a dual-stack value
                if (part.Contains('$')) continue; // a shell variable nobody set in the inputs: its value is unknown
                var label = variable is null ? name : $"{name} (from {variable.Name})";
                if (SubnetProblem(variable?.Name ?? name, part) is { } problem)
                    ctx.Findings.Add("KD003", file, line, problem.Problem, SubnetEffect, problem.Fix);
                if (ParseNetwork(part) is { } n) parsed.Add((label, n, file, line));
            }
        }

        for (var i = 0; i < parsed.Count; i++)
            for (var j = i + 1; j < parsed.Count; j++)
                if (IpMath.Overlaps(parsed[i].Net, parsed[j].Net))
                    ctx.Findings.Add("KD004", parsed[j].File, parsed[j].Line, $"{parsed[j].Name} {parsed[j].Net} overlaps {parsed[i].Name} {parsed[i].Net}.",
                        "Service virtual IPs and pod addresses collide: kube-proxy's rules capture traffic meant for pods (or the other way round).", "Give pods and services disjoint ranges.");

        var nodeNet = ctx.Topology?.Subnet;
        var nodeIps = ctx.NodeAddresses().Select(n => n.Ip).Concat(ctx.Vip is { } v ? [v] : []).ToList();
        foreach (var p in parsed)
        {
            if (nodeNet is { } nn && IpMath.Overlaps(p.Net, nn))
                ctx.Findings.Add("KD004", p.File, p.Line, $"{p.Name} {p.Net} overlaps the nodes' subnet {nn}.",
                    "Routes for pods or services shadow the masters' own network: nodes, the VIP or the apiservers become unreachable from inside the cluster.", "Pick ranges disjoint from the nodes' network.");
            else if (nodeNet is null && nodeIps.FirstOrDefault(ip => p.Net.Contains(ip)) is { } inside)
                ctx.Findings.Add("KD004", p.File, p.Line, $"{p.Name} {p.Net} contains the master address {inside}.",
                    "Routes for pods or services shadow the masters' own network: nodes, the VIP or the apiservers become unreachable from inside the cluster.", "Pick ranges disjoint from the nodes' network.");
            if (ctx.UsesDocker && DockerPools.Where(pool => IpMath.Overlaps(pool, p.Net)).Select(pool => (IPNetwork?)pool).FirstOrDefault() is { } dockerPool)
                ctx.Findings.Add("KD007", p.File, p.Line, $"{p.Name} {p.Net} lies in Docker's default address pool {dockerPool}, and the masters run Docker (haproxy and keepalived are started with docker run).",
                    "Docker gives such ranges to networks created later (docker network create, compose: 172.18.0.0/16 is the first one): that bridge's route shadows the pods or services on that host.",
                    "Pick pod and service ranges outside 172.17.0.0-172.31.255.255 and 192.168.0.0/16, or set Docker's default-address-pools away from them in /etc/docker/daemon.json.");
        }
    }

    private static (int Major, int Minor, int Patch)? Parse(string? version) =>
        version is not null && Version().Match(version) is { Success: true } m
            ? (int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value), m.Groups[3].Success ? int.Parse(m.Groups[3].Value) : 0)
            : null;

    private static void VersionMatchesInstalled(LintContext ctx, KubeadmFile f, KubeadmDocument d)
    {
        if (KubeadmFile.Node(d.Root, "kubernetesVersion") is not YamlScalarNode { Value: { } wanted } node) return;
        if (Parse(wanted) is not { } w || Parse(ctx.Options.InstalledKubernetesVersion) is not { } have || w == have) return;
        var installed = ctx.Options.InstalledKubernetesVersion!;
        var tooOld = w.Major != have.Major || w.Minor < have.Minor - 1 || w.Minor > have.Minor;
        ctx.Findings.Add("KD005", f.File, f.LineOf(node), $"kubernetesVersion {wanted}, but the kubeadm and kubelet that run it are {installed}.",
            tooOld
                ? $"kubeadm {installed} refuses it (it deploys its own minor version or the one before), or deploys a control plane the kubelets do not support."
                : $"kubeadm deploys a {wanted} control plane (images tagged {wanted}) under {installed} kubelets: an offline or mirrored registry must carry the {wanted} images, and the cluster does not run the version that was installed and tested.",
            $"Set kubernetesVersion to the installed version ({installed}; 'kubeadm version -o short'), or install kubeadm/kubelet {wanted} and pin the packages.",
            tooOld ? LintSeverity.Error : null);
    }

    private static void Endpoint(LintContext ctx, KubeadmFile f, KubeadmDocument d)
    {
        if (KubeadmFile.Node(d.Root, "controlPlaneEndpoint") is not YamlScalarNode { Value: { Length: > 0 } endpoint } node) return;
        var colon = endpoint.LastIndexOf(':');
        var host = colon > 0 ? endpoint[..colon] : endpoint;
        var apiPort = ctx.ApiServerPort;
        var port = colon > 0 && int.TryParse(endpoint[(colon + 1)..], out var p) ? p : apiPort;
        var line = f.LineOf(node);
        var vip = ctx.Vip;
        var hostIp = LintContext.ParseAddress(host);

        if (hostIp is not null && vip is not null && !hostIp.Equals(vip))
            ctx.Findings.Add("KD006", f.File, line, $"controlPlaneEndpoint's host {hostIp} is not the VIP {vip} that keepalived manages.",
                "Every kubeconfig and join command points at an address that does not move on failover: when that host is down the cluster is unreachable.",
                $"Use the VIP: controlPlaneEndpoint: \"{vip}:{ctx.LoadBalancerPorts.FirstOrDefault(apiPort)}\".");

        var lbPorts = ctx.LoadBalancerPorts;
        var atVip = vip is null || hostIp is null || hostIp.Equals(vip);
        if (lbPorts.Count > 0 && !lbPorts.Contains(port) && atVip)
            ctx.Findings.Add("KD001", f.File, line,
                port == apiPort
                    ? $"controlPlaneEndpoint is {endpoint} while haproxy listens on {string.Join("/", lbPorts)}: port {port} on the VIP is the VIP holder's own apiserver."
                    : $"controlPlaneEndpoint is {endpoint}, but haproxy listens on {string.Join("/", lbPorts)} and the apiservers on {apiPort}: nothing answers on {port}.",
                port == apiPort
                    ? "Every client of the cluster endpoint (kubectl via admin.conf, kubelets, controller-manager, scheduler, join) talks to one apiserver and never passes haproxy: no balancing, and haproxy's health checks protect nothing. When the holder's apiserver dies while its haproxy and keepalived run (the track script watches haproxy), the endpoint is down although two apiservers are healthy."
                    : "kubeadm init cannot reach the endpoint it writes into every kubeconfig: the cluster is unreachable through it.",
                $"controlPlaneEndpoint: \"{(hostIp is null ? host : vip?.ToString() ?? host)}:{lbPorts[0]}\" (kubeadm writes it into every kubeconfig and the join command).");
        else if (lbPorts.Count == 0 && vip is not null && hostIp is not null && hostIp.Equals(vip) && port == apiPort)
            ctx.Findings.Add("KD001", f.File, line, $"controlPlaneEndpoint is {endpoint}: the VIP on the apiserver's own port {apiPort}.",
                "Clients reach only the VIP holder's apiserver, never a load balancer: when that apiserver dies while keepalived keeps the VIP, the endpoint is down although other apiservers are healthy.",
                "Put haproxy (or another load balancer) on the VIP on its own port and use that port in controlPlaneEndpoint.");
    }

    /// <summary>
    /// ClusterConfiguration's etcd section against itself and the topology: an external cluster needs endpoints and, over
    /// https, the CA and the apiserver's client pair; its endpoints must be the topology's etcd nodes; an even member count
    /// buys no failure tolerance.
    /// </summary>
    private static void Etcd(LintContext ctx, KubeadmFile f, KubeadmDocument d)
    {
        var etcdNode = KubeadmFile.Node(d.Root, "etcd");
        var etcd = etcdNode as YamlMappingNode;
        var external = etcd is null ? null : KubeadmFile.Node(etcd, "external") as YamlMappingNode;
        var topology = ctx.Topology;
        if (external is null)
        {
            if (topology?.Etcd.Topology == EtcdTopology.External)
                ctx.Findings.Add("KD009", f.File, etcdNode is null ? d.Line : f.LineOf(etcdNode),
                    $"The topology's etcd is external ({string.Join(", ", topology.Etcd.Nodes.Select(n => n.Name))}), but this ClusterConfiguration has no etcd.external.",
                    "kubeadm runs a stacked etcd member on every master instead: the external cluster is never used, and the masters' etcd members are what the cluster depends on.",
                    $"Add etcd.external with endpoints [{string.Join(", ", Rendering.ExternalEtcd.Endpoints(topology))}], caFile, certFile and keyFile (or set 'etcd: {{ topology: stacked }}' in the topology).");
            return;
        }

        var line = f.LineOf(KubeadmFile.Node(etcd!, "external")!);
        if (KubeadmFile.Node(etcd!, "local") is { } local)
            ctx.Findings.Add("KD010", f.File, f.LineOf(local), "etcd.local and etcd.external are both set.",
                "kubeadm refuses the configuration ('etcd.local and etcd.external are mutually exclusive').", "Keep one: etcd.external for an etcd cluster of its own, etcd.local for stacked etcd.");

        var endpoints = KubeadmFile.Node(external, "endpoints") is YamlSequenceNode seq
            ? seq.Children.OfType<YamlScalarNode>().Select(n => (Text: n.Value ?? "", Line: f.LineOf(n))).Where(e => e.Text.Length > 0).ToList()
            : [];
        if (endpoints.Count == 0)
        {
            ctx.Findings.Add("KD010", f.File, line, "etcd.external has no endpoints.",
                "kubeadm refuses the configuration: the apiservers would have no etcd to store the cluster in.", "List every member's client URL under etcd.external.endpoints (https://<member>:2379).");
            return;
        }

        var https = endpoints.Any(e => e.Text.StartsWith("https://", StringComparison.OrdinalIgnoreCase));
        var missing = new[] { "caFile", "certFile", "keyFile" }.Where(k => string.IsNullOrWhiteSpace(KubeadmFile.Scalar(external, k))).ToList();
        if (https && missing.Count > 0)
            ctx.Findings.Add("KD010", f.File, line, $"etcd.external has https endpoints but no {string.Join("/", missing)}.",
                "The apiserver cannot authenticate to etcd (members started with --client-cert-auth refuse it) or verify the members: every apiserver fails to start. kubeadm's upload-certs also has nothing to carry to the joining masters.",
                "Name the etcd CA and the apiserver's client pair, as kubeadm's external etcd guide does: caFile: /etc/kubernetes/pki/etcd/ca.crt, certFile: /etc/kubernetes/pki/apiserver-etcd-client.crt, keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key.");
        else if (endpoints.FirstOrDefault(e => e.Text.StartsWith("http://", StringComparison.OrdinalIgnoreCase)) is { Text.Length: > 0 } plain)
            ctx.Findings.Add("KD010", f.File, plain.Line, $"etcd endpoint {plain.Text} is plain http.",
                "The whole cluster state, Secrets included, crosses the network unencrypted, and anyone who reaches the port can read and write it.", "Serve etcd over TLS with client-certificate auth and use https:// endpoints with caFile/certFile/keyFile.");

        if (endpoints.Count % 2 == 0)
            ctx.Findings.Add("KD011", f.File, line, $"etcd.external lists {endpoints.Count} endpoints: quorum is {endpoints.Count / 2 + 1}.",
                $"{endpoints.Count} members tolerate {(endpoints.Count - 1) / 2} failure(s), as {endpoints.Count - 1} would, and a split into halves leaves no side with quorum.",
                $"Run an odd number of members ({endpoints.Count - 1} or {endpoints.Count + 1}).");

        if (topology is null) return;
        if (topology.Etcd.Topology != EtcdTopology.External)
        {
            ctx.Findings.Add("KD009", f.File, line, "This ClusterConfiguration uses etcd.external, but the topology's etcd is stacked (no etcd nodes).",
                "The lab would start no etcd cluster for these endpoints: kubeadm init fails its external etcd preflight check, or the apiservers talk to an etcd nobody manages.",
                "Set 'etcd: { topology: external }' in the topology (e01-e03 at .181-.183 by default), or remove etcd.external to keep stacked etcd.");
            return;
        }
        var hosts = endpoints.Select(e => (e.Text, e.Line, Host: Uri.TryCreate(e.Text, UriKind.Absolute, out var u) ? u.Host : e.Text)).ToList();
        var expected = topology.Etcd.Nodes.Select(n => n.Ip.ToString()).ToHashSet();
        foreach (var e in hosts.Where(h => !expected.Contains(h.Host)))
            ctx.Findings.Add("KD009", f.File, e.Line, $"etcd endpoint {e.Text} is not one of the topology's etcd nodes ({string.Join(", ", topology.Etcd.Nodes.Select(n => $"{n.Name} {n.Ip}"))}).",
                "The apiservers try a member that does not exist: requests to it time out, and with too few real members listed one etcd failure can take the API down.",
                $"Use the etcd nodes' client URLs: {string.Join(", ", Rendering.ExternalEtcd.Endpoints(topology))}.");
        foreach (var n in topology.Etcd.Nodes.Where(n => hosts.All(h => h.Host != n.Ip.ToString())))
            ctx.Findings.Add("KD009", f.File, line, $"etcd node {n.Name} ({n.Ip}) is not among etcd.external's endpoints.",
                $"The apiservers never talk to {n.Name}: when the members they do list fail, the API fails although {n.Name} and quorum are up.",
                $"Add https://{n.Ip}:{Rendering.ExternalEtcd.ClientPort} to etcd.external.endpoints.");
    }

    /// <summary>The runbook's MASTER_VIP setting must be the VIP keepalived manages.</summary>
    private static void MasterVipVariable(LintContext ctx)
    {
        if (!ctx.Variables.TryGetValue("MASTER_VIP", out var a) || LintContext.ParseAddress(a.Value) is not { } ip) return;
        if (ctx.Vip is { } vip && !vip.Equals(ip))
            ctx.Findings.Add("KD006", a.File, a.Line, $"MASTER_VIP={a.Value}, but keepalived manages the VIP {vip}.",
                "kubeadm-config.yaml's controlPlaneEndpoint uses MASTER_VIP: kubeconfigs and joins point at an address no node carries.", $"export MASTER_VIP={vip}");
    }
}
