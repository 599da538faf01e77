using Xunit;

namespace HaKubeLab.Testing;

/// <summary>
/// The xUnit fixture base: brings up an <see cref="EphemeralLab"/> before the first test that uses it and removes
/// it after the last. Use a subclass as a class fixture (<c>IClassFixture&lt;SeedLabFixture&gt;</c>: one lab per
/// test class) or as a collection fixture (<c>[CollectionDefinition("lab")] class LabCollection :
/// ICollectionFixture&lt;SeedLabFixture&gt;;</c> and <c>[Collection("lab")]</c> on the classes: one lab shared
/// by them). Derive your own for another topology: <c>public sealed class MyLab() : LabFixture(LabOptions.FromTopologyFile("lab.yaml"));</c>
/// </summary>
public abstract class LabFixture(LabOptions options) : IAsyncLifetime
{
    private EphemeralLab? _lab;

    /// <summary>What this fixture brings up.</summary>
    public LabOptions Options { get; } = options ?? throw new ArgumentNullException(nameof(options));

    /// <summary>The running lab.</summary>
    public EphemeralLab Lab => _lab ?? throw new InvalidOperationException("The lab is not up: the fixture's InitializeAsync failed or has not run (see the first test's error).");

    /// <summary>Brings the lab up (xUnit calls it); a failed bring-up removes what it made.</summary>
    public async Task InitializeAsync() => _lab = await EphemeralLab.StartAsync(Options).ConfigureAwait(false);

    /// <summary>Removes the lab (xUnit calls it after the last test of the class or collection).</summary>
    public async Task DisposeAsync()
    {
        if (_lab is not null) await _lab.DisposeAsync().ConfigureAwait(false);
        _lab = null;
    }
}

/// <summary>The runbook's lab as its seed renders it, without Kubernetes (about 30 s to start).</summary>
public sealed class SeedLabFixture() : LabFixture(LabOptions.Seed);

/// <summary>The runbook's lab in the recommended profile, without Kubernetes.</summary>
public sealed class RecommendedLabFixture() : LabFixture(LabOptions.Recommended);

/// <summary>The runbook's lab (seed) with Kubernetes bootstrapped by the project's kubeadm bootstrap (a few minutes, about 3 GiB).</summary>
public sealed class KubernetesLabFixture() : LabFixture(LabOptions.FromProfile("seed", kubernetes: true));
