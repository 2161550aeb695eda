using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Options;

/// <summary>Controller settings, bound from the <c>Operator</c> section (env: <c>Operator__Workers</c>, ...).</summary>
public sealed class OperatorOptions
{
    public const string SectionName = "Operator";

    /// <summary>Provider used when spec.provider is omitted.</summary>
    [Required]
    public string DefaultProvider { get; set; } = ProviderNames.Local;

    /// <summary>Namespace to watch; empty watches all namespaces.</summary>
    public string? WatchNamespace { get; set; }

    /// <summary>Concurrent reconciles (different objects; one object is never reconciled twice at once).</summary>
    [Range(1, 256)]
    public int Workers { get; set; } = 8;

    /// <summary>
    /// Upper bound of concurrent reconciles while a backlog waits: extra workers start while keys are due and every
    /// worker is busy, and stop once nothing is due. Equal to <see cref="Workers"/>: a fixed pool. Unset: the larger
    /// of <see cref="Workers"/> and 32 (<see cref="EffectiveMaxWorkers"/>).
    /// </summary>
    [Range(1, 256)]
    public int? MaxWorkers { get; set; }

    public int EffectiveMaxWorkers => MaxWorkers ?? Math.Max(Workers, 32);

    /// <summary>Requests per second the operator's Kubernetes client sends at most, sustained (client-go's QPS).</summary>
    [Range(1.0, 100_000.0)]
    public double ApiQps { get; set; } = 1000;

    /// <summary>Requests the operator's Kubernetes client may send at once above <see cref="ApiQps"/> (client-go's burst).</summary>
    [Range(1, 100_000)]
    public int ApiBurst { get; set; } = 2000;

    /// <summary>Every object is reconciled at least this often, so a lost timer heals itself.</summary>
    [Range(typeof(TimeSpan), "00:00:10", "1.00:00:00")]
    public TimeSpan ResyncInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often a Running sandbox is checked with the provider and its preview URL probed.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Timeout of one preview-URL health probe.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan HealthProbeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Consecutive failed probes after which the sandbox counts as dead and is recreated.</summary>
    [Range(1, 100)]
    public int ProbeFailureThreshold { get; set; } = 3;

    /// <summary>Cap of the exponential backoff between failed attempts.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Server-side timeout of one watch request; the informer re-watches from the last resourceVersion.</summary>
    [Range(typeof(TimeSpan), "00:00:05", "01:00:00")]
    public TimeSpan WatchTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Provisioning that takes longer than this is shown as phase Creating/Recreating while it runs.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan ProgressReportDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Requeue delay after a 409 conflict or a transient API error.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:05:00")]
    public TimeSpan ConflictRequeueDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Delete finished previews created through the API (or annotated <c>preview.midori.dev/retention: delete</c>) after the periods below.</summary>
    public bool RetentionEnabled { get; set; } = true;

    /// <summary>How long a preview may sit Stopped or Failed before retention deletes it (default 2 hours).</summary>
    [Range(typeof(TimeSpan), "00:01:00", "365.00:00:00")]
    public TimeSpan RetainStoppedOrFailedFor { get; set; } = TimeSpan.FromHours(2);

    /// <summary>How long a preview may sit Expired before retention deletes it (default 24 hours).</summary>
    [Range(typeof(TimeSpan), "00:01:00", "365.00:00:00")]
    public TimeSpan RetainExpiredFor { get; set; } = TimeSpan.FromHours(24);
}

/// <summary>Cross-field checks; reports every problem at once (Aspire style).</summary>
internal sealed class OperatorOptionsValidator : IValidateOptions<OperatorOptions>
{
    public ValidateOptionsResult Validate(string? name, OperatorOptions options)
    {
        var errors = new List<string>();
        if (!ProviderNames.All.Contains(options.DefaultProvider))
        {
            errors.Add($"Operator:DefaultProvider must be one of {string.Join(", ", ProviderNames.All)}; got '{options.DefaultProvider}'.");
        }

        if (options.MaxWorkers is { } max && max < options.Workers)
        {
            errors.Add($"Operator:MaxWorkers ({options.MaxWorkers}) must be at least Operator:Workers ({options.Workers}).");
        }

        if (options.ApiBurst < options.ApiQps)
        {
            errors.Add($"Operator:ApiBurst ({options.ApiBurst}) must be at least Operator:ApiQps ({options.ApiQps}): a smaller bucket caps the rate below the QPS.");
        }

        if (options.HealthProbeTimeout >= options.HealthCheckInterval)
        {
            errors.Add("Operator:HealthProbeTimeout must be shorter than Operator:HealthCheckInterval.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
