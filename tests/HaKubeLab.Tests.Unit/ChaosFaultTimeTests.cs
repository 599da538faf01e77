using HaKubeLab.Chaos.Faults;
using HaKubeLab.Failover;
using HaKubeLab.Runtime;

namespace HaKubeLab.Tests.Unit;

/// <summary>Which Docker engine event gives each fault its time.</summary>
public class ChaosFaultTimeTests
{
    [Theory]
    [InlineData(FaultKind.NodeKill, LabRole.Node, "die")]
    [InlineData(FaultKind.HaproxyKill, LabRole.Haproxy, "die")]
    [InlineData(FaultKind.KeepalivedCrash, LabRole.Keepalived, "die")]
    [InlineData(FaultKind.EtcdNodeKill, LabRole.Etcd, "die")]
    [InlineData(FaultKind.NodePause, LabRole.Node, "pause")]
    // A graceful stop takes effect when it is asked: keepalived gives the VIP up on SIGTERM, before the container is gone.
    [InlineData(FaultKind.KeepalivedStop, LabRole.Keepalived, "kill")]
    [InlineData(FaultKind.HaproxyStop, LabRole.Haproxy, "kill")]
    [InlineData(FaultKind.NodeStop, LabRole.Node, "kill")]
    [InlineData(FaultKind.NodeRestart, LabRole.Node, "kill")]
    public void A_kill_counts_from_the_process_exiting_and_a_graceful_stop_from_its_stop_signal(FaultKind kind, LabRole role, string action)
    {
        Assert.Equal((role, action), EngineEventLog.Marker(kind));
        Assert.NotEqual(action, EngineEventLog.Meaning(action)); // said in words in the report
    }

    [Fact]
    public void Faults_docker_does_not_see_have_no_marker()
    {
        Assert.Null(EngineEventLog.Marker(FaultKind.ApiServerKill));
    }
}

/// <summary>The write probe's ConfigMap, written out by hand (no serializer): it must still be the JSON the API expects.</summary>
public class ChaosApiWriteBodyTests
{
    [Fact]
    public void The_write_probes_body_is_a_configmap_with_the_attempts_time()
    {
        var at = new DateTimeOffset(2026, 11, 30, 22, 40, 1, 123, TimeSpan.Zero).AddTicks(4567);
        using var json = System.Text.Json.JsonDocument.Parse(HaKubeLab.Chaos.Probes.ApiWriteProbe.Body(at));
        var root = json.RootElement;
        Assert.Equal("v1", root.GetProperty("apiVersion").GetString());
        Assert.Equal("ConfigMap", root.GetProperty("kind").GetString());
        Assert.Equal(HaKubeLab.Chaos.Probes.ApiWriteProbe.ConfigMapName, root.GetProperty("metadata").GetProperty("name").GetString());
        Assert.Equal("default", root.GetProperty("metadata").GetProperty("namespace").GetString());
        Assert.Equal(at, DateTimeOffset.Parse(root.GetProperty("data").GetProperty("written").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
    }
}
