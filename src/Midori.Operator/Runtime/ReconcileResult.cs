using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Runtime;

/// <summary>
/// Outcome of one reconcile (KubeOps' ReconciliationResult shape): the caller schedules the next run from
/// <see cref="RequeueAfter"/>. A null delay means "nothing time-based pending" (the periodic resync still applies).
/// </summary>
public sealed record ReconcileResult
{
    private ReconcileResult(TimeSpan? requeueAfter, string? error, Exception? exception, DateTimeOffset? from = null)
    {
        RequeueAfter = requeueAfter;
        Error = error;
        Exception = exception;
        From = from;
    }

    public TimeSpan? RequeueAfter { get; }

    /// <summary>
    /// The clock reading <see cref="RequeueAfter"/> counts from, when the reconciler computed it from a deadline; null:
    /// it counts from the end of the reconcile.
    /// </summary>
    public DateTimeOffset? From { get; }

    /// <summary>When the next run is due, given the clock now: <see cref="RequeueAfter"/> from <see cref="From"/> or from now.</summary>
    public TimeSpan? RemainingAt(DateTimeOffset now) => RequeueAfter is { } after && From is { } from ? from + after - now : RequeueAfter;

    public string? Error { get; }

    public Exception? Exception { get; }

    public bool IsSuccess => Error is null;

    public static ReconcileResult Done() => new(null, null, null);

    /// <summary>Run again after <paramref name="delay"/>; the workers turn delays ≤ 0 into the short conflict delay.</summary>
    public static ReconcileResult After(TimeSpan delay) => new(delay, null, null);

    /// <summary>
    /// Run again <paramref name="delay"/> after <paramref name="from"/>, the time the reconciler read at its start: a timer
    /// aimed at a deadline stays on it however long the rest of the reconcile (status write, Secret, Event) took.
    /// </summary>
    public static ReconcileResult After(TimeSpan delay, DateTimeOffset from) => new(delay, null, null, from);

    /// <summary>Failed; the runtime applies per-key exponential backoff unless <paramref name="requeueAfter"/> is given.</summary>
    public static ReconcileResult Failure(string error, Exception? exception = null, TimeSpan? requeueAfter = null) =>
        new(requeueAfter, error, exception);
}

/// <summary>Reconciles one object by key. Level-based: it re-reads everything it needs and never looks at the triggering event.</summary>
public interface IReconciler
{
    Task<ReconcileResult> ReconcileAsync(PreviewKey key, CancellationToken cancellationToken);
}
