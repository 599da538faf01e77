using HaKubeLab.Failover;
using HaKubeLab.Lint;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Tests.Unit;

/// <summary>The fast profile: its defaults, its files, the loader's and validator's errors, and the model's predictions.</summary>
public class FastProfileTests
{
    private static readonly LabTopology Fast = LabTopology.Default.WithProfile(RenderProfile.Fast);

    [Fact]
    public void The_fast_profile_brings_its_own_keepalived_defaults()
    {
        var k = Fast.Keepalived;
        Assert.Equal(0.1, k.AdvertInterval);
        Assert.Equal(1, k.CheckInterval);
        Assert.Equal((2, 2), (k.Fall, k.Rise));
        Assert.False(k.Nopreempt);
        Assert.Equal(-2, k.Weight);
        Assert.Equal(KeepalivedSettings.ForProfile(RenderProfile.Fast), k);
        // Back to seed: the fast defaults give way to the runbook's again.
        Assert.Equal(LabTopology.Default.Keepalived, Fast.WithProfile(RenderProfile.Seed).Keepalived);
    }

    [Fact]
    public void A_value_the_topology_sets_survives_a_profile_change()
    {
        var t = (LabTopology.Default with { Keepalived = LabTopology.Default.Keepalived with { AdvertInterval = 2, Fall = 3 } }).WithProfile(RenderProfile.Fast);
        Assert.Equal(2, t.Keepalived.AdvertInterval);
        Assert.Equal(3, t.Keepalived.Fall);
        Assert.Equal(2, t.Keepalived.Rise); // not set: the fast default
    }

    [Fact]
    public void The_loader_applies_the_fast_defaults_and_accepts_sub_second_adverts()
    {
        var t = TopologyLoader.Parse("profile: fast\n");
        Assert.Equal(RenderProfile.Fast, t.Profile);
        Assert.Equal(KeepalivedSettings.ForProfile(RenderProfile.Fast), t.Keepalived);
        var tuned = TopologyLoader.Parse("profile: fast\nkeepalived: { advertInterval: 0.25, checkInterval: 2 }\n");
        Assert.Equal(0.25, tuned.Keepalived.AdvertInterval);
        Assert.Equal(2, tuned.Keepalived.CheckInterval);
        Assert.Equal(2, tuned.Keepalived.Fall);
    }

    [Fact]
    public void Sub_second_adverts_without_the_fast_profile_are_refused_naming_the_field_and_the_fix()
    {
        var e = Assert.Throws<TopologyException>(() => TopologyLoader.Parse("keepalived: { advertInterval: 0.1 }\n", "lab.yaml"));
        var error = Assert.Single(e.Errors);
        Assert.Equal("keepalived.advertInterval", error.Field);
        Assert.Equal(1, error.Line);
        Assert.Contains("VRRPv2", error.Problem);
        Assert.Contains("profile: fast", error.Fix);
    }

    [Theory]
    [InlineData("profile: fast\nkeepalived: { advertInterval: 0.005 }\n", "keepalived.advertInterval")]
    [InlineData("profile: fast\nkeepalived: { advertInterval: 0.123 }\n", "keepalived.advertInterval")]
    [InlineData("profile: fast\nkeepalived: { advertInterval: 41 }\n", "keepalived.advertInterval")]
    [InlineData("keepalived: { advertInterval: 1.5 }\n", "keepalived.advertInterval")]
    [InlineData("keepalived: { advertInterval: fast }\n", "keepalived.advertInterval")]
    [InlineData("profile: fast\nkeepalived: { authPass: secret }\n", "keepalived.authPass")]
    [InlineData("profile: quick\n", "profile")]
    public void Bad_fast_settings_name_their_field(string yaml, string field)
    {
        var e = Assert.Throws<TopologyException>(() => TopologyLoader.Parse(yaml));
        Assert.Contains(e.Errors, x => x.Field == field && x.Fix.Length > 0);
    }

    [Fact]
    public void Keepalived_conf_speaks_vrrpv3_with_sub_second_adverts_and_no_authentication()
    {
        var m01 = KeepalivedConfigRenderer.Render(Fast, Fast.Node("m01"), "unused1");
        Assert.Contains("    vrrp_version 3\n", m01);
        Assert.Contains("    advert_int 0.1\n", m01);
        Assert.Contains("    garp_master_delay 1\n", m01); // the winner's second ARPs after 1 s, not 5 s
        Assert.Contains("    vrrp_garp_interval 0.05\n", m01); // the loser's held ARPs are dropped, the winner's land last
        Assert.Contains("    vrrp_priority -20\n", m01);
        Assert.Contains("    check_unicast_src\n", m01);
        Assert.Contains("        192.168.100.192\n        192.168.100.193\n", m01);
        Assert.Contains("https://127.0.0.1:9443/healthz", m01);
        Assert.Contains("    interval 1\n", m01);
        Assert.Contains("    fall 2\n", m01);
        Assert.Contains("    weight -2\n", m01);
        Assert.Contains("0.361 s of silence", m01);
        Assert.DoesNotContain("auth_pass", m01);
        Assert.DoesNotContain("auth_type", m01);
        Assert.DoesNotContain("\n    nopreempt", m01);
        Assert.Equal(3, KeepalivedConfigRenderer.VrrpVersion(RenderProfile.Fast));
    }

    [Fact]
    public void Haproxy_cfg_checks_healthz_every_200_ms_and_cuts_sessions_to_a_dead_server()
    {
        var cfg = HaproxyConfigRenderer.Render(Fast);
        Assert.Contains("option httpchk GET /healthz", cfg);
        Assert.Contains("default-server inter 200ms fastinter 100ms fall 2 rise 2 on-marked-down shutdown-sessions observe layer4 error-limit 1 on-error sudden-death", cfg);
        Assert.Contains("timeout connect         250ms", cfg);
        Assert.Contains("option                  redispatch 1", cfg);
        Assert.Contains("server m01 192.168.100.191:6443 check check-ssl verify none", cfg);
    }

    [Fact]
    public void Kubeadm_config_goes_through_haproxy_and_shortens_etcds_election()
    {
        var yaml = KubeadmConfigRenderer.Render(Fast, Fast.Node("m01"), new KubernetesBuild());
        Assert.Contains("controlPlaneEndpoint: \"192.168.100.190:9443\"", yaml);
        Assert.Contains("      election-timeout: \"500\"", yaml);
        Assert.Contains("      heartbeat-interval: \"100\"", yaml);
        // The other profiles leave etcd at its defaults.
        Assert.DoesNotContain("election-timeout", KubeadmConfigRenderer.Render(LabTopology.Default, LabTopology.Default.Node("m01"), new KubernetesBuild()));
    }

    [Fact]
    public void The_fast_profiles_files_lint_without_errors()
    {
        var secrets = LabSecrets.Generate();
        var sources = Fast.Nodes.SelectMany(n => RunbookFiles.ForNode(Fast, n, secrets, new KubernetesBuild()).Select(f => new LintSource($"{n.Name}{f.NodePath}", f.Content))).ToList();
        var report = Linter.Lint(sources, new LintOptions(Fast, new KubernetesBuild().KubernetesVersion));
        Assert.DoesNotContain(report.Findings, f => f.Severity == LintSeverity.Error);
    }

    [Fact]
    public void Vrrpv3_master_down_interval_scales_the_skew_with_the_advert_interval()
    {
        // RFC 5798: skew = ((256 - priority) x advert) / 256; master-down = 3 x advert + skew.
        Assert.Equal(0.1 * 156 / 256, VrrpElection.SkewTime(Fast, 100).TotalSeconds, 6);
        Assert.Equal(0.3 + 0.1 * 156 / 256, VrrpElection.MasterDownInterval(Fast, 100).TotalSeconds, 6);
        // VRRPv2 (seed): (256 - priority)/256 s whatever the advert interval.
        Assert.Equal(3 + 145 / 256.0, VrrpElection.MasterDownInterval(LabTopology.Default, 111).TotalSeconds, 6);
    }

    [Fact]
    public void The_model_predicts_a_sub_half_second_takeover_for_a_node_kill_and_the_skew_alone_for_a_keepalived_stop()
    {
        var kill = FailoverModel.Predict(Fast, FaultKind.NodeKill);
        Assert.True(kill.VipMoves);
        Assert.Equal(0.2609, kill.Takeover!.Value.MinSeconds, 3);
        Assert.Equal(0.3609, kill.Takeover!.Value.MaxSeconds, 3);
        Assert.Contains("(256 - 100) x 0.1/256 s", kill.Basis);

        var stop = FailoverModel.Predict(Fast, FaultKind.KeepalivedStop);
        Assert.True(stop.VipMoves);
        Assert.Equal(0.061, stop.Takeover!.Value.MaxSeconds, 3);

        // A dead haproxy fails the track script (1-2 s with interval 1, fall 2), then the preempting backup takes over.
        var haproxy = FailoverModel.Predict(Fast, FaultKind.HaproxyKill);
        Assert.True(haproxy.VipMoves);
        Assert.Equal(1 + 0.2609, haproxy.Takeover!.Value.MinSeconds, 3);
        Assert.Equal(2 + 0.3609, haproxy.Takeover!.Value.MaxSeconds, 3);

        // One dead apiserver behind a healthy haproxy: the VIP stays, haproxy drops it within 2 checks of 200 ms.
        var api = FailoverModel.Predict(Fast, FaultKind.ApiServerKill);
        Assert.False(api.VipMoves);
        Assert.True(api.After.ApiThroughLoadBalancer);
        Assert.Equal(0.4, api.HaproxyMarksDown!.Value.MaxSeconds, 3);

        var s = FailoverModel.Settings(Fast);
        Assert.Equal(("fast", 3, "0.1"), (s.Profile, s.VrrpVersion, s.AdvertText));
    }

    [Fact]
    public void Without_apiservers_every_node_is_penalised_alike_and_the_vip_stays_where_it_started()
    {
        var now = FailoverModel.Now(Fast, new LabState { ApiServersRunning = false });
        Assert.Equal("m01", now.Holder);
        Assert.True(now.LoadBalancerAnswers);
        Assert.All(now.Priorities.Values, p => Assert.Equal(98, p));
        // A node kill still moves it: the two left tie at 98.
        var kill = FailoverModel.Predict(Fast, FaultKind.NodeKill, state: new LabState { ApiServersRunning = false });
        Assert.Equal(["m02", "m03"], kill.After.PossibleHolders.ToArray());
        Assert.Equal(0.3617, kill.Takeover!.Value.MaxSeconds, 3);
    }
}
