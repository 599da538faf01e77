using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Tests.Unit;

public class RenderingTests
{
    private static string Golden(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "seed", name));

    [Fact]
    public void Seed_haproxy_cfg_is_the_runbooks_text() =>
        Assert.Equal(Golden("haproxy.cfg"), HaproxyConfigRenderer.Render(LabTopology.Default));

    [Fact]
    public void Seed_keepalived_conf_of_the_first_master_is_the_runbooks_text() =>
        Assert.Equal(Golden("keepalived.conf"), KeepalivedConfigRenderer.Render(LabTopology.Default, LabTopology.Default.Nodes[0], "password"));

    [Fact]
    public void Other_masters_are_backups_as_the_runbook_says()
    {
        var conf = KeepalivedConfigRenderer.Render(LabTopology.Default, LabTopology.Default.Node("m02"), "x1y2z3w4");
        Assert.Contains("  state BACKUP # backup节点设为BACKUP\n", conf);
        Assert.Contains("  priority 100 #初始权重\n", conf);
        Assert.Contains("  nopreempt #可抢占\n", conf);
        Assert.Contains("auth_pass x1y2z3w4\n", conf);
        Assert.Equal(Golden("keepalived.conf").Replace("state MASTER", "state BACKUP").Replace("auth_pass password", "auth_pass x1y2z3w4"), conf);
    }

    [Fact]
    public void Topology_values_flow_into_the_files()
    {
        var t = LabTopology.Default.Relocate("x", System.Net.IPNetwork.Parse("10.9.8.0/24")) with
        {
            LoadBalancer = new LoadBalancerSettings { Port = 8443 },
            Keepalived = new KeepalivedSettings { VirtualRouterId = 7, AdvertInterval = 2, Weight = -20, Nopreempt = false, CheckInterval = 3 },
        };
        var haproxy = HaproxyConfigRenderer.Render(t);
        Assert.Contains("bind *:8443", haproxy);
        Assert.Contains(" server m03 10.9.8.193:6443 check\n", haproxy);
        var ka = KeepalivedConfigRenderer.Render(t, t.Nodes[0], "abc");
        Assert.Contains("grep 8443", ka);
        Assert.Contains("virtual_router_id 7 ", ka);
        Assert.Contains("  advert_int 2\n", ka);
        Assert.Contains("weight -20 ", ka);
        Assert.Contains("interval 3 ", ka);
        Assert.Contains("    10.9.8.190  # vip", ka);
        Assert.DoesNotContain("nopreempt", ka);
    }

    [Fact]
    public void Vrrp_password_is_generated_per_lab_not_fixed()
    {
        var a = LabSecrets.Generate();
        var b = LabSecrets.Generate();
        Assert.Equal(TopologyValidator.MaxAuthPassLength, a.VrrpAuthPass.Length);
        Assert.NotEqual(a.VrrpAuthPass, b.VrrpAuthPass);
        var files = RunbookFiles.ForNode(LabTopology.Default, LabTopology.Default.Nodes[0], a);
        Assert.Contains($"auth_pass {a.VrrpAuthPass}\n", files.Single(f => f.NodePath == RunbookFiles.KeepalivedConfigPath).Content);
        Assert.DoesNotContain("auth_pass password", files.Single(f => f.NodePath == RunbookFiles.KeepalivedConfigPath).Content);
    }

    [Fact]
    public void Golden_files_are_the_seed_runbooks_blocks()
    {
        // The golden copies must not drift from the runbook's blocks (TestData/runbook, checked against the runbook itself when it is beside the clone).
        var blocks = RunbookTestData.Blocks();
        Assert.Contains(Golden("haproxy.cfg"), blocks);
        Assert.Contains(Golden("keepalived.conf"), blocks);
    }
}
