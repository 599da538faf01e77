using System.Text;
using HaKubeLab.Topology;

namespace HaKubeLab.Rendering;

/// <summary>Renders /etc/haproxy/haproxy.cfg, the same on every node.</summary>
public static class HaproxyConfigRenderer
{
    public static string Render(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var servers = new StringBuilder();
        foreach (var node in topology.Nodes)
            servers.Append($" server {node.Name} {node.Ip}:{topology.Kubernetes.ApiServerPort} check\n");

        return Template.Fill(Template.Load($"{ProfileFolder(topology.Profile)}/haproxy.cfg.tmpl"), new Dictionary<string, string>
        {
            ["lb_port"] = topology.LoadBalancer.Port.ToString(),
            ["servers"] = servers.ToString().TrimEnd('\n'),
        });
    }

    internal static string ProfileFolder(RenderProfile profile) => profile switch
    {
        RenderProfile.Seed => "seed",
        // The recommended profile's templates arrive with the lint issue; until then it renders as the seed.
        RenderProfile.Recommended => "seed",
        _ => throw new ArgumentOutOfRangeException(nameof(profile)),
    };
}
