using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace Midori.Operator.Testing.Fakes;

/// <summary>
/// <see cref="FakeTimeProvider"/> that reports every timer created with a finite due time (e.g. by
/// <c>Task.Delay(d, timeProvider, ct)</c>), so a test can wait until a delay is armed before advancing time.
/// </summary>
public sealed class ObservableTimeProvider : FakeTimeProvider
{
    private readonly Channel<TimeSpan> _created = Channel.CreateUnbounded<TimeSpan>();

    public ObservableTimeProvider()
        : base(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {
    }

    /// <summary>Due times of timers created with a finite due time, in creation order.</summary>
    public ChannelReader<TimeSpan> CreatedTimers => _created.Reader;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        if (dueTime != global::System.Threading.Timeout.InfiniteTimeSpan)
        {
            _created.Writer.TryWrite(dueTime);
        }

        return timer;
    }
}
