using Npgsql;

namespace Midori.Operator.Persistence;

/// <summary>
/// Whether PostgreSQL answers right now (<c>SELECT 1</c>, bounded), for <c>/readyz</c>. Answers are reused for a
/// second and concurrent probes share one query, so a burst of probes costs one round trip.
/// </summary>
public sealed class StoreHealth(NpgsqlDataSource dataSource, TimeProvider time)
{
    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    private readonly Lock _gate = new();
    private (DateTimeOffset At, string? Error)? _last;
    private Task<string?>? _running;

    /// <summary>Null when the store answered; else why it did not.</summary>
    public Task<string?> CheckAsync()
    {
        lock (_gate)
        {
            if (_last is { } last && time.GetUtcNow() - last.At < Fresh)
            {
                return Task.FromResult(last.Error);
            }

            return _running ??= ProbeAsync();
        }
    }

    private async Task<string?> ProbeAsync()
    {
        string? error;
        try
        {
            using var timeout = new CancellationTokenSource(Timeout, time);
            await using var command = dataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(timeout.Token).ConfigureAwait(false);
            error = null;
        }
        catch (Exception ex) when (ex is OperationCanceledException or NpgsqlException or TimeoutException or InvalidOperationException)
        {
            error = ex is OperationCanceledException ? $"no answer within {Timeout.TotalSeconds:0} s" : ex.Message;
        }

        lock (_gate)
        {
            _last = (time.GetUtcNow(), error);
            _running = null;
        }

        return error;
    }
}
