using System.Collections.Immutable;

namespace HaKubeLab.AppHost;

internal static class SnapshotExtensions
{
    /// <summary>The properties with <paramref name="name"/> set to <paramref name="value"/> (replaced when present, else added).</summary>
    public static ImmutableArray<ResourcePropertySnapshot> With(this ImmutableArray<ResourcePropertySnapshot> properties, string name, object? value, bool highlighted = false)
    {
        var p = new ResourcePropertySnapshot(name, value) { IsHighlighted = highlighted };
        var i = properties.IndexOf(properties.FirstOrDefault(x => x.Name == name)!);
        return i >= 0 && properties[i].Name == name ? properties.SetItem(i, p) : properties.Add(p);
    }
}
