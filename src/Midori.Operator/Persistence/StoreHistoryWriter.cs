using Microsoft.Extensions.Options;
using Midori.Operator.Diagnostics;

namespace Midori.Operator.Persistence;

/// <summary>Drains <see cref="StoreHistoryQueue"/> in order, retrying each write with backoff; a row that keeps failing is logged and skipped.</summary>
internal sealed class StoreHistoryWriter(
    StoreHistoryQueue queue,
    ISessionStore store,
    TimeProvider time,
    IOptions<StoreOptions> options,
    ILogger<StoreHistoryWriter> logger) : BackgroundService
{
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(200);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (await queue.Reader.WaitToReadAsync(stoppingToken))
        {
            await WritePendingAsync(stoppingToken);
        }
    }

    /// <summary>Writes every record queued so far; returns how many were written. Tests call this directly.</summary>
    public async Task<int> WritePendingAsync(CancellationToken cancellationToken)
    {
        var written = 0;
        while (queue.Reader.TryRead(out var record))
        {
            if (await WriteWithRetriesAsync(record, cancellationToken))
            {
                written++;
            }
        }

        return written;
    }

    private async Task<bool> WriteWithRetriesAsync(HistoryRecord record, CancellationToken cancellationToken)
    {
        var attempts = options.Value.HistoryWriteAttempts;
        var delay = FirstRetryDelay;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                switch (record)
                {
                    case HistoryRecord.Session session:
                        await store.RecordSessionAsync(session.Update, cancellationToken);
                        break;
                    case HistoryRecord.Recreation recreation:
                        await store.RecordRecreationAsync(recreation.Row, cancellationToken);
                        break;
                }

                return true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                if (attempt >= attempts)
                {
                    logger.HistoryGaveUp(record.Kind, record.Preview.ToString(), ex);
                    return false;
                }

                logger.HistoryWriteFailed(record.Kind, record.Preview.ToString(), attempt, attempts, ex.Message);
                await Task.Delay(delay, time, cancellationToken);
                delay *= 2;
            }
        }
    }
}
