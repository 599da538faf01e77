using HaKubeLab.Failover;

namespace HaKubeLab.Explain;

/// <summary>One fault: a kind on a node; a null node means the node holding the VIP.</summary>
/// <example><c>Fault.Parse("haproxy")</c> (on the VIP holder), <c>Fault.Parse("apiserver:m02")</c>, <c>Fault.Parse("network-partition:m03")</c>.</example>
public sealed record Fault(FaultKind Kind, string? Node = null)
{
    /// <summary>
    /// The form <c>--fail</c> takes and prints: <c>kind[:node]</c>, kind one of node, haproxy, keepalived,
    /// apiserver (node-kill, haproxy-kill, keepalived-kill, kube-apiserver-kill) or any full fault name (<see cref="FaultKinds"/>).
    /// </summary>
    /// <exception cref="FormatException">The kind is not a fault name.</exception>
    public static Fault Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        var parts = text.Trim().Split(':', 2);
        var kind = FaultKinds.ParseAny(parts[0])
            ?? throw new FormatException($"Unknown fault '{parts[0]}': use node, haproxy, keepalived or apiserver, or a full fault name ({string.Join(", ", FaultKinds.All.Select(f => f.Name))}), optionally ':<node>' (e.g. haproxy:m01).");
        return new Fault(kind, parts.Length > 1 && parts[1].Length > 0 ? parts[1] : null);
    }

    /// <summary>How explain names the kind: the short word where there is one (node, haproxy, keepalived, apiserver), else the full name.</summary>
    public string KindName => FaultKinds.Info(Kind).DisplayName;

    /// <inheritdoc/>
    public override string ToString() => Node is null ? KindName : $"{KindName}:{Node}";
}
