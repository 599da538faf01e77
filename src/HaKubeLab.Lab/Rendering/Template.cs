using System.Text;
using System.Text.RegularExpressions;

namespace HaKubeLab.Rendering;

/// <summary>
/// Configuration templates kept as data (embedded under Rendering/Templates) and filled from values.
/// <c>{{name}}</c> is replaced by a value; a line starting with <c>{{?flag}}</c> is kept only when the flag is true.
/// An unknown placeholder is a bug in the template and throws.
/// </summary>
public static partial class Template
{
    [GeneratedRegex(@"\{\{(\??)([a-z_]+)\}\}")]
    private static partial Regex Placeholder();

    public static string Load(string name)
    {
        using var stream = typeof(Template).Assembly.GetManifestResourceStream("templates/" + name)
            ?? throw new InvalidOperationException($"Template '{name}' is not embedded in {typeof(Template).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    public static string Fill(string template, IReadOnlyDictionary<string, string> values, IReadOnlyDictionary<string, bool>? flags = null)
    {
        var output = new StringBuilder(template.Length);
        foreach (var line in template.Split('\n'))
        {
            var keep = true;
            var filled = Placeholder().Replace(line, m =>
            {
                var key = m.Groups[2].Value;
                if (m.Groups[1].Value == "?")
                {
                    if (flags is null || !flags.TryGetValue(key, out var on))
                        throw new InvalidOperationException($"Template flag '{key}' has no value.");
                    keep &= on;
                    return "";
                }
                return values.TryGetValue(key, out var v) ? v : throw new InvalidOperationException($"Template placeholder '{key}' has no value.");
            });
            if (keep) output.Append(filled).Append('\n');
        }
        output.Length--; // the split added one '\n' too many
        return output.ToString();
    }
}
