using Npgsql;

namespace Midori.Operator.Persistence;

/// <summary>
/// Whether PostgreSQL answers right now (<c>SELECT 1</c> with a 2 s command timeout), for <c>/readyz</c>. Concurrent
/// probes share one query, so a burst of probes costs one round trip.
/// </summary>
public sealed class StoreHealth(NpgsqlDataSource dataSource)
{
    private const int TimeoutSeconds = 2;

    private readonly Lock _gate = new();
    private Task<string?>? _running;

    /// <summary>Null when the store answered; else why it did not.</summary>
    public Task<string?> CheckAsync()
    {
        lock (_gate)
        {
            return _running ??= ProbeAsync();
        }
    }

    private async Task<string?> ProbeAsync()
    {
        await Task.Yield(); // leave the lock before the first await of the query
        string? error;
        try
        {
            await using var command = dataSource.CreateCommand("SELECT 1");
            command.CommandTimeout = TimeoutSeconds;
            await command.ExecuteScalarAsync(CancellationToken.None).ConfigureAwait(false);
            error = null;
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            error = ex.Message;
        }

        lock (_gate)
        {
            _running = null;
        }

        return error;
    }
}
