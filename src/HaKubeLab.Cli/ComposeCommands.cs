using System.CommandLine;
using HaKubeLab.Rendering;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;

namespace HaKubeLab.Cli;

/// <summary>
/// <c>compose-prepare</c>: what scripts/compose-lab.sh needs from .NET for docker-compose.lab.yml: the images
/// (scripts/images/build.sh, cached), the runbook's files rendered with the lab's own secret, and the lab's record
/// (lab.json) as <c>up</c> writes it, so <c>status</c>, <c>kubeconfig</c>, <c>chaos</c> and <c>down</c> know a compose lab.
/// </summary>
internal static class ComposeCommands
{
    public static Command Prepare()
    {
        var outDir = new Option<DirectoryInfo>("--out", "-o") { Description = "Folder for the rendered files (<node>/etc/haproxy, <node>/etc/keepalived, m01's /root files).", Required = true };
        var kubernetes = new Option<bool>("--kubernetes") { Description = "Record that Kubernetes runs in the lab (scripts/compose-bootstrap.sh passes it once the API answers)." };
        var cmd = new Command("compose-prepare", "For docker-compose.lab.yml (scripts/compose-lab.sh calls it): check/build the images, render the runbook's files, write the lab's record. Prints the image tags as name=tag lines.")
            { LabCommands.TopologyOption, outDir, kubernetes };
        cmd.SetAction(async (parse, ct) =>
        {
            try
            {
                var topology = parse.GetValue(LabCommands.TopologyOption) is { } file ? TopologyLoader.LoadFile(file.FullName) : LabTopology.Default;
                if (topology.Etcd.Topology == EtcdTopology.External)
                {
                    // docker-compose.lab.yml has no etcd services: its masters would be configured for members nobody starts.
                    Console.Error.WriteLine("etcd.topology: external is not supported by the compose lab (docker-compose.lab.yml has no etcd nodes). Fix: bring the lab up with './hakubelab up --topology FILE', or use 'etcd: { topology: stacked }'.");
                    return 2;
                }
                var images = await LabImages.EnsureAsync(new Progress<string>(l => Console.Error.WriteLine(l)), ct);
                using var docker = await DockerConnection.ConnectAsync(ct);
                var runtime = new LabRuntime(docker, topology);
                var secrets = runtime.LoadOrCreateSecrets();
                var dir = parse.GetValue(outDir)!.FullName;
                foreach (var node in topology.Nodes)
                    foreach (var f in RunbookFiles.ForNode(topology, node, secrets, images.Versions))
                        LabPaths.WriteAtomically(Path.Combine(dir, node.Name, f.NodePath.TrimStart('/')), f.Content);
                var record = runtime.WriteRecord(images, parse.GetValue(kubernetes) ? true : null);
                Console.Error.WriteLine($"rendered into {dir}; record {record.RecordPath}");
                Console.WriteLine($"base={images.Base}\nhaproxy={images.Haproxy}\nkeepalived={images.Keepalived}\nnode={images.Node}\nkubernetes={images.KubernetesVersion}");
                return 0;
            }
            catch (TopologyException e) { Console.Error.WriteLine(e.Message); return 2; }
            catch (Exception e) when (e is ImageBuildException or DockerUnavailableException) { Console.Error.WriteLine("error: " + e.Message); return 1; }
        });
        return cmd;
    }
}
