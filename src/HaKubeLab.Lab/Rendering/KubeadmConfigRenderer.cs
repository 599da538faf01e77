using HaKubeLab.Topology;
using HaKubeLab.Runtime;

namespace HaKubeLab.Rendering;

/// <summary>What the lab's Kubernetes build provides, which the kubeadm configuration must name.</summary>
/// <param name="KubernetesVersion">The version built (<see cref="LabVersions.Kubernetes"/>), rendered instead of the runbook's v1.20.0.</param>
/// <param name="EtcdImageTag">The etcd image the lab has (<see cref="LabVersions.Etcd"/>, Debian's).</param>
public sealed record KubernetesBuild(string KubernetesVersion, string EtcdImageTag)
{
    /// <summary>What the lab's image build provides (scripts/images/versions.env).</summary>
    public KubernetesBuild() : this(LabVersions.Kubernetes, LabVersions.Etcd) { }
}

/// <summary>
/// Renders kubeadm-config.yaml. The runbook's ClusterConfiguration comes first, as the runbook writes
/// it (its defects are kept and reported by lint); the lab's additions follow, each with a comment
/// saying why. Pure.
/// </summary>
public static class KubeadmConfigRenderer
{
    public const string FileName = "kubeadm-config.yaml";

    /// <summary>The runbook's file alone, with the topology's values (what its init script's heredoc writes).</summary>
    public static string RenderRunbookPart(LabTopology topology, KubernetesBuild build)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(build);
        var k = topology.Kubernetes;
        return Template.Fill(Template.Load($"{HaproxyConfigRenderer.ProfileFolder(topology.Profile)}/kubeadm-config.yaml.tmpl"), new Dictionary<string, string>
        {
            ["kubernetes_version"] = build.KubernetesVersion,
            ["image_repository"] = k.ImageRepository,
            ["control_plane_endpoint"] = ControlPlaneEndpoint(topology),
            ["service_subnet"] = k.ServiceSubnet.ToString(),
            ["pod_subnet"] = k.PodSubnet.ToString(),
            ["dns_domain"] = k.DnsDomain,
            ["etcd_external"] = ExternalEtcd.KubeadmSection(topology),
        }, new Dictionary<string, bool> { ["external_etcd"] = topology.Etcd.Topology == EtcdTopology.External });
    }

    /// <summary>The file the lab runs kubeadm init with on <paramref name="node"/>: the runbook's part plus the lab's additions.</summary>
    public static string Render(LabTopology topology, NodeSpec node, KubernetesBuild build)
    {
        ArgumentNullException.ThrowIfNull(node);
        var sans = new[] { topology.Vip.ToString() }.Concat(topology.Nodes.Select(n => n.Ip.ToString())).Append("127.0.0.1");
        var additions = Template.Fill(Template.Load("lab-additions.yaml.tmpl"), new Dictionary<string, string>
        {
            ["etcd_tag"] = build.EtcdImageTag,
            ["cert_sans"] = string.Join(", ", sans.Select(s => $"\"{s}\"")),
            ["advertise_address"] = node.Ip.ToString(),
            ["apiserver_port"] = topology.Kubernetes.ApiServerPort.ToString(),
            ["node_name"] = node.Name,
            ["etcd_heartbeat_ms"] = Failover.EtcdElection.Fast.Heartbeat.TotalMilliseconds.ToString("0", System.Globalization.CultureInfo.InvariantCulture),
            ["etcd_election_ms"] = Failover.EtcdElection.Fast.ElectionTimeout.TotalMilliseconds.ToString("0", System.Globalization.CultureInfo.InvariantCulture),
        }, new Dictionary<string, bool>
        {
            ["stacked_etcd"] = topology.Etcd.Topology == EtcdTopology.Stacked,
            // The fast profile's etcd timers go to the stacked members kubeadm runs; external members keep etcd's defaults.
            ["fast_stacked_etcd"] = topology.Profile == RenderProfile.Fast && topology.Etcd.Topology == EtcdTopology.Stacked,
        });
        return RenderRunbookPart(topology, build) + additions;
    }

    /// <summary>The seed profile uses the runbook's VIP:6443 (bypassing haproxy); the recommended and fast profiles go through haproxy.</summary>
    public static string ControlPlaneEndpoint(LabTopology topology) => topology.Profile switch
    {
        RenderProfile.Recommended or RenderProfile.Fast => $"{topology.Vip}:{topology.LoadBalancer.Port}",
        _ => $"{topology.Vip}:{topology.Kubernetes.ApiServerPort}",
    };
}
