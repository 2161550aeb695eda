using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Options;
using Midori.Operator.Runtime;

namespace Midori.Operator.Controllers;

/// <summary>
/// When a preview is reconciled next: every timer is a RequeueAfter computed from durable anchors in status, counted from
/// the reconcile's own clock reading so the time spent writing afterwards does not make it late.
/// </summary>
internal static class SandboxSchedule
{
    /// <summary>Never requeue sooner than this: a delay ≤ 0 would spin while caches catch up.</summary>
    public static readonly TimeSpan Minimum = TimeSpan.FromMilliseconds(50);

    /// <summary>A failed removal or push is retried this soon.</summary>
    public static readonly TimeSpan Retry = TimeSpan.FromSeconds(5);

    public static TimeSpan Clamp(TimeSpan delay) => delay < Minimum ? Minimum : delay;

    public static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>
    /// A running preview: the earliest of TTL end, idle deadline, the heads-up before the next cut
    /// (<paramref name="warnAt"/>) and the next health check, capped by the resync.
    /// </summary>
    public static ReconcileResult NextCheck(PreviewSandboxStatus status, DateTimeOffset now, OperatorOptions options, DateTimeOffset? warnAt = null)
    {
        var next = now + options.HealthCheckInterval;
        if (warnAt is { } warn && warn > now && warn < next)
        {
            next = warn;
        }

        if (status.ExpiresAt is { } expires && SandboxSnapshot.ToOffset(expires) < next)
        {
            next = SandboxSnapshot.ToOffset(expires);
        }

        if (status.IdleDeadline is { } idle && SandboxSnapshot.ToOffset(idle) < next)
        {
            next = SandboxSnapshot.ToOffset(idle);
        }

        return ReconcileResult.After(Clamp(Min(next - now, options.ResyncInterval)), now);
    }

    /// <summary>A preview that just ended: its retention deadline (when it has one), capped by the resync.</summary>
    public static ReconcileResult UntilRetention(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, DateTimeOffset now, OperatorOptions options) =>
        ReconcileResult.After(
            SandboxRetention.DeleteAt(resource, status.Phase, status.EndedAt is { } ended ? SandboxSnapshot.ToOffset(ended) : null, options.Retention()) is { } due
                ? Clamp(Min(due - now, options.ResyncInterval))
                : options.ResyncInterval, now);

    /// <summary>A decision to wait: until its <paramref name="notBefore"/> when it has one, capped by the resync.</summary>
    public static ReconcileResult Until(DateTimeOffset? notBefore, DateTimeOffset now, OperatorOptions options) =>
        notBefore is { } due
            ? ReconcileResult.After(Clamp(Min(due - now, options.ResyncInterval)), now)
            : ReconcileResult.After(options.ResyncInterval, now);
}
