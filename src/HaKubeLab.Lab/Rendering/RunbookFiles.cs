using System.Collections.Immutable;
using HaKubeLab.Topology;

namespace HaKubeLab.Rendering;

/// <summary>A file the runbook writes on a node: its path on that node and its text.</summary>
public sealed record RenderedFile(string NodePath, string Content, string Description);

/// <summary>Per-lab secrets that must not be fixed strings in the product.</summary>
/// <param name="VrrpAuthPass">VRRP PASS authentication, at most 8 characters.</param>
public sealed record LabSecrets(string VrrpAuthPass)
{
    private const string Alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

    /// <summary>Fresh random secrets for a new lab.</summary>
    public static LabSecrets Generate() =>
        new(System.Security.Cryptography.RandomNumberGenerator.GetString(Alphabet, TopologyValidator.MaxAuthPassLength));
}

/// <summary>All files the runbook writes, per node, for a topology and its profile. Pure.</summary>
public static class RunbookFiles
{
    public const string HaproxyConfigPath = "/etc/haproxy/haproxy.cfg";
    public const string KeepalivedConfigPath = "/etc/keepalived/keepalived.conf";

    public const string InitScriptPath = "/root/" + InitScriptRenderer.FileName;
    public const string KubeadmConfigPath = "/root/" + KubeadmConfigRenderer.FileName;

    /// <summary>The node that runs kubeadm init: the first node whose initial VRRP state is MASTER, else the first node.</summary>
    public static NodeSpec FirstMaster(LabTopology topology) =>
        topology.Nodes.FirstOrDefault(n => n.State == VrrpState.Master) ?? topology.Nodes[0];

    public static ImmutableArray<RenderedFile> ForNode(LabTopology topology, NodeSpec node, LabSecrets secrets, KubernetesBuild? build = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(secrets);
        var files = ImmutableArray.CreateBuilder<RenderedFile>();
        files.Add(new(HaproxyConfigPath, HaproxyConfigRenderer.Render(topology), "haproxy: TCP frontend, round-robin to every apiserver"));
        files.Add(new(KeepalivedConfigPath, KeepalivedConfigRenderer.Render(topology, node, topology.Keepalived.AuthPass ?? secrets.VrrpAuthPass), "keepalived: VRRP instance holding the VIP"));
        if (build is not null && node == FirstMaster(topology))
        {
            files.Add(new(InitScriptPath, InitScriptRenderer.Render(topology, node, build), "the runbook's init script for the first master (run with MASTER_VIP and POD_SUBNET set)"));
            files.Add(new(KubeadmConfigPath, KubeadmConfigRenderer.Render(topology, node, build), "kubeadm-config.yaml as the init script writes it"));
        }
        return files.ToImmutable();
    }
}
