using System.ComponentModel.DataAnnotations;

namespace Midori.Operator.Http;

/// <summary>Server-sent events of previews, bound from <c>Api:Events</c>.</summary>
public sealed class PreviewEventsOptions
{
    public const string SectionName = "Api:Events";

    /// <summary>A comment line is written this often on an idle stream so proxies and load balancers keep it open.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Events queued per client; a client that falls this far behind is disconnected (it reconnects and resumes).</summary>
    [Range(4, 100_000)]
    public int ClientBufferSize { get; set; } = 256;

    /// <summary>Reconnect delay suggested to EventSource clients (<c>retry:</c>).</summary>
    [Range(100, 600_000)]
    public int RetryMilliseconds { get; set; } = 3_000;

    /// <summary>PostgreSQL NOTIFY channel carrying the leader's progress events to every replica (when the store is configured).</summary>
    [Required]
    [RegularExpression("^[a-z_][a-z0-9_]{0,62}$", ErrorMessage = "Api:Events:NotifyChannel must be a lowercase SQL identifier")]
    public string NotifyChannel { get; set; } = "midori_preview_events";
}

/// <summary>Seed-compatible <c>/api/preview/daytona</c> routes, bound from <c>Api:SeedCompat</c>.</summary>
public sealed class SeedCompatOptions
{
    public const string SectionName = "Api:SeedCompat";

    /// <summary>Map the routes at all.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Namespace for callers whose token does not name exactly one namespace (wildcard tokens, Kubernetes users).
    /// The caller must still be allowed into it.
    /// </summary>
    [RegularExpression("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", ErrorMessage = "Api:SeedCompat:DefaultNamespace must be a DNS label")]
    [MaxLength(63)]
    public string? DefaultNamespace { get; set; }

    /// <summary>How long <c>POST /api/preview/daytona</c> waits for the preview to be Ready (the seed's hook expects the URL in the reply).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>Sandbox ids a preview had before recreations that are still accepted (front ends holding an old id keep working).</summary>
    [Range(0, 1_000)]
    public int RememberedOldSandboxIds { get; set; } = 32;
}
