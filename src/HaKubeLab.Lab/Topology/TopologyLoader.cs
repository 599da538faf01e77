using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace HaKubeLab.Topology;

/// <summary>
/// Reads a topology YAML file. Every key is optional and defaults to the runbook's value; unknown
/// keys, malformed addresses and wrong types are errors that name the field and its line.
/// </summary>
/// <example>
/// <code>
/// name: hakubelab
/// subnet: 192.168.100.0/24
/// vip: 192.168.100.190
/// loadBalancer: { port: 9443 }
/// keepalived: { virtualRouterId: 51, advertInterval: 1, checkInterval: 2, weight: 11, nopreempt: true }
/// nodes:
///   - { name: m01, ip: 192.168.100.191, state: MASTER, priority: 100 }
///   - { name: m02, ip: 192.168.100.192 }
/// kubernetes: { podSubnet: 172.18.0.0/16, serviceSubnet: 172.19.0.0/16 }
/// etcd: { topology: external }   # stacked (default) | external; external without nodes: e01-e03 at .181-.183
/// </code>
/// </example>
public static class TopologyLoader
{
    public static LabTopology LoadFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new TopologyException([new("--topology", $"file '{path}' does not exist.", "pass the path of a topology YAML file, or leave the option out for the runbook's defaults.")]);
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses and validates; throws <see cref="TopologyException"/> with every error found.</summary>
    public static LabTopology Parse(string yaml, string file = "<topology>")
    {
        var reader = new Reader(file);
        var topology = reader.Read(yaml);
        var errors = reader.Errors.ToList();
        if (topology is not null && errors.Count == 0)
            errors.AddRange(TopologyValidator.Validate(topology, reader.LineOf, file));
        return errors.Count == 0 ? topology! : throw new TopologyException(errors);
    }

    private sealed class Reader(string file)
    {
        private readonly Dictionary<string, int> _lines = [];
        public List<TopologyError> Errors { get; } = [];
        public int? LineOf(string field) => _lines.TryGetValue(field, out var line) ? line : null;

        private void Error(string field, YamlNode? node, string problem, string fix) =>
            Errors.Add(new(field, problem, fix, file, node is null ? null : (int)node.Start.Line));

        public LabTopology? Read(string yaml)
        {
            var stream = new YamlStream();
            try
            {
                stream.Load(new StringReader(yaml));
            }
            catch (YamlException e)
            {
                Errors.Add(new("(file)", $"is not valid YAML: {e.InnerException?.Message ?? e.Message}", "fix the YAML syntax at that line.", file, (int)e.Start.Line));
                return null;
            }

            var d = LabTopology.Default;
            if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
                return d;
            if (stream.Documents[0].RootNode is not YamlMappingNode root)
            {
                Error("(file)", stream.Documents[0].RootNode, "the top level must be a mapping of keys (name, subnet, vip, nodes, ...).", "see README.md for the topology format.");
                return null;
            }

            var top = Map(root, "", ["name", "subnet", "vip", "profile", "loadBalancer", "keepalived", "nodes", "kubernetes", "etcd"]);
            var lb = SubMap(top, "loadBalancer", ["port"]);
            var ka = SubMap(top, "keepalived", ["virtualRouterId", "advertInterval", "checkInterval", "weight", "fall", "rise", "nopreempt", "interface", "authPass"]);
            var kube = SubMap(top, "kubernetes", ["podSubnet", "serviceSubnet", "apiServerPort", "version", "imageRepository", "dnsDomain"]);
            var etcd = SubMap(top, "etcd", ["topology", "nodes"]);
            var subnet = Cidr(top, "subnet") ?? d.Subnet;
            var etcdTopology = Enum<EtcdTopology>(etcd, "topology") ?? d.Etcd.Topology;

            // The profile first: its keepalived defaults fill every keepalived key the file leaves out.
            var profile = Enum<RenderProfile>(top, "profile") ?? d.Profile;
            var kd = KeepalivedSettings.ForProfile(profile);
            return new LabTopology
            {
                Name = Str(top, "name") ?? d.Name,
                Subnet = subnet,
                Vip = Ip(top, "vip") ?? d.Vip,
                Profile = profile,
                LoadBalancer = new LoadBalancerSettings { Port = Int(lb, "port") ?? d.LoadBalancer.Port },
                Keepalived = new KeepalivedSettings
                {
                    VirtualRouterId = Int(ka, "virtualRouterId") ?? kd.VirtualRouterId,
                    AdvertInterval = Seconds(ka, "advertInterval") ?? kd.AdvertInterval,
                    CheckInterval = Int(ka, "checkInterval") ?? kd.CheckInterval,
                    Weight = Int(ka, "weight") ?? kd.Weight,
                    Fall = Int(ka, "fall") ?? kd.Fall,
                    Rise = Int(ka, "rise") ?? kd.Rise,
                    Nopreempt = Bool(ka, "nopreempt") ?? kd.Nopreempt,
                    Interface = Str(ka, "interface") ?? kd.Interface,
                    AuthPass = Str(ka, "authPass"),
                },
                Nodes = Nodes(top) ?? d.Nodes,
                Kubernetes = new KubernetesSettings
                {
                    PodSubnet = Cidr(kube, "podSubnet") ?? d.Kubernetes.PodSubnet,
                    ServiceSubnet = Cidr(kube, "serviceSubnet") ?? d.Kubernetes.ServiceSubnet,
                    ApiServerPort = Int(kube, "apiServerPort") ?? d.Kubernetes.ApiServerPort,
                    Version = Str(kube, "version") ?? d.Kubernetes.Version,
                    ImageRepository = Str(kube, "imageRepository") ?? d.Kubernetes.ImageRepository,
                    DnsDomain = Str(kube, "dnsDomain") ?? d.Kubernetes.DnsDomain,
                },
                Etcd = new EtcdSettings
                {
                    Topology = etcdTopology,
                    // External without nodes: the default three members; stacked keeps what was written, so the validator can refuse it.
                    Nodes = EtcdNodes(etcd) ?? (etcdTopology == EtcdTopology.External ? EtcdSettings.DefaultNodes(subnet) : []),
                },
            };
        }

        private ImmutableArray<NodeSpec>? Nodes(Fields top)
        {
            if (!top.Values.TryGetValue("nodes", out var node)) return null;
            if (node is not YamlSequenceNode seq)
            {
                Error("nodes", node, "must be a list of nodes.", "write nodes as a list: '- { name: m01, ip: 192.168.100.191 }'.");
                return null;
            }
            var list = new List<NodeSpec>();
            for (var i = 0; i < seq.Children.Count; i++)
            {
                var path = $"nodes[{i}]";
                _lines[path] = (int)seq.Children[i].Start.Line;
                if (seq.Children[i] is not YamlMappingNode m)
                {
                    Error(path, seq.Children[i], "must be a mapping with name and ip.", "write '- { name: m01, ip: 192.168.100.191 }'.");
                    continue;
                }
                var f = Map(m, path, ["name", "ip", "state", "priority"]);
                var name = Str(f, "name");
                var ip = Ip(f, "ip");
                if (name is null) Error($"{path}.name", m, "is missing.", "give the node a name, e.g. m01.");
                if (ip is null && !f.Values.ContainsKey("ip")) Error($"{path}.ip", m, "is missing.", "give the node its fixed address inside the subnet.");
                if (name is null || ip is null) continue;
                list.Add(new NodeSpec
                {
                    Name = name,
                    Ip = ip,
                    State = Enum<VrrpState>(f, "state") ?? VrrpState.Backup,
                    Priority = Int(f, "priority") ?? 100,
                });
            }
            return [.. list];
        }

        private ImmutableArray<EtcdNodeSpec>? EtcdNodes(Fields etcd)
        {
            if (!etcd.Values.TryGetValue("nodes", out var node)) return null;
            if (node is not YamlSequenceNode seq)
            {
                Error("etcd.nodes", node, "must be a list of etcd nodes.", "write etcd.nodes as a list: '- { name: e01, ip: 192.168.100.181 }', or leave it out for e01-e03 at .181-.183.");
                return null;
            }
            var list = new List<EtcdNodeSpec>();
            for (var i = 0; i < seq.Children.Count; i++)
            {
                var path = $"etcd.nodes[{i}]";
                _lines[path] = (int)seq.Children[i].Start.Line;
                if (seq.Children[i] is not YamlMappingNode m)
                {
                    Error(path, seq.Children[i], "must be a mapping with name and ip.", "write '- { name: e01, ip: 192.168.100.181 }'.");
                    continue;
                }
                var f = Map(m, path, ["name", "ip"]);
                var name = Str(f, "name");
                var ip = Ip(f, "ip");
                if (name is null) Error($"{path}.name", m, "is missing.", "give the etcd node a name, e.g. e01.");
                if (ip is null && !f.Values.ContainsKey("ip")) Error($"{path}.ip", m, "is missing.", "give the etcd node its fixed address inside the subnet, e.g. .181.");
                if (name is null || ip is null) continue;
                list.Add(new EtcdNodeSpec { Name = name, Ip = ip });
            }
            return [.. list];
        }

        private sealed record Fields(string Path, Dictionary<string, YamlNode> Values);

        private Fields Map(YamlMappingNode node, string path, string[] known)
        {
            var values = new Dictionary<string, YamlNode>();
            foreach (var (k, v) in node.Children)
            {
                var key = (k as YamlScalarNode)?.Value ?? "";
                var field = path.Length == 0 ? key : $"{path}.{key}";
                if (!known.Contains(key))
                {
                    var hint = known.FirstOrDefault(x => string.Equals(x, key, StringComparison.OrdinalIgnoreCase));
                    Error(field, k, $"is not a known key{(path.Length == 0 ? "" : $" of {path}")}.",
                        hint is not null ? $"write '{hint}' (keys are case-sensitive)." : $"use one of: {string.Join(", ", known)}.");
                    continue;
                }
                _lines[field] = (int)k.Start.Line;
                values[key] = v;
            }
            return new(path, values);
        }

        private Fields SubMap(Fields parent, string key, string[] known)
        {
            var path = parent.Path.Length == 0 ? key : $"{parent.Path}.{key}";
            if (!parent.Values.TryGetValue(key, out var node)) return new(path, []);
            if (node is YamlMappingNode m) return Map(m, path, known);
            Error(path, node, "must be a mapping.", $"write '{key}: {{ {known[0]}: ... }}'.");
            return new(path, []);
        }

        private string? Scalar(Fields f, string key, out YamlNode? node, out string field)
        {
            field = f.Path.Length == 0 ? key : $"{f.Path}.{key}";
            if (!f.Values.TryGetValue(key, out node)) return null;
            if (node is YamlScalarNode { Value: { Length: > 0 } s }) return s.Trim();
            Error(field, node, "must be a single value.", "write a plain value after the colon.");
            return null;
        }

        private string? Str(Fields f, string key) => Scalar(f, key, out _, out _);

        private int? Int(Fields f, string key)
        {
            var s = Scalar(f, key, out var node, out var field);
            if (s is null) return null;
            if (int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)) return v;
            Error(field, node, $"'{s}' is not a whole number.", "write an integer, e.g. 9443.");
            return null;
        }

        private double? Seconds(Fields f, string key)
        {
            var s = Scalar(f, key, out var node, out var field);
            if (s is null) return null;
            if (double.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)) return v;
            Error(field, node, $"'{s}' is not a number of seconds.", "write seconds, e.g. 1 (or 0.1 with profile: fast).");
            return null;
        }

        private bool? Bool(Fields f, string key)
        {
            var s = Scalar(f, key, out var node, out var field);
            if (s is null) return null;
            if (bool.TryParse(s, out var v)) return v;
            Error(field, node, $"'{s}' is not true or false.", "write true or false.");
            return null;
        }

        private T? Enum<T>(Fields f, string key) where T : struct, Enum
        {
            var s = Scalar(f, key, out var node, out var field);
            if (s is null) return null;
            if (System.Enum.TryParse<T>(s, ignoreCase: true, out var v) && !int.TryParse(s, out _)) return v;
            Error(field, node, $"'{s}' is not one of {string.Join(", ", System.Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}.",
                $"write one of those ({(typeof(T) == typeof(VrrpState) ? "MASTER or BACKUP" : typeof(T) == typeof(EtcdTopology) ? "stacked or external" : "seed, recommended or fast")}).");
            return null;
        }

        private IPAddress? Ip(Fields f, string key)
        {
            var s = Scalar(f, key, out var node, out var field);
            if (s is null) return null;
            if (IPAddress.TryParse(s, out var ip) && ip.AddressFamily == AddressFamily.InterNetwork && s.Count(c => c == '.') == 3) return ip;
            Error(field, node, $"'{s}' is not an IPv4 address.", "write four dotted numbers, e.g. 192.168.100.190.");
            return null;
        }

        private IPNetwork? Cidr(Fields f, string key)
        {
            var s = Scalar(f, key, out var node, out var field);
            if (s is null) return null;
            var slash = s.IndexOf('/');
            if (slash > 0 && IPAddress.TryParse(s[..slash], out var addr) && addr.AddressFamily == AddressFamily.InterNetwork
                && int.TryParse(s[(slash + 1)..], out var prefix) && prefix is >= 0 and <= 32)
            {
                var mask = prefix == 0 ? 0u : uint.MaxValue << (32 - prefix);
                var network = IpMath.FromUInt32(IpMath.ToUInt32(addr) & mask);
                if (network.Equals(addr)) return new IPNetwork(addr, prefix);
                Error(field, node, $"'{s}' has host bits set (a host address, not a network).", $"write the network address: {network}/{prefix}.");
                return null;
            }
            Error(field, node, $"'{s}' is not an IPv4 CIDR.", "write address/prefix, e.g. 192.168.100.0/24.");
            return null;
        }
    }
}
