namespace HaKubeLab.Explain;

/// <summary>What fails.</summary>
public enum FaultKind
{
    /// <summary>The whole node (its container killed): apiserver, haproxy and keepalived with it.</summary>
    Node,
    /// <summary>haproxy on the node (killed; --restart=always does not restart a killed container).</summary>
    Haproxy,
    /// <summary>keepalived on the node (killed: it cannot remove the VIP from the interface).</summary>
    Keepalived,
    /// <summary>The node's kube-apiserver.</summary>
    ApiServer,
}

/// <summary>One fault: a kind on a node; a null node means the node holding the VIP.</summary>
/// <example><c>Fault.Parse("haproxy")</c> (on the VIP holder), <c>Fault.Parse("apiserver:m02")</c>.</example>
public sealed record Fault(FaultKind Kind, string? Node = null)
{
    /// <summary>The form <c>--fail</c> takes and prints: <c>kind[:node]</c>, kind one of node, haproxy, keepalived, apiserver.</summary>
    public static Fault Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        var parts = text.Trim().Split(':', 2);
        var kind = parts[0].ToLowerInvariant() switch
        {
            "node" => FaultKind.Node,
            "haproxy" => FaultKind.Haproxy,
            "keepalived" => FaultKind.Keepalived,
            "apiserver" or "kube-apiserver" => FaultKind.ApiServer,
            _ => throw new FormatException($"Unknown fault '{parts[0]}': use node, haproxy, keepalived or apiserver, optionally ':<node>' (e.g. haproxy:m01)."),
        };
        return new Fault(kind, parts.Length > 1 && parts[1].Length > 0 ? parts[1] : null);
    }

    public string KindName => Kind == FaultKind.ApiServer ? "apiserver" : Kind.ToString().ToLowerInvariant();

    public override string ToString() => Node is null ? KindName : $"{KindName}:{Node}";
}
