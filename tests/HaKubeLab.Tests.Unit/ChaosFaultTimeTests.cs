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
