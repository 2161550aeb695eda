using System.ComponentModel.DataAnnotations;

namespace Midori.Operator.Http;

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

    /// <summary>How long <c>POST /api/preview/daytona</c> waits for the preview to be Ready (the front end's hook expects the URL in the reply).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>Sandbox ids a preview had before recreations that are still accepted (front ends holding an old id keep working).</summary>
    [Range(0, 1_000)]
    public int RememberedOldSandboxIds { get; set; } = 32;
}
