using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using YamlDotNet.RepresentationModel;

namespace HaKubeLab.Bootstrap;

/// <summary>One host the bootstrap reaches over SSH.</summary>
public sealed record InventoryHost(string Name, string Address, int Port = 22, string User = "root");

/// <summary>
/// The hosts to bootstrap and the key to reach them. For a lab: its nodes and the lab's own key.
/// For real hosts: a YAML file, the same bootstrap code.
/// </summary>
/// <example>
/// <code>
/// # inventory.yaml
/// privateKey: ~/.ssh/id_rsa
/// hosts:
///   - { name: m01, address: 10.0.0.11 }
///   - { name: m02, address: 10.0.0.12, port: 22, user: root }
/// </code>
/// </example>
public sealed record Inventory(IReadOnlyList<InventoryHost> Hosts, string PrivateKeyPem, string KnownHostsPath)
{
    public InventoryHost Host(string name) => Hosts.FirstOrDefault(h => h.Name == name)
        ?? throw new ArgumentException($"No host '{name}' in the inventory ({string.Join(", ", Hosts.Select(h => h.Name))}).", nameof(name));

    /// <summary>The lab's nodes at their lab addresses, with the lab's key (created on first use).</summary>
    public static Inventory ForLab(LabTopology topology)
    {
        var id = SshIdentity.LoadOrCreate(LabPaths.SshKeyPath(topology.Name), $"hakubelab-{topology.Name}");
        return new Inventory([.. topology.Nodes.Select(n => new InventoryHost(n.Name, n.Ip.ToString()))], id.PrivateKeyPem,
            Path.Combine(Path.GetDirectoryName(LabPaths.SshKeyPath(topology.Name))!, "known_hosts"));
    }

    /// <summary>Reads an inventory file for real hosts; errors name the key and the line.</summary>
    public static Inventory Load(string path)
    {
        var yaml = new YamlStream();
        using (var reader = File.OpenText(path)) yaml.Load(reader);
        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is not YamlMappingNode root)
            throw new FormatException($"{path}: expected keys 'privateKey' and 'hosts'.");
        string Scalar(YamlMappingNode m, string key, string? fallback = null) =>
            m.Children.TryGetValue(new YamlScalarNode(key), out var v) && v is YamlScalarNode { Value: { } s } ? s
            : fallback ?? throw new FormatException($"{path}:{m.Start.Line}: '{key}' is missing.");
        var keyPath = Scalar(root, "privateKey").Replace("~", Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
        if (!root.Children.TryGetValue(new YamlScalarNode("hosts"), out var hostsNode) || hostsNode is not YamlSequenceNode hosts)
            throw new FormatException($"{path}: 'hosts' must be a list of {{ name, address }}.");
        var list = hosts.Children.OfType<YamlMappingNode>().Select(h => new InventoryHost(
            Scalar(h, "name"), Scalar(h, "address"), int.Parse(Scalar(h, "port", "22")), Scalar(h, "user", "root"))).ToList();
        return new Inventory(list, File.ReadAllText(keyPath), Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "known_hosts"));
    }
}
