using System.Text.RegularExpressions;

namespace HaKubeLab.Tests.Unit;

/// <summary>
/// The runbook the tests check the lab against: a verbatim excerpt kept in the repository
/// (TestData/runbook, see its README), so the unit tests pass from a clone without ../shared.
/// </summary>
internal static partial class RunbookTestData
{
    /// <summary>The runbook's line ranges (1-based, inclusive) copied into the excerpt, in order.</summary>
    internal static readonly (int First, int Last)[] CopiedLines = [(1, 9), (38, 243)];

    /// <summary>Path of the excerpt beside the test assembly.</summary>
    internal static string ExcerptPath { get; } = Path.Combine(AppContext.BaseDirectory, "TestData", "runbook", "runbook-excerpt.txt");

    internal static string Text() => File.ReadAllText(ExcerptPath);

    /// <summary>The runbook's code blocks, in order: haproxy.cfg, docker run haproxy, keepalived.conf, docker run keepalived, settings, init script.</summary>
    internal static List<string> Blocks() => [.. FencedBlock().Matches(Text()).Select(m => m.Groups[2].Value)];

    /// <summary>The original runbook when it is beside the repository (../shared/seed), else null.</summary>
    internal static string? FindOriginal()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var seedDir = Path.Combine(dir.FullName, "shared", "seed");
            if (Directory.Exists(seedDir)) return Directory.GetFiles(seedDir, "*.txt").SingleOrDefault();
        }
        return null;
    }

    [GeneratedRegex(@"```(\w*)\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex FencedBlock();
}

public class RunbookTestDataTests
{
    [Fact]
    public void RunbookTestData_holds_the_six_blocks_and_the_load_balancer_requirements()
    {
        Assert.Equal(6, RunbookTestData.Blocks().Count);
        Assert.Contains("* **监听端口:** 6443/TCP\n", RunbookTestData.Text());
    }

    [Fact]
    public void RunbookTestData_is_a_verbatim_excerpt_of_the_runbook()
    {
        var original = RunbookTestData.FindOriginal();
        if (original is null)
        {
            Console.WriteLine("The runbook (../shared/seed) is not beside this clone: drift not checked; the excerpt is used as it is.");
            return;
        }
        var lines = File.ReadAllText(original).Split('\n');
        var expected = string.Join('\n', RunbookTestData.CopiedLines.SelectMany(r => lines[(r.First - 1)..r.Last]));
        Assert.Equal(expected, RunbookTestData.Text().TrimEnd('\n'));
    }
}
