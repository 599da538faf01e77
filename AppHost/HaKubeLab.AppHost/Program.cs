// The Aspire AppHost: the whole lab as an app model. The lab's containers are created by the project's runtime
// (LabLifecycle.UpAsync, as './hakubelab up'); the AppHost shows their live state, the VIP holder, the bring-up steps,
// console logs and the cluster's state, offers the chaos runner's faults and scenarios as commands, and exports the
// runtime's, bootstrap's and chaos runner's telemetry to the dashboard. Settings: HAKUBELAB_TOPOLOGY, HAKUBELAB_LAB,
// HAKUBELAB_KUBERNETES (default true), HAKUBELAB_KEEP (default false), as environment variables or --KEY=value arguments.
using HaKubeLab.AppHost;

var builder = DistributedApplication.CreateBuilder(args);
builder.AddHaKubeLab(LabSettings.From(builder.Configuration));
builder.Build().Run();

/// <summary>The AppHost's entry point type, for Aspire.Hosting.Testing.</summary>
public partial class Program;
