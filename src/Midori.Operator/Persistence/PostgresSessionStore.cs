using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Npgsql;
using NpgsqlTypes;

namespace Midori.Operator.Persistence;

/// <summary>
/// <see cref="ISessionStore"/> on PostgreSQL: preview sessions (serialized per preview by a transaction advisory lock)
/// and the recreation history.
/// </summary>
internal sealed class PostgresSessionStore(NpgsqlDataSource dataSource, StoreMigrator schema, IOptions<StoreOptions> options, TimeProvider time)
    : PostgresStorePart(dataSource, schema, options, time), ISessionStore
{
    private static readonly string[] OpenStates = [SessionStates.Queued, SessionStates.Building, SessionStates.Ready];

    private static readonly HashSet<string> KnownStates =
        [.. OpenStates, SessionStates.Failed, SessionStates.Expired, SessionStates.Cancelled];

    private const string SessionColumns =
        "id, namespace, name, resource_uid, project_id, snapshot_id, state, url, sandbox_info, accessed_at, build_time_ms, error_message, meta, created_at, updated_at, kind";

    public async Task<PreviewSessionRecord> RecordSessionAsync(SessionUpdate update, CancellationToken cancellationToken)
    {
        if (!KnownStates.Contains(update.State))
        {
            throw new ArgumentException($"Unknown session state '{update.State}'", nameof(update));
        }

        await ReadyAsync(cancellationToken);
        var now = Time.GetUtcNow();
        var terminal = !OpenStates.Contains(update.State);
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        PreviewSessionRecord? latest;
        await using (var batch = new NpgsqlBatch(connection, transaction))
        {
            batch.BatchCommands.Add(Command("SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))",
                ("key", $"session:{update.Preview.Namespace}/{update.Preview.Name}")));
            batch.BatchCommands.Add(Command($"SELECT {SessionColumns} FROM preview_sessions WHERE namespace = @ns AND name = @name ORDER BY seq DESC LIMIT 1",
                ("ns", update.Preview.Namespace), ("name", update.Preview.Name)));
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            await reader.NextResultAsync(cancellationToken);
            latest = await reader.ReadAsync(cancellationToken) ? ReadSession(reader) : null;
        }

        var open = latest is not null && OpenStates.Contains(latest.State) ? latest : null;
        if (open is not null && open.ResourceUid != update.ResourceUid)
        {
            // The resource was deleted and created again under the same name: the old session ended with it.
            await using var close = new NpgsqlCommand(
                "UPDATE preview_sessions SET state = 'cancelled', updated_at = @now, ended_at = @now WHERE id = @id", connection, transaction);
            close.Parameters.AddWithValue("now", now);
            close.Parameters.AddWithValue("id", open.Id);
            await close.ExecuteNonQueryAsync(cancellationToken);
            open = null;
        }

        NpgsqlCommand write;
        if (open is not null)
        {
            write = new NpgsqlCommand(
                $$"""
                UPDATE preview_sessions SET
                    state = @state,
                    snapshot_id = coalesce(@snapshot, snapshot_id),
                    url = coalesce(@url, url),
                    sandbox_info = coalesce(@info, sandbox_info),
                    build_time_ms = coalesce(@build, build_time_ms),
                    error_message = coalesce(@error, error_message),
                    meta = CASE WHEN @meta IS NULL THEN meta ELSE coalesce(meta, '{}'::jsonb) || @meta END,
                    kind = coalesce(@kind, kind),
                    updated_at = @now,
                    ended_at = CASE WHEN @terminal THEN @now ELSE NULL END
                WHERE id = @id
                RETURNING {{SessionColumns}}
                """, connection, transaction);
            write.Parameters.AddWithValue("id", open.Id);
        }
        else if (terminal && latest is not null && latest.ResourceUid == update.ResourceUid)
        {
            await transaction.CommitAsync(cancellationToken);
            return latest;
        }
        else
        {
            write = new NpgsqlCommand(
                $"""
                INSERT INTO preview_sessions (id, namespace, name, resource_uid, project_id, snapshot_id, state, url, sandbox_info, build_time_ms,
                    error_message, meta, created_at, updated_at, ended_at, kind)
                VALUES (@id, @ns, @name, @uid, @project, @snapshot, @state, @url, @info, @build, @error, @meta, @now, @now,
                    CASE WHEN @terminal THEN @now ELSE NULL END, @kind)
                RETURNING {SessionColumns}
                """, connection, transaction);
            write.Parameters.AddWithValue("id", Guid.CreateVersion7(now));
            write.Parameters.AddWithValue("ns", update.Preview.Namespace);
            write.Parameters.AddWithValue("name", update.Preview.Name);
            write.Parameters.AddWithValue("uid", update.ResourceUid);
            write.Parameters.AddWithValue("project", update.ProjectId);
        }

        await using (write)
        {
            write.Parameters.AddWithValue("state", update.State);
            write.Parameters.Add(new NpgsqlParameter("snapshot", NpgsqlDbType.Text) { Value = (object?)update.SnapshotId ?? DBNull.Value });
            write.Parameters.Add(new NpgsqlParameter("url", NpgsqlDbType.Text) { Value = (object?)update.Url ?? DBNull.Value });
            write.Parameters.Add(JsonParameter("info", update.SandboxInfo is { } info ? SandboxInfoJson(info) : null));
            write.Parameters.Add(new NpgsqlParameter("build", NpgsqlDbType.Bigint) { Value = (object?)update.BuildTimeMs ?? DBNull.Value });
            write.Parameters.Add(new NpgsqlParameter("error", NpgsqlDbType.Text) { Value = (object?)update.ErrorMessage ?? DBNull.Value });
            write.Parameters.Add(JsonParameter("meta", update.Meta?.ToJsonString()));
            write.Parameters.Add(new NpgsqlParameter("kind", NpgsqlDbType.Text) { Value = (object?)update.Kind ?? DBNull.Value });
            write.Parameters.AddWithValue("now", now);
            write.Parameters.AddWithValue("terminal", terminal);
            PreviewSessionRecord written;
            await using (var reader = await write.ExecuteReaderAsync(cancellationToken))
            {
                await reader.ReadAsync(cancellationToken);
                written = ReadSession(reader);
            }

            await transaction.CommitAsync(cancellationToken);
            return written;
        }
    }

    public async Task<PreviewSessionRecord?> GetOpenSessionAsync(PreviewKey preview, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);
        await using var command = DataSource.CreateCommand(
            $"SELECT {SessionColumns} FROM preview_sessions WHERE namespace = @ns AND name = @name AND state IN ('queued', 'building', 'ready')");
        AddPreview(command.Parameters, preview);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadSession(reader) : null;
    }

    public async Task<IReadOnlyList<PreviewSessionRecord>> ListSessionsAsync(PreviewKey preview, int limit, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);
        await using var command = DataSource.CreateCommand(
            $"SELECT {SessionColumns} FROM preview_sessions WHERE namespace = @ns AND name = @name ORDER BY seq DESC LIMIT @limit");
        AddPreview(command.Parameters, preview);
        command.Parameters.AddWithValue("limit", Math.Max(0, limit));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var sessions = new List<PreviewSessionRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            sessions.Add(ReadSession(reader));
        }

        return sessions;
    }

    public async Task RecordRecreationAsync(RecreationRow row, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);
        await using var command = DataSource.CreateCommand(
            """
            INSERT INTO sandbox_recreations (namespace, name, resource_uid, reason, old_sandbox_id, new_sandbox_id, old_url, new_url, success, error, duration_ms, created_at)
            VALUES (@ns, @name, @uid, @reason, @old, @new, @oldUrl, @newUrl, @success, @error, @duration, @at)
            """);
        AddPreview(command.Parameters, row.Preview);
        command.Parameters.AddWithValue("uid", row.ResourceUid);
        command.Parameters.AddWithValue("reason", row.Reason);
        command.Parameters.Add(new NpgsqlParameter("old", NpgsqlDbType.Text) { Value = (object?)row.OldSandboxId ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("new", NpgsqlDbType.Text) { Value = (object?)row.NewSandboxId ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("oldUrl", NpgsqlDbType.Text) { Value = (object?)row.OldUrl ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("newUrl", NpgsqlDbType.Text) { Value = (object?)row.NewUrl ?? DBNull.Value });
        command.Parameters.AddWithValue("success", row.Success);
        command.Parameters.Add(new NpgsqlParameter("error", NpgsqlDbType.Text) { Value = (object?)row.Error ?? DBNull.Value });
        command.Parameters.AddWithValue("duration", Math.Max(0, row.DurationMs));
        command.Parameters.AddWithValue("at", row.At.ToUniversalTime());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<RecreationRow>> ListRecreationsAsync(PreviewKey preview, int limit, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);
        await using var command = DataSource.CreateCommand(
            """
            SELECT resource_uid, reason, old_sandbox_id, new_sandbox_id, old_url, new_url, success, error, duration_ms, created_at
            FROM sandbox_recreations WHERE namespace = @ns AND name = @name ORDER BY id DESC LIMIT @limit
            """);
        AddPreview(command.Parameters, preview);
        command.Parameters.AddWithValue("limit", Math.Max(0, limit));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<RecreationRow>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new RecreationRow(preview, reader.GetString(0), reader.GetString(1), NullableString(reader, 2), NullableString(reader, 3),
                NullableString(reader, 4), NullableString(reader, 5), reader.GetBoolean(6), NullableString(reader, 7), reader.GetInt64(8),
                reader.GetFieldValue<DateTimeOffset>(9)));
        }

        return rows;
    }

    private static string SandboxInfoJson(SandboxInfoDocument info) => new JsonObject
    {
        ["sandbox_id"] = info.SandboxId,
        ["preview_url"] = info.PreviewUrl,
        ["start_time"] = info.StartTime.ToUniversalTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        ["end_time"] = info.EndTime.ToUniversalTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture),
    }.ToJsonString();

    private static SandboxInfoDocument? ReadSandboxInfo(string json)
    {
        var node = JsonNode.Parse(json);
        return node?["sandbox_id"]?.GetValue<string>() is { } id
            ? new SandboxInfoDocument(id, node["preview_url"]?.GetValue<string>() ?? string.Empty,
                DateTimeOffset.Parse(node["start_time"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture),
                DateTimeOffset.Parse(node["end_time"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture))
            : null;
    }

    private static PreviewSessionRecord ReadSession(NpgsqlDataReader reader) => new(
        reader.GetGuid(0),
        new PreviewKey(reader.GetString(1), reader.GetString(2)),
        reader.GetString(3),
        reader.GetString(4),
        NullableString(reader, 5),
        reader.GetString(6),
        NullableString(reader, 7),
        reader.IsDBNull(8) ? null : ReadSandboxInfo(reader.GetString(8)),
        reader.IsDBNull(9) ? null : reader.GetFieldValue<DateTimeOffset>(9),
        reader.IsDBNull(10) ? null : reader.GetInt64(10),
        NullableString(reader, 11),
        reader.IsDBNull(12) ? null : JsonNode.Parse(reader.GetString(12)) as JsonObject,
        reader.GetFieldValue<DateTimeOffset>(13),
        reader.GetFieldValue<DateTimeOffset>(14),
        NullableString(reader, 15));
}
