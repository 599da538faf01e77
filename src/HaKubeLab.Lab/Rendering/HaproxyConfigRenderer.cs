using System.Text;
using HaKubeLab.Topology;

namespace HaKubeLab.Rendering;

/// <summary>Renders /etc/haproxy/haproxy.cfg, the same on every node.</summary>
public static class HaproxyConfigRenderer
{
    /// <summary>
    /// The recommended profile's backend health check (kubeadm's HA guide): GET /healthz over TLS every
    /// <see cref="RecommendedCheckInter"/>, down after <see cref="RecommendedCheckFall"/> failures, up after
    /// <see cref="RecommendedCheckRise"/> successes. The seed's bare <c>check</c> uses haproxy's defaults, which are the same numbers.
    /// </summary>
    public static readonly TimeSpan RecommendedCheckInter = TimeSpan.FromSeconds(2);

    /// <inheritdoc cref="RecommendedCheckInter"/>
    public const int RecommendedCheckFall = 3;

    /// <inheritdoc cref="RecommendedCheckInter"/>
    public const int RecommendedCheckRise = 2;

    public static string Render(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        // The seed's bare "check" is a TCP connect; the recommended one asks /healthz over TLS (see the template).
        var recommended = topology.Profile == RenderProfile.Recommended;
        var (indent, options) = recommended ? ("    ", "check check-ssl verify none") : (" ", "check");
        var servers = new StringBuilder();
        foreach (var node in topology.Nodes)
            servers.Append($"{indent}server {node.Name} {node.Ip}:{topology.Kubernetes.ApiServerPort} {options}\n");

        return Template.Fill(Template.Load($"{ProfileFolder(topology.Profile)}/haproxy.cfg.tmpl"), new Dictionary<string, string>
        {
            ["lb_port"] = topology.LoadBalancer.Port.ToString(),
            ["servers"] = servers.ToString().TrimEnd('\n'),
            ["check_inter"] = ((int)RecommendedCheckInter.TotalSeconds).ToString(),
            ["check_fall"] = RecommendedCheckFall.ToString(),
            ["check_rise"] = RecommendedCheckRise.ToString(),
        });
    }

    internal static string ProfileFolder(RenderProfile profile) => profile switch
    {
        RenderProfile.Seed => "seed",
        RenderProfile.Recommended => "recommended",
        _ => throw new ArgumentOutOfRangeException(nameof(profile)),
    };
}
