using System.Reflection;
using Docker.DotNet.Models;

namespace HaKubeLab.Testing;

/// <summary>
/// Testcontainers create-parameter modifiers that carry the runtime's container specification
/// (<see cref="HaKubeLab.Runtime.ContainerSpecs"/>) into what Testcontainers sends to Docker: what its
/// builder cannot say (fixed IPs, capabilities, cgroup namespace, devices, tmpfs, mounts, restart
/// policy, <c>network_mode: container:&lt;node&gt;</c>) is copied from the same
/// <see cref="CreateContainerParameters"/> the persistent lab of <c>up</c> creates, so the two drivers
/// cannot drift apart. Modifiers run last, after Testcontainers has filled the parameters.
/// </summary>
public static class SpecModifiers
{
    private static readonly PropertyInfo[] HostConfigProperties =
        [.. typeof(HostConfig).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanRead && p.CanWrite)];

    /// <summary>
    /// The node's fixed address: replaces (not mutates) each endpoint the spec names, because Testcontainers
    /// shares one <see cref="EndpointSettings"/> instance across a container's networks.
    /// </summary>
    public static void FixedIp(CreateContainerParameters created, CreateContainerParameters spec)
    {
        ArgumentNullException.ThrowIfNull(created);
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.NetworkingConfig?.EndpointsConfig is not { Count: > 0 } wanted) return;
        created.NetworkingConfig ??= new NetworkingConfig();
        created.NetworkingConfig.EndpointsConfig ??= new Dictionary<string, EndpointSettings>();
        foreach (var (network, endpoint) in wanted)
            created.NetworkingConfig.EndpointsConfig[network] = new EndpointSettings
            {
                Aliases = endpoint.Aliases is null ? null! : [.. endpoint.Aliases],
                IPAMConfig = endpoint.IPAMConfig is null ? null : new EndpointIPAMConfig { IPv4Address = endpoint.IPAMConfig.IPv4Address },
            };
    }

    /// <summary>
    /// A sidecar in its node's network namespace (the lab's form of the runbook's <c>--net=host</c>):
    /// <c>network_mode: container:&lt;node&gt;</c> and no endpoints of its own.
    /// </summary>
    public static void SharedNetworkNamespace(CreateContainerParameters created, CreateContainerParameters spec)
    {
        ArgumentNullException.ThrowIfNull(created);
        ArgumentNullException.ThrowIfNull(spec);
        var mode = spec.HostConfig?.NetworkMode;
        if (mode is null || !mode.StartsWith("container:", StringComparison.Ordinal))
            throw new ArgumentException($"{spec.Name}: the spec's network mode is '{mode}', not container:<node>.", nameof(spec));
        created.HostConfig ??= new HostConfig();
        created.HostConfig.NetworkMode = mode;
        created.NetworkingConfig = null!; // Docker refuses endpoints with a container: network mode
        created.Hostname = null!;
        created.ExposedPorts = null!;
        created.HostConfig.PortBindings = null!;
        created.HostConfig.PublishAllPorts = false;
    }

    /// <summary>
    /// Every host setting the spec gives (capabilities, privileged, security options, masked and read-only
    /// paths, device rules and devices, cgroup namespace, tmpfs, mounts, binds, restart policy): each
    /// <see cref="HostConfig"/> property the spec sets is copied over what Testcontainers filled in.
    /// </summary>
    public static void HostSettings(CreateContainerParameters created, CreateContainerParameters spec)
    {
        ArgumentNullException.ThrowIfNull(created);
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.HostConfig is null) return;
        created.HostConfig ??= new HostConfig();
        foreach (var property in HostConfigProperties)
        {
            var value = property.GetValue(spec.HostConfig);
            if (value is null || IsDefaultValue(value)) continue;
            property.SetValue(created.HostConfig, value);
        }
    }

    /// <summary>All three modifiers in the order that fits the spec (nodes: fixed IP; sidecars: the node's namespace).</summary>
    public static void ApplyAll(CreateContainerParameters created, CreateContainerParameters spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        HostSettings(created, spec);
        if (spec.HostConfig?.NetworkMode?.StartsWith("container:", StringComparison.Ordinal) == true) SharedNetworkNamespace(created, spec);
        else FixedIp(created, spec);
    }

    private static bool IsDefaultValue(object value) =>
        value.GetType().IsValueType && value.Equals(Activator.CreateInstance(value.GetType()));
}
