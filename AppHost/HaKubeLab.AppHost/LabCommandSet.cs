using HaKubeLab.Chaos.Scenarios;
using HaKubeLab.Failover;
using HaKubeLab.Runtime;
using Microsoft.Extensions.DependencyInjection;

namespace HaKubeLab.AppHost;

/// <summary>The dashboard's commands on the lab, its nodes and their sidecars; each calls <see cref="LabControl"/>.</summary>
public static class LabCommandSet
{
    public const string ScenarioArgument = "scenario";

    private static LabControl Control(ExecuteCommandContext c) => c.Services.GetRequiredService<LabControl>();

    private static ResourceCommandState When(UpdateCommandStateContext c, Func<string?, bool> state) =>
        state(c.ResourceSnapshot.State?.Text) ? ResourceCommandState.Enabled : ResourceCommandState.Disabled;

    private static bool IsRunning(string? s) => s == KnownResourceStates.Running;

    public static void AddNodeCommands(IResourceBuilder<LabPartResource> node)
    {
        var name = node.Resource.Node;
        void Fault(string command, string display, FaultKind kind, string icon, Func<string?, bool> enabled, string? confirm = null) =>
            node.WithCommand(command, display, c => Control(c).InjectAsync(kind, name, c.CancellationToken), new CommandOptions
            {
                Description = FaultKinds.Info(kind).Description,
                IconName = icon,
                ConfirmationMessage = confirm,
                UpdateState = c => When(c, enabled),
            });
        Fault("kill", "Kill node", FaultKind.NodeKill, "Flash", IsRunning);
        Fault("stop", "Stop node", FaultKind.NodeStop, "Stop", IsRunning);
        Fault("pause", "Pause node", FaultKind.NodePause, "Pause", IsRunning);
        Fault("restart", "Restart node", FaultKind.NodeRestart, "ArrowCounterclockwise", IsRunning);
        node.WithCommand("unpause", "Unpause node", c => Control(c).RestoreAsync(name, null, c.CancellationToken), new CommandOptions
        {
            Description = "Undo the pause (docker unpause of the node, its haproxy and its keepalived), as the chaos runner does.",
            IconName = "Play",
            UpdateState = c => When(c, s => s == "Paused"),
        });
        node.WithCommand("start", "Start node", c => Control(c).RestoreAsync(name, null, c.CancellationToken), new CommandOptions
        {
            Description = "Undo what was done to the node (the chaos runner's undo: start it, recreate its sidecars, wait for the VIP; Kubernetes' pod routes after it).",
            IconName = "Play",
            UpdateState = c => When(c, s => s is not null && s != KnownResourceStates.Running && s != "Paused" && s != KnownResourceStates.NotStarted),
        });
    }

    public static void AddSidecarCommands(IResourceBuilder<LabPartResource> sidecar)
    {
        var (node, role) = (sidecar.Resource.Node, sidecar.Resource.Role);
        var kill = role == LabRole.Haproxy ? FaultKind.HaproxyKill : FaultKind.KeepalivedKill;
        var stop = role == LabRole.Haproxy ? FaultKind.HaproxyStop : FaultKind.KeepalivedStop;
        sidecar.WithCommand("kill", $"Kill {LabNames.RoleLabel(role)}", c => Control(c).InjectAsync(kill, node, c.CancellationToken), new CommandOptions
        {
            Description = FaultKinds.Info(kill).Description,
            IconName = "Flash",
            UpdateState = c => When(c, IsRunning),
        });
        sidecar.WithCommand("stop", $"Stop {LabNames.RoleLabel(role)}", c => Control(c).InjectAsync(stop, node, c.CancellationToken), new CommandOptions
        {
            Description = FaultKinds.Info(stop).Description,
            IconName = "Stop",
            UpdateState = c => When(c, IsRunning),
        });
        sidecar.WithCommand("start", $"Start {LabNames.RoleLabel(role)}", c => Control(c).RestoreAsync(node, role, c.CancellationToken), new CommandOptions
        {
            Description = "Undo the kill or stop of the sidecar (docker start; when its node is down too, the lab runtime's bring-up).",
            IconName = "Play",
            UpdateState = c => When(c, s => s is not null && s != KnownResourceStates.Running && s != KnownResourceStates.NotStarted),
        });
    }

    public static void AddLabCommands(IResourceBuilder<LabResource> lab)
    {
        lab.WithCommand("run-scenario", "Run chaos scenario", c => Control(c).RunScenarioAsync(c.Arguments.GetString(ScenarioArgument) ?? "", c.CancellationToken), new CommandOptions
        {
            Description = "Run a shipped chaos scenario (chaos/scenarios) with the chaos runner: a trace per run in Traces, failover and probe metrics in Metrics, the verdict and run folder here.",
            IconName = "BugArrowCounterclockwise",
            IsHighlighted = true,
            Arguments =
            [
                new InteractionInput
                {
                    Name = ScenarioArgument,
                    Label = "Scenario",
                    InputType = InputType.Choice,
                    Required = true,
                    Options = LabControl.ScenarioChoices(),
                },
            ],
            UpdateState = c => When(c, IsRunning),
        });
        lab.WithCommand("show-report", "Show last chaos report", c => Control(c).ShowLastReportAsync(c.CancellationToken), new CommandOptions
        {
            Description = "Show the last chaos run's summary.md (the run folder also has result.json, junit.xml and timeline.svg).",
            IconName = "DocumentText",
        });
    }
}
