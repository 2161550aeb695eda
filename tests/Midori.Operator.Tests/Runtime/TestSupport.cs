using Microsoft.Extensions.Options;
using Midori.Operator.Options;
using Midori.Operator.Runtime;
using Midori.Operator.Testing;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Tests.Runtime;

internal static class TestSupport
{
    public static readonly TimeSpan Timeout = TestWaits.Bound;

    public static Task WithTimeout(this Task task) => task.WaitAsync(Timeout);

    public static Task<T> WithTimeout<T>(this Task<T> task) => task.WaitAsync(Timeout);

    public static Task<T> WithTimeout<T>(this ValueTask<T> task) => task.AsTask().WaitAsync(Timeout);

    public static IOptions<OperatorOptions> Options(Action<OperatorOptions>? configure = null)
    {
        var options = new OperatorOptions
        {
            Workers = 2,
            ResyncInterval = TimeSpan.FromMinutes(10),
            ConflictRequeueDelay = TimeSpan.FromMilliseconds(200),
            MaxBackoff = TimeSpan.FromMinutes(5),
            WatchTimeout = TimeSpan.FromMinutes(5),
        };
        configure?.Invoke(options);
        return Microsoft.Extensions.Options.Options.Create(options);
    }

    /// <summary>Backoffs without jitter, so delays are exact.</summary>
    public static RetryBackoff NoJitterWatchBackoff() => RetryBackoff.ForWatch(() => 0);

    public static RetryBackoff NoJitterReconcileBackoff() => RetryBackoff.ForReconcile(TimeSpan.FromMinutes(5), () => 0);
}

/// <summary>Reconciler driven by a delegate; registered as scoped like the real one.</summary>
internal sealed class DelegateReconciler(Func<PreviewKey, CancellationToken, Task<ReconcileResult>> reconcile) : IReconciler
{
    public Task<ReconcileResult> ReconcileAsync(PreviewKey key, CancellationToken cancellationToken) => reconcile(key, cancellationToken);
}

/// <summary>Leadership the test flips by hand.</summary>
internal sealed class FakeLeadership : ILeadership
{
    private CancellationTokenSource? _term;

    public event Action<CancellationToken>? StartedLeading;

    public event Action? StoppedLeading;

    public bool IsLeader { get; private set; }

    public CancellationToken Become()
    {
        _term = new CancellationTokenSource();
        IsLeader = true;
        StartedLeading?.Invoke(_term.Token);
        return _term.Token;
    }

    public void Lose()
    {
        IsLeader = false;
        _term?.Cancel();
        StoppedLeading?.Invoke();
    }
}
