using HaKubeLab.Topology;

namespace HaKubeLab.Rendering;

/// <summary>
/// The external etcd topology's fixed names: where the masters keep the etcd client files (the paths of kubeadm's
/// "external etcd" guide, named in ClusterConfiguration <c>etcd.external</c>), the members' endpoints, and the
/// command line each member runs with. Pure.
/// </summary>
public static class ExternalEtcd
{
    /// <summary>On each master: the etcd CA (kubeadm's guide: /etc/kubernetes/pki/etcd/ca.crt).</summary>
    public const string CaFile = "/etc/kubernetes/pki/etcd/ca.crt";
    /// <summary>On each master: the apiserver's etcd client certificate.</summary>
    public const string CertFile = "/etc/kubernetes/pki/apiserver-etcd-client.crt";
    /// <summary>On each master: the apiserver's etcd client key.</summary>
    public const string KeyFile = "/etc/kubernetes/pki/apiserver-etcd-client.key";

    /// <summary>Inside each etcd container: the folder its CA, server/peer pair and health-check client pair are mounted at.</summary>
    public const string PkiDir = "/etc/etcd/pki";
    /// <summary>Inside each etcd container: the member's data.</summary>
    public const string DataDir = "/var/lib/etcd";

    public const int ClientPort = 2379;
    public const int PeerPort = 2380;

    /// <summary>The client URL of every member, in topology order: what every apiserver talks to.</summary>
    public static IReadOnlyList<string> Endpoints(LabTopology topology) =>
        [.. topology.Etcd.Nodes.Select(n => $"https://{n.Ip}:{ClientPort}")];

    /// <summary>The ClusterConfiguration <c>etcd.external</c> block (two-space indented YAML, no trailing newline).</summary>
    public static string KubeadmSection(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        return string.Join("\n",
        [
            "# HaKubeLab: external etcd topology: every apiserver talks to all members of an etcd cluster on nodes of its own.",
            "etcd:",
            "  external:",
            "    endpoints:",
            .. Endpoints(topology).Select(e => $"    - {e}"),
            $"    caFile: {CaFile}",
            $"    certFile: {CertFile}",
            $"    keyFile: {KeyFile}",
        ]);
    }

    /// <summary>
    /// etcd's command line for <paramref name="member"/>: TLS for clients and peers with client-certificate auth, as
    /// kubeadm's etcd static pod runs it, and the whole cluster named at start (a new cluster, no discovery).
    /// </summary>
    public static IReadOnlyList<string> MemberCommand(LabTopology topology, EtcdNodeSpec member)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(member);
        var cluster = string.Join(",", topology.Etcd.Nodes.Select(n => $"{n.Name}=https://{n.Ip}:{PeerPort}"));
        return
        [
            "/usr/bin/etcd",
            $"--name={member.Name}",
            $"--data-dir={DataDir}",
            $"--listen-client-urls=https://{member.Ip}:{ClientPort},https://127.0.0.1:{ClientPort}",
            $"--advertise-client-urls=https://{member.Ip}:{ClientPort}",
            $"--listen-peer-urls=https://{member.Ip}:{PeerPort}",
            $"--initial-advertise-peer-urls=https://{member.Ip}:{PeerPort}",
            $"--initial-cluster={cluster}",
            "--initial-cluster-state=new",
            $"--initial-cluster-token={topology.Name}-etcd",
            "--client-cert-auth=true",
            $"--trusted-ca-file={PkiDir}/ca.crt",
            $"--cert-file={PkiDir}/server.crt",
            $"--key-file={PkiDir}/server.key",
            "--peer-client-cert-auth=true",
            $"--peer-trusted-ca-file={PkiDir}/ca.crt",
            $"--peer-cert-file={PkiDir}/peer.crt",
            $"--peer-key-file={PkiDir}/peer.key",
            "--snapshot-count=10000",
        ];
    }

    /// <summary>etcdctl's TLS flags inside an etcd container (the health-check client's pair).</summary>
    public static IReadOnlyList<string> EtcdctlTls =>
        [$"--cacert={PkiDir}/ca.crt", $"--cert={PkiDir}/healthcheck-client.crt", $"--key={PkiDir}/healthcheck-client.key"];
}
