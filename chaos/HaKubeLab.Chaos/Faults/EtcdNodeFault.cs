using Docker.DotNet;
using Docker.DotNet.Models;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Chaos.Faults;

/// <summary>
/// etcd-node-kill: <c>docker kill</c> of a member container of the external etcd topology (<c>&lt;lab&gt;-e01</c> ...).
/// Docker counts a kill as a manual stop, so no restart policy brings it back; undo starts it again and waits
/// until etcd answers on its client port.
/// </summary>
public sealed class EtcdNodeFault(FaultContext context, string member) : FaultBase(context, member, FaultKind.EtcdNodeKill)
{
    /// <summary>The member called <paramref name="name"/> of an external etcd topology, or an error that names the members.</summary>
    public static string Member(LabTopology topology, string name)
    {
        ArgumentNullException.ThrowIfNull(topology);
        if (topology.Etcd.Topology != EtcdTopology.External)
            throw new ChaosException($"etcd-node-kill needs the external etcd topology; lab '{topology.Name}' runs etcd stacked on its masters");
        return topology.Etcd.Nodes.FirstOrDefault(n => n.Name == name)?.Name
            ?? throw new ChaosException($"no etcd member '{name}' in lab '{topology.Name}' (members: {string.Join(", ", topology.Etcd.Nodes.Select(n => n.Name))})");
    }

    private string Name => LabNames.Container(Context.Topology.Name, Node, LabRole.Etcd);

    public override string Mechanism => $"docker kill -s SIGKILL {Name} (an external etcd member); undo: docker start";

    public override async Task<double> InjectAsync(CancellationToken ct)
    {
        await Context.Docker.Containers.KillContainerAsync(Name, new ContainerKillParameters { Signal = "SIGKILL" }, ct).ConfigureAwait(false);
        return Now;
    }

    public override async Task UndoAsync(CancellationToken ct)
    {
        var c = await InspectAsync(Name, ct).ConfigureAwait(false) ?? throw new ChaosException($"{Name} is gone: bring the lab up again (./hakubelab up --lab {Context.Topology.Name})");
        if (c.State?.Running != true) await Context.Docker.Containers.StartContainerAsync(Name, new ContainerStartParameters(), ct).ConfigureAwait(false);
        var ip = Context.Topology.Etcd.Nodes.First(n => n.Name == Node).Ip;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (await TcpProbe.ConnectAsync(ip, 2379, TimeSpan.FromSeconds(1), ct).ConfigureAwait(false)) return;
            await Task.Delay(500, ct).ConfigureAwait(false);
        }
        Context.Log($"warning: {Name} does not answer on {ip}:2379 60 s after its start");
    }
}
