using System.Diagnostics;
using System.Reflection;

namespace Midori.Operator.Diagnostics;

/// <summary>
/// The operator's one <see cref="ActivitySource"/> ("Midori.Operator"): a span per reconcile and per provider call.
/// Spans cost nothing unless a listener (the OpenTelemetry tracer, enabled by <c>Telemetry:TracingExporter</c>) samples them.
/// </summary>
public static class MidoriTracing
{
    public const string SourceName = "Midori.Operator";

    public static ActivitySource Source { get; } = new(SourceName, typeof(MidoriTracing).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion);

    /// <summary>Root span of one reconcile; tags follow OpenTelemetry's k8s semantic conventions where they exist.</summary>
    public static Activity? StartReconcile(string @namespace, string name)
    {
        var activity = Source.StartActivity("reconcile PreviewSandbox", ActivityKind.Internal);
        activity?.SetTag("k8s.namespace.name", @namespace);
        activity?.SetTag("midori.previewsandbox.name", name);
        return activity;
    }

    public static void SetOutcome(Activity? activity, string outcome, string? error = null)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag("midori.reconcile.result", outcome);
        if (outcome == ReconcileOutcomes.Error)
        {
            activity.SetStatus(ActivityStatusCode.Error, error);
        }
    }

    /// <summary>Span of one provider operation (child of the reconcile or HTTP request that made it).</summary>
    public static Activity? StartProviderCall(string provider, string operation, string? sandboxId)
    {
        var activity = Source.StartActivity($"provider {operation}", ActivityKind.Client);
        activity?.SetTag("midori.provider", provider);
        activity?.SetTag("midori.provider.operation", operation);
        if (sandboxId is not null)
        {
            activity?.SetTag("midori.sandbox.id", sandboxId);
        }

        return activity;
    }
}

/// <summary>Values of the <c>result</c> tag of <c>midori.reconcile.count</c> / <c>midori.reconcile.duration</c>.</summary>
public static class ReconcileOutcomes
{
    public const string Success = "success";
    public const string Error = "error";
    public const string Conflict = "conflict";
    public const string Cancelled = "cancelled";
}
