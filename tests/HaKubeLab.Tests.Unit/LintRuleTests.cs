using HaKubeLab.Lint;
using HaKubeLab.Topology;

namespace HaKubeLab.Tests.Unit;

/// <summary>Each lint rule on a minimal bad input and on a good one.</summary>
public class LintRuleTests
{
    // A small, clean set of files: the masters 10.0.0.11-12, VIP 10.0.0.10, haproxy on 9443.
    private const string Haproxy = """
        global
            log stdout format raw local0
        defaults
            mode tcp
            option tcplog
            timeout connect 5s
            timeout client 1h
            timeout server 1h
        frontend api
            bind *:9443
            default_backend api
        backend api
            option httpchk GET /healthz
            http-check expect status 200
            server m01 10.0.0.11:6443 check check-ssl verify none
            server m02 10.0.0.12:6443 check check-ssl verify none
        """;

    private const string Keepalived = """
        vrrp_script chk {
            script "/usr/bin/curl -sfk --max-time 2 -o /dev/null https://127.0.0.1:9443/healthz"
            interval 2
            fall 2
            rise 2
            weight -2
        }
        vrrp_instance VI_1 {
            state MASTER
            interface eth0
            virtual_router_id 51
            priority 101
            unicast_src_ip 10.0.0.11
            unicast_peer {
                10.0.0.12
            }
            virtual_ipaddress {
                10.0.0.10
            }
            authentication {
                auth_type PASS
                auth_pass Xk3pQ9zT
            }
            track_script {
                chk
            }
        }
        """;

    private const string Kubeadm = """
        apiVersion: kubeadm.k8s.io/v1beta2
        kind: ClusterConfiguration
        kubernetesVersion: v1.20.2
        controlPlaneEndpoint: "10.0.0.10:9443"
        networking:
          podSubnet: "10.244.0.0/16"
          serviceSubnet: "10.96.0.0/12"
        ---
        apiVersion: kubelet.config.k8s.io/v1beta1
        kind: KubeletConfiguration
        cgroupDriver: systemd
        """;

    private const string Script = """
        #!/bin/bash
        set -e
        export MASTER_VIP=10.0.0.10
        export POD_SUBNET=10.244.0.0/16
        docker run -d --net=host -v /etc/haproxy:/usr/local/etc/haproxy:ro haproxy:2.8
        kubeadm init --config=kubeadm-config.yaml --upload-certs
        mkdir -p $HOME/.kube
        install -m 600 /etc/kubernetes/admin.conf $HOME/.kube/config
        curl -fsSLo calico.yaml https://raw.githubusercontent.com/projectcalico/calico/v3.18.6/manifests/calico.yaml
        kubectl apply -f calico.yaml
        """;

    private const string Runbook = """
        # API server load balancer

        The load balancer listens on port 9443 and balances round robin.

        ```config
        frontend api
            bind *:9443
            default_backend api
        backend api
            option httpchk GET /healthz
            server m01 10.0.0.11:6443 check check-ssl verify none
        ```
        """;

    private static Dictionary<string, string> Clean() => new()
    {
        ["haproxy.cfg"] = Haproxy,
        ["keepalived.conf"] = Keepalived,
        ["kubeadm-config.yaml"] = Kubeadm,
        ["init.sh"] = Script,
    };

    private static Dictionary<string, string> With(string file, string from, string to, Dictionary<string, string>? files = null)
    {
        files ??= Clean();
        Assert.Contains(from, files[file]); // the mutation must hit, or the bad case proves nothing
        files[file] = files[file].Replace(from, to, StringComparison.Ordinal);
        return files;
    }

    private static LintReport Lint(Dictionary<string, string> files, LintOptions? options = null) =>
        Linter.Lint(files.Select(f => new LintSource(f.Key, f.Value)), options ?? new LintOptions(InstalledKubernetesVersion: "v1.20.2"));

    private static readonly LabTopology Lab = LabTopology.Default.Relocate("t", System.Net.IPNetwork.Parse("10.0.0.0/24")) with
    {
        Vip = System.Net.IPAddress.Parse("10.0.0.10"),
        Nodes =
        [
            new NodeSpec { Name = "m01", Ip = System.Net.IPAddress.Parse("10.0.0.11"), State = VrrpState.Master },
            new NodeSpec { Name = "m02", Ip = System.Net.IPAddress.Parse("10.0.0.12") },
        ],
    };

    /// <summary>Rule id, a bad input, a good input (often the fix of the bad one), optional options.</summary>
    public static TheoryData<string, Dictionary<string, string>, Dictionary<string, string>, LintOptions?> Cases => new()
    {
        { "LINT002", With("keepalived.conf", "    track_script {\n        chk\n    }\n}", "    track_script {\n        chk"), Clean(), null },
        { "LINT002", With("kubeadm-config.yaml", "controlPlaneEndpoint: \"10.0.0.10:9443\"", "controlPlaneEndpoint: \"10.0"), Clean(), null },
        { "LINT002", With("haproxy.cfg", "global\n", "    maxconn 10\nglobal\n"), Clean(), null },
        { "LINT002", With("init.sh", "kubeadm init", "cat <<EOF > x.yaml\nkubeadm init"), Clean(), null },
        { "LINT003", new() { ["notes.txt"] = "just some words\n" }, Clean(), null },
        { "TOP001", new() { ["lab.yaml"] = "vip: 10.0.0.999\n" }, new() { ["lab.yaml"] = "vip: 192.168.100.190\n" }, null },
        { "HA001", With("haproxy.cfg", "log stdout format raw local0", "log 127.0.0.1 local2"), Clean(), null },
        { "HA002", With("haproxy.cfg", "    mode tcp\n    option tcplog", "    mode http\n    option tcplog").Also(f => f["haproxy.cfg"] = f["haproxy.cfg"].Replace("frontend api\n", "frontend api\n    mode tcp\n").Replace("backend api\n", "backend api\n    mode tcp\n")), Clean(), null },
        { "HA003", With("haproxy.cfg", "option tcplog", "option httplog"), Clean(), null },
        { "HA003", With("haproxy.cfg", "option tcplog", "option tcplog\n    option forwardfor"), Clean(), null },
        { "HA004", With("haproxy.cfg", "    bind *:9443\n", "    bind *:9443\n    acl url_static path_beg -i /static\n"), Clean(), null },
        { "HA004", With("haproxy.cfg", "    bind *:9443\n", "    bind *:9443\n    acl from_lan src 10.0.0.0/8\n"), With("haproxy.cfg", "    bind *:9443\n", "    bind *:9443\n    acl from_lan src 10.0.0.0/8\n    tcp-request connection reject if !from_lan\n"), null },
        { "HA005", With("haproxy.cfg", "    option httpchk GET /healthz\n    http-check expect status 200\n", ""), Clean(), null },
        { "HA005", With("haproxy.cfg", " check check-ssl verify none", " check"), Clean(), null },
        { "HA006", With("haproxy.cfg", "global\n", "global\n    pidfile /var/run/haproxy.pid\n"), With("haproxy.cfg", "global\n", "global\n    pidfile /tmp/haproxy.pid\n"), null },
        { "HA007", With("haproxy.cfg", "default_backend api", "default_backend apiservers"), Clean(), null },
        { "HA007", With("haproxy.cfg", "    server m01 10.0.0.11:6443 check check-ssl verify none\n    server m02 10.0.0.12:6443 check check-ssl verify none", ""), Clean(), null },
        { "HA008", With("haproxy.cfg", "10.0.0.12:6443", "10.0.0.12:6444"), Clean(), null },
        { "HA008", With("haproxy.cfg", "10.0.0.12:6443", "10.0.0.99:6443"), Clean(), new LintOptions(Lab) },
        { "HA009", With("haproxy.cfg", "10.0.0.12:6443 check check-ssl verify none", "10.0.0.12:6443"), Clean(), null },
        { "KA001", With("keepalived.conf", "    priority 101\n", "    priority 101\n    nopreempt\n"), With("keepalived.conf", "state MASTER\n", "state BACKUP\n    nopreempt\n"), null },
        { "KA002", With("keepalived.conf", "weight -2", "weight 11").Also(f => f["keepalived.conf"] = f["keepalived.conf"].Replace("    priority 101\n", "    priority 101\n    nopreempt\n")), Clean(), null },
        { "KA002", Two("weight -2", "weight -1").Also(f => f["keepalived.conf"] = f["keepalived.conf"].Replace("priority 101", "priority 150").Replace("weight -2", "weight -1")), Two("weight -2", "weight -60").Also(f => f["keepalived.conf"] = f["keepalived.conf"].Replace("priority 101", "priority 150").Replace("weight -2", "weight -60")), null },
        { "KA003", With("keepalived.conf", "auth_pass Xk3pQ9zT", "auth_pass Xk3pQ9zTlong"), Clean(), null },
        { "KA004", With("keepalived.conf", "auth_pass Xk3pQ9zT", "auth_pass password"), Clean(), null },
        { "KA005", With("keepalived.conf", "    unicast_peer {\n        10.0.0.12\n    }", "    unicast_peer {\n\n    }"), Clean(), null },
        { "KA006", With("keepalived.conf", "\"/usr/bin/curl -sfk --max-time 2 -o /dev/null https://127.0.0.1:9443/healthz\"", "\"/bin/bash -c 'ss -ltn | grep 9443'\""), With("keepalived.conf", "\"/usr/bin/curl -sfk --max-time 2 -o /dev/null https://127.0.0.1:9443/healthz\"", "\"/bin/bash -c 'ss -Hltn sport = :9443 | grep -q .'\""), null },
        { "KA007", With("keepalived.conf", "\"/usr/bin/curl -sfk --max-time 2 -o /dev/null https://127.0.0.1:9443/healthz\"", "\"/bin/bash -c 'netstat -nlt | grep -q :9443'\""), Clean(), null },
        { "KA008", With("keepalived.conf", "\"/usr/bin/curl -sfk --max-time 2 -o /dev/null https://127.0.0.1:9443/healthz\"", "\"/usr/bin/pgrep haproxy\""), Clean(), null },
        { "KA009", With("keepalived.conf", "    track_script {", "    notify \"/container/service/keepalived/assets/notify.sh\"\n    track_script {"), With("keepalived.conf", "    track_script {", "    notify \"/etc/keepalived/notify.sh\"\n    track_script {"), null },
        { "KA010", With("keepalived.conf", "https://127.0.0.1:9443/healthz", "https://127.0.0.1:6443/healthz"), Clean(), null },
        { "KA011", Two("virtual_router_id 51", "virtual_router_id 52"), Two("priority 100", "priority 99"), null },
        { "KA011", Two("auth_pass Xk3pQ9zT", "auth_pass Other123"), Two("interface eth0", "interface ens192"), null },
        { "KA012", With("keepalived.conf", "        10.0.0.10\n", "        10.0.1.10\n"), Clean(), null },
        { "KA012", With("keepalived.conf", "        10.0.0.10\n", "        10.0.1.10\n"), Clean(), new LintOptions(Lab) },
        { "KA013", With("keepalived.conf", "priority 101", "priority 300"), Clean(), null },
        { "KA013", With("keepalived.conf", "virtual_router_id 51", "virtual_router_id fifty"), Clean(), null },
        { "KA014", With("keepalived.conf", "        chk\n    }", "        chk_missing\n    }"), Clean(), null },
        { "KA015", With("keepalived.conf", "    track_script {\n        chk\n    }\n", ""), Clean(), null },
        // VRRPv3: sub-second adverts are fine, out of range is not; an authentication block is refused.
        { "KA013", With("keepalived.conf", "    priority 101\n", "    priority 101\n    version 3\n    advert_int 50\n"), With("keepalived.conf", "    priority 101\n", "    priority 101\n    advert_int 2\n"), null },
        { "KA013", With("keepalived.conf", "    priority 101\n", "    priority 101\n    advert_int 0.1\n"), Clean(), null },
        { "KA016", With("keepalived.conf", "    priority 101\n", "    priority 101\n    version 3\n    advert_int 0.1\n"),
            With("keepalived.conf", "    priority 101\n", "    priority 101\n    advert_int 1\n"), null },
        { "KD001", With("kubeadm-config.yaml", "10.0.0.10:9443", "10.0.0.10:6443"), Clean(), null },
        { "KD001", new() { ["keepalived.conf"] = Keepalived, ["kubeadm-config.yaml"] = Kubeadm.Replace("10.0.0.10:9443", "10.0.0.10:6443") }, new() { ["keepalived.conf"] = Keepalived, ["kubeadm-config.yaml"] = Kubeadm }, null },
        { "KD002", With("kubeadm-config.yaml", "kubernetesVersion: v1.20.2\n", "kubernetesVersion: v1.20.2\ncgroupDriver: systemd\n"), Clean(), null },
        { "KD002", With("kubeadm-config.yaml", "  podSubnet:", "  podCidr: \"10.1.0.0/16\"\n  podSubnet:"), Clean(), null },
        { "KD003", With("kubeadm-config.yaml", "podSubnet: \"10.244.0.0/16\"", "podSubnet: \"10.244.0.1/16\""), Clean(), null },
        { "KD003", With("init.sh", "export POD_SUBNET=10.244.0.0/16", "export POD_SUBNET=10.244.0.1/16"), Clean(), null },
        { "KD004", With("kubeadm-config.yaml", "serviceSubnet: \"10.96.0.0/12\"", "serviceSubnet: \"10.240.0.0/12\""), Clean(), null },
        { "KD004", With("kubeadm-config.yaml", "podSubnet: \"10.244.0.0/16\"", "podSubnet: \"10.0.0.0/16\""), Clean(), null },
        { "KD005", With("kubeadm-config.yaml", "kubernetesVersion: v1.20.2", "kubernetesVersion: v1.20.0"), Clean(), null },
        { "KD006", With("kubeadm-config.yaml", "10.0.0.10:9443", "10.0.0.11:9443"), Clean(), null },
        { "KD006", With("init.sh", "export MASTER_VIP=10.0.0.10", "export MASTER_VIP=10.0.0.20"), Clean(), null },
        { "KD007", With("kubeadm-config.yaml", "podSubnet: \"10.244.0.0/16\"", "podSubnet: \"172.18.0.0/16\""), Clean(), null },
        { "KD008", With("kubeadm-config.yaml", "apiVersion: kubeadm.k8s.io/v1beta2", "apiVersion: kubeadm.k8s.io/v1alpha9"), Clean(), null },
        { "KD008", With("kubeadm-config.yaml", "kind: ClusterConfiguration\n", ""), Clean(), null },
        { "KD009", With("kubeadm-config.yaml", "kind: ClusterConfiguration\n", "kind: ClusterConfiguration\n" + ExternalEtcd(3, files: true)), Clean(), new LintOptions(Lab) },
        { "KD010", With("kubeadm-config.yaml", "kind: ClusterConfiguration\n", "kind: ClusterConfiguration\n" + ExternalEtcd(3, files: false)), With("kubeadm-config.yaml", "kind: ClusterConfiguration\n", "kind: ClusterConfiguration\n" + ExternalEtcd(3, files: true)), null },
        { "KD011", With("kubeadm-config.yaml", "kind: ClusterConfiguration\n", "kind: ClusterConfiguration\n" + ExternalEtcd(4, files: true)), With("kubeadm-config.yaml", "kind: ClusterConfiguration\n", "kind: ClusterConfiguration\n" + ExternalEtcd(3, files: true)), null },
        { "SH001", With("init.sh", "https://raw.githubusercontent.com/projectcalico/calico/v3.18.6/manifests/calico.yaml", "https://github.com/projectcalico/calico/blob/v3.18.6/manifests/calico.yaml"), Clean(), null },
        { "SH002", With("init.sh", "mkdir -p $HOME/.kube", "rm -rf $HOME/.kube/\nmkdir -p $HOME/.kube"), Clean(), null },
        { "SH003", With("init.sh", "install -m 600 /etc/kubernetes/admin.conf", "cp -i /etc/kubernetes/admin.conf"), With("init.sh", "install -m 600 /etc/kubernetes/admin.conf", "cp /etc/kubernetes/admin.conf"), null },
        { "SH004", With("init.sh", "haproxy:2.8", "haproxy"), Clean(), null },
        { "RB001", new() { ["runbook.md"] = Runbook.Replace("listens on port 9443", "listens on port 6443") }, new() { ["runbook.md"] = Runbook }, null },
        { "RB002", new() { ["runbook.md"] = Runbook.Replace("balances round robin", "keeps session persistence by source IP") }, new() { ["runbook.md"] = Runbook }, null },
    };

    /// <summary>An etcd.external section with <paramref name="members"/> endpoints at 10.0.0.21.., with or without the TLS files.</summary>
    private static string ExternalEtcd(int members, bool files) =>
        "etcd:\n  external:\n    endpoints:\n" + string.Concat(Enumerable.Range(21, members).Select(i => $"    - https://10.0.0.{i}:2379\n")) +
        (files ? "    caFile: /etc/kubernetes/pki/etcd/ca.crt\n    certFile: /etc/kubernetes/pki/apiserver-etcd-client.crt\n    keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key\n" : "");

    private static Dictionary<string, string> Two(string from, string to)
    {
        var files = Clean();
        files["m02/keepalived.conf"] = Keepalived.Replace("state MASTER", "state BACKUP").Replace("priority 101", "priority 100")
            .Replace("unicast_src_ip 10.0.0.11", "unicast_src_ip 10.0.0.12").Replace("        10.0.0.12\n    }", "        10.0.0.11\n    }");
        Assert.Contains(from, files["m02/keepalived.conf"]);
        files["m02/keepalived.conf"] = files["m02/keepalived.conf"].Replace(from, to);
        return files;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Rule_finds_the_bad_input_and_not_the_good_one(string id, Dictionary<string, string> bad, Dictionary<string, string> good, LintOptions? options)
    {
        options ??= new LintOptions(InstalledKubernetesVersion: "v1.20.2");
        var onBad = Lint(bad, options);
        Assert.Contains(onBad.Findings, f => f.Id == id);
        var hit = onBad.Findings.First(f => f.Id == id);
        Assert.True(hit.Line >= 1);
        Assert.False(string.IsNullOrWhiteSpace(hit.Problem + hit.Effect + hit.Fix));
        Assert.DoesNotContain(Lint(good, options).Findings, f => f.Id == id);
    }

    [Fact]
    public void The_clean_files_give_no_finding()
    {
        var report = Lint(Clean());
        Assert.Empty(report.Findings);
        Assert.Equal(0, report.ExitCode);
    }

    [Fact]
    public void Every_rule_of_the_catalog_has_a_case()
    {
        var covered = Cases.Select(c => (string)c[0]).ToHashSet();
        // LINT001 (unreadable file) and LINT004 (a rule group failing) are covered in LintRunbookTests.
        var missing = LintRules.All.Select(r => r.Id).Where(id => !covered.Contains(id) && id is not ("LINT001" or "LINT004")).ToList();
        Assert.Empty(missing);
    }

    [Fact]
    public void An_error_finding_makes_the_exit_code_non_zero()
    {
        var report = Lint(With("kubeadm-config.yaml", "10.0.0.10:9443", "10.0.0.10:6443"));
        Assert.True(report.HasErrors);
        Assert.Equal(1, report.ExitCode);
        var warningsOnly = Lint(With("haproxy.cfg", "log stdout format raw local0", "log 127.0.0.1 local2"));
        Assert.Equal(0, warningsOnly.ExitCode);
    }

    [Fact]
    public void Findings_name_the_line_of_the_defect()
    {
        var files = With("keepalived.conf", "    priority 101\n", "    priority 101\n    nopreempt\n");
        var finding = Assert.Single(Lint(files).Findings, f => f.Id == "KA001");
        Assert.Equal("keepalived.conf", finding.File);
        Assert.Equal(files["keepalived.conf"].Split('\n').ToList().FindIndex(l => l.Trim() == "nopreempt") + 1, finding.Line);
    }
}

internal static class DictionaryExtensions
{
    /// <summary>Applies a further change to a case's files (keeps the table readable).</summary>
    public static Dictionary<string, string> Also(this Dictionary<string, string> files, Action<Dictionary<string, string>> change)
    {
        change(files);
        return files;
    }
}
