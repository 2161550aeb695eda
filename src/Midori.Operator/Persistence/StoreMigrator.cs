using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Midori.Operator.Diagnostics;
using Npgsql;

namespace Midori.Operator.Persistence;

/// <summary>One versioned SQL file embedded in the assembly (<c>Persistence/Migrations/NNNN_name.sql</c>).</summary>
public sealed record StoreMigration(int Version, string Name, string Sql, string Checksum);

/// <summary>A migration cannot be applied safely (an applied file changed, or a file is malformed). Retrying will not help.</summary>
public sealed class StoreMigrationException(string message) : Exception(message);

/// <summary>
/// Applies the embedded migrations in version order, each recorded in <c>schema_migrations</c> with its checksum.
/// Everything runs in one transaction under a transaction-scoped advisory lock, so replicas starting together
/// apply each migration exactly once and a failed migration leaves nothing half-done. Also the readiness gate:
/// store calls wait for the first successful run.
/// </summary>
public sealed partial class StoreMigrator(NpgsqlDataSource dataSource, TimeProvider time, ILogger<StoreMigrator> logger)
{
    /// <summary>Advisory lock key shared by every replica ("Midori" + 1); per database, so test databases do not contend.</summary>
    private const long MigrationLockKey = 0x4D69_646F_7269_0001;

    private const string ResourcePrefix = "Midori.Operator.Persistence.Migrations.";

    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static IReadOnlyList<StoreMigration> Embedded { get; } = Load();

    public bool IsReady => _ready.Task.IsCompletedSuccessfully;

    /// <summary>Why the store will not become ready (a refused migration); null while pending or ready.</summary>
    public Exception? Refusal => _ready.Task.Exception?.InnerException;

    /// <summary>Applies pending migrations; returns the versions applied by this call (empty when already up to date).</summary>
    public Task<IReadOnlyList<int>> MigrateAsync(CancellationToken cancellationToken) => MigrateAsync(Embedded, cancellationToken);

    internal async Task<IReadOnlyList<int>> MigrateAsync(IReadOnlyList<StoreMigration> migrations, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var command = new NpgsqlCommand(
            """
            SELECT pg_advisory_xact_lock(@key);
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer     PRIMARY KEY,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL
            );
            """, connection, transaction))
        {
            command.Parameters.AddWithValue("key", MigrationLockKey);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        var applied = new Dictionary<int, (string Name, string Checksum)>();
        await using (var command = new NpgsqlCommand("SELECT version, name, checksum FROM schema_migrations ORDER BY version", connection, transaction))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                applied[reader.GetInt32(0)] = (reader.GetString(1), reader.GetString(2));
            }
        }

        var known = migrations.Select(m => m.Version).ToHashSet();
        foreach (var (version, row) in applied.Where(a => !known.Contains(a.Key)))
        {
            logger.UnknownMigration(version, row.Name);
        }

        var newlyApplied = new List<int>();
        foreach (var migration in migrations.OrderBy(m => m.Version))
        {
            if (applied.TryGetValue(migration.Version, out var row))
            {
                if (row.Checksum != migration.Checksum)
                {
                    throw new StoreMigrationException(
                        $"Migration {migration.Version:D4}_{migration.Name} was changed after it was applied (checksum {row.Checksum} in the database, " +
                        $"{migration.Checksum} in this build). Applied migrations must never be edited; add a new one.");
                }

                continue;
            }

            await using (var command = new NpgsqlCommand(migration.Sql, connection, transaction))
            {
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var command = new NpgsqlCommand(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (@version, @name, @checksum, @at)", connection, transaction))
            {
                command.Parameters.AddWithValue("version", migration.Version);
                command.Parameters.AddWithValue("name", migration.Name);
                command.Parameters.AddWithValue("checksum", migration.Checksum);
                command.Parameters.AddWithValue("at", time.GetUtcNow());
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            newlyApplied.Add(migration.Version);
            logger.MigrationApplied(migration.Version, migration.Name);
        }

        await transaction.CommitAsync(cancellationToken);
        logger.SchemaReady(newlyApplied.Count, migrations.Count);
        _ready.TrySetResult();
        return newlyApplied;
    }

    /// <summary>Marks the store as never becoming ready (a refused migration); waiting callers get the reason.</summary>
    public void Refuse(Exception reason) => _ready.TrySetException(reason);

    /// <summary>Completes when the schema is ready; throws <see cref="StoreUnavailableException"/> after <paramref name="timeout"/> or when refused.</summary>
    public ValueTask WaitUntilReadyAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        _ready.Task.IsCompletedSuccessfully ? ValueTask.CompletedTask : new ValueTask(WaitSlowAsync(timeout, cancellationToken));

    private async Task WaitSlowAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await _ready.Task.WaitAsync(timeout, time, cancellationToken);
        }
        catch (TimeoutException ex)
        {
            throw new StoreUnavailableException($"The store's schema is not ready after {timeout.TotalSeconds:0.#} s (is PostgreSQL reachable?)", ex);
        }
        catch (StoreMigrationException ex)
        {
            throw new StoreUnavailableException($"The store refused to start: {ex.Message}", ex);
        }
    }

    public static string Checksum(string sql) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql.ReplaceLineEndings("\n"))));

    private static List<StoreMigration> Load()
    {
        var assembly = typeof(StoreMigrator).Assembly;
        var migrations = new List<StoreMigration>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(r => r.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            var fileName = resource[ResourcePrefix.Length..];
            var match = MigrationFileName().Match(fileName);
            if (!match.Success)
            {
                throw new StoreMigrationException($"Embedded migration '{fileName}' must be named NNNN_lower_snake_name.sql");
            }

            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var sql = reader.ReadToEnd();
            migrations.Add(new StoreMigration(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), match.Groups[2].Value, sql, Checksum(sql)));
        }

        var duplicate = migrations.GroupBy(m => m.Version).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new StoreMigrationException($"Two embedded migrations share version {duplicate.Key:D4}");
        }

        return [.. migrations.OrderBy(m => m.Version)];
    }

    [GeneratedRegex(@"^(\d{4})_([a-z0-9_]+)\.sql$")]
    private static partial Regex MigrationFileName();
}
