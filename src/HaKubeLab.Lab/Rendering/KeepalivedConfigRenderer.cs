using HaKubeLab.Topology;

namespace HaKubeLab.Rendering;

/// <summary>Renders one node's /etc/keepalived/keepalived.conf.</summary>
public static class KeepalivedConfigRenderer
{
    public static string Render(LabTopology topology, NodeSpec node, string authPass)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentException.ThrowIfNullOrEmpty(authPass);
        var k = topology.Keepalived;
        return Template.Fill(
            Template.Load($"{HaproxyConfigRenderer.ProfileFolder(topology.Profile)}/keepalived.conf.tmpl"),
            new Dictionary<string, string>
            {
                ["lb_port"] = topology.LoadBalancer.Port.ToString(),
                ["check_interval"] = k.CheckInterval.ToString(),
                ["weight"] = k.Weight.ToString(),
                ["interface"] = k.Interface,
                ["state"] = node.State == VrrpState.Master ? "MASTER" : "BACKUP",
                ["virtual_router_id"] = k.VirtualRouterId.ToString(),
                ["priority"] = node.Priority.ToString(),
                ["advert_int"] = k.AdvertInterval.ToString(),
                ["vip"] = topology.Vip.ToString(),
                ["auth_pass"] = authPass,
            },
            new Dictionary<string, bool>
            {
                // The runbook leaves advert_int at keepalived's default of 1 s; write it only when it differs.
                ["custom_advert_int"] = k.AdvertInterval != 1,
                ["nopreempt"] = k.Nopreempt,
            });
    }
}
