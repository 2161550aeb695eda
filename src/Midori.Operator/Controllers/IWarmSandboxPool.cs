using System.ComponentModel.DataAnnotations;
using Midori.Operator.Providers;

namespace Midori.Operator.Controllers;

/// <summary>
/// Where the provisioner asks for a warm sandbox before creating one (<see cref="PreviewSandboxPoolController"/>).
/// A claim is handed over at once: the caller owns the sandbox from then on and must record its id in the
/// PreviewSandbox's status before writing files into it (that record is what keeps it out of the pool after a restart).
/// </summary>
public interface IWarmSandboxPool
{
    /// <summary>
    /// A ready warm sandbox of a pool in <see cref="WarmClaimRequest.Namespace"/> with the same provider and template,
    /// kept alive until <see cref="WarmClaimRequest.Until"/>; null (a miss) when there is none. Never throws for provider errors.
    /// </summary>
    Task<WarmClaim?> TryClaimAsync(WarmClaimRequest request, CancellationToken cancellationToken);
}

/// <param name="Provider">The effective provider name (spec.provider or the operator's default).</param>
/// <param name="Template">spec.template; null and empty are the same.</param>
/// <param name="Until">The preview's end: the claimed sandbox is extended to it.</param>
public sealed record WarmClaimRequest(string Namespace, string Provider, string? Template, DateTimeOffset Until);

/// <param name="Pool">Name of the pool the sandbox came from (events, history).</param>
public sealed record WarmClaim(SandboxInfo Sandbox, string Pool);

/// <summary>Settings of the warm pools (section <c>Pools</c>).</summary>
public sealed class PoolOptions
{
    public const string SectionName = "Pools";

    /// <summary>False: PreviewSandboxPools are not acted on and every claim misses.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Upper bound between two passes over a pool (scale changes arrive by watch sooner).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan ResyncInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often warm sandboxes of deleted pools are looked for (after a crash, or a pool deleted while another replica led).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Warm sandboxes younger than this are never swept (a create in flight while its pool is being listed).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan SweepGrace { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Creations one pass starts at once; the rest follow in the next pass.</summary>
    [Range(1, 50)]
    public int MaxParallelCreates { get; set; } = 4;

    /// <summary>A warm sandbox with less life left than this (at most a quarter of the pool's ttlSeconds) is replaced.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan MinRemaining { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A warm sandbox still Pending this long after its creation is replaced.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan PendingGrace { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Backoff after failed creations: base × 2^(n−1), capped at <see cref="MaxBackoff"/>.</summary>
    [Range(1, 3600)]
    public int BackoffBaseSeconds { get; set; } = 5;

    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

    internal PoolSettings ToSettings() => new(MaxParallelCreates, MinRemaining, PendingGrace, BackoffBaseSeconds, MaxBackoff, ResyncInterval);
}
