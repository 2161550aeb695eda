using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Runtime;
using Midori.Operator.Testing;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Tests.Runtime;

/// <summary>Regression: a key falling due between two clock readings inside the queue must not be lost.</summary>
public sealed class ReconcileQueueClockTests
{
    /// <summary>A fake clock that moves 1 ms every time it is read, like a busy real clock between two reads.</summary>
    private sealed class SteppingTimeProvider() : FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero))
    {
        public override DateTimeOffset GetUtcNow()
        {
            Advance(TimeSpan.FromMilliseconds(1));
            return base.GetUtcNow();
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public async Task AddAfter_WhenDueFallsBetweenClockReadings_IsStillHandedToTheWaitingWorker(int delayMs)
    {
        // arrange
        var time = new SteppingTimeProvider();
        using var queue = new ReconcileQueue(time);
        var key = new PreviewKey("default", "a");
        var waiting = queue.DequeueAsync(CancellationToken.None);

        // act
        queue.AddAfter(key, TimeSpan.FromMilliseconds(delayMs));
        for (var i = 0; i < 20 && !waiting.IsCompleted; i++)
        {
            _ = time.GetUtcNow(); // time passes; an armed timer fires
        }

        // assert
        Assert.True(waiting.IsCompleted, "the due key was never handed out: no timer was armed");
        Assert.Equal(key, await waiting.WaitAsync(TestWaits.Bound));
    }
}
