using HaKubeLab.Topology;
using Microsoft.Extensions.Configuration;

namespace HaKubeLab.AppHost;

/// <summary>
/// What the AppHost brings up, from its arguments or environment (the same keys either way, e.g.
/// <c>HAKUBELAB_TOPOLOGY=lab.yaml</c> or <c>--HAKUBELAB_TOPOLOGY=lab.yaml</c>).
/// </summary>
/// <param name="Topology">The topology (HAKUBELAB_TOPOLOGY file, default: the runbook's three masters), renamed to HAKUBELAB_LAB
/// and moved to HAKUBELAB_SUBNET (node IPs and VIP keep their host parts) when given.</param>
/// <param name="Kubernetes">HAKUBELAB_KUBERNETES (default true): run the kubeadm bootstrap after the load-balancer tier.</param>
/// <param name="Keep">HAKUBELAB_KEEP (default false): leave the lab running when the AppHost stops.</param>
public sealed record LabSettings(LabTopology Topology, bool Kubernetes, bool Keep)
{
    public const string TopologyKey = "HAKUBELAB_TOPOLOGY";
    public const string LabKey = "HAKUBELAB_LAB";
    public const string SubnetKey = "HAKUBELAB_SUBNET";
    public const string KubernetesKey = "HAKUBELAB_KUBERNETES";
    public const string KeepKey = "HAKUBELAB_KEEP";

    /// <summary>Reads the settings; bad values raise <see cref="ArgumentException"/> naming the key and the fix.</summary>
    public static LabSettings From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var topology = configuration[TopologyKey] is { Length: > 0 } file
            ? TopologyLoader.LoadFile(File.Exists(file) ? file : throw new ArgumentException($"{TopologyKey}: no file '{Path.GetFullPath(file)}'. Fix: give the path of a topology YAML file, or unset it for the runbook's default."))
            : LabTopology.Default;
        var name = configuration[LabKey] is { Length: > 0 } lab ? lab : topology.Name;
        if (configuration[SubnetKey] is { Length: > 0 } subnetText)
        {
            if (!System.Net.IPNetwork.TryParse(subnetText, out var subnet))
                throw new ArgumentException($"{SubnetKey}: '{subnetText}' is not a subnet. Fix: an IPv4 /24 such as 192.168.165.0/24.");
            topology = topology.Relocate(name, subnet);
        }
        else if (name != topology.Name) topology = TopologyValidator.EnsureValid(topology with { Name = name });
        return new LabSettings(topology, Bool(configuration, KubernetesKey, true), Bool(configuration, KeepKey, false));
    }

    private static bool Bool(IConfiguration configuration, string key, bool fallback) => configuration[key] switch
    {
        null or "" => fallback,
        var v when bool.TryParse(v, out var b) => b,
        "1" or "yes" or "on" => true,
        "0" or "no" or "off" => false,
        var v => throw new ArgumentException($"{key}: '{v}' is not a boolean. Fix: {key}=true or {key}=false."),
    };
}
