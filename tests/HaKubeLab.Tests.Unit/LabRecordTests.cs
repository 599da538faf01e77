using System.Net;
using System.Text.Json.Nodes;
using HaKubeLab.Rendering;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Tests.Unit;

/// <summary>The running lab's record: what `up` writes and every consumer opens the lab from.</summary>
public class LabRecordTests
{
    private static readonly LabImageSet Images = new("hakubelab/debian:aaa", "hakubelab/haproxy:bbb", "hakubelab/keepalived:ccc", "hakubelab/node:ddd",
        LabVersions.Kubernetes, "hakubelab/busybox:1.35.0", LabVersions.ImageRepository, LabVersions.Etcd);

    private static LabTopology Custom => TopologyLoader.Parse("""
        name: other-lab
        subnet: 10.77.0.0/24
        vip: 10.77.0.50
        profile: recommended
        loadBalancer: { port: 8443 }
        keepalived: { virtualRouterId: 77, advertInterval: 2, interface: eth0 }
        nodes:
          - { name: cp1, ip: 10.77.0.11, state: MASTER, priority: 120 }
          - { name: cp2, ip: 10.77.0.12, priority: 110 }
        kubernetes: { apiServerPort: 7443, imageRepository: example.local/k8s }
        """);

    [Fact]
    public void A_record_round_trips_with_the_resolved_topology_and_images()
    {
        var record = LabRecord.For(Custom, Images with { ImageRepository = "example.local/k8s" }, kubernetes: true);
        var back = LabRecord.FromJson(LabRecord.ToJson(record), "test");

        Assert.Equal(LabRecord.ToJson(record), LabRecord.ToJson(back));
        Assert.Equal("other-lab", back.Name);
        Assert.Equal(IPNetwork.Parse("10.77.0.0/24"), back.Topology.Subnet);
        Assert.Equal(IPAddress.Parse("10.77.0.50"), back.Topology.Vip);
        Assert.Equal(RenderProfile.Recommended, back.Topology.Profile);
        Assert.Equal(["cp1", "cp2"], back.Topology.Nodes.Select(n => n.Name));
        Assert.Equal(VrrpState.Master, back.Topology.Nodes[0].State);
        Assert.Equal(120, back.Topology.Nodes[0].Priority);
        Assert.Equal(8443, back.LoadBalancerPort);
        Assert.Equal(7443, back.ApiServerPort);
        Assert.Equal("eth0", back.Interface);
        Assert.True(back.Kubernetes);
        Assert.Equal(new KubernetesBuild(LabVersions.Kubernetes, LabVersions.Etcd), back.Versions);
        Assert.Equal("example.local/k8s", back.Images.ImageRepository);
        Assert.EndsWith("/labs/other-lab/kubeconfig", back.KubeconfigPath);
        // What the lab renders from the record is what it renders from the topology file.
        Assert.Equal(HaproxyConfigRenderer.Render(Custom), HaproxyConfigRenderer.Render(back.Topology));
    }

    [Fact]
    public void A_record_from_a_newer_format_is_refused_with_what_to_do()
    {
        var json = JsonNode.Parse(LabRecord.ToJson(LabRecord.For(LabTopology.Default, Images, false)))!;
        json["format"] = LabRecord.CurrentFormat + 1;
        var e = Assert.Throws<LabRecordException>(() => LabRecord.FromJson(json.ToJsonString(), "/x/lab.json"));
        Assert.Contains("newer than this HaKubeLab understands", e.Message);
        Assert.Contains("/x/lab.json", e.Message);
    }

    [Fact]
    public void A_record_from_an_older_format_is_refused_with_what_to_do()
    {
        var json = JsonNode.Parse(LabRecord.ToJson(LabRecord.For(LabTopology.Default, Images, false)))!;
        json.AsObject().Remove("format");
        var e = Assert.Throws<LabRecordException>(() => LabRecord.FromJson(json.ToJsonString(), "/x/lab.json"));
        Assert.Contains("older than this HaKubeLab reads", e.Message);
        Assert.Contains("./hakubelab up", e.Message);
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("""{ "format": 1, "name": "x" }""")]
    public void A_damaged_record_is_refused_and_names_down_as_the_way_out(string json)
    {
        var e = Assert.Throws<LabRecordException>(() => LabRecord.FromJson(json, "/x/lab.json"));
        Assert.Contains("damaged", e.Message);
        Assert.Contains("down", e.Message);
    }

    [Fact]
    public void A_record_whose_topology_is_invalid_is_refused()
    {
        var json = JsonNode.Parse(LabRecord.ToJson(LabRecord.For(LabTopology.Default, Images, false)))!;
        json["topology"]!["vip"] = "10.0.0.1"; // outside the subnet
        Assert.Throws<LabRecordException>(() => LabRecord.FromJson(json.ToJsonString(), "/x/lab.json"));
    }

    [Fact]
    public void Record_write_is_atomic_and_readable_by_name()
    {
        var state = Path.Combine(Path.GetTempPath(), "hkl-record-" + Guid.NewGuid().ToString("n")[..8]);
        var before = Environment.GetEnvironmentVariable("HAKUBELAB_STATE");
        Environment.SetEnvironmentVariable("HAKUBELAB_STATE", state);
        try
        {
            var written = LabRecord.For(Custom, Images, kubernetes: false).Write();
            Assert.True(File.Exists(Path.Combine(state, "labs", "other-lab", "lab.json")));
            Assert.Empty(Directory.GetFiles(Path.Combine(state, "labs", "other-lab"), "*.tmp-*"));
            var read = LabRecord.TryRead("other-lab");
            Assert.NotNull(read);
            Assert.Equal(LabRecord.ToJson(written), LabRecord.ToJson(read));
            Assert.Null(LabRecord.TryRead("no-such-lab"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("HAKUBELAB_STATE", before);
            if (Directory.Exists(state)) Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public void Versions_come_from_the_one_versions_file()
    {
        var file = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "scripts", "images", "versions.env");
        var values = LabVersions.Parse(File.ReadAllText(file));
        Assert.Equal(values["KUBERNETES_VERSION"], LabVersions.Kubernetes);
        Assert.Equal(values["ETCD_VERSION"], LabVersions.Etcd);
        Assert.Equal(values["IMAGE_REPOSITORY"], LabVersions.ImageRepository);
        Assert.Equal(LabVersions.Kubernetes, new KubernetesBuild().KubernetesVersion);
        Assert.Equal(LabVersions.ImageRepository, LabTopology.Default.Kubernetes.ImageRepository);
    }

    [Theory]
    [InlineData("version: v1.21.0", "kubernetes.version")]
    [InlineData("imageRepository: 'Not A Repo!'", "kubernetes.imageRepository")]
    public void A_version_or_repository_the_lab_cannot_provide_is_refused_naming_the_field(string kubernetesLine, string field)
    {
        var e = Assert.Throws<TopologyException>(() => TopologyLoader.Parse($"kubernetes:\n  {kubernetesLine}\n"));
        Assert.Contains(field, e.Message);
    }
}

/// <summary>The one VIP-holder rule: one node on its interface, or the ARP entry among several.</summary>
public class VipHolderReadingTests
{
    [Fact]
    public void One_node_carrying_the_vip_is_the_holder()
    {
        var r = new VipHolderReading(DateTimeOffset.UnixEpoch, ["m02"], null);
        Assert.Equal("m02", r.Holder);
        Assert.False(r.DualMaster);
    }

    [Fact]
    public void Among_several_the_arp_entry_decides_and_the_moment_is_a_dual_master()
    {
        var r = new VipHolderReading(DateTimeOffset.UnixEpoch, ["m01", "m03"], "m03");
        Assert.Equal("m03", r.Holder);
        Assert.True(r.DualMaster);
        Assert.Equal("m01+m03", r.Label);
        Assert.Equal(new[] { "m03" }, r.Effective.ToArray());
    }

    [Fact]
    public void Several_without_a_deciding_arp_entry_or_none_have_no_holder()
    {
        Assert.Null(new VipHolderReading(DateTimeOffset.UnixEpoch, ["m01", "m03"], "m02").Holder);
        Assert.Null(new VipHolderReading(DateTimeOffset.UnixEpoch, [], "m01").Holder);
        Assert.Equal("none", VipHolderReading.None(DateTimeOffset.UnixEpoch).Label);
    }
}
