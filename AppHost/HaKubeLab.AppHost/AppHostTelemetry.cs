using HaKubeLab.Telemetry;
using Microsoft.Extensions.Configuration;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace HaKubeLab.AppHost;

/// <summary>
/// Sends the AppHost's own spans and metrics (the lab runtime's bring-up, the bootstrap, the chaos runs started
/// from the dashboard) to the dashboard's OTLP endpoint, under two services: <see cref="TelemetryNames.Services.Lab"/>
/// (lab runtime, bootstrap, AppHost) and <see cref="TelemetryNames.Services.Chaos"/> (chaos runner). Each has a fixed
/// service instance id, so the dashboard lists "hakubelab-lab", not "hakubelab-lab-&lt;guid&gt;".
/// </summary>
public sealed class AppHostTelemetry : IDisposable
{
    private readonly List<IDisposable> _providers = [];

    /// <summary>The dashboard's OTLP endpoint the AppHost exports to, or null when there is none.</summary>
    public Uri? Endpoint { get; }

    public AppHostTelemetry(IConfiguration configuration, bool dashboardEnabled)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var url = configuration["ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL"] ?? configuration["DOTNET_DASHBOARD_OTLP_ENDPOINT_URL"];
        if (!dashboardEnabled || string.IsNullOrEmpty(url) || !Uri.TryCreate(url, UriKind.Absolute, out var endpoint)) return;
        Endpoint = endpoint;
        // Unsecured dashboards take no key; otherwise the AppHost's generated key, as its child processes get it.
        var headers = configuration["AppHost:OtlpApiKey"] is { Length: > 0 } key ? $"x-otlp-api-key={key}" : null;
        void Otlp(OtlpExporterOptions o)
        {
            o.Endpoint = endpoint;
            o.Protocol = OtlpExportProtocol.Grpc;
            if (headers is not null) o.Headers = headers;
            // Short batches: a dashboard is watched live.
            o.BatchExportProcessorOptions.ScheduledDelayMilliseconds = 500;
        }

        foreach (var (service, sources, meters) in new[]
                 {
                     (TelemetryNames.Services.Lab, new[] { TelemetryNames.Lab, TelemetryNames.Bootstrap, TelemetryNames.AppHost }, new[] { TelemetryNames.Lab, TelemetryNames.AppHost }),
                     (TelemetryNames.Services.Chaos, new[] { TelemetryNames.Chaos }, new[] { TelemetryNames.Chaos }),
                 })
        {
            var resource = ResourceBuilder.CreateEmpty().AddService(service, serviceInstanceId: service, autoGenerateServiceInstanceId: false);
            _providers.Add(Sdk.CreateTracerProviderBuilder().SetResourceBuilder(resource).SetSampler(new AlwaysOnSampler())
                .AddSource(sources).AddOtlpExporter(Otlp).Build()!);
            _providers.Add(Sdk.CreateMeterProviderBuilder().SetResourceBuilder(resource).AddMeter(meters)
                .AddOtlpExporter((o, reader) =>
                {
                    Otlp(o);
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 2000;
                }).Build()!);
        }
    }

    /// <summary>Flushes and stops export (bounded: a dashboard already gone must not hold up shutdown).</summary>
    public void Dispose()
    {
        foreach (var p in _providers)
        {
            if (p is TracerProvider t) t.ForceFlush(2000);
            if (p is MeterProvider m) m.ForceFlush(2000);
            p.Dispose();
        }
        _providers.Clear();
    }
}
