using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Tests.Unit;

/// <summary>Golden files of the recommended profile; the seed's stay byte-identical (RenderingTests).</summary>
public class LintRecommendedProfileTests
{
    private static readonly LabTopology Recommended = LabTopology.Default with { Profile = RenderProfile.Recommended };

    private static string Golden(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "recommended", name));

    [Fact]
    public void Recommended_haproxy_cfg() => Assert.Equal(Golden("haproxy.cfg"), HaproxyConfigRenderer.Render(Recommended));

    [Fact]
    public void Recommended_keepalived_conf_of_a_backup() =>
        Assert.Equal(Golden("keepalived.conf"), KeepalivedConfigRenderer.Render(Recommended, Recommended.Node("m02"), "x1y2z3w4"));

    [Fact]
    public void Recommended_keepalived_conf_names_each_nodes_peers_and_its_state()
    {
        var m01 = KeepalivedConfigRenderer.Render(Recommended, Recommended.Node("m01"), "x1y2z3w4");
        Assert.Contains("    state MASTER\n", m01);
        Assert.Contains("    unicast_src_ip 192.168.100.191\n", m01);
        Assert.Contains("        192.168.100.192\n        192.168.100.193\n", m01);
        Assert.DoesNotContain("nopreempt", m01.Replace("(no nopreempt", "", StringComparison.Ordinal));
    }

    [Fact]
    public void Recommended_kubeadm_template_goes_through_haproxy_and_drops_the_misplaced_cgroup_driver()
    {
        var yaml = LintRunbookTests.RecommendedKubeadmConfig(Recommended, new KubernetesBuild());
        Assert.Contains("controlPlaneEndpoint: \"192.168.100.190:9443\"", yaml);
        Assert.DoesNotContain("cgroupDriver: systemd", yaml);
    }
}
