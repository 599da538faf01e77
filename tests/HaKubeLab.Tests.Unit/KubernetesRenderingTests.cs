using HaKubeLab.Runtime;
using System.Text.Json;
using System.Text.RegularExpressions;
using HaKubeLab.Bootstrap;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;
using YamlDotNet.RepresentationModel;

namespace HaKubeLab.Tests.Unit;

public class KubernetesRenderingTests
{
    private static readonly LabTopology Seed = LabTopology.Default;

    /// <summary>The heredoc of the runbook's init script (its kubeadm-config.yaml), from the seed itself.</summary>
    private static string SeedHeredoc()
    {
        var seed = File.ReadAllText(RenderingTests.FindSeed());
        return Regex.Match(seed, @"cat <<EOF > \./kubeadm-config\.yaml\n(.*?)EOF\n", RegexOptions.Singleline).Groups[1].Value;
    }

    [Fact]
    public void The_runbook_part_is_the_init_scripts_heredoc_with_its_variables_filled()
    {
        var expected = SeedHeredoc().Replace("${MASTER_VIP}", "192.168.100.190").Replace("${POD_SUBNET}", "172.18.0.0/16");
        Assert.Equal(expected, KubeadmConfigRenderer.RenderRunbookPart(Seed, new KubernetesBuild("v1.20.0", LabVersions.Etcd)));
    }

    [Fact]
    public void The_lab_renders_the_version_it_built_and_keeps_the_runbooks_defects()
    {
        var text = KubeadmConfigRenderer.Render(Seed, Seed.Nodes[0], new KubernetesBuild());
        Assert.Contains("kubernetesVersion: v1.20.2\n", text);
        Assert.Contains("cgroupDriver: systemd\n", text);                  // the runbook's line, kept (lint reports it)
        Assert.Contains("controlPlaneEndpoint: \"192.168.100.190:6443\"", text); // bypasses haproxy, as the runbook does
        var kinds = new YamlStream();
        kinds.Load(new StringReader(text));
        Assert.Equal(["ClusterConfiguration", "InitConfiguration", "KubeletConfiguration", "KubeProxyConfiguration"],
            kinds.Documents.Select(d => ((YamlScalarNode)((YamlMappingNode)d.RootNode).Children[new YamlScalarNode("kind")]).Value));
        var cluster = (YamlMappingNode)kinds.Documents[0].RootNode;
        Assert.Equal("3.4.23", ((YamlScalarNode)((YamlMappingNode)((YamlMappingNode)cluster["etcd"])["local"])["imageTag"]).Value);
        var kubelet = (YamlMappingNode)kinds.Documents[2].RootNode;
        Assert.Equal("cgroupfs", ((YamlScalarNode)kubelet["cgroupDriver"]).Value);
        Assert.Contains("advertiseAddress: 192.168.100.191\n", text);
    }

    [Fact]
    public void The_recommended_profile_sends_the_control_plane_endpoint_through_haproxy() =>
        Assert.Equal("192.168.100.190:9443", KubeadmConfigRenderer.ControlPlaneEndpoint(Seed with { Profile = RenderProfile.Recommended }));

    [Fact]
    public void The_init_script_is_the_runbooks_with_its_environment_check_and_the_lab_flags()
    {
        var script = InitScriptRenderer.Render(Seed, Seed.Nodes[0], new KubernetesBuild());
        var seed = File.ReadAllText(RenderingTests.FindSeed());
        var check = Regex.Match(seed, @"if \[ \$\{#POD_SUBNET\}.*?\nfi\n", RegexOptions.Singleline).Value;
        Assert.Contains(check, script);
        Assert.Contains("controlPlaneEndpoint: \"${MASTER_VIP}:6443\"", script);
        Assert.Contains("podSubnet: \"${POD_SUBNET}\"", script);
        Assert.Contains($"kubeadm init --config=kubeadm-config.yaml --upload-certs {KubeadmFlags.Init}\n", script);
        Assert.Contains("cp -i /etc/kubernetes/admin.conf /root/.kube/config", script);
        Assert.DoesNotContain("wget https://github.com", script);
        Assert.Equal(RunbookFiles.FirstMaster(Seed), Seed.Nodes[0]);
    }

    [Fact]
    public void The_cni_config_gives_the_node_its_pod_cidr()
    {
        using var doc = JsonDocument.Parse(CniConfigRenderer.Render(System.Net.IPNetwork.Parse("172.18.2.0/24")));
        var bridge = doc.RootElement.GetProperty("plugins")[0];
        Assert.Equal("bridge", bridge.GetProperty("type").GetString());
        Assert.Equal("172.18.2.0/24", bridge.GetProperty("ipam").GetProperty("ranges")[0][0].GetProperty("subnet").GetString());
    }

    [Fact]
    public void A_generated_ssh_identity_loads_in_ssh_net_and_its_public_key_is_well_formed()
    {
        var id = SshIdentity.Generate("hakubelab-test");
        var parts = id.AuthorizedKey.Split(' ');
        Assert.Equal("ssh-rsa", parts[0]);
        Assert.Equal("hakubelab-test", parts[2]);
        var blob = Convert.FromBase64String(parts[1]);
        Assert.Equal(7, blob[3]);
        Assert.Equal("ssh-rsa", System.Text.Encoding.ASCII.GetString(blob, 4, 7));
        var key = new Renci.SshNet.PrivateKeyFile(new MemoryStream(System.Text.Encoding.ASCII.GetBytes(id.PrivateKeyPem)));
        Assert.Contains("rsa", key.Key.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.NotEqual(id.AuthorizedKey, SshIdentity.Generate("hakubelab-test").AuthorizedKey);
    }
}
