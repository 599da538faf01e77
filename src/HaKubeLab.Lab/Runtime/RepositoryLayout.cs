namespace HaKubeLab.Runtime;

/// <summary>Finds the repository's scripts (image builds) from wherever the lab code runs.</summary>
public static class RepositoryLayout
{
    /// <summary>HAKUBELAB_ROOT, or the nearest folder above the program or the working directory that holds HaKubeLab.sln.</summary>
    public static string Root()
    {
        var fromEnv = Environment.GetEnvironmentVariable("HAKUBELAB_ROOT");
        if (!string.IsNullOrEmpty(fromEnv)) return Path.GetFullPath(fromEnv);
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "HaKubeLab.sln")) && Directory.Exists(Path.Combine(dir.FullName, "scripts")))
                    return dir.FullName;
        }
        throw new InvalidOperationException("Cannot find the HaKubeLab repository (HaKubeLab.sln with scripts/). Run from inside it or set HAKUBELAB_ROOT.");
    }

    public static string Script(string relative) => Path.Combine(Root(), "scripts", relative);
}
