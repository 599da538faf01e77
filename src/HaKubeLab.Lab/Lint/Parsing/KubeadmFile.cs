using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace HaKubeLab.Lint.Parsing;

/// <summary>One YAML document of a kubeadm configuration (ClusterConfiguration, InitConfiguration, KubeletConfiguration, ...).</summary>
internal sealed record KubeadmDocument(string? ApiVersion, string? Kind, YamlMappingNode Root, int Line);

/// <summary>
/// A kubeadm configuration file (or the here-document an init script writes it from). Lines are the
/// user's; a value that came from a shell variable (${POD_SUBNET}) remembers where that variable was set.
/// </summary>
internal sealed partial class KubeadmFile
{
    public required string File { get; init; }
    public required int LineOffset { get; init; }
    public List<KubeadmDocument> Documents { get; } = [];
    /// <summary>Local line -> the assignment of the variable expanded on it.</summary>
    public Dictionary<int, ShAssignment> Origins { get; } = [];

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex Variable();

    /// <summary>The line in the user's file of a YAML node.</summary>
    public int LineOf(YamlNode node) => LineOffset + (int)node.Start.Line;

    /// <summary>Where the value on <paramref name="node"/>'s line was set: the variable's assignment if one was expanded there, else the node itself.</summary>
    public (string File, int Line, ShAssignment? Variable) OriginOf(YamlNode node) =>
        Origins.TryGetValue((int)node.Start.Line, out var a) ? (a.File, a.Line, a) : (File, LineOf(node), null);

    /// <param name="file">The name findings carry.</param>
    /// <param name="text">The YAML (one or more documents).</param>
    /// <param name="lineOffset">Lines before the text in the user's file (a here-document's position).</param>
    /// <param name="findings">Where malformed YAML is reported.</param>
    /// <param name="variables">Shell variables known when the here-document is written; unknown ones stay as written.</param>
    public static KubeadmFile Parse(string file, string text, int lineOffset, Findings findings, IReadOnlyDictionary<string, ShAssignment>? variables = null)
    {
        var result = new KubeadmFile { File = file, LineOffset = lineOffset };
        if (variables is not null)
        {
            var lines = text.Split('\n');
            for (var i = 0; i < lines.Length; i++)
                lines[i] = Variable().Replace(lines[i], m =>
                {
                    var name = m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value;
                    if (!variables.TryGetValue(name, out var a)) return m.Value;
                    result.Origins[i + 1] = a;
                    return a.Value;
                });
            text = string.Join('\n', lines);
        }

        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            findings.Add("LINT002", file, lineOffset + (int)e.Start.Line, $"Not valid YAML: {e.InnerException?.Message ?? e.Message}",
                "kubeadm init refuses the configuration ('error converting YAML to JSON').", "Fix the YAML at that line (the file may have been cut off while being written).");
            return result;
        }
        foreach (var doc in stream.Documents)
        {
            if (doc.RootNode is YamlScalarNode { Value: null or "" }) continue;
            if (doc.RootNode is not YamlMappingNode root)
            {
                findings.Add("LINT002", file, lineOffset + (int)doc.RootNode.Start.Line, "A YAML document that is not a mapping of fields.",
                    "kubeadm cannot decode it.", "Each document needs apiVersion, kind and the kind's fields.");
                continue;
            }
            result.Documents.Add(new KubeadmDocument(Scalar(root, "apiVersion"), Scalar(root, "kind"), root, lineOffset + (int)root.Start.Line));
        }
        return result;
    }

    public static string? Scalar(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var v) && v is YamlScalarNode s ? s.Value : null;

    public static YamlNode? Node(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;
}
