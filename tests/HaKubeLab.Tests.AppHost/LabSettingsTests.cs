using HaKubeLab.AppHost;
using Microsoft.Extensions.Configuration;

namespace HaKubeLab.Tests.AppHost;

/// <summary>The AppHost's settings: defaults, overrides, and bad values named with their fix (no Docker needed).</summary>
public sealed class LabSettingsTests
{
    private static LabSettings From(params (string Key, string Value)[] values) =>
        LabSettings.From(new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value))).Build());

    [Fact]
    public void Defaults_are_the_runbooks_lab_with_Kubernetes_removed_on_stop()
    {
        var s = From();
        Assert.Equal("hakubelab", s.Topology.Name);
        Assert.Equal(["m01", "m02", "m03"], s.Topology.Nodes.Select(n => n.Name));
        Assert.True(s.Kubernetes);
        Assert.False(s.Keep);
    }

    [Fact]
    public void Lab_subnet_kubernetes_and_keep_are_taken_from_configuration()
    {
        var s = From(("HAKUBELAB_LAB", "hkl-ah-x"), ("HAKUBELAB_SUBNET", "192.168.166.0/24"), ("HAKUBELAB_KUBERNETES", "false"), ("HAKUBELAB_KEEP", "true"));
        Assert.Equal("hkl-ah-x", s.Topology.Name);
        Assert.Equal("192.168.166.190", s.Topology.Vip.ToString());
        Assert.Equal("192.168.166.191", s.Topology.Nodes[0].Ip.ToString());
        Assert.False(s.Kubernetes);
        Assert.True(s.Keep);
    }

    [Theory]
    [InlineData("HAKUBELAB_KUBERNETES", "maybe", "HAKUBELAB_KUBERNETES=true or HAKUBELAB_KUBERNETES=false")]
    [InlineData("HAKUBELAB_SUBNET", "not-a-subnet", "192.168.165.0/24")]
    [InlineData("HAKUBELAB_TOPOLOGY", "/nonexistent/lab.yaml", "topology YAML file")]
    public void Bad_values_name_the_key_and_the_fix(string key, string value, string fix)
    {
        var e = Assert.Throws<ArgumentException>(() => From((key, value)));
        Assert.StartsWith(key + ":", e.Message, StringComparison.Ordinal);
        Assert.Contains(fix, e.Message, StringComparison.Ordinal);
    }
}
