using System.ComponentModel.DataAnnotations;

namespace Midori.Operator.Controllers;

/// <summary>Orphan sweep settings, bound from <c>Providers:OrphanSweep</c> (env: <c>Providers__OrphanSweep__DryRun</c>, ...).</summary>
public sealed class OrphanSweepOptions
{
    public const string SectionName = "Providers:OrphanSweep";

    public bool Enabled { get; set; } = true;

    /// <summary>Log and count orphans without deleting them.</summary>
    public bool DryRun { get; set; }

    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>First sweep after gaining leadership (lets a new leader's informer settle first).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan InitialDelay { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Sandboxes younger than this are never swept, so a create in flight (resource not yet visible) is safe.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromMinutes(15);
}
