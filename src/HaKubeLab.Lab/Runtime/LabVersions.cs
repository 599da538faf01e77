using System.Reflection;

namespace HaKubeLab.Runtime;

/// <summary>
/// The lab's versions and default image repository, read from <c>scripts/images/versions.env</c> (embedded at
/// build time): the image build reads the same file, so the images built and the configuration rendered agree.
/// </summary>
public static class LabVersions
{
    private static readonly Lazy<IReadOnlyDictionary<string, string>> Values = new(Load);

    /// <summary>The Kubernetes version the lab builds from Debian's source package (v1.20.2).</summary>
    public static string Kubernetes => Get("KUBERNETES_VERSION");

    /// <summary>The etcd version of Debian's etcd-server that the lab's etcd image carries (3.4.23).</summary>
    public static string Etcd => Get("ETCD_VERSION");

    /// <summary>The runbook's imageRepository, under which control-plane images are tagged unless a topology names another.</summary>
    public static string ImageRepository => Get("IMAGE_REPOSITORY");

    /// <summary>Kubernetes minor line the lab can provide ("v1.20"): a topology asking for another is refused.</summary>
    public static string KubernetesMinor => string.Join('.', Kubernetes.Split('.').Take(2));

    private static string Get(string key) =>
        Values.Value.TryGetValue(key, out var v) ? v : throw new InvalidOperationException($"versions.env has no {key}");

    /// <summary>Parses KEY=VALUE lines; '#' starts a comment line.</summary>
    internal static IReadOnlyDictionary<string, string> Parse(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var eq = line.IndexOf('=');
            if (eq > 0) result[line[..eq].Trim()] = line[(eq + 1)..].Trim();
        }
        return result;
    }

    private static IReadOnlyDictionary<string, string> Load()
    {
        using var stream = typeof(LabVersions).Assembly.GetManifestResourceStream("versions.env")
            ?? throw new InvalidOperationException("versions.env is not embedded in HaKubeLab.Lab");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd());
    }
}
