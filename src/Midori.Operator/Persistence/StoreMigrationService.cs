using Midori.Operator.Diagnostics;
using Npgsql;

namespace Midori.Operator.Persistence;

/// <summary>
/// Migrates the store at start and retries with backoff while PostgreSQL is unreachable, so the operator (and its
/// inline/ConfigMap previews) runs meanwhile; readiness and store calls wait for it. A refused migration is final.
/// </summary>
internal sealed class StoreMigrationService(StoreMigrator migrator, TimeProvider time, ILogger<StoreMigrationService> logger) : BackgroundService
{
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromSeconds(1);
        for (var attempt = 1; !stoppingToken.IsCancellationRequested; attempt++)
        {
            try
            {
                await migrator.MigrateAsync(stoppingToken);
                return;
            }
            catch (StoreMigrationException ex)
            {
                logger.MigrationRefused(ex.Message);
                migrator.Refuse(ex);
                return;
            }
            catch (PostgresException ex) when (!ex.IsTransient)
            {
                // A migration's SQL failed (rolled back as a whole): a broken build or database, not a blip.
                logger.MigrationRefused($"{ex.SqlState}: {ex.MessageText}");
                migrator.Refuse(new StoreMigrationException($"A migration failed in PostgreSQL ({ex.SqlState}: {ex.MessageText})"));
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException && !stoppingToken.IsCancellationRequested)
            {
                logger.MigrationRetry(attempt, delay, ex.Message);
                await Task.Delay(delay, time, stoppingToken);
                delay = delay * 2 > MaxRetryDelay ? MaxRetryDelay : delay * 2;
            }
        }
    }
}
