using Npgsql;

namespace Midori.Operator.Persistence;

/// <summary>
/// PostgreSQL <c>NOTIFY</c>/<c>LISTEN</c> on the store's data source: every replica connected to the database hears
/// what any of them sends. Channel names must be plain lowercase SQL identifiers (options validate them).
/// </summary>
public sealed class PostgresStoreNotifications(NpgsqlDataSource dataSource) : IStoreNotifications
{
    /// <summary>How long a listening session waits for a notification before it checks the connection with a round trip.</summary>
    internal static readonly TimeSpan IdleCheck = TimeSpan.FromSeconds(30);

    public bool ReachesOtherReplicas => true;

    public async Task NotifyAsync(string channel, string payload, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT pg_notify($1, $2)");
        command.Parameters.Add(new NpgsqlParameter { Value = channel });
        command.Parameters.Add(new NpgsqlParameter { Value = payload });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task ListenAsync(string channel, Action onListening, Action<string> onNotification, CancellationToken cancellationToken)
    {
        try
        {
            // A dedicated connection, held for as long as it works; LISTEN is per session.
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            connection.Notification += (_, e) =>
            {
                if (string.Equals(e.Channel, channel, StringComparison.Ordinal))
                {
                    onNotification(e.Payload);
                }
            };
            await using (var listen = new NpgsqlCommand($"LISTEN {channel}", connection))
            {
                await listen.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            onListening();
            while (!cancellationToken.IsCancellationRequested)
            {
                // Bounded waits so a silently dead connection is noticed by the round trip below.
                if (!await connection.WaitAsync(IdleCheck, cancellationToken).ConfigureAwait(false))
                {
                    await using var ping = new NpgsqlCommand("SELECT 1", connection);
                    await ping.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The session ends with the caller's token.
        }
    }
}
