using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Kubernetes;
using Midori.Operator.Runtime;
using Midori.Operator.Testing;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Tests.Runtime;

public sealed class ReconcileWorkersTests : IDisposable
{
    private static readonly PreviewKey A = new("default", "a");
    private static readonly PreviewKey B = new("default", "b");

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly ReconcileQueue _queue;
    private Func<PreviewKey, CancellationToken, Task<ReconcileResult>> _reconcile = (_, _) => Task.FromResult(ReconcileResult.Done());
    private ServiceProvider? _services;

    public ReconcileWorkersTests() => _queue = new ReconcileQueue(_time);

    public void Dispose()
    {
        _queue.Dispose();
        _services?.Dispose();
    }

    [Fact]
    public async Task ProcessAsync_SuccessWithRequeueAfter_RequeuedAfterThatDelay()
    {
        // arrange
        _reconcile = (_, _) => Task.FromResult(ReconcileResult.After(TimeSpan.FromSeconds(30)));
        var workers = CreateWorkers();

        // act
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();

        // assert
        AssertDueAfter(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task ProcessAsync_DelayCountedFromTheReconcilersClock_TheTimeSpentWritingDoesNotMakeItLate()
    {
        // arrange: the reconciler reads the clock, aims 30 s ahead, then spends 2 s writing status
        _reconcile = (_, _) =>
        {
            var now = _time.GetUtcNow();
            _time.Advance(TimeSpan.FromSeconds(2));
            return Task.FromResult(ReconcileResult.After(TimeSpan.FromSeconds(30), now));
        };
        var workers = CreateWorkers();

        // act
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();

        // assert: due 30 s after the reconciler's reading, i.e. 28 s from now
        AssertDueAfter(TimeSpan.FromSeconds(28));
    }

    [Fact]
    public async Task ProcessAsync_AnchoredDelayAlreadyRunOut_DueAtOnce()
    {
        // arrange: a deadline 1 s after the reading, passed while the reconcile wrote for 3 s
        _reconcile = (_, _) =>
        {
            var now = _time.GetUtcNow();
            _time.Advance(TimeSpan.FromSeconds(3));
            return Task.FromResult(ReconcileResult.After(TimeSpan.FromSeconds(1), now));
        };
        var workers = CreateWorkers();

        // act
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();

        // assert
        Assert.Equal(1, _queue.Depth);
    }

    [Fact]
    public async Task ProcessAsync_WriteRefusedByLeadershipFence_KeyDroppedNotRequeuedNotAFailure()
    {
        // arrange
        _reconcile = (_, _) => throw new LeadershipLapsedException("patch status");
        var workers = CreateWorkers();

        // act
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();

        // assert
        Assert.Equal(0, _queue.Count);
        Assert.Equal(0, workers.FailureCount(A));
    }

    [Fact]
    public async Task ProcessAsync_SuccessWithoutRequeue_RequeuedAtResyncInterval()
    {
        // arrange
        var workers = CreateWorkers();

        // act
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();

        // assert
        AssertDueAfter(TimeSpan.FromMinutes(10));
    }

    [Fact]
    public async Task ProcessAsync_RequeueAfterBeyondResync_CappedAtResyncInterval()
    {
        // arrange
        _reconcile = (_, _) => Task.FromResult(ReconcileResult.After(TimeSpan.FromHours(2)));
        var workers = CreateWorkers();

        // act
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();

        // assert
        AssertDueAfter(TimeSpan.FromMinutes(10));
    }

    [Fact]
    public async Task ProcessAsync_SuccessWithNonPositiveRequeue_ClampedToSmallPositiveDelay()
    {
        // arrange
        _reconcile = (_, _) => Task.FromResult(ReconcileResult.After(TimeSpan.Zero));
        var workers = CreateWorkers();

        // act
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();

        // assert
        AssertDueAfter(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task ProcessAsync_RepeatedFailures_BackoffGrowsAndSuccessResetsIt()
    {
        // arrange
        var fail = true;
        _reconcile = (_, _) => Task.FromResult(fail ? ReconcileResult.Failure("provider down") : ReconcileResult.Done());
        var workers = CreateWorkers();

        // act / assert
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();
        AssertDueAfter(TimeSpan.FromSeconds(1));
        _queue.Forget(A);
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();
        AssertDueAfter(TimeSpan.FromSeconds(2));
        _queue.Forget(A);
        Assert.Equal(2, workers.FailureCount(A));
        fail = false;
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();
        Assert.Equal(0, workers.FailureCount(A));
        _queue.Forget(A);
        fail = true;
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();
        AssertDueAfter(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task ProcessAsync_FailureWithRequeueAfter_UsesGivenDelay()
    {
        // arrange
        _reconcile = (_, _) => Task.FromResult(ReconcileResult.Failure("source missing", requeueAfter: TimeSpan.FromSeconds(45)));
        var workers = CreateWorkers();

        // act
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();

        // assert
        AssertDueAfter(TimeSpan.FromSeconds(45));
        Assert.Equal(1, workers.FailureCount(A));
    }

    [Fact]
    public async Task ProcessAsync_ConflictThrown_RequeuedAfterConflictDelay()
    {
        // arrange
        _reconcile = (_, _) => throw new KubernetesConflictException("the object has been modified");
        var workers = CreateWorkers();

        // act
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();

        // assert
        AssertDueAfter(TimeSpan.FromMilliseconds(200));
        Assert.Equal(0, workers.FailureCount(A));
    }

    [Fact]
    public async Task ProcessAsync_OtherExceptionThrown_LoggedAndBackedOff()
    {
        // arrange
        _reconcile = (_, _) => throw new InvalidOperationException("bug");
        var workers = CreateWorkers();

        // act
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();

        // assert
        AssertDueAfter(TimeSpan.FromSeconds(1));
        Assert.Equal(1, workers.FailureCount(A));
    }

    [Fact]
    public async Task ProcessAsync_CancelledDuringReconcile_NotRequeued()
    {
        // arrange
        using var cts = new CancellationTokenSource();
        _reconcile = async (_, ct) =>
        {
            await cts.CancelAsync();
            ct.ThrowIfCancellationRequested();
            return ReconcileResult.Done();
        };
        var workers = CreateWorkers();

        // act
        await workers.ProcessAsync(A, cts.Token).WithTimeout();

        // assert
        Assert.Equal(0, _queue.Count);
    }

    [Fact]
    public async Task ProcessAsync_EachRun_ResolvesScopedReconcilerInNewScope()
    {
        // arrange
        var created = 0;
        var services = new ServiceCollection();
        services.AddScoped<IReconciler>(_ =>
        {
            Interlocked.Increment(ref created);
            return new DelegateReconciler((_, _) => Task.FromResult(ReconcileResult.Done()));
        });
        _services = services.BuildServiceProvider();
        var workers = new ReconcileWorkers(_queue, _services.GetRequiredService<IServiceScopeFactory>(), TestSupport.Options(), _time, NullLogger<ReconcileWorkers>.Instance, TestSupport.NoJitterReconcileBackoff());

        // act
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();
        await workers.ProcessAsync(A, CancellationToken.None).WithTimeout();

        // assert
        Assert.Equal(2, created);
    }

    [Fact]
    public async Task RunAsync_KeyReaddedWhileReconciling_NeverReconciledConcurrently()
    {
        // arrange
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var aStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondARun = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = new System.Collections.Concurrent.ConcurrentDictionary<PreviewKey, int>();
        var maxConcurrentA = 0;
        var aRuns = 0;
        _reconcile = async (key, _) =>
        {
            var now = running.AddOrUpdate(key, 1, (_, n) => n + 1);
            if (key == A)
            {
                maxConcurrentA = Math.Max(maxConcurrentA, now);
                if (Interlocked.Increment(ref aRuns) == 1)
                {
                    aStarted.TrySetResult();
                    await gate.Task;
                }
                else
                {
                    secondARun.TrySetResult();
                }
            }
            else
            {
                bDone.TrySetResult();
            }

            running.AddOrUpdate(key, 0, (_, n) => n - 1);
            return ReconcileResult.After(TimeSpan.FromHours(1));
        };
        var workers = CreateWorkers(workerCount: 4);
        using var cts = new CancellationTokenSource();
        var run = Task.Run(() => workers.RunAsync(cts.Token));

        // act
        _queue.Add(A);
        await aStarted.Task.WithTimeout();
        _queue.Add(A);
        _queue.Add(A);
        _queue.Add(B);
        await bDone.Task.WithTimeout();
        var secondRunBeforeRelease = secondARun.Task.IsCompleted;
        gate.SetResult();
        await secondARun.Task.WithTimeout();
        await cts.CancelAsync();
        await run.WithTimeout();

        // assert
        Assert.False(secondRunBeforeRelease);
        Assert.Equal(1, maxConcurrentA);
        Assert.Equal(2, aRuns);
    }

    [Fact]
    public async Task RunAsync_BacklogWhileEveryWorkerBusy_MoreWorkersUpToMaxThenBackToWorkers()
    {
        // arrange: 10 keys due, every reconcile held until released
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var atMax = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = 0;
        var maxRunning = 0;
        var done = 0;
        var allDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _reconcile = async (_, _) =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref maxRunning, now);
            if (now == 4)
            {
                atMax.TrySetResult();
            }

            await gate.Task;
            Interlocked.Decrement(ref running);
            if (Interlocked.Increment(ref done) == 10)
            {
                allDone.TrySetResult();
            }

            return ReconcileResult.After(TimeSpan.FromHours(1));
        };
        var workers = CreateWorkers(workerCount: 2, maxWorkers: 4);
        for (var i = 0; i < 10; i++)
        {
            _queue.Add(new PreviewKey("default", $"k{i}"));
        }

        using var cts = new CancellationTokenSource();
        var run = Task.Run(() => workers.RunAsync(cts.Token));

        // act
        await atMax.Task.WithTimeout();
        gate.SetResult();
        await allDone.Task.WithTimeout();
        using var bound = new CancellationTokenSource(TestWaits.Bound);
        while (workers.Loops > 2)
        {
            await Task.Delay(10, bound.Token); // bounded poll: extra loops leave once they find nothing due
        }

        await cts.CancelAsync();
        await run.WithTimeout();

        // assert
        Assert.Equal(4, maxRunning);
        Assert.Equal(0, workers.Loops);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    private ReconcileWorkers CreateWorkers(int workerCount = 2, int? maxWorkers = null)
    {
        var services = new ServiceCollection();
        services.AddScoped<IReconciler>(_ => new DelegateReconciler((key, ct) => _reconcile(key, ct)));
        _services = services.BuildServiceProvider();
        return new ReconcileWorkers(
            _queue,
            _services.GetRequiredService<IServiceScopeFactory>(),
            TestSupport.Options(o =>
            {
                o.Workers = workerCount;
                o.MaxWorkers = maxWorkers ?? workerCount;
            }),
            _time,
            NullLogger<ReconcileWorkers>.Instance,
            TestSupport.NoJitterReconcileBackoff());
    }

    private void AssertDueAfter(TimeSpan delay)
    {
        Assert.Equal(1, _queue.Count);
        _time.Advance(delay - TimeSpan.FromTicks(1));
        Assert.Equal(0, _queue.Depth);
        _time.Advance(TimeSpan.FromTicks(1));
        Assert.Equal(1, _queue.Depth);
    }
}
