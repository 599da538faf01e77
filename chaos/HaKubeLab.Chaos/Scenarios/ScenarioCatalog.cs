using HaKubeLab.Runtime;

namespace HaKubeLab.Chaos.Scenarios;

/// <summary>Finds the shipped scenarios: <c>chaos/scenarios/*.yaml</c> in the repository, else <c>scenarios/</c> next to the program.</summary>
public static class ScenarioCatalog
{
    /// <summary>HAKUBELAB_SCENARIOS, the repository's chaos/scenarios, or the copy next to the binary.</summary>
    public static string Directory()
    {
        var env = Environment.GetEnvironmentVariable("HAKUBELAB_SCENARIOS");
        if (!string.IsNullOrEmpty(env)) return Path.GetFullPath(env);
        try
        {
            var repo = Path.Combine(RepositoryLayout.Root(), "chaos", "scenarios");
            if (System.IO.Directory.Exists(repo)) return repo;
        }
        catch (InvalidOperationException) { /* not inside the repository: use the shipped copy */ }
        return Path.Combine(AppContext.BaseDirectory, "scenarios");
    }

    /// <summary>The scenario files, by name.</summary>
    public static IReadOnlyList<string> Files() =>
        System.IO.Directory.Exists(Directory())
            ? [.. System.IO.Directory.EnumerateFiles(Directory(), "*.yaml").OrderBy(f => f, StringComparer.Ordinal)]
            : [];

    /// <summary>
    /// A path to a YAML file, or the name of a shipped scenario (its file name without .yaml, or its
    /// <c>name:</c>). Throws <see cref="ScenarioException"/> naming the known scenarios when nothing matches.
    /// </summary>
    public static string Resolve(string nameOrPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(nameOrPath);
        if (File.Exists(nameOrPath)) return Path.GetFullPath(nameOrPath);
        var files = Files();
        var byFile = files.FirstOrDefault(f => Path.GetFileNameWithoutExtension(f) == nameOrPath);
        if (byFile is not null) return byFile;
        foreach (var f in files)
        {
            try
            {
                if (ScenarioLoader.LoadFile(f).Name == nameOrPath) return f;
            }
            catch (ScenarioException) { /* a broken file is reported when it is run by name */ }
        }
        throw new ScenarioException([new(nameOrPath, null, "SCENARIO", $"no scenario file or shipped scenario named '{nameOrPath}'",
            $"run 'hakubelab chaos list' (scenarios in {Directory()}: {string.Join(", ", files.Select(Path.GetFileNameWithoutExtension))}) or pass a path")]);
    }
}
