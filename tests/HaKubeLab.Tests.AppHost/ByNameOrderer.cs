using Xunit.Abstractions;
using Xunit.Sdk;

namespace HaKubeLab.Tests.AppHost;

/// <summary>Runs a class's tests in method-name order: they share one running AppHost, and the last one stops it.</summary>
public sealed class ByNameOrderer : ITestCaseOrderer
{
    public IEnumerable<TTestCase> OrderTestCases<TTestCase>(IEnumerable<TTestCase> testCases) where TTestCase : ITestCase =>
        testCases.OrderBy(t => t.TestMethod.Method.Name, StringComparer.Ordinal);
}
