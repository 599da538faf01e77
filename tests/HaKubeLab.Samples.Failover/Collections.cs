using HaKubeLab.Testing;
using Xunit;

// One lab at a time: a lab takes a good part of a small machine.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace HaKubeLab.Samples.Failover;

/// <summary>The runbook's lab (seed profile), shared by every load-balancer test class.</summary>
[CollectionDefinition(Name)]
public sealed class SeedLab : ICollectionFixture<SeedLabFixture>
{
    public const string Name = "seed lab";
}

/// <summary>The runbook's lab with Kubernetes, for the API tests.</summary>
[CollectionDefinition(Name)]
public sealed class KubernetesLab : ICollectionFixture<KubernetesLabFixture>
{
    public const string Name = "kubernetes lab";
}
