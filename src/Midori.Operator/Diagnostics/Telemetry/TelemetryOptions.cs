using System.ComponentModel.DataAnnotations;

namespace Midori.Operator.Diagnostics.Telemetry;

/// <summary>Metrics and tracing settings, bound from <c>Telemetry</c> (env: <c>Telemetry__TracingExporter=otlp</c>, ...).</summary>
public sealed class TelemetryOptions
{
    public const string SectionName = "Telemetry";

    /// <summary>Serve Prometheus metrics at <see cref="MetricsPath"/> on the HTTP port.</summary>
    public bool MetricsEnabled { get; set; } = true;

    [Required]
    [RegularExpression("^/[A-Za-z0-9/_.-]*$", ErrorMessage = "Telemetry:MetricsPath must be an absolute URL path such as /metrics.")]
    public string MetricsPath { get; set; } = "/metrics";

    /// <summary>Where spans go: <c>None</c> (default, no tracer at all), <c>Otlp</c> or <c>Console</c>.</summary>
    public TracingExporter TracingExporter { get; set; } = TracingExporter.None;

    /// <summary>OTLP collector; empty: the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> variable, else the exporter's default (localhost:4317).</summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary><c>Grpc</c> (port 4317) or <c>HttpProtobuf</c> (port 4318).</summary>
    public OtlpTransport OtlpProtocol { get; set; } = OtlpTransport.Grpc;

    /// <summary>Share of root traces kept (parent-based: a sampled caller keeps its children).</summary>
    [Range(0d, 1d)]
    public double TraceSampleRatio { get; set; } = 1d;
}

public enum TracingExporter
{
    None,
    Otlp,
    Console,
}

public enum OtlpTransport
{
    Grpc,
    HttpProtobuf,
}
