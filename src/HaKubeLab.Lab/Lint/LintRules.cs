using System.Collections.Frozen;

namespace HaKubeLab.Lint;

/// <summary>
/// Every rule lint applies, by stable id. Ids never change meaning; new rules get new ids.
/// LINT* are about reading the input, HA* haproxy.cfg, KA* keepalived.conf, KD* kubeadm's
/// configuration, SH* shell scripts (the init script and its settings), RB* the runbook's prose.
/// </summary>
public static class LintRules
{
    public static IReadOnlyList<LintRule> All { get; } =
    [
        new("LINT001", "unreadable-file", LintSeverity.Error, "the file cannot be read (missing, a directory, no permission, binary)"),
        new("LINT002", "malformed-file", LintSeverity.Error, "half-written or malformed: unclosed block or quote, stray brace, YAML syntax error, directive outside a section, unterminated heredoc"),
        new("LINT003", "unknown-file-kind", LintSeverity.Warning, "neither haproxy.cfg, keepalived.conf, a kubeadm config, a shell script, a topology nor a runbook; not checked"),
        new("LINT004", "rule-failed", LintSeverity.Warning, "a group of rules could not finish on this input (a bug in lint); the other groups ran"),
        new("TOP001", "topology-invalid", LintSeverity.Error, "the topology file is refused: the field, its line and the fix, as 'up' would report them"),

        new("HA001", "syslog-udp-nobody-listens", LintSeverity.Warning, "global 'log 127.0.0.1 ...' sends UDP syslog that nothing in a container (or a default rsyslog) receives"),
        new("HA002", "defaults-mode-http-tcp-proxies", LintSeverity.Warning, "defaults say 'mode http' while the proxies that use them are TCP"),
        new("HA003", "http-option-in-tcp-proxy", LintSeverity.Warning, "an HTTP-only option (httplog, forwardfor, http-server-close, ...) applies to a TCP proxy, where haproxy ignores it (warning at start for httplog and forwardfor)"),
        new("HA004", "http-acl-in-tcp-frontend", LintSeverity.Warning, "an ACL on HTTP samples (path_beg, hdr, url, ...) in a TCP frontend, or an ACL nothing uses"),
        new("HA005", "tcp-only-health-check", LintSeverity.Warning, "backend servers are checked by a TCP connect only, not by the apiserver's /healthz over TLS"),
        new("HA006", "pidfile-not-writable", LintSeverity.Warning, "a pidfile under /var/run: the official haproxy image (2.4+) runs as user haproxy and exits with 'Cannot create pidfile'"),
        new("HA007", "broken-proxy-wiring", LintSeverity.Error, "a frontend without bind, a default_backend/use_backend naming no backend, a backend without servers"),
        new("HA008", "backends-do-not-match-nodes", LintSeverity.Error, "backend servers are not the masters' apiservers (addresses or port differ from the nodes / the apiserver's bindPort)"),
        new("HA009", "server-without-check", LintSeverity.Warning, "a backend server without 'check': a dead apiserver keeps receiving its share of connections"),

        new("KA001", "nopreempt-with-state-master", LintSeverity.Warning, "nopreempt on an instance whose state is MASTER: keepalived clears it ('nopreempt will not work with initial state MASTER - clearing')"),
        new("KA002", "track-script-cannot-move-vip", LintSeverity.Error, "priorities, weight and (no)preempt are such that a failing track script on the VIP holder never moves the VIP"),
        new("KA003", "auth-pass-too-long", LintSeverity.Warning, "auth_pass longer than the 8 characters VRRP PASS authentication carries; keepalived truncates it"),
        new("KA004", "auth-pass-well-known", LintSeverity.Warning, "auth_pass is a well-known literal (e.g. 'password') copied from a published runbook"),
        new("KA005", "empty-unicast-peer", LintSeverity.Warning, "an empty unicast_peer block: keepalived falls back to multicast and logs that this usage is deprecated"),
        new("KA006", "check-greps-bare-port", LintSeverity.Warning, "the track script greps for the port number alone, which also matches other ports (19443), addresses and socket inodes"),
        new("KA007", "check-needs-netstat", LintSeverity.Warning, "the track script calls netstat, which only the deprecated net-tools package provides"),
        new("KA008", "check-tests-socket-not-api", LintSeverity.Warning, "the track script checks that something listens, not that the API answers through the load balancer"),
        new("KA009", "notify-image-sample-script", LintSeverity.Info, "notify points into the osixia/keepalived image's assets; it exists only in that image and only prints the state"),
        new("KA010", "check-port-not-lb-port", LintSeverity.Error, "the track script checks a port haproxy does not bind"),
        new("KA011", "nodes-disagree", LintSeverity.Error, "the nodes' keepalived.conf differ in virtual_router_id, authentication, VIP or advert_int"),
        new("KA012", "vip-outside-node-subnet", LintSeverity.Error, "the VIP is not in the nodes' subnet: VRRP adverts and gratuitous ARP cannot reach the clients"),
        new("KA013", "value-out-of-range", LintSeverity.Error, "priority, virtual_router_id, weight, advert_int or interval out of the range keepalived accepts"),
        new("KA014", "track-script-undefined", LintSeverity.Error, "track_script names a vrrp_script that is not defined; keepalived ignores it and nothing is tracked"),
        new("KA015", "no-track-script", LintSeverity.Warning, "a vrrp_instance without track_script: the VIP stays on a node whose haproxy or apiserver is dead"),
        new("KA016", "vrrpv3-with-authentication", LintSeverity.Error, "an authentication block with VRRPv3 (vrrp_version 3 or version 3): VRRPv3 has no authentication and keepalived refuses it"),

        new("KD001", "endpoint-bypasses-load-balancer", LintSeverity.Error, "controlPlaneEndpoint is VIP:<apiserver port> instead of VIP:<haproxy port>: API traffic never passes haproxy"),
        new("KD002", "unknown-field-for-kind", LintSeverity.Error, "a field kubeadm does not know in that kind (e.g. cgroupDriver in ClusterConfiguration: it belongs to KubeletConfiguration)"),
        new("KD003", "subnet-is-host-address", LintSeverity.Error, "a pod or service subnet written as a host address (172.18.0.1/16) instead of a network (172.18.0.0/16)"),
        new("KD004", "subnets-overlap", LintSeverity.Error, "pod, service and node subnets overlap"),
        new("KD005", "version-differs-from-installed", LintSeverity.Warning, "kubernetesVersion is not the version of the kubeadm/kubelet that runs it"),
        new("KD006", "endpoint-not-vip", LintSeverity.Error, "controlPlaneEndpoint's host (or MASTER_VIP) is not the VIP keepalived manages"),
        new("KD007", "subnet-in-docker-pool", LintSeverity.Info, "a pod or service subnet inside Docker's default address pools, on hosts that run Docker"),
        new("KD008", "unknown-api-version-or-kind", LintSeverity.Error, "a document without apiVersion/kind, or one kubeadm does not know"),
        new("KD009", "external-etcd-does-not-match-topology", LintSeverity.Error, "etcd.external's endpoints are not the topology's etcd nodes, or the kubeadm config and the topology disagree on stacked vs external etcd"),
        new("KD010", "external-etcd-incomplete", LintSeverity.Error, "etcd.external without endpoints, with https endpoints but no caFile/certFile/keyFile, or together with etcd.local"),
        new("KD011", "external-etcd-even-members", LintSeverity.Warning, "etcd.external lists an even number of endpoints: quorum needs a majority, so the extra member adds no failure tolerance"),

        new("SH001", "download-is-web-page", LintSeverity.Error, "a GitHub 'blob' URL downloads the HTML page, not the file, so kubectl apply fails"),
        new("SH002", "rm-rf-kube-dir", LintSeverity.Warning, "rm -rf of ~/.kube deletes every kubeconfig and cache there, not just this cluster's"),
        new("SH003", "interactive-cp-in-script", LintSeverity.Info, "cp -i in a script prompts (or silently skips without a terminal) when the target exists"),
        new("SH004", "unpinned-image", LintSeverity.Warning, "docker run of an image without a tag (latest): a different version on every host and every re-run"),

        new("RB001", "text-port-differs", LintSeverity.Warning, "the runbook's text gives the load balancer a port its haproxy.cfg does not bind"),
        new("RB002", "text-asks-session-persistence", LintSeverity.Warning, "the runbook's text asks for source-IP session persistence; haproxy.cfg balances roundrobin"),
    ];

    private static readonly FrozenDictionary<string, LintRule> ById = All.ToFrozenDictionary(r => r.Id);

    /// <summary>The rule with <paramref name="id"/>; throws for an unknown id (a bug in a rule).</summary>
    public static LintRule Get(string id) =>
        ById.TryGetValue(id, out var rule) ? rule : throw new ArgumentException($"Unknown lint rule '{id}'.", nameof(id));
}
