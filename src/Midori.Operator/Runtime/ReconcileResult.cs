using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Runtime;

/// <summary>
/// Outcome of one reconcile (KubeOps' ReconciliationResult shape): the caller schedules the next run from
/// <see cref="RequeueAfter"/>. A null delay means "nothing time-based pending" (the periodic resync still applies).
/// </summary>
public sealed record ReconcileResult
{
    private ReconcileResult(TimeSpan? requeueAfter, string? error, Exception? exception)
    {
        RequeueAfter = requeueAfter;
        Error = error;
        Exception = exception;
    }

    public TimeSpan? RequeueAfter { get; }

    public string? Error { get; }

    public Exception? Exception { get; }

    public bool IsSuccess => Error is null;

    public static ReconcileResult Done() => new(null, null, null);

    /// <summary>Run again after <paramref name="delay"/>; the workers turn delays ≤ 0 into the short conflict delay.</summary>
    public static ReconcileResult After(TimeSpan delay) => new(delay, null, null);

    /// <summary>Failed; the runtime applies per-key exponential backoff unless <paramref name="requeueAfter"/> is given.</summary>
    public static ReconcileResult Failure(string error, Exception? exception = null, TimeSpan? requeueAfter = null) =>
        new(requeueAfter, error, exception);
}

/// <summary>Reconciles one object by key. Level-based: it re-reads everything it needs and never looks at the triggering event.</summary>
public interface IReconciler
{
    Task<ReconcileResult> ReconcileAsync(PreviewKey key, CancellationToken cancellationToken);
}
