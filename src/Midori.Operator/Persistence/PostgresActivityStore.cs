using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Npgsql;
using NpgsqlTypes;

namespace Midori.Operator.Persistence;

/// <summary>
/// <see cref="IActivityStore"/> on PostgreSQL: the latest activity per preview, written in batches.
/// </summary>
internal sealed class PostgresActivityStore(NpgsqlDataSource dataSource, StoreMigrator schema, IOptions<StoreOptions> options, TimeProvider time)
    : PostgresStorePart(dataSource, schema, options, time), IActivityStore
{
    public async Task RecordActivityAsync(IReadOnlyList<(PreviewKey Preview, DateTimeOffset At)> activity, CancellationToken cancellationToken)
    {
        if (activity.Count == 0)
        {
            return;
        }

        // One row per preview (ON CONFLICT cannot touch a row twice) in a stable order (no lock-order deadlocks).
        var latest = activity.GroupBy(a => a.Preview)
            .Select(g => (g.Key, At: g.Max(a => a.At)))
            .OrderBy(a => a.Key.Namespace, StringComparer.Ordinal).ThenBy(a => a.Key.Name, StringComparer.Ordinal)
            .ToList();
        await ReadyAsync(cancellationToken);
        await using var batch = DataSource.CreateBatch();
        var upsert = new NpgsqlBatchCommand(
            """
            INSERT INTO activity (namespace, name, last_activity_at)
            SELECT * FROM unnest(@namespaces, @names, @times)
            ON CONFLICT (namespace, name) DO UPDATE SET last_activity_at = GREATEST(activity.last_activity_at, excluded.last_activity_at)
            """);
        var touch = new NpgsqlBatchCommand(
            """
            UPDATE preview_sessions s SET accessed_at = v.at
            FROM unnest(@namespaces, @names, @times) AS v(namespace, name, at)
            WHERE s.namespace = v.namespace AND s.name = v.name AND s.state IN ('queued', 'building', 'ready')
              AND (s.accessed_at IS NULL OR s.accessed_at < v.at)
            """);
        foreach (var command in new[] { upsert, touch })
        {
            command.Parameters.Add(TextArray("namespaces", latest.Select(a => a.Key.Namespace)));
            command.Parameters.Add(TextArray("names", latest.Select(a => a.Key.Name)));
            command.Parameters.Add(new NpgsqlParameter("times", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz)
            {
                Value = latest.Select(a => a.At.ToUniversalTime()).ToArray(),
            });
            batch.BatchCommands.Add(command);
        }

        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<DateTimeOffset?> GetLastActivityAsync(PreviewKey preview, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);
        await using var command = DataSource.CreateCommand("SELECT last_activity_at FROM activity WHERE namespace = @ns AND name = @name");
        AddPreview(command.Parameters, preview);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is DateTime at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : null;
    }
}
