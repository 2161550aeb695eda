using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Runtime;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Tests.Runtime;

public sealed class ReconcileQueueTests : IDisposable
{
    private static readonly PreviewKey A = new("default", "a");
    private static readonly PreviewKey B = new("default", "b");
    private static readonly PreviewKey C = new("other", "c");

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly ReconcileQueue _queue;

    public ReconcileQueueTests() => _queue = new ReconcileQueue(_time);

    public void Dispose() => _queue.Dispose();

    [Fact]
    public async Task Add_NewKey_DequeuedImmediately()
    {
        // arrange
        _queue.Add(A);

        // act
        var key = await _queue.DequeueAsync(CancellationToken.None).WithTimeout();

        // assert
        Assert.Equal(A, key);
        Assert.Equal(0, _queue.Count);
        Assert.Equal(1, _queue.InFlight);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public async Task AddAfter_NonPositiveDelay_Immediate(int delaySeconds)
    {
        // arrange / act
        _queue.AddAfter(A, TimeSpan.FromSeconds(delaySeconds));

        // assert
        Assert.Equal(1, _queue.Depth);
        Assert.Equal(A, await _queue.DequeueAsync(CancellationToken.None).WithTimeout());
    }

    [Fact]
    public async Task DequeueAsync_DelayedKey_CompletesOnlyWhenTimeAdvancesToDue()
    {
        // arrange
        _queue.AddAfter(A, TimeSpan.FromSeconds(10));
        var dequeue = _queue.DequeueAsync(CancellationToken.None);

        // act
        _time.Advance(TimeSpan.FromSeconds(9));
        var earlyCompleted = dequeue.IsCompleted;
        _time.Advance(TimeSpan.FromSeconds(1));

        // assert
        Assert.False(earlyCompleted);
        Assert.Equal(A, await dequeue.WithTimeout());
    }

    [Fact]
    public void AddAfter_EarlierDueOnReAdd_EarliestDueWins()
    {
        // arrange
        _queue.AddAfter(A, TimeSpan.FromSeconds(30));

        // act
        _queue.AddAfter(A, TimeSpan.FromSeconds(5));
        _time.Advance(TimeSpan.FromSeconds(5));

        // assert
        Assert.Equal(1, _queue.Count);
        Assert.Equal(1, _queue.Depth);
    }

    [Fact]
    public void AddAfter_LaterDueOnReAdd_DoesNotPostpone()
    {
        // arrange
        _queue.AddAfter(A, TimeSpan.FromSeconds(5));

        // act
        _queue.AddAfter(A, TimeSpan.FromSeconds(30));
        _queue.Add(B);
        _queue.AddAfter(B, TimeSpan.FromSeconds(30));
        _time.Advance(TimeSpan.FromSeconds(5));

        // assert
        Assert.Equal(2, _queue.Count);
        Assert.Equal(2, _queue.Depth);
    }

    [Fact]
    public async Task DequeueAsync_SeveralDue_HandedOutInDueTimeOrder()
    {
        // arrange
        _queue.AddAfter(A, TimeSpan.FromSeconds(3));
        _queue.AddAfter(B, TimeSpan.FromSeconds(1));
        _queue.AddAfter(C, TimeSpan.FromSeconds(2));
        _time.Advance(TimeSpan.FromSeconds(5));

        // act
        var first = await _queue.DequeueAsync(CancellationToken.None).WithTimeout();
        var second = await _queue.DequeueAsync(CancellationToken.None).WithTimeout();
        var third = await _queue.DequeueAsync(CancellationToken.None).WithTimeout();

        // assert
        Assert.Equal([B, C, A], [first, second, third]);
    }

    [Fact]
    public async Task Add_WhileProcessing_NotHandedOutUntilDone()
    {
        // arrange
        _queue.Add(A);
        var processing = await _queue.DequeueAsync(CancellationToken.None).WithTimeout();

        // act
        _queue.Add(A);
        var secondWorker = _queue.DequeueAsync(CancellationToken.None);
        var handedOutWhileProcessing = secondWorker.IsCompleted;
        _queue.Done(processing);

        // assert
        Assert.False(handedOutWhileProcessing);
        Assert.Equal(1, _queue.InFlight);
        Assert.Equal(A, await secondWorker.WithTimeout());
    }

    [Fact]
    public async Task AddAfter_WhileProcessing_HandedOutAtDueTimeAfterDone()
    {
        // arrange
        _queue.Add(A);
        await _queue.DequeueAsync(CancellationToken.None).WithTimeout();
        _queue.AddAfter(A, TimeSpan.FromSeconds(5));
        var next = _queue.DequeueAsync(CancellationToken.None);

        // act
        _queue.Done(A);
        var completedAtDone = next.IsCompleted;
        _time.Advance(TimeSpan.FromSeconds(5));

        // assert
        Assert.False(completedAtDone);
        Assert.Equal(A, await next.WithTimeout());
    }

    [Fact]
    public async Task DequeueAsync_OtherKeyWhileOneProcessing_HandsOutOtherKey()
    {
        // arrange
        _queue.Add(A);
        await _queue.DequeueAsync(CancellationToken.None).WithTimeout();
        _queue.Add(A);

        // act
        _queue.Add(B);
        var key = await _queue.DequeueAsync(CancellationToken.None).WithTimeout();

        // assert
        Assert.Equal(B, key);
        Assert.Equal(1, _queue.Count);
    }

    [Fact]
    public void Forget_PendingKey_Dropped()
    {
        // arrange
        _queue.Add(A);
        _queue.AddAfter(B, TimeSpan.FromSeconds(1));

        // act
        _queue.Forget(A);
        _queue.Forget(B);
        _time.Advance(TimeSpan.FromSeconds(1));

        // assert
        Assert.Equal(0, _queue.Count);
        Assert.Equal(0, _queue.Depth);
    }

    [Fact]
    public async Task Clear_PendingKeys_AllDroppedAndLaterAddsStillWork()
    {
        // arrange
        _queue.Add(A);
        _queue.AddAfter(B, TimeSpan.FromSeconds(1));

        // act
        _queue.Clear();
        _queue.Add(C);

        // assert
        Assert.Equal(C, await _queue.DequeueAsync(CancellationToken.None).WithTimeout());
        Assert.Equal(0, _queue.Count);
    }

    [Fact]
    public async Task DequeueAsync_CancelledWaiter_DoesNotSwallowKey()
    {
        // arrange
        using var cts = new CancellationTokenSource();
        var cancelled = _queue.DequeueAsync(cts.Token);

        // act
        await cts.CancelAsync();
        _queue.Add(A);

        // assert
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WithTimeout());
        Assert.Equal(A, await _queue.DequeueAsync(CancellationToken.None).WithTimeout());
    }

    [Fact]
    public async Task DequeueAsync_ConcurrentWorkers_NeverGetSameKeyTwice()
    {
        // arrange
        var waiters = Enumerable.Range(0, 4).Select(_ => _queue.DequeueAsync(CancellationToken.None)).ToList();

        // act
        _queue.Add(A);
        _queue.Add(A);
        _queue.Add(B);
        _queue.AddAfter(A, TimeSpan.Zero);

        // assert
        var done = waiters.Where(w => w.IsCompleted).Select(w => w.Result).ToList();
        Assert.Equal(2, done.Count);
        Assert.Equal([A, B], done.OrderBy(k => k.ToString(), StringComparer.Ordinal).ToList());
        _queue.Done(A);
        _queue.Done(B);
        Assert.Equal(0, _queue.Count);
        await Task.CompletedTask;
    }

    [Fact]
    public void Depth_MixedDueAndFuture_CountsOnlyDue()
    {
        // arrange / act
        _queue.Add(A);
        _queue.AddAfter(B, TimeSpan.FromMinutes(1));

        // assert
        Assert.Equal(2, _queue.Count);
        Assert.Equal(1, _queue.Depth);
    }
}
