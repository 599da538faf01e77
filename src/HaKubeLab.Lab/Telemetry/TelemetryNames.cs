using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace HaKubeLab.Telemetry;

/// <summary>
/// Every ActivitySource, Meter and OpenTelemetry service name of the project, named once here: the lab
/// runtime, the kubeadm bootstrap, the chaos runner and the AppHost all take their names from this class,
/// and an exporter (the CLI's, the AppHost's) subscribes to <see cref="AllSources"/> and <see cref="AllMeters"/>.
/// </summary>
public static class TelemetryNames
{
    /// <summary>Bring-up and teardown of the lab's containers (network, nodes, sidecars, wait for VIP).</summary>
    public const string Lab = "HaKubeLab.Lab";

    /// <summary>The runbook's kubeadm bootstrap over SSH (one span per step).</summary>
    public const string Bootstrap = "HaKubeLab.Bootstrap";

    /// <summary>The chaos runner: a trace per scenario run, spans per step, fault and outage; failover and probe metrics.</summary>
    public const string Chaos = "HaKubeLab.Chaos";

    /// <summary>The Aspire AppHost's own work: dashboard commands, live lab state (VIP holder changes).</summary>
    public const string AppHost = "HaKubeLab.AppHost";

    /// <summary>Every ActivitySource name above.</summary>
    public static readonly IReadOnlyList<string> AllSources = [Lab, Bootstrap, Chaos, AppHost];

    /// <summary>Every Meter name above.</summary>
    public static readonly IReadOnlyList<string> AllMeters = [Lab, Chaos, AppHost];

    /// <summary>OpenTelemetry service names (service.name) under which the dashboard lists the project's telemetry.</summary>
    public static class Services
    {
        public const string Lab = "hakubelab-lab";
        public const string Chaos = "hakubelab-chaos";
    }
}

/// <summary>The lab runtime's and the bootstrap's ActivitySources and the lab's metrics (names from <see cref="TelemetryNames"/>).</summary>
public static class LabTelemetry
{
    public static readonly ActivitySource Lab = new(TelemetryNames.Lab);
    public static readonly ActivitySource Bootstrap = new(TelemetryNames.Bootstrap);
    public static readonly Meter Meter = new(TelemetryNames.Lab);

    /// <summary>Seconds from the start of a bring-up to VIP:port answering (and, with Kubernetes, /readyz through the VIP).</summary>
    public static readonly Histogram<double> UpSeconds = Meter.CreateHistogram<double>("hakubelab.lab.up", "s", "Bring-up time of a lab: to VIP:port answering, or to the API ready through the VIP with Kubernetes.");

    /// <summary>Changes of the VIP holder seen by a live watcher (the AppHost's).</summary>
    public static readonly Counter<long> VipHolderChanges = Meter.CreateCounter<long>("hakubelab.lab.vip.holder.changes", "{change}", "Changes of the node holding the VIP, as seen by the live watcher.");
}
