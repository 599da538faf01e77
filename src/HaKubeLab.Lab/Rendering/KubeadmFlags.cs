namespace HaKubeLab.Rendering;

/// <summary>The kubeadm flags the lab needs beyond the runbook's, each with its reason.</summary>
public static class KubeadmFlags
{
    /// <summary>
    /// CoreDNS is not in Debian and nothing can be pulled: the addon is skipped, so kubeadm does not
    /// wait for it. ImagePull is the only preflight error ignored: preflight looks for every image
    /// kubeadm would use, CoreDNS and the pause:3.2 it defaults to among them; the lab's pause is the
    /// 3.4 built from Kubernetes' own pause.c, named in containerd's sandbox_image.
    /// </summary>
    public const string Init =
        "--skip-phases=addon/coredns --ignore-preflight-errors=ImagePull";

    /// <summary>The same preflight reason applies to a joining control plane.</summary>
    public const string Join = "--ignore-preflight-errors=ImagePull";
}
