using Midori.Operator.Diagnostics;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Runtime;

/// <summary>
/// Timed, keyed work queue (KubeOps' TimedEntityQueue shape, client-go's delaying queue semantics) driven by an
/// injected <see cref="TimeProvider"/>:
/// <list type="bullet">
/// <item>one pending entry per <see cref="PreviewKey"/>; re-adding keeps the <b>earliest</b> due time;</item>
/// <item>per-key serialization: a key handed to a worker is not handed out again until <see cref="Done"/>; re-adds
/// while it is processing mark it dirty and it becomes available after <see cref="Done"/>, at its due time;</item>
/// <item>ready keys are handed out in due-time order (FIFO among equal due times);</item>
/// <item>one scheduler timer (<see cref="TimeProvider.CreateTimer"/>) armed for the earliest future item.</item>
/// </list>
/// </summary>
public sealed class ReconcileQueue : IDisposable
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _timeProvider;
    private readonly ITimer _timer;
    private readonly MidoriMetrics? _metrics;

    // Every pending key with its due time; includes dirty keys that are currently processing.
    private readonly Dictionary<PreviewKey, DateTimeOffset> _due = [];

    // Heap of (key, due) for pending keys that are not processing. Lazily cleaned: an entry is live only while
    // _due[key] still equals its due time and the key is not processing.
    private readonly PriorityQueue<PreviewKey, (DateTimeOffset Due, long Sequence)> _heap = new();
    private readonly HashSet<PreviewKey> _processing = [];
    private readonly Queue<TaskCompletionSource<PreviewKey>> _waiters = new();
    private long _sequence;
    private DateTimeOffset? _timerDue;
    private bool _disposed;

    /// <param name="timeProvider">The only clock the queue reads.</param>
    /// <param name="metrics">When given: the queue-depth gauge reads <see cref="Depth"/> and every hand-out records how long the key waited after it fell due.</param>
    public ReconcileQueue(TimeProvider timeProvider, MidoriMetrics? metrics = null)
    {
        _timeProvider = timeProvider;
        _metrics = metrics;
        metrics?.ObserveQueueDepth(() => Depth);
        _timer = timeProvider.CreateTimer(static state => ((ReconcileQueue)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Pending keys (due or not yet due, including dirty keys that are processing).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _due.Count;
            }
        }
    }

    /// <summary>Keys due now and waiting for a worker (queue depth for metrics).</summary>
    public int Depth
    {
        get
        {
            lock (_lock)
            {
                var now = _timeProvider.GetUtcNow();
                var depth = 0;
                foreach (var (key, due) in _due)
                {
                    if (due <= now && !_processing.Contains(key))
                    {
                        depth++;
                    }
                }

                return depth;
            }
        }
    }

    /// <summary>Keys handed to a worker and not yet <see cref="Done"/>.</summary>
    public int InFlight
    {
        get
        {
            lock (_lock)
            {
                return _processing.Count;
            }
        }
    }

    /// <summary>Makes <paramref name="key"/> due now.</summary>
    public void Add(PreviewKey key) => AddAt(key, _timeProvider.GetUtcNow());

    /// <summary>Makes <paramref name="key"/> due after <paramref name="delay"/> (≤ 0: now). An earlier pending due time wins.</summary>
    public void AddAfter(PreviewKey key, TimeSpan delay)
    {
        var now = _timeProvider.GetUtcNow();
        AddAt(key, delay <= TimeSpan.Zero ? now : now + delay);
    }

    /// <summary>Drops the pending entry of <paramref name="key"/> (a key that is processing finishes normally).</summary>
    public void Forget(PreviewKey key)
    {
        lock (_lock)
        {
            _due.Remove(key);
            Pump();
        }
    }

    /// <summary>Drops every pending entry, e.g. when leadership is lost. Keys being processed finish normally.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _due.Clear();
            _heap.Clear();
            Pump();
        }
    }

    /// <summary>Waits for the next due key and marks it processing; the caller must call <see cref="Done"/>.</summary>
    public Task<PreviewKey> DequeueAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var waiter = new TaskCompletionSource<PreviewKey>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Enqueue(waiter);
            Pump();
            if (waiter.Task.IsCompleted || !cancellationToken.CanBeCanceled)
            {
                return waiter.Task;
            }

            var registration = cancellationToken.Register(static state =>
            {
                var (tcs, token) = ((TaskCompletionSource<PreviewKey>, CancellationToken))state!;
                tcs.TrySetCanceled(token);
            }, (waiter, cancellationToken));
            _ = waiter.Task.ContinueWith(static (_, r) => ((CancellationTokenRegistration)r!).Dispose(), registration, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return waiter.Task;
        }
    }

    /// <summary>Ends processing of <paramref name="key"/>; a re-add that arrived meanwhile becomes available at its due time.</summary>
    public void Done(PreviewKey key)
    {
        lock (_lock)
        {
            if (!_processing.Remove(key))
            {
                return;
            }

            if (_due.TryGetValue(key, out var due))
            {
                _heap.Enqueue(key, (due, _sequence++));
            }

            Pump();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            while (_waiters.TryDequeue(out var waiter))
            {
                waiter.TrySetCanceled();
            }
        }

        _timer.Dispose();
    }

    private void AddAt(PreviewKey key, DateTimeOffset due)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            if (_due.TryGetValue(key, out var existing) && existing <= due)
            {
                return;
            }

            _due[key] = due;
            if (!_processing.Contains(key))
            {
                _heap.Enqueue(key, (due, _sequence++));
            }

            Pump();
        }
    }

    private void OnTimer()
    {
        lock (_lock)
        {
            _timerDue = null;
            if (!_disposed)
            {
                Pump();
            }
        }
    }

    // Must hold _lock. Hands ready keys to waiters, then re-arms the timer for the earliest future key. One clock
    // reading serves both decisions: with two, a key falling due between them was "not ready" for the hand-out and
    // "already due" for the timer, so no timer was armed and idle workers slept until an unrelated enqueue.
    private void Pump()
    {
        var now = _timeProvider.GetUtcNow();
        while (_waiters.TryPeek(out var waiter))
        {
            if (waiter.Task.IsCompleted)
            {
                _waiters.Dequeue();
                continue;
            }

            if (!TryPeekReady(now, out var key))
            {
                break;
            }

            _waiters.Dequeue();
            if (waiter.TrySetResult(key))
            {
                _metrics?.QueueWait(now - _due[key]);
                Take(key);
            }
        }

        ArmTimer(now);
    }

    // Must hold _lock. The live heap top, if it is due.
    private bool TryPeekReady(DateTimeOffset now, out PreviewKey key)
    {
        if (TryPeekLive(out key, out var due) && due <= now)
        {
            return true;
        }

        key = default;
        return false;
    }

    // Must hold _lock. Drops stale heap entries until the top is live.
    private bool TryPeekLive(out PreviewKey key, out DateTimeOffset due)
    {
        while (_heap.TryPeek(out key, out var priority))
        {
            if (!_processing.Contains(key) && _due.TryGetValue(key, out var current) && current == priority.Due)
            {
                due = priority.Due;
                return true;
            }

            _heap.Dequeue();
        }

        key = default;
        due = default;
        return false;
    }

    // Must hold _lock; key must be the live heap top.
    private void Take(PreviewKey key)
    {
        _heap.Dequeue();
        _due.Remove(key);
        _processing.Add(key);
    }

    // Must hold _lock.
    private void ArmTimer(DateTimeOffset now)
    {
        if (_disposed)
        {
            return;
        }

        if (!TryPeekLive(out _, out var due))
        {
            if (_timerDue is not null)
            {
                _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                _timerDue = null;
            }

            return;
        }

        if (_timerDue == due)
        {
            return;
        }

        var delay = due - now;
        if (delay <= TimeSpan.Zero)
        {
            // Due at the same instant Pump judged readiness, so it found no free waiter; the next DequeueAsync takes it.
            return;
        }

        _timerDue = due;
        _timer.Change(delay, Timeout.InfiniteTimeSpan);
    }
}
