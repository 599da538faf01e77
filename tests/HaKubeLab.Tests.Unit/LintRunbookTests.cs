using HaKubeLab.Lint;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Tests.Unit;

/// <summary>Lint on the runbook's own files, on the recommended profile's output, and on bad input.</summary>
public class LintRunbookTests
{
    private const string Installed = "v1.20.2"; // the version the lab builds and installs

    /// <summary>What the runbook's files yield: every defect, by rule id.</summary>
    private static readonly string[] RunbookFileIds =
    [
        "HA001", "HA002", "HA003", "HA004", "HA005", "HA006",
        "KA001", "KA002", "KA004", "KA005", "KA006", "KA007", "KA008", "KA009",
        "KD001", "KD002", "KD003", "KD005", "KD007",
        "SH001", "SH002", "SH003", "SH004",
    ];

    /// <summary>The runbook's code blocks, in order: haproxy.cfg, docker run haproxy, keepalived.conf, docker run keepalived, settings, init script.</summary>
    private static List<string> Blocks() => RunbookTestData.Blocks();

    private static string WriteRunbookFiles()
    {
        var blocks = Blocks();
        Assert.Equal(6, blocks.Count);
        var dir = Directory.CreateTempSubdirectory("hkl-lint-").FullName;
        string[] names = ["haproxy.cfg", "run-haproxy.sh", "keepalived.conf", "run-keepalived.sh", "settings.sh", "init-master.sh"];
        for (var i = 0; i < names.Length; i++) File.WriteAllText(Path.Combine(dir, names[i]), blocks[i]);
        return dir;
    }

    [Fact]
    public void The_runbooks_files_give_every_defect()
    {
        var dir = WriteRunbookFiles();
        try
        {
            string[] order = ["haproxy.cfg", "keepalived.conf", "run-haproxy.sh", "run-keepalived.sh", "settings.sh", "init-master.sh"];
            var report = Linter.LintFiles(order.Select(n => Path.Combine(dir, n)), new LintOptions(InstalledKubernetesVersion: Installed));
            Assert.Equal(RunbookFileIds, report.Ids);
            Assert.Equal(1, report.ExitCode);

            string At(string id) { var f = report.Findings.First(f => f.Id == id); return $"{Path.GetFileName(f.File)}:{f.Line}"; }
            Assert.Equal("init-master.sh:21", At("KD001"));   // controlPlaneEndpoint: "${MASTER_VIP}:6443"
            Assert.Equal("init-master.sh:19", At("KD002"));   // cgroupDriver: systemd
            Assert.Equal("settings.sh:5", At("KD003"));       // export POD_SUBNET=172.18.0.1/16
            Assert.Equal("keepalived.conf:17", At("KA001"));  // nopreempt #可抢占
            Assert.Equal("keepalived.conf:9", At("KA002"));   // weight 11
            Assert.Equal("init-master.sh:40", At("SH001"));   // wget .../blob/...
            Assert.Equal("haproxy.cfg:45", At("HA002"));      // mode http
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void The_runbook_itself_gives_the_same_findings_plus_its_prose_with_the_runbooks_lines()
    {
        var seed = RunbookTestData.ExcerptPath;
        var report = Linter.LintFiles([seed], new LintOptions(InstalledKubernetesVersion: Installed));
        Assert.Equal([.. RunbookFileIds.Append("RB001").Append("RB002").Order(StringComparer.Ordinal)], report.Ids);
        Assert.All(report.Findings, f => Assert.Equal(seed, f.File));
        var lines = File.ReadAllLines(seed);
        string LineOf(string id) => lines[report.Findings.First(f => f.Id == id).Line - 1].Trim();
        Assert.Equal("controlPlaneEndpoint: \"${MASTER_VIP}:6443\"", LineOf("KD001"));
        Assert.Equal("cgroupDriver: systemd", LineOf("KD002"));
        Assert.Equal("export POD_SUBNET=172.18.0.1/16", LineOf("KD003"));
        Assert.Equal("nopreempt #可抢占", LineOf("KA001"));
        Assert.StartsWith("wget https://github.com/", LineOf("SH001"));
        Assert.Equal("* **监听端口:** 6443/TCP", LineOf("RB001"));
        Assert.Contains("按源地址保持会话", LineOf("RB002"));
        Assert.Equal("pidfile     /var/run/haproxy.pid", LineOf("HA006"));
        Assert.Equal(LintSeverity.Error, report.Findings.First(f => f.Id == "HA006").Severity); // the unpinned image runs haproxy as non-root
        Assert.Equal(LintSeverity.Error, report.Findings.First(f => f.Id == "KA002").Severity);
    }

    [Fact]
    public void The_seed_profile_renders_the_same_defects_as_the_runbook()
    {
        var report = Linter.LintTopology(LabTopology.Default, new LintOptions(InstalledKubernetesVersion: Installed));
        // The lab's rendering keeps the runbook's defects (KD005 and SH001 are where the lab renders v1.20.2 and leaves calico out).
        foreach (var id in new[] { "HA001", "HA002", "HA003", "HA004", "HA005", "HA006", "KA001", "KA002", "KA005", "KA006", "KA007", "KA008", "KD001", "KD002", "SH002", "SH003" })
            Assert.Contains(id, report.Ids);
        Assert.True(report.HasErrors);
    }

    [Fact]
    public void The_recommended_profiles_files_lint_without_errors()
    {
        var t = LabTopology.Default with { Profile = RenderProfile.Recommended };
        var secrets = LabSecrets.Generate();
        var build = new KubernetesBuild();
        var sources = new List<LintSource>();
        foreach (var node in t.Nodes)
            foreach (var f in RunbookFiles.ForNode(t, node, secrets))
                sources.Add(new LintSource($"{node.Name}{f.NodePath}", f.Content));
        // kubeadm-config.yaml from the recommended template plus the lab's additions (see RecommendedKubeadmConfig).
        sources.Add(new LintSource("m01/root/kubeadm-config.yaml", RecommendedKubeadmConfig(t, build)));
        sources.Add(new LintSource("m01/root/init-master.sh", RecommendedInitScript(t, build)));

        var report = Linter.Lint(sources, new LintOptions(t, build.KubernetesVersion));
        Assert.DoesNotContain(report.Findings, f => f.Severity == LintSeverity.Error);
        // Only the lab's own notify script (its VIP-holder timeline) is mentioned, as info.
        Assert.All(report.Findings, f => Assert.Equal("KA009", f.Id));
    }

    /// <summary>
    /// The recommended profile's kubeadm-config.yaml: Templates/recommended/kubeadm-config.yaml.tmpl (the runbook's
    /// ClusterConfiguration without the misplaced cgroupDriver) filled as KubeadmConfigRenderer fills the seed's.
    /// </summary>
    internal static string RecommendedKubeadmConfig(LabTopology t, KubernetesBuild build)
    {
        var k = t.Kubernetes;
        var part = Template.Fill(Template.Load("recommended/kubeadm-config.yaml.tmpl"), new Dictionary<string, string>
        {
            ["kubernetes_version"] = build.KubernetesVersion,
            ["image_repository"] = k.ImageRepository,
            ["control_plane_endpoint"] = KubeadmConfigRenderer.ControlPlaneEndpoint(t),
            ["service_subnet"] = k.ServiceSubnet.ToString(),
            ["pod_subnet"] = k.PodSubnet.ToString(),
            ["dns_domain"] = k.DnsDomain,
            ["etcd_external"] = ExternalEtcd.KubeadmSection(t),
        }, new Dictionary<string, bool> { ["external_etcd"] = t.Etcd.Topology == EtcdTopology.External });
        var full = KubeadmConfigRenderer.Render(t, RunbookFiles.FirstMaster(t), build);
        return part + full[KubeadmConfigRenderer.RenderRunbookPart(t, build).Length..];
    }

    /// <summary>The recommended profile's init script: Templates/recommended/init-master.sh.tmpl filled as InitScriptRenderer fills the seed's.</summary>
    internal static string RecommendedInitScript(LabTopology t, KubernetesBuild build)
    {
        var config = RecommendedKubeadmConfig(t, build)
            .Replace($"controlPlaneEndpoint: \"{t.Vip}:", "controlPlaneEndpoint: \"${MASTER_VIP}:", StringComparison.Ordinal)
            .Replace($"podSubnet: \"{t.Kubernetes.PodSubnet}\"", "podSubnet: \"${POD_SUBNET}\"", StringComparison.Ordinal);
        return Template.Fill(Template.Load("recommended/init-master.sh.tmpl"), new Dictionary<string, string>
        {
            ["kubeadm_config"] = config,
            ["init_flags"] = KubeadmFlags.Init,
            ["init_flags_reason"] = "flags the lab needs",
            ["calico_manifest"] = InitScriptRenderer.CalicoManifest,
        });
    }

    [Fact]
    public void Unreadable_input_is_a_finding_with_a_line_not_a_crash()
    {
        var dir = Directory.CreateTempSubdirectory("hkl-lint-").FullName;
        try
        {
            var binary = Path.Combine(dir, "haproxy.cfg");
            File.WriteAllBytes(binary, [0x7f, 0x45, 0x4c, 0x46, 0, 0, 1]);
            var missing = Path.Combine(dir, "keepalived.conf");
            var report = Linter.LintFiles([binary, missing]);
            Assert.Equal(2, report.Findings.Count(f => f.Id == "LINT001" && f.Line == 1));
            Assert.Equal(1, report.ExitCode);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Half_written_files_give_findings_with_their_lines_never_a_crash()
    {
        // Every prefix of the runbook and of each of its blocks, cut at each line and inside lines.
        var texts = Blocks().Prepend(RunbookTestData.Text()).ToList();
        foreach (var text in texts)
            for (var cut = 0; cut <= text.Length; cut += cut < 200 ? 1 : 13)
            {
                var partial = text[..cut];
                foreach (var name in new[] { "haproxy.cfg", "keepalived.conf", "kubeadm-config.yaml", "init.sh", "runbook.md" })
                {
                    var report = Linter.Lint([new LintSource(name, partial)], new LintOptions(InstalledKubernetesVersion: Installed));
                    Assert.DoesNotContain(report.Findings, f => f.Id == "LINT004");
                    Assert.All(report.Findings, f => Assert.True(f.Line >= 1));
                }
            }
    }

    [Fact]
    public void A_cut_off_keepalived_conf_names_the_block_left_open()
    {
        var keepalived = Blocks()[2];
        var cut = keepalived[..keepalived.IndexOf("  virtual_ipaddress", StringComparison.Ordinal)];
        var report = Linter.Lint([new LintSource("keepalived.conf", cut)]);
        var f = Assert.Single(report.Findings, f => f.Id == "LINT002");
        Assert.Equal(cut.Split('\n').ToList().FindIndex(l => l.StartsWith("vrrp_instance", StringComparison.Ordinal)) + 1, f.Line);
        Assert.Contains("never closed", f.Problem);
    }

    [Fact]
    public void A_rule_group_that_throws_is_reported_and_the_others_still_run()
    {
        var ctx = new LintContext { Options = new LintOptions() };
        Linter.RunGroup(ctx, "test", _ => throw new InvalidOperationException("boom"));
        var f = Assert.Single(ctx.Findings);
        Assert.Equal("LINT004", f.Id);
        Assert.Contains("boom", f.Problem);
    }

    [Fact]
    public void A_folder_of_rendered_files_is_linted_as_a_lab()
    {
        var dir = Directory.CreateTempSubdirectory("hkl-lint-").FullName;
        try
        {
            var secrets = LabSecrets.Generate();
            foreach (var node in LabTopology.Default.Nodes)
                foreach (var f in RunbookFiles.ForNode(LabTopology.Default, node, secrets))
                {
                    var path = Path.Combine(dir, node.Name, f.NodePath.TrimStart('/'));
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    File.WriteAllText(path, f.Content);
                }
            var report = Linter.LintFiles([dir]);
            Assert.Contains("KA002", report.Ids);
            Assert.DoesNotContain("KA011", report.Ids); // the three nodes' files agree
            Assert.Equal(3, report.Findings.Count(f => f.Id == "KA005"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
