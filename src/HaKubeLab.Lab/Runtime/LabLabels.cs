namespace HaKubeLab.Runtime;

/// <summary>Labels on every Docker object a lab creates, so teardown finds all of it by label.</summary>
public static class LabLabels
{
    public const string Lab = "io.hakubelab.lab";
    public const string Role = "io.hakubelab.role";
    public const string Node = "io.hakubelab.node";
    /// <summary>Hash of what the object was created from; <c>up</c> recreates an object whose hash differs.</summary>
    public const string ConfigHash = "io.hakubelab.config-hash";
    /// <summary>On the lab's network: the path of the lab's record (<see cref="LabRecord"/>), so a lab is found whatever state folder made it.</summary>
    public const string Record = "io.hakubelab.record";

    public static Dictionary<string, string> For(string lab, string role, string? node = null, string? configHash = null)
    {
        var labels = new Dictionary<string, string> { [Lab] = lab, [Role] = role };
        if (node is not null) labels[Node] = node;
        if (configHash is not null) labels[ConfigHash] = configHash;
        return labels;
    }
}

/// <summary>The parts a lab is made of, per node.</summary>
public enum LabRole
{
    Node,
    Haproxy,
    Keepalived,
    /// <summary>A member of the external etcd topology: a container of its own (e01-e03), labelled role=etcd, node=&lt;member&gt;.</summary>
    Etcd,
}

/// <summary>Names of the lab's Docker objects, derived from the lab and node names.</summary>
public static class LabNames
{
    public static string Network(string lab) => lab;
    public static string Container(string lab, string node, LabRole role) => role switch
    {
        LabRole.Node => $"{lab}-{node}",
        LabRole.Haproxy => $"{lab}-{node}-haproxy",
        LabRole.Keepalived => $"{lab}-{node}-keepalived",
        // Named like a node container: the etcd node is a host of its own.
        LabRole.Etcd => $"{lab}-{node}",
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };
    public static string VarVolume(string lab, string node) => $"{lab}-{node}-var";
    public static string RoleLabel(LabRole role) => role.ToString().ToLowerInvariant();
}

internal static class LabelExtensions
{
    /// <summary>The label's value, or null when the object has no such label (or no labels at all).</summary>
    public static string? Label(this IDictionary<string, string>? labels, string key) =>
        labels is not null && labels.TryGetValue(key, out var v) ? v : null;
}
