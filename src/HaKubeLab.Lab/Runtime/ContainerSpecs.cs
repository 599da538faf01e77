using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Docker.DotNet.Models;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Runtime;

/// <summary>
/// Pure builders of the lab's Docker objects from the topology: what to create, not how.
/// The config-hash label lets <c>up</c> keep what is already right and recreate what is not.
/// </summary>
public static class ContainerSpecs
{
    /// <summary>How node containers get the powers systemd and the kubelet need.</summary>
    /// <param name="Privileged">--privileged works on this host.</param>
    /// <param name="CapDrop">When not privileged: capabilities the host cannot grant, dropped from ALL.</param>
    public sealed record NodeSecurity(bool Privileged, IReadOnlyList<string> CapDrop)
    {
        public static NodeSecurity Detect() => HostCapabilities.PrivilegedContainersWork()
            ? new(true, [])
            : new(false, HostCapabilities.MissingCapabilityNames());
    }

    public static NetworksCreateParameters Network(LabTopology t) => new()
    {
        Name = LabNames.Network(t.Name),
        Driver = "bridge",
        IPAM = new IPAM { Config = [new IPAMConfig { Subnet = t.Subnet.ToString(), Gateway = t.Gateway.ToString() }] },
        Labels = Labels(t, "network", null, Hash(t.Subnet.ToString(), t.Gateway.ToString()), extra: new()
        {
            ["io.hakubelab.vip"] = t.Vip.ToString(),
            ["io.hakubelab.lb-port"] = t.LoadBalancer.Port.ToString(),
            ["io.hakubelab.apiserver-port"] = t.Kubernetes.ApiServerPort.ToString(),
            ["io.hakubelab.subnet"] = t.Subnet.ToString(),
        }),
    };

    public static VolumesCreateParameters VarVolume(LabTopology t, NodeSpec node) => new()
    {
        Name = LabNames.VarVolume(t.Name, node.Name),
        Labels = LabLabels.For(t.Name, "volume", node.Name),
    };

    public static CreateContainerParameters Node(LabTopology t, NodeSpec node, LabImageSet images, NodeSecurity security)
    {
        var host = new HostConfig
        {
            NetworkMode = LabNames.Network(t.Name),
            Privileged = security.Privileged,
            SecurityOpt = ["seccomp=unconfined", "apparmor=unconfined"],
            CgroupnsMode = "private",
            Tmpfs = new Dictionary<string, string> { ["/tmp"] = "", ["/run"] = "" },
            Mounts =
            [
                new Mount { Type = "volume", Source = LabNames.VarVolume(t.Name, node.Name), Target = "/var" },
                // The runbook writes these files on the host; here the host folder stands for the node's /etc.
                new Mount { Type = "bind", Source = LabPaths.HostPathOf(t.Name, node.Name, "/etc/haproxy"), Target = "/etc/haproxy" },
                new Mount { Type = "bind", Source = LabPaths.HostPathOf(t.Name, node.Name, "/etc/keepalived"), Target = "/etc/keepalived" },
                // The lab's own SSH key (made per lab, never baked into the image) lets the bootstrap in as a person would.
                new Mount { Type = "bind", Source = LabPaths.AuthorizedKeysPath(t.Name), Target = "/root/.ssh/authorized_keys", ReadOnly = true },
            ],
        };
        // Privileged, the fields below stay unset (omitted from the request) as with 'docker run --privileged'.
        if (!security.Privileged)
        {
            // Everything the host can grant, as kind's nodes get (FACTS: CAP_SYS_RESOURCE may be missing).
            host.CapAdd = ["ALL"];
            if (security.CapDrop.Count > 0) host.CapDrop = [.. security.CapDrop];
            // The CLI's --security-opt systempaths=unconfined: no masked or read-only /proc and /sys paths.
            host.MaskedPaths = [];
            host.ReadonlyPaths = [];
            host.DeviceCgroupRules = ["a *:* rwm"];
            host.Devices = [new DeviceMapping { PathOnHost = "/dev/kmsg", PathInContainer = "/dev/kmsg", CgroupPermissions = "rwm" }];
        }
        var p = new CreateContainerParameters
        {
            Name = LabNames.Container(t.Name, node.Name, LabRole.Node),
            Hostname = node.Name,
            Image = images.Node,
            Env = ["container=docker"],
            HostConfig = host,
            NetworkingConfig = new NetworkingConfig
            {
                EndpointsConfig = new Dictionary<string, EndpointSettings>
                {
                    [LabNames.Network(t.Name)] = new() { IPAMConfig = new EndpointIPAMConfig { IPv4Address = node.Ip.ToString() }, Aliases = [node.Name] },
                },
            },
        };
        p.Labels = Labels(t, "node", node.Name, Hash(Json(p)), extra: new() { ["io.hakubelab.ip"] = node.Ip.ToString() });
        return p;
    }

    public static CreateContainerParameters Haproxy(LabTopology t, NodeSpec node, LabImageSet images, string configText)
    {
        var p = new CreateContainerParameters
        {
            Name = LabNames.Container(t.Name, node.Name, LabRole.Haproxy),
            Image = images.Haproxy,
            HostConfig = new HostConfig
            {
                // The lab's form of the runbook's --net=host: the node's network namespace.
                NetworkMode = "container:" + LabNames.Container(t.Name, node.Name, LabRole.Node),
                RestartPolicy = new RestartPolicy { Name = RestartPolicyKind.Always },
                Binds = [$"{LabPaths.HostPathOf(t.Name, node.Name, "/etc/haproxy")}:/usr/local/etc/haproxy:ro"],
            },
        };
        p.Labels = Labels(t, "haproxy", node.Name, Hash(Json(p), configText));
        return p;
    }

    public static CreateContainerParameters Keepalived(LabTopology t, NodeSpec node, LabImageSet images, string configText)
    {
        var p = new CreateContainerParameters
        {
            Name = LabNames.Container(t.Name, node.Name, LabRole.Keepalived),
            Image = images.Keepalived,
            HostConfig = new HostConfig
            {
                NetworkMode = "container:" + LabNames.Container(t.Name, node.Name, LabRole.Node),
                RestartPolicy = new RestartPolicy { Name = RestartPolicyKind.Always },
                // The fast profile's keepalived renices its VRRP process (vrrp_priority -20): 0.1 s adverts must not wait behind a busy CPU.
                CapAdd = t.Profile == RenderProfile.Fast ? ["NET_ADMIN", "NET_BROADCAST", "NET_RAW", "SYS_NICE"] : ["NET_ADMIN", "NET_BROADCAST", "NET_RAW"],
                Binds = [$"{LabPaths.HostPathOf(t.Name, node.Name, RunbookFiles.KeepalivedConfigPath)}:/container/service/keepalived/assets/keepalived.conf:ro"],
            },
        };
        p.Labels = Labels(t, "keepalived", node.Name, Hash(Json(p), configText));
        return p;
    }

    /// <summary>The etcd image the lab built (Debian's etcd-server; the same image kubeadm runs as a static pod when stacked).</summary>
    public static string EtcdImage(LabImageSet images) => $"{images.ImageRepository}/etcd:{images.EtcdVersion}";

    /// <summary>
    /// One member of the external etcd topology: a plain container of the etcd image on the lab network at its fixed
    /// address, its TLS files bind-mounted read-only, no restart policy (a killed member stays down until started, like a
    /// host that died). Labelled like a node: role=etcd, node=&lt;member&gt;, ip.
    /// </summary>
    public static CreateContainerParameters Etcd(LabTopology t, EtcdNodeSpec member, LabImageSet images)
    {
        var p = new CreateContainerParameters
        {
            Name = LabNames.Container(t.Name, member.Name, LabRole.Etcd),
            Hostname = member.Name,
            Image = EtcdImage(images),
            Cmd = [.. ExternalEtcd.MemberCommand(t, member)],
            HostConfig = new HostConfig
            {
                NetworkMode = LabNames.Network(t.Name),
                Mounts = [new Mount { Type = "bind", Source = EtcdPki.MemberDir(t.Name, member.Name), Target = ExternalEtcd.PkiDir, ReadOnly = true }],
            },
            NetworkingConfig = new NetworkingConfig
            {
                EndpointsConfig = new Dictionary<string, EndpointSettings>
                {
                    [LabNames.Network(t.Name)] = new() { IPAMConfig = new EndpointIPAMConfig { IPv4Address = member.Ip.ToString() }, Aliases = [member.Name] },
                },
            },
        };
        p.Labels = Labels(t, LabNames.RoleLabel(LabRole.Etcd), member.Name, Hash(Json(p)), extra: new() { ["io.hakubelab.ip"] = member.Ip.ToString() });
        return p;
    }

    private static Dictionary<string, string> Labels(LabTopology t, string role, string? node, string hash, Dictionary<string, string>? extra = null)
    {
        var labels = LabLabels.For(t.Name, role, node, hash);
        labels[LabLabels.Record] = Path.Combine(LabPaths.LabDir(t.Name), LabRecord.FileName);
        foreach (var (k, v) in extra ?? []) labels[k] = v;
        return labels;
    }

    private static string Json(object o) => JsonSerializer.Serialize(o, o.GetType());

    private static string Hash(params string[] parts) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\0", parts))))[..16];
}
