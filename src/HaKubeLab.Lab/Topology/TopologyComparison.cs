namespace HaKubeLab.Topology;

/// <summary>Compares two topologies field by field, in the JSON form a lab's record stores them.</summary>
public static class TopologyComparison
{
    /// <summary>Fields (as topology paths, e.g. "keepalived.advertInterval: 1 (given: 2)") where <paramref name="expected"/> differs from the lab's.</summary>
    public static IReadOnlyList<string> Differences(LabTopology lab, LabTopology expected)
    {
        ArgumentNullException.ThrowIfNull(lab);
        ArgumentNullException.ThrowIfNull(expected);
        static Dictionary<string, string> Flatten(LabTopology t)
        {
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            void Walk(System.Text.Json.JsonElement e, string path)
            {
                switch (e.ValueKind)
                {
                    case System.Text.Json.JsonValueKind.Object:
                        foreach (var p in e.EnumerateObject()) Walk(p.Value, path.Length == 0 ? p.Name : $"{path}.{p.Name}");
                        break;
                    case System.Text.Json.JsonValueKind.Array:
                        var i = 0;
                        foreach (var item in e.EnumerateArray()) Walk(item, $"{path}[{i++}]");
                        break;
                    default:
                        result[path] = e.ToString();
                        break;
                }
            }
            using var doc = System.Text.Json.JsonDocument.Parse(System.Text.Json.JsonSerializer.Serialize(t, Runtime.LabRecordJson.Options));
            Walk(doc.RootElement, "");
            return result;
        }
        var a = Flatten(lab);
        var b = Flatten(expected);
        return [.. a.Keys.Union(b.Keys).Order(StringComparer.Ordinal)
            .Where(k => a.GetValueOrDefault(k) != b.GetValueOrDefault(k))
            .Select(k => $"{k}: {a.GetValueOrDefault(k) ?? "(none)"} (given: {b.GetValueOrDefault(k) ?? "(none)"})")];
    }
}
