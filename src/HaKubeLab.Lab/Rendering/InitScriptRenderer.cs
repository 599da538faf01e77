using HaKubeLab.Topology;

namespace HaKubeLab.Rendering;

/// <summary>
/// The runbook's init script for the first master, as written, with the lab's kubeadm
/// configuration in its heredoc (MASTER_VIP and POD_SUBNET still come from the environment, as in
/// the runbook) and the lab's deviations marked "HaKubeLab:". Pure.
/// </summary>
public static class InitScriptRenderer
{
    public const string FileName = "init-master.sh";

    /// <summary>The calico manifest the runbook meant; its URL points at a GitHub web page, not the manifest.</summary>
    public const string CalicoManifest = "https://docs.projectcalico.org/archive/v3.18/manifests/calico.yaml";

    public static string Render(LabTopology topology, NodeSpec node, KubernetesBuild build)
    {
        // The heredoc is unquoted: ${MASTER_VIP} and ${POD_SUBNET} expand from the environment, as the runbook intends.
        var config = KubeadmConfigRenderer.Render(topology, node, build)
            .Replace($"controlPlaneEndpoint: \"{topology.Vip}:", "controlPlaneEndpoint: \"${MASTER_VIP}:", StringComparison.Ordinal)
            .Replace($"podSubnet: \"{topology.Kubernetes.PodSubnet}\"", "podSubnet: \"${POD_SUBNET}\"", StringComparison.Ordinal);
        return Template.Fill(Template.Load($"{HaproxyConfigRenderer.ProfileFolder(topology.Profile)}/init-master.sh.tmpl"), new Dictionary<string, string>
        {
            ["kubeadm_config"] = config,
            ["init_flags"] = KubeadmFlags.Init,
            ["init_flags_reason"] = "CoreDNS is not in Debian (addon skipped); ImagePull preflight ignored for the images kubeadm defaults to but the lab names otherwise (pause, CoreDNS).",
            ["calico_manifest"] = CalicoManifest,
        });
    }
}
