using System.Collections.Immutable;
using Docker.DotNet;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Testing;

/// <summary>
/// Who holds the VIP: the nodes whose interface carries it, and the node the host's ARP entry points at.
/// <see cref="Holder"/> is the one effective holder (with several on the interface, the ARP one), else null.
/// </summary>
public sealed record VipReading(ImmutableArray<string> OnInterface, string? Arp)
{
    /// <summary>The effective holder, or null when none or an undecided dual master.</summary>
    public string? Holder => OnInterface.Length == 1 ? OnInterface[0]
        : OnInterface.Length > 1 && Arp is { } a && OnInterface.Contains(a) ? a : null;

    /// <summary>Several nodes carry the VIP at once.</summary>
    public bool DualMaster => OnInterface.Length > 1;

    public override string ToString() =>
        OnInterface.IsEmpty ? "no node holds the VIP" : $"{string.Join("+", OnInterface)} on the interface{(Arp is null ? "" : $", ARP -> {Arp}")}";

    /// <summary>Reads every running node's interface (docker exec ip addr) and the host's ARP table.</summary>
    public static async Task<VipReading> ReadAsync(IDockerClient docker, LabTopology topology, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(docker);
        ArgumentNullException.ThrowIfNull(topology);
        var vip = topology.Vip.ToString();
        var found = await Task.WhenAll(topology.Nodes.Select(async node =>
        {
            try
            {
                var r = await DockerExec.RunAsync(docker, LabNames.Container(topology.Name, node.Name, LabRole.Node),
                    ["ip", "-4", "-o", "addr", "show", "dev", topology.Keepalived.Interface], ct).ConfigureAwait(false);
                return r.Succeeded && r.Stdout.Contains($" {vip}/", StringComparison.Ordinal) ? node.Name : null;
            }
            catch (DockerApiException) { return null; } // stopped, paused or missing: cannot answer for the VIP
        })).ConfigureAwait(false);
        string? arp = null;
        try
        {
            var mac = Chaos.Probes.VipHolderMonitor.ArpMac(await File.ReadAllTextAsync("/proc/net/arp", ct).ConfigureAwait(false), vip);
            // Docker 20.10 gives a container on a bridge the MAC 02:42 followed by its IPv4 bytes.
            arp = mac is null ? null : topology.Nodes.FirstOrDefault(n => mac == "02:42:" + string.Join(":", n.Ip.GetAddressBytes().Select(b => b.ToString("x2"))))?.Name;
        }
        catch (IOException) { }
        return new VipReading([.. found.OfType<string>()], arp);
    }
}
