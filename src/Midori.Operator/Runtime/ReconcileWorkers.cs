using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Runtime;

/// <summary>
/// <see cref="OperatorOptions.Workers"/> loops (more while a backlog is due, up to <see cref="OperatorOptions.MaxWorkers"/>)
/// that take keys from the <see cref="ReconcileQueue"/> (which guarantees
/// one key is never reconciled twice at once), resolve a scoped <see cref="IReconciler"/> per run in a new
/// <see cref="AsyncServiceScope"/>, and schedule the next run from the result:
/// <list type="bullet">
/// <item>success with <c>RequeueAfter</c> → that delay (≤ 0 clamped to <see cref="OperatorOptions.ConflictRequeueDelay"/>, capped at the resync interval);</item>
/// <item>success without → <see cref="OperatorOptions.ResyncInterval"/>; success resets the key's failure count;</item>
/// <item>failure → <c>RequeueAfter</c> if given, else per-key exponential backoff;</item>
/// <item><see cref="LeadershipLapsedException"/> (a write refused by the fence) → dropped, like a cancelled reconcile;</item>
/// <item><see cref="KubernetesConflictException"/> → <see cref="OperatorOptions.ConflictRequeueDelay"/>; any other exception → logged + backoff.</item>
/// </list>
/// </summary>
public sealed class ReconcileWorkers
{
    private readonly ReconcileQueue _queue;
    private readonly IServiceScopeFactory _scopeFactory;
    private readonly OperatorOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<ReconcileWorkers> _logger;
    private readonly RetryBackoff _backoff;
    private readonly MidoriMetrics? _metrics;
    private readonly ConcurrentDictionary<PreviewKey, int> _failures = new();
    private readonly List<Task> _extras = [];
    private int _inFlight;
    private int _loops;

    public ReconcileWorkers(
        ReconcileQueue queue,
        IServiceScopeFactory scopeFactory,
        IOptions<OperatorOptions> options,
        TimeProvider timeProvider,
        ILogger<ReconcileWorkers> logger,
        RetryBackoff? backoff = null,
        MidoriMetrics? metrics = null)
    {
        _queue = queue;
        _metrics = metrics;
        _scopeFactory = scopeFactory;
        _options = options.Value;
        _timeProvider = timeProvider;
        _logger = logger;
        _backoff = backoff ?? RetryBackoff.ForReconcile(_options.MaxBackoff);
    }

    /// <summary>Reconciles currently running.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Consecutive failures recorded for <paramref name="key"/> (0 after a success).</summary>
    public int FailureCount(PreviewKey key) => _failures.TryGetValue(key, out var n) ? n : 0;

    /// <summary>Runs the workers until <paramref name="cancellationToken"/> is cancelled; in-flight reconciles receive that token.</summary>
    public Task RunAsync(CancellationToken cancellationToken) => RunAsync(cancellationToken, cancellationToken);

    /// <summary>
    /// Runs the workers. <paramref name="stopDequeuing"/> stops taking new keys (graceful drain);
    /// <paramref name="abortReconciles"/> is the token every reconcile gets (leadership lost, or drain timed out).
    /// Completes when every worker has finished its current reconcile.
    /// </summary>
    public async Task RunAsync(CancellationToken stopDequeuing, CancellationToken abortReconciles)
    {
        _failures.Clear();
        var count = Math.Max(1, _options.Workers);
        _logger.WorkersStarted(count);
        using var dequeueCts = CancellationTokenSource.CreateLinkedTokenSource(stopDequeuing, abortReconciles);
        var loops = new Task[count];
        Volatile.Write(ref _loops, count);
        for (var i = 0; i < count; i++)
        {
            loops[i] = Task.Run(() => WorkerLoopAsync(dequeueCts.Token, abortReconciles, extra: false), CancellationToken.None);
        }

        try
        {
            await Task.WhenAll(loops).ConfigureAwait(false);
            while (true)
            {
                Task[] extras;
                lock (_extras)
                {
                    _extras.RemoveAll(t => t.IsCompleted);
                    extras = [.. _extras];
                }

                if (extras.Length == 0)
                {
                    break;
                }

                await Task.WhenAll(extras).ConfigureAwait(false);
            }
        }
        finally
        {
            Volatile.Write(ref _loops, 0);
            _logger.WorkersStopped();
        }
    }

    /// <summary>Worker loops running now (between <see cref="OperatorOptions.Workers"/> and <see cref="OperatorOptions.MaxWorkers"/>).</summary>
    public int Loops => Volatile.Read(ref _loops);

    private async Task WorkerLoopAsync(CancellationToken stopDequeuing, CancellationToken abortReconciles, bool extra)
    {
        try
        {
            while (!stopDequeuing.IsCancellationRequested)
            {
                // An extra worker leaves as soon as nothing is due: the pool shrinks back to Workers.
                if (extra && _queue.Depth == 0)
                {
                    break;
                }

                PreviewKey key;
                try
                {
                    key = await _queue.DequeueAsync(stopDequeuing).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                catch (ObjectDisposedException)
                {
                    break;
                }

                Interlocked.Increment(ref _inFlight);
                ScaleUp(stopDequeuing, abortReconciles);
                try
                {
                    await ProcessAsync(key, abortReconciles).ConfigureAwait(false);
                }
                finally
                {
                    Interlocked.Decrement(ref _inFlight);
                    _queue.Done(key);
                }
            }
        }
        finally
        {
            if (extra)
            {
                Interlocked.Decrement(ref _loops);
            }
        }
    }

    /// <summary>Every loop busy and keys still due: one more loop, up to <see cref="OperatorOptions.EffectiveMaxWorkers"/>.</summary>
    private void ScaleUp(CancellationToken stopDequeuing, CancellationToken abortReconciles)
    {
        var loops = Volatile.Read(ref _loops);
        if (loops >= _options.EffectiveMaxWorkers || Volatile.Read(ref _inFlight) < loops || stopDequeuing.IsCancellationRequested || _queue.Depth == 0)
        {
            return;
        }

        if (Interlocked.CompareExchange(ref _loops, loops + 1, loops) != loops)
        {
            return; // another loop scaled up at the same moment; the next dequeue looks again
        }

        lock (_extras)
        {
            _extras.RemoveAll(t => t.IsCompleted);
            _extras.Add(Task.Run(() => WorkerLoopAsync(stopDequeuing, abortReconciles, extra: true), CancellationToken.None));
        }
    }

    /// <summary>One reconcile of <paramref name="key"/> plus scheduling of its next run. Never throws.</summary>
    internal async Task ProcessAsync(PreviewKey key, CancellationToken cancellationToken)
    {
        using var logScope = _logger.BeginScope(new ReconcileLogScope(key));
        using var activity = MidoriTracing.StartReconcile(key.Namespace, key.Name);
        var started = _timeProvider.GetTimestamp();
        ReconcileResult result;
        try
        {
            await using var scope = _scopeFactory.CreateAsyncScope();
            var reconciler = scope.ServiceProvider.GetRequiredService<IReconciler>();
            result = await reconciler.ReconcileAsync(key, cancellationToken).ConfigureAwait(false);
        }
        catch (LeadershipLapsedException)
        {
            // A write was refused by the leadership fence: this replica must not act on the key any more. The term is
            // being cancelled (the fence reported the lapse); the key is dropped, not requeued.
            Record(activity, ReconcileOutcomes.Cancelled, started);
            _logger.ReconcileCancelled();
            return;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Leadership lost or shutdown: the queue is being cleared; the next leader relists everything.
            Record(activity, ReconcileOutcomes.Cancelled, started);
            _logger.ReconcileCancelled();
            return;
        }
        catch (KubernetesConflictException)
        {
            Record(activity, ReconcileOutcomes.Conflict, started);
            _logger.ReconcileConflict(_options.ConflictRequeueDelay);
            Requeue(key, _options.ConflictRequeueDelay, cancellationToken);
            return;
        }
        catch (Exception ex)
        {
            Record(activity, ReconcileOutcomes.Error, started, ex.Message);
            var failures = _failures.AddOrUpdate(key, 1, static (_, n) => n + 1);
            var delay = _backoff.Compute(failures);
            _logger.ReconcileThrew(ex, failures, delay);
            Requeue(key, delay, cancellationToken);
            return;
        }

        Record(activity, result.IsSuccess ? ReconcileOutcomes.Success : ReconcileOutcomes.Error, started, result.Error);

        if (result.IsSuccess)
        {
            _failures.TryRemove(key, out _);
            // A delay counted from the reconciler's own clock reading keeps a deadline timer on its deadline; one
            // that has already run out is due now (the reconciler clamps its delays, so this cannot spin).
            var next = result.RemainingAt(_timeProvider.GetUtcNow()) is { } after
                ? (after <= TimeSpan.Zero ? (result.From is null ? _options.ConflictRequeueDelay : TimeSpan.Zero) : after)
                : _options.ResyncInterval;
            if (next > _options.ResyncInterval)
            {
                next = _options.ResyncInterval;
            }

            _logger.ReconcileSucceeded(_timeProvider.GetElapsedTime(started).TotalMilliseconds, next);
            Requeue(key, next, cancellationToken);
        }
        else
        {
            var failures = _failures.AddOrUpdate(key, 1, static (_, n) => n + 1);
            var delay = result.RequeueAfter is { } after && after > TimeSpan.Zero ? after : _backoff.Compute(failures);
            _logger.ReconcileFailed(result.Exception, failures, result.Error ?? "unknown error", delay);
            Requeue(key, delay, cancellationToken);
        }
    }

    private void Record(System.Diagnostics.Activity? activity, string outcome, long started, string? error = null)
    {
        _metrics?.Reconciled(outcome, _timeProvider.GetElapsedTime(started));
        MidoriTracing.SetOutcome(activity, outcome, error);
    }

    private void Requeue(PreviewKey key, TimeSpan delay, CancellationToken cancellationToken)
    {
        // After leadership loss the backlog belongs to the next leader, which relists everything.
        if (!cancellationToken.IsCancellationRequested)
        {
            _queue.AddAfter(key, delay);
        }
    }

    /// <summary>Log scope of one reconcile: <c>Namespace</c> and <c>Name</c> (KubeOps EntityLoggingScope).</summary>
    private sealed class ReconcileLogScope(PreviewKey key) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public int Count => 2;

        public KeyValuePair<string, object?> this[int index] => index switch
        {
            0 => new("Namespace", key.Namespace),
            1 => new("Name", key.Name),
            _ => throw new ArgumentOutOfRangeException(nameof(index)),
        };

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            yield return this[0];
            yield return this[1];
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => $"PreviewSandbox {key}";
    }
}
