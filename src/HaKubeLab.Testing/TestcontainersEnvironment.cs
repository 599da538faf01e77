using System.Runtime.CompilerServices;
using DotNet.Testcontainers.Configurations;

namespace HaKubeLab.Testing;

/// <summary>
/// Testcontainers settings this library needs, applied before Testcontainers reads its configuration:
/// Docker 20.10 (Debian bookworm) speaks API 1.41 and refuses newer versions, and Ryuk's image cannot be
/// pulled where nothing can be pulled (the library removes what it made itself: disposal plus a sweep by label).
/// A value the user set in the environment wins.
/// </summary>
public static class TestcontainersEnvironment
{
    private static int _applied;

    /// <summary>Sets DOCKER_API_VERSION=1.41 and TESTCONTAINERS_RYUK_DISABLED=true unless already set; idempotent.</summary>
    public static void Apply()
    {
        if (Interlocked.Exchange(ref _applied, 1) == 1) return;
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOCKER_API_VERSION")))
            Environment.SetEnvironmentVariable("DOCKER_API_VERSION", "1.41");
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("TESTCONTAINERS_RYUK_DISABLED")))
            Environment.SetEnvironmentVariable("TESTCONTAINERS_RYUK_DISABLED", "true");
        TestcontainersSettings.ResourceReaperEnabled = false;
    }

#pragma warning disable CA2255 // a library initializer on purpose: Testcontainers reads the environment once, at first use
    [ModuleInitializer]
    internal static void OnLoad() => Apply();
#pragma warning restore CA2255
}
