using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Midori.Operator.Persistence;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Http.Services;

/// <summary>
/// Group commit for heartbeats: callers enqueue (preview, time) and await durability; one loop drains everything
/// queued so far into a single <see cref="IActivityStore.RecordActivityAsync"/> call (latest time per preview), so
/// N concurrent heartbeats cost one store round trip instead of N, and each reply still waits for its record.
/// </summary>
public sealed class ActivityRecorder : BackgroundService
{
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly IPreviewStore? _store;
    private readonly int _batchSize;
    private readonly ILogger<ActivityRecorder> _logger;
    private long _batches;

    public ActivityRecorder(IOptions<HttpApiOptions> options, ILogger<ActivityRecorder> logger, IPreviewStore? store = null)
    {
        _store = store;
        _batchSize = options.Value.HeartbeatBatchSize;
        _logger = logger;
    }

    /// <summary>False when no store is configured (every record then fails with 503).</summary>
    public bool HasStore => _store is not null;

    /// <summary>Store round trips made so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    public bool IsAvailable => _store is not null;

    private static readonly ServiceError ShuttingDown = ServiceError.Unavailable("Shutting down", "the server is stopping; retry on another replica");

    /// <summary>Completes with null when the activity is durable in the store, else with why it is not (503: no store, stopping, store failed).</summary>
    public Task<ServiceError?> RecordAsync(PreviewKey preview, DateTimeOffset at, CancellationToken cancellationToken)
    {
        if (_store is null)
        {
            return Task.FromResult<ServiceError?>(ServiceError.StoreNotConfigured);
        }

        var pending = new Pending(preview, at, new TaskCompletionSource<ServiceError?>(TaskCreationOptions.RunContinuationsAsynchronously));
        return _queue.Writer.TryWrite(pending) ? pending.Done.Task.WaitAsync(cancellationToken) : Task.FromResult<ServiceError?>(ShuttingDown);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Pending>(_batchSize);
        var latest = new Dictionary<PreviewKey, DateTimeOffset>();
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
            {
                batch.Clear();
                latest.Clear();
                while (batch.Count < _batchSize && _queue.Reader.TryRead(out var item))
                {
                    batch.Add(item);
                    if (!latest.TryGetValue(item.Preview, out var at) || item.At > at)
                    {
                        latest[item.Preview] = item.At;
                    }
                }

                await FlushAsync(batch, latest).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: flush what is queued so no caller waits forever.
            _queue.Writer.TryComplete();
            batch.Clear();
            latest.Clear();
            while (_queue.Reader.TryRead(out var item))
            {
                batch.Add(item);
                latest[item.Preview] = latest.TryGetValue(item.Preview, out var at) && at > item.At ? at : item.At;
            }

            if (batch.Count > 0)
            {
                await FlushAsync(batch, latest).ConfigureAwait(false);
            }
        }
    }

    private async Task FlushAsync(List<Pending> batch, Dictionary<PreviewKey, DateTimeOffset> latest)
    {
        try
        {
            // Not cancelled by shutdown: callers are waiting for exactly this write.
            await _store!.RecordActivityAsync([.. latest.Select(e => (e.Key, e.Value))], CancellationToken.None).ConfigureAwait(false);
            Interlocked.Increment(ref _batches);
            foreach (var item in batch)
            {
                item.Done.TrySetResult(null);
            }
        }
        catch (Exception ex)
        {
            _logger.HeartbeatBatchFailed(ex, batch.Count);
            var failure = ServiceError.Unavailable("Store unavailable", $"recording activity failed: {ex.Message}");
            foreach (var item in batch)
            {
                item.Done.TrySetResult(failure);
            }
        }
    }

    private sealed record Pending(PreviewKey Preview, DateTimeOffset At, TaskCompletionSource<ServiceError?> Done);
}
