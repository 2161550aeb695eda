using Midori.Operator.Runtime;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Benchmarks;

internal sealed class ReconcileCounter
{
    private long _count;

    public long Count => Interlocked.Read(ref _count);

    public void Increment() => Interlocked.Increment(ref _count);
}

/// <summary>Counts reconciles around the real reconciler.</summary>
internal sealed class CountingReconciler(IReconciler inner, ReconcileCounter counter) : IReconciler
{
    public Task<ReconcileResult> ReconcileAsync(PreviewKey key, CancellationToken cancellationToken)
    {
        counter.Increment();
        return inner.ReconcileAsync(key, cancellationToken);
    }
}
