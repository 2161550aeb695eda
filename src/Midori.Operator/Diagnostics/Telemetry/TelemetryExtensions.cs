using System.Reflection;
using Midori.Operator.Options;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Midori.Operator.Diagnostics.Telemetry;

/// <summary>
/// OpenTelemetry wiring: the <see cref="MidoriMetrics"/> meter (plus .NET runtime metrics) exported in Prometheus text
/// format at <c>/metrics</c>, and the <see cref="MidoriTracing"/> spans exported over OTLP when enabled.
/// Structured JSON logs need nothing here: <c>Logging:Console:FormatterName=json</c> selects the built-in JSON console formatter.
/// </summary>
public static class TelemetryExtensions
{
    public const string ServiceName = "midori-operator";

    public static IHostApplicationBuilder AddMidoriTelemetry(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<TelemetryOptions>().BindConfiguration(TelemetryOptions.SectionName)
            .ValidateSettings(TelemetryOptions.SectionName);
        services.AddMetrics();
        services.TryAddSingleton<MidoriMetrics>();

        // Which exporters exist decides which services are registered, so it is read here rather than at run time.
        var options = builder.Configuration.GetSection(TelemetryOptions.SectionName).Get<TelemetryOptions>() ?? new TelemetryOptions();
        var version = typeof(TelemetryExtensions).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        var openTelemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(ServiceName, serviceVersion: version));

        if (options.MetricsEnabled)
        {
            openTelemetry.WithMetrics(metrics => metrics
                .AddMeter(MidoriMetrics.MeterName, "System.Runtime")
                .AddPrometheusExporter());
        }

        if (options.TracingExporter != TracingExporter.None)
        {
            openTelemetry.WithTracing(tracing =>
            {
                tracing.AddSource(MidoriTracing.SourceName)
                    .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(options.TraceSampleRatio)))
                    .AddHttpClientInstrumentation()
                    .AddAspNetCoreInstrumentation(o => o.Filter = context => !IsProbeOrScrape(context.Request.Path, options.MetricsPath));
                if (options.TracingExporter == TracingExporter.Otlp)
                {
                    tracing.AddOtlpExporter(otlp =>
                    {
                        if (options.OtlpEndpoint is { } endpoint)
                        {
                            otlp.Endpoint = endpoint;
                        }

                        otlp.Protocol = options.OtlpProtocol == OtlpTransport.HttpProtobuf ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
                    });
                }
                else
                {
                    tracing.AddConsoleExporter();
                }
            });
        }

        return builder;
    }

    /// <summary>Maps the Prometheus scrape endpoint (when metrics are on).</summary>
    public static IEndpointRouteBuilder MapMidoriTelemetry(this IEndpointRouteBuilder endpoints)
    {
        var options = endpoints.ServiceProvider.GetRequiredService<Microsoft.Extensions.Options.IOptions<TelemetryOptions>>().Value;
        if (options.MetricsEnabled)
        {
            endpoints.MapPrometheusScrapingEndpoint(options.MetricsPath);
        }

        return endpoints;
    }

    private static bool IsProbeOrScrape(PathString path, string metricsPath) =>
        path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz") || path.StartsWithSegments(metricsPath);
}
