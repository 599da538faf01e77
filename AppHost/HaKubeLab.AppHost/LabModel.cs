using System.Collections.Immutable;
using HaKubeLab.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HaKubeLab.AppHost;

/// <summary>The lab's resources in the app model, by role; shared by the session (state, logs) and the commands.</summary>
public sealed class LabModel
{
    public required LabSettings Settings { get; init; }
    public required LabResource Lab { get; init; }
    public required LabStepResource Images { get; init; }
    public required LabStepResource KubernetesBuild { get; init; }
    public required LabStepResource LoadBalancer { get; init; }
    public LabStepResource? Bootstrap { get; init; }
    public required ImmutableDictionary<(string Node, LabRole Role), LabPartResource> Parts { get; init; }

    public IEnumerable<LabStepResource> Steps => Bootstrap is null ? [Images, KubernetesBuild, LoadBalancer] : [Images, KubernetesBuild, LoadBalancer, Bootstrap];

    public LabPartResource Part(string node, LabRole role) => Parts[(node, role)];

    /// <summary>Resource names: the node's own name (m01), and m01-haproxy / m01-keepalived for its sidecars.</summary>
    public static string PartName(string node, LabRole role) => role == LabRole.Node ? node : $"{node}-{LabNames.RoleLabel(role)}";
}

/// <summary>Adds the lab to an Aspire app model: the lab, its bring-up steps, each node with its sidecars, commands, and the session that runs it.</summary>
public static class LabAppModelExtensions
{
    public static LabModel AddHaKubeLab(this IDistributedApplicationBuilder builder, LabSettings settings)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(settings);
        var t = settings.Topology;

        var lab = builder.AddResource(new LabResource(t.Name))
            .WithInitialState(new CustomResourceSnapshot
            {
                ResourceType = "Lab",
                State = KnownResourceStates.NotStarted,
                Properties =
                [
                    new("lab.network", $"{LabNames.Network(t.Name)} {t.Subnet}"),
                    new("lab.vip", $"{t.Vip}:{t.LoadBalancer.Port}") { IsHighlighted = true },
                    new("lab.kubernetes", settings.Kubernetes ? "yes" : "no (load-balancer tier only)"),
                    new("lab.keep-on-stop", settings.Keep ? "yes" : "no (removed when the AppHost stops; HAKUBELAB_KEEP=true keeps it)"),
                ],
            })
            .ExcludeFromManifest();

        // Named step-N-...: the dashboard sorts by name, so the grid lists the steps in the order they run.
        IResourceBuilder<LabStepResource> Step(string name, string title, string order) =>
            builder.AddResource(new LabStepResource(name, title))
                .WithInitialState(new CustomResourceSnapshot
                {
                    ResourceType = "Bring-up step",
                    State = KnownResourceStates.NotStarted,
                    Properties = [new("step.what", title), new("step.order", order)],
                })
                .WithParentRelationship(lab)
                .ExcludeFromManifest();

        var images = Step("step-1-images", "Debian base, haproxy and keepalived images (scripts/images/build.sh, cached by input hash)", "1");
        var k8sBuild = Step("step-2-kubernetes-build", "Kubernetes from Debian's source and the node image (cached; first build takes long)", "2");
        var lb = Step("step-3-load-balancer", "network, nodes, haproxy, keepalived, wait for the VIP", "3");
        var bootstrap = settings.Kubernetes ? Step("step-4-kubeadm-bootstrap", "the runbook's kubeadm bootstrap over SSH, until /readyz answers through the VIP", "4") : null;

        var parts = ImmutableDictionary.CreateBuilder<(string, LabRole), LabPartResource>();
        foreach (var node in t.Nodes)
        {
            var nodeResource = builder.AddResource(new LabPartResource(node.Name, node.Name, LabRole.Node, LabNames.Container(t.Name, node.Name, LabRole.Node)))
                .WithInitialState(PartSnapshot("Lab node", node.Name, node.Ip.ToString(), LabNames.Container(t.Name, node.Name, LabRole.Node), $"{node.State} priority {node.Priority}"))
                .WithParentRelationship(lab)
                .ExcludeFromManifest();
            LabCommandSet.AddNodeCommands(nodeResource);
            parts[(node.Name, LabRole.Node)] = nodeResource.Resource;
            foreach (var role in new[] { LabRole.Haproxy, LabRole.Keepalived })
            {
                var container = LabNames.Container(t.Name, node.Name, role);
                var sidecar = builder.AddResource(new LabPartResource(LabModel.PartName(node.Name, role), node.Name, role, container))
                    .WithInitialState(PartSnapshot(role == LabRole.Haproxy ? "haproxy sidecar" : "keepalived sidecar", node.Name, node.Ip.ToString(), container, null))
                    .WithParentRelationship(nodeResource)
                    .ExcludeFromManifest();
                LabCommandSet.AddSidecarCommands(sidecar);
                parts[(node.Name, role)] = sidecar.Resource;
            }
        }
        LabCommandSet.AddLabCommands(lab);

        var model = new LabModel
        {
            Settings = settings,
            Lab = lab.Resource,
            Images = images.Resource,
            KubernetesBuild = k8sBuild.Resource,
            LoadBalancer = lb.Resource,
            Bootstrap = bootstrap?.Resource,
            Parts = parts.ToImmutable(),
        };
        builder.Services.AddSingleton(model);
        builder.Services.AddSingleton<LabControl>();
        builder.Services.AddSingleton<LabSession>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LabSession>());
        // Removing the lab on Ctrl-C takes a few seconds; the default 5-30 s must not cut it short.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(90));
        return model;
    }

    private static CustomResourceSnapshot PartSnapshot(string type, string node, string ip, string container, string? vrrp) => new()
    {
        ResourceType = type,
        State = KnownResourceStates.NotStarted,
        Properties =
        [
            new("lab.node", node),
            new("lab.ip", ip),
            new("container.name", container),
            .. vrrp is null ? Array.Empty<ResourcePropertySnapshot>() : [new ResourcePropertySnapshot("vrrp.configured", vrrp)],
        ],
    };
}
