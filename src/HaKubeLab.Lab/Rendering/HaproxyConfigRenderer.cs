using System.Globalization;
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

    /// <summary>The fast profile's backend check: GET /healthz over TLS every 200 ms, down after 2 failures, up after 2 successes.</summary>
    public static readonly TimeSpan FastCheckInter = TimeSpan.FromMilliseconds(200);

    /// <summary>The fast profile's <c>timeout connect</c>: a server that does not answer a SYN on the lab bridge within it is gone.</summary>
    public static readonly TimeSpan FastConnectTimeout = TimeSpan.FromMilliseconds(250);

    /// <summary>How haproxy checks each apiserver in <paramref name="profile"/>, and its connect timeout.</summary>
    public static HaproxyChecks Checks(RenderProfile profile) => profile switch
    {
        RenderProfile.Fast => new("GET /healthz over TLS", FastCheckInter, 2, 2, FastConnectTimeout),
        RenderProfile.Recommended => new("GET /healthz over TLS", RecommendedCheckInter, RecommendedCheckFall, RecommendedCheckRise, TimeSpan.FromSeconds(5)),
        // haproxy's defaults for a bare 'check': inter 2s, fall 3, rise 2; the runbook's timeout connect 10s.
        _ => new("TCP connect", RecommendedCheckInter, RecommendedCheckFall, RecommendedCheckRise, TimeSpan.FromSeconds(10)),
    };

    public static string Render(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        // The seed's bare "check" is a TCP connect; the recommended and fast ones ask /healthz over TLS (see the templates).
        var tls = topology.Profile != RenderProfile.Seed;
        var (indent, options) = tls ? ("    ", "check check-ssl verify none") : (" ", "check");
        var servers = new StringBuilder();
        foreach (var node in topology.Nodes)
            servers.Append($"{indent}server {node.Name} {node.Ip}:{topology.Kubernetes.ApiServerPort} {options}\n");

        var checks = Checks(topology.Profile);
        return Template.Fill(Template.Load($"{ProfileFolder(topology.Profile)}/haproxy.cfg.tmpl"), new Dictionary<string, string>
        {
            ["lb_port"] = topology.LoadBalancer.Port.ToString(CultureInfo.InvariantCulture),
            ["servers"] = servers.ToString().TrimEnd('\n'),
            ["check_inter"] = topology.Profile == RenderProfile.Fast ? $"{checks.Inter.TotalMilliseconds:0}ms" : $"{checks.Inter.TotalSeconds:0}", // the recommended template appends 's'
            ["check_fall"] = checks.Fall.ToString(CultureInfo.InvariantCulture),
            ["check_rise"] = checks.Rise.ToString(CultureInfo.InvariantCulture),
            ["connect_timeout"] = $"{checks.ConnectTimeout.TotalMilliseconds:0}ms",
        });
    }

    internal static string ProfileFolder(RenderProfile profile) => profile switch
    {
        RenderProfile.Seed => "seed",
        RenderProfile.Recommended => "recommended",
        RenderProfile.Fast => "fast",
        _ => throw new ArgumentOutOfRangeException(nameof(profile)),
    };
}

/// <summary>How haproxy checks each apiserver: the check, its interval (inter), failures to mark down (fall), successes to mark up (rise), and the connect timeout.</summary>
public sealed record HaproxyChecks(string Check, TimeSpan Inter, int Fall, int Rise, TimeSpan ConnectTimeout);
