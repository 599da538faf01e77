using System.Text.RegularExpressions;
using HaKubeLab.Runtime;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace HaKubeLab.Testing.Tests;

/// <summary>The README's "Write a failover test" example compiles as written against the library (no Docker).</summary>
public partial class ReadmeExampleTests
{
    private const string Section = "## Write a failover test";

    /// <summary>The global usings Microsoft.NET.Sdk generates for ImplicitUsings=enable.</summary>
    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    [Fact]
    public void The_write_a_failover_test_example_compiles_against_the_library()
    {
        var (file, code) = Example();
        var options = new CSharpParseOptions(LanguageVersion.Latest);
        var tree = CSharpSyntaxTree.ParseText(code, options, path: "example.cs");
        // What every new SDK project has (ImplicitUsings, on in 'dotnet new xunit'): nothing more.
        var implicitUsings = CSharpSyntaxTree.ParseText(ImplicitUsings, options, path: "ImplicitUsings.g.cs");
        var compilation = CSharpCompilation.Create("ReadmeExample", [tree, implicitUsings], References(),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        using var dll = new MemoryStream();
        var emitted = compilation.Emit(dll);
        var errors = emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();
        Assert.True(emitted.Success, $"The example in {file} does not compile:{Environment.NewLine}{string.Join(Environment.NewLine, errors)}");
        // The example is a test a QA engineer would write: a fixture, a fault, a measurement, an assertion.
        Assert.Contains("SeedLabFixture", code);
        Assert.Contains("MeasureAsync", code);
        Assert.True(code.Split('\n').Length <= 25, "The example should stay short (about ten lines of test).");
    }

    /// <summary>The first C# block of the section: from README.md once the lead moved it there, else from docs-notes/qa.md.</summary>
    private static (string File, string Code) Example()
    {
        var root = RepositoryLayout.Root();
        foreach (var candidate in new[] { Path.Combine(root, "README.md"), Path.Combine(root, "docs-notes", "qa.md") })
        {
            if (!File.Exists(candidate)) continue;
            var text = File.ReadAllText(candidate);
            var at = text.IndexOf(Section, StringComparison.Ordinal);
            if (at < 0) continue;
            var block = CSharpBlock().Match(text, at);
            Assert.True(block.Success, $"{candidate}: the section '{Section}' has no ```csharp block.");
            return (candidate, block.Groups["code"].Value);
        }
        throw new Xunit.Sdk.XunitException($"Neither README.md nor docs-notes/qa.md under {root} has a section '{Section}'.");
    }

    private static List<MetadataReference> References()
    {
        // The framework's assemblies plus everything next to this test (the library and its dependencies, xunit).
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat(Directory.GetFiles(AppContext.BaseDirectory, "*.dll"))
            .GroupBy(Path.GetFileName).Select(g => g.First());
        var references = new List<MetadataReference>();
        foreach (var path in paths)
        {
            try { references.Add(MetadataReference.CreateFromFile(path)); }
            catch (BadImageFormatException) { } // native libraries next to the tests
        }
        return references;
    }

    [GeneratedRegex(@"```csharp\r?\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();
}
