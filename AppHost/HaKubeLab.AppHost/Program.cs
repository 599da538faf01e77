// The Aspire app model of the lab. The lab's nodes and sidecars are added by a later issue
// (custom resources backed by HaKubeLab.Lab's runtime); for now the AppHost only starts the dashboard.
var builder = DistributedApplication.CreateBuilder(args);
builder.Build().Run();
