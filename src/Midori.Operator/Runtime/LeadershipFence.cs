namespace Midori.Operator.Runtime;

/// <summary>
/// The fence behind <see cref="ILeadershipFence"/>. <see cref="LeaderElectionService"/> opens it when it starts leading,
/// closes it when it stops, and feeds it every successful renewal of our Lease (<see cref="RenewalObservingLock"/>).
/// Held = open and the last renewal younger than its validity.
/// <para>
/// Safety argument. A renewal is anchored at the moment its write was <em>sent</em>; the API server stores it later, and
/// another replica can only count the Lease as expired <c>leaseDurationSeconds</c> after it <em>observes</em> that write,
/// so the whole request latency falls on the safe side. The validity is the Lease duration minus a margin of
/// <c>LeaseDuration − RenewDeadline</c> (the gap client-go relies on too; validated to exceed RetryPeriod), which covers a
/// write that passed the check while still on its way, scheduling delay, and clock-rate differences between replicas.
/// Elapsed time is the larger of the monotonic and the wall-clock reading (both through <see cref="TimeProvider"/>):
/// a wall clock stepped back cannot extend the fence, and time the host spent suspended (which the monotonic clock
/// may not count) still ends it.
/// </para>
/// <para>
/// A timer fires when the validity runs out and raises <see cref="Lapsed"/> (once per term); a write refused by
/// <see cref="EnsureHeld"/> raises it too, so a process resumed after a pause cancels its in-flight work even before
/// its timers have run.
/// </para>
/// </summary>
public sealed class LeadershipFence : ILeadershipFence, IDisposable
{
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly ITimer _timer;
    private bool _open;
    private bool _unbounded;
    private bool _lapseReported;
    private bool _renewed;
    private long _renewedTimestamp;
    private DateTimeOffset _renewedWall;
    private TimeSpan _validity;
    private long _refusals;

    public LeadershipFence(TimeProvider time)
    {
        _time = time;
        _timer = time.CreateTimer(_ => OnTimer(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Raised (on the thread pool, once per term) when an open fence runs out without a renewal.</summary>
    public event Action? Lapsed;

    public bool IsHeld
    {
        get
        {
            lock (_lock)
            {
                return HeldLocked();
            }
        }
    }

    /// <summary>Time left before the fence lapses; zero when not held; <see cref="TimeSpan.MaxValue"/> when unbounded.</summary>
    public TimeSpan Remaining
    {
        get
        {
            lock (_lock)
            {
                return !_open ? TimeSpan.Zero : _unbounded ? TimeSpan.MaxValue : Max(TimeSpan.Zero, _renewed ? _validity - ElapsedLocked() : TimeSpan.Zero);
            }
        }
    }

    /// <summary>When the last successful renewal of our Lease was sent (wall clock), if any.</summary>
    public DateTimeOffset? LastRenewal
    {
        get
        {
            lock (_lock)
            {
                return _renewed ? _renewedWall : null;
            }
        }
    }

    /// <summary>Writes refused so far (each one a write a stale leader would otherwise have made).</summary>
    public long Refusals => Interlocked.Read(ref _refusals);

    public void EnsureHeld(string action)
    {
        bool report;
        lock (_lock)
        {
            if (HeldLocked())
            {
                return;
            }

            report = TakeLapseLocked();
        }

        Interlocked.Increment(ref _refusals);

        if (report)
        {
            RaiseLapsed();
        }

        throw new LeadershipLapsedException(action);
    }

    /// <summary>
    /// A renewal (or acquisition) of our Lease succeeded; it was sent at <paramref name="sentTimestamp"/> (monotonic,
    /// <see cref="TimeProvider.GetTimestamp"/>) / <paramref name="sentWall"/>, and stays valid for <paramref name="validity"/>.
    /// </summary>
    public void Renewed(long sentTimestamp, DateTimeOffset sentWall, TimeSpan validity)
    {
        lock (_lock)
        {
            // Two renewals can complete out of order (the elector does not cancel a timed-out attempt): keep the newest.
            if (_renewed && sentTimestamp < _renewedTimestamp)
            {
                return;
            }

            _renewed = true;
            _renewedTimestamp = sentTimestamp;
            _renewedWall = sentWall;
            _validity = validity;
            ArmLocked();
        }
    }

    /// <summary>Leading started (a Lease term): held while renewals stay fresh.</summary>
    public void Open()
    {
        lock (_lock)
        {
            _open = true;
            _unbounded = false;
            _lapseReported = false;
            ArmLocked();
        }
    }

    /// <summary>Leader election is off: this replica alone acts, until <see cref="Close"/>.</summary>
    public void OpenUnbounded()
    {
        lock (_lock)
        {
            _open = true;
            _unbounded = true;
            _lapseReported = false;
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    public void Close()
    {
        lock (_lock)
        {
            _open = false;
            _unbounded = false;
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    public void Dispose() => _timer.Dispose();

    private bool HeldLocked() => _open && (_unbounded || (_renewed && ElapsedLocked() < _validity));

    private TimeSpan ElapsedLocked()
    {
        var monotonic = _time.GetElapsedTime(_renewedTimestamp);
        var wall = _time.GetUtcNow() - _renewedWall;
        return wall > monotonic ? wall : monotonic;
    }

    private void ArmLocked()
    {
        if (!_open || _unbounded)
        {
            return;
        }

        var remaining = _renewed ? _validity - ElapsedLocked() : TimeSpan.Zero;
        _timer.Change(Max(remaining, TimeSpan.Zero), Timeout.InfiniteTimeSpan);
    }

    private void OnTimer()
    {
        bool report;
        lock (_lock)
        {
            if (HeldLocked())
            {
                ArmLocked(); // renewed meanwhile, or the wall clock lagged: look again when the new deadline comes
                return;
            }

            report = TakeLapseLocked();
        }

        if (report)
        {
            Lapsed?.Invoke();
        }
    }

    private bool TakeLapseLocked()
    {
        if (!_open || _lapseReported)
        {
            return false;
        }

        _lapseReported = true;
        return true;
    }

    private void RaiseLapsed() =>
        // Not on the caller's thread: that is a reconcile about to be cancelled by the handlers.
        ThreadPool.UnsafeQueueUserWorkItem(static fence => fence.Lapsed?.Invoke(), this, preferLocal: false);

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
