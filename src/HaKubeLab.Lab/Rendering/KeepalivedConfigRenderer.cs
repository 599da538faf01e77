using System.Globalization;
using HaKubeLab.Topology;

namespace HaKubeLab.Rendering;

/// <summary>Renders one node's /etc/keepalived/keepalived.conf.</summary>
public static class KeepalivedConfigRenderer
{
    /// <summary>The VRRP version the profile speaks: 3 for the fast profile (sub-second adverts), else keepalived's default 2.</summary>
    public static int VrrpVersion(RenderProfile profile) => VrrpElection.Version(profile);

    public static string Render(LabTopology topology, NodeSpec node, string authPass)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentException.ThrowIfNullOrEmpty(authPass);
        var k = Settings(topology);
        var peers = topology.Nodes.Where(n => n != node).Select(n => $"        {n.Ip}");
        return Template.Fill(
            Template.Load($"{HaproxyConfigRenderer.ProfileFolder(topology.Profile)}/keepalived.conf.tmpl"),
            new Dictionary<string, string>
            {
                ["lb_port"] = topology.LoadBalancer.Port.ToString(),
                ["check_interval"] = k.CheckInterval.ToString(),
                ["weight"] = k.Weight.ToString(),
                ["fall"] = k.Fall.ToString(),
                ["rise"] = k.Rise.ToString(),
                ["interface"] = k.Interface,
                ["state"] = node.State == VrrpState.Master ? "MASTER" : "BACKUP",
                ["virtual_router_id"] = k.VirtualRouterId.ToString(),
                ["priority"] = node.Priority.ToString(),
                ["advert_int"] = k.AdvertInterval.ToString("0.##", CultureInfo.InvariantCulture),
                ["master_down"] = VrrpElection.MasterDownInterval(topology with { Keepalived = k }, node.Priority).TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture),
                ["vip"] = topology.Vip.ToString(),
                ["auth_pass"] = authPass,
                ["node_ip"] = node.Ip.ToString(),
                ["unicast_peers"] = string.Join("\n", peers),
            },
            new Dictionary<string, bool>
            {
                // The runbook leaves advert_int at keepalived's default of 1 s; write it only when it differs.
                ["custom_advert_int"] = k.AdvertInterval != 1,
                ["nopreempt"] = k.Nopreempt,
            });
    }

    /// <summary>
    /// The VRRP settings the profile's keepalived.conf carries. The seed writes the topology's as they are.
    /// The recommended and fast profiles keeps interval, advert and priorities but never lets the track script be
    /// defeated: no <c>nopreempt</c>, a negative weight larger than the priority spread (so a failing node
    /// falls below every healthy one), and fall/rise of at least 2 (one slow check does not move the VIP).
    /// </summary>
    /// <example><c>var k = KeepalivedConfigRenderer.Settings(LabTopology.Default with { Profile = RenderProfile.Recommended }); // Weight -2</c></example>
    public static KeepalivedSettings Settings(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var k = topology.Keepalived;
        if (topology.Profile == RenderProfile.Seed) return k;
        var spread = topology.Nodes.Length == 0 ? 0 : topology.Nodes.Max(n => n.Priority) - topology.Nodes.Min(n => n.Priority);
        // kubeadm's guide: priorities 101/100 with weight -2. A topology's own weight is kept when it already wins.
        var weight = k.Weight < 0 && -k.Weight > spread ? k.Weight : -Math.Max(2, spread + 1);
        return k with { Nopreempt = false, Weight = weight, Fall = Math.Max(2, k.Fall), Rise = Math.Max(2, k.Rise) };
    }
}
