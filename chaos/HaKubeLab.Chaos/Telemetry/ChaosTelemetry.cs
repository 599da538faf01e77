using System.Diagnostics;
using System.Diagnostics.Metrics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace HaKubeLab.Chaos.Telemetry;

/// <summary>
/// The chaos runner's traces and metrics. One trace per scenario run (a root span), a span per step
/// and per fault (injection to undo), outages as spans with their measured start and end; metrics:
/// failover seconds (histogram), probe successes and failures (counters), probe latency (histogram).
/// Nothing leaves the process unless <see cref="StartExport"/> found OTEL_EXPORTER_OTLP_ENDPOINT.
/// </summary>
public static class ChaosTelemetry
{
    public const string SourceName = HaKubeLab.Telemetry.TelemetryNames.Chaos;

    public static readonly ActivitySource Source = new(SourceName);
    public static readonly Meter Meter = new(SourceName);

    /// <summary>Failover time per fault and probe through the VIP, in seconds.</summary>
    public static readonly Histogram<double> FailoverSeconds = Meter.CreateHistogram<double>("hakubelab.chaos.failover", "s", "Failover time: fault time to the first successful probe through the VIP after it.");

    public static readonly Counter<long> ProbeSuccesses = Meter.CreateCounter<long>("hakubelab.chaos.probe.successes", "{probe}", "Successful probe attempts.");

    public static readonly Counter<long> ProbeFailures = Meter.CreateCounter<long>("hakubelab.chaos.probe.failures", "{probe}", "Failed probe attempts.");

    public static readonly Histogram<double> ProbeLatency = Meter.CreateHistogram<double>("hakubelab.chaos.probe.latency", "ms", "Latency of successful probe attempts.");

    public static readonly Histogram<double> OutageSeconds = Meter.CreateHistogram<double>("hakubelab.chaos.outage", "s", "Outage length: first failed probe to the next successful one.");

    /// <summary>
    /// Starts OTLP export of this runner's traces and metrics (and the lab runtime's and bootstrap's spans, names from TelemetryNames,
    /// e.g. a restore's bring-up) when OTEL_EXPORTER_OTLP_ENDPOINT is set, as the Aspire dashboard sets it.
    /// Returns null otherwise: nothing is sent and nothing can fail. Dispose to flush.
    /// </summary>
    public static IDisposable? StartExport(string serviceName = HaKubeLab.Telemetry.TelemetryNames.Services.Chaos)
    {
        if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT"))) return null;
        var resource = ResourceBuilder.CreateDefault().AddService(serviceName);
        var tracer = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(resource)
            .AddSource([.. HaKubeLab.Telemetry.TelemetryNames.AllSources])
            .AddOtlpExporter()
            .Build();
        var meter = Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(resource)
            .AddMeter([.. HaKubeLab.Telemetry.TelemetryNames.AllMeters])
            .AddOtlpExporter()
            .Build();
        return new Export(tracer, meter);
    }

    private sealed class Export(TracerProvider? tracer, MeterProvider? meter) : IDisposable
    {
        public void Dispose()
        {
            // Flushing to an endpoint that does not answer must not hang the CLI for long.
            tracer?.ForceFlush(5000);
            meter?.ForceFlush(5000);
            tracer?.Dispose();
            meter?.Dispose();
        }
    }
}
