using HaKubeLab.Runtime;

namespace HaKubeLab.AppHost;

// The lab's parts as Aspire custom resources. Aspire cannot create these containers itself (fixed subnet,
// fixed IPs, --network container:NODE), so the project's runtime creates them and the AppHost only
// publishes their state, logs and commands.

/// <summary>The lab: its network, the VIP, and (with Kubernetes) the cluster's state.</summary>
public sealed class LabResource(string name) : Resource(name), IResourceWithWaitSupport;

/// <summary>One bring-up step (image build, Kubernetes build, load-balancer tier, bootstrap): its state and log show the order and where it is.</summary>
public sealed class LabStepResource(string name, string title) : Resource(name)
{
    /// <summary>What the step does, for the dashboard.</summary>
    public string Title { get; } = title;
}

/// <summary>A lab container: a node (<see cref="LabRole.Node"/>) or one of its sidecars (haproxy, keepalived).</summary>
public sealed class LabPartResource(string name, string node, LabRole role, string container) : Resource(name), IResourceWithWaitSupport
{
    /// <summary>The topology's node name (m01 ...).</summary>
    public string Node { get; } = node;

    public LabRole Role { get; } = role;

    /// <summary>The Docker container's name.</summary>
    public string Container { get; } = container;
}
