using System.Data;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Midori.Operator.Files;
using Midori.Operator.Providers;
using Npgsql;
using NpgsqlTypes;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Persistence;

/// <summary>
/// <see cref="IPreviewStore"/> on PostgreSQL through one <see cref="NpgsqlDataSource"/>. Every multi-statement
/// operation is one transaction and, where it matters, one round trip (<see cref="NpgsqlBatch"/>). Commits to a
/// working copy are serialized by a row lock on the working copy; sessions by a transaction advisory lock.
/// </summary>
internal sealed partial class PostgresPreviewStore(
    NpgsqlDataSource dataSource,
    StoreMigrator schema,
    IOptions<StoreOptions> options,
    TimeProvider time) : IPreviewStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    private static readonly string[] OpenStates = [SessionStates.Queued, SessionStates.Building, SessionStates.Ready];

    private static readonly HashSet<string> KnownStates =
        [.. OpenStates, SessionStates.Failed, SessionStates.Expired, SessionStates.Cancelled];

    /// <summary>The working copy's set hash, computed in SQL exactly like <see cref="FileSetHash.FromManifest"/>.</summary>
    private const string ManifestHashSql =
        """'sha256:' || encode(sha256(convert_to(coalesce(string_agg(path || E'\n' || blob_hash || E'\n', '' ORDER BY path COLLATE "C"), ''), 'UTF8')), 'hex')""";

    private const string SessionColumns =
        "id, namespace, name, resource_uid, project_id, snapshot_id, state, url, sandbox_info, accessed_at, build_time_ms, error_message, meta, created_at, updated_at";

    private readonly StoreOptions _options = options.Value;

    // ---- projects ------------------------------------------------------------------------------------------------

    public async Task<ProjectRecord?> GetProjectAsync(string @namespace, string projectId, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);
        await using var command = dataSource.CreateCommand(
            "SELECT namespace, project_id, preview_enabled, preview_auto_build, preview_settings, created_at, updated_at FROM projects WHERE namespace = @ns AND project_id = @project");
        command.Parameters.AddWithValue("ns", @namespace);
        command.Parameters.AddWithValue("project", projectId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadProject(reader) : null;
    }

    public async Task<ProjectRecord> UpsertProjectAsync(string @namespace, string projectId, bool previewEnabled, bool previewAutoBuild,
        PreviewSettings? settings, CancellationToken cancellationToken)
    {
        ValidateProjectId(projectId);
        await ReadyAsync(cancellationToken);
        await using var command = dataSource.CreateCommand(
            """
            INSERT INTO projects (namespace, project_id, preview_enabled, preview_auto_build, preview_settings, created_at, updated_at)
            VALUES (@ns, @project, @enabled, @auto, @settings, @now, @now)
            ON CONFLICT (namespace, project_id) DO UPDATE SET
                preview_enabled = excluded.preview_enabled,
                preview_auto_build = excluded.preview_auto_build,
                preview_settings = excluded.preview_settings,
                updated_at = excluded.updated_at
            RETURNING namespace, project_id, preview_enabled, preview_auto_build, preview_settings, created_at, updated_at
            """);
        command.Parameters.AddWithValue("ns", @namespace);
        command.Parameters.AddWithValue("project", projectId);
        command.Parameters.AddWithValue("enabled", previewEnabled);
        command.Parameters.AddWithValue("auto", previewAutoBuild);
        command.Parameters.Add(JsonParameter("settings", settings is null ? null : JsonSerializer.Serialize(settings, Json)));
        command.Parameters.AddWithValue("now", time.GetUtcNow());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return ReadProject(reader);
    }

    // ---- snapshots -----------------------------------------------------------------------------------------------

    public async Task<SnapshotRecord> CreateSnapshotAsync(string @namespace, string projectId, IReadOnlyList<SandboxFile> files,
        string? fromGenerationId, CancellationToken cancellationToken)
    {
        ValidateProjectId(projectId);
        var entries = new List<BlobEntry>(files.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            var path = NormalizePath(file.Path);
            if (!seen.Add(path))
            {
                throw new ArgumentException($"File path '{path}' appears more than once", nameof(files));
            }

            CheckFileSize(path, file.Content.LongLength);
            entries.Add(new BlobEntry(path, ContentHash.Compute(file.Content), file.Content.LongLength, file.Content));
        }

        if (FileSetRules.FindPrefixConflict(seen) is var (directory, below))
        {
            throw FileSetConflictException.Prefix(directory, below);
        }

        CheckProjectLimits(entries.Count, entries.Sum(e => e.Size));
        await ReadyAsync(cancellationToken);

        var now = time.GetUtcNow();
        var snapshotId = Guid.CreateVersion7(now).ToString("N");
        var filesHash = FileSetHash.FromManifest(entries.Select(e => (e.Path, e.Hash)));
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(Command(
            """
            INSERT INTO projects (namespace, project_id, preview_enabled, preview_auto_build, created_at, updated_at)
            VALUES (@ns, @project, true, false, @now, @now) ON CONFLICT (namespace, project_id) DO NOTHING
            """,
            ("ns", @namespace), ("project", projectId), ("now", now)));
        AddBlobInsert(batch, entries, now);
        batch.BatchCommands.Add(Command(
            """
            INSERT INTO snapshots (namespace, snapshot_id, project_id, from_generation_id, files_hash, file_count, total_bytes, created_at)
            VALUES (@ns, @snapshot, @project, @generation, @hash, @count, @bytes, @now)
            """,
            ("ns", @namespace), ("snapshot", snapshotId), ("project", projectId), ("generation", (object?)fromGenerationId ?? DBNull.Value),
            ("hash", filesHash), ("count", entries.Count), ("bytes", entries.Sum(e => e.Size)), ("now", now)));
        var insertFiles = Command(
            """
            INSERT INTO snapshot_files (namespace, snapshot_id, path, blob_hash, size)
            SELECT @ns, @snapshot, f.path, f.hash, f.size FROM unnest(@paths, @hashes, @sizes) AS f(path, hash, size)
            """,
            ("ns", @namespace), ("snapshot", snapshotId));
        insertFiles.Parameters.Add(TextArray("paths", entries.Select(e => e.Path)));
        insertFiles.Parameters.Add(TextArray("hashes", entries.Select(e => e.Hash)));
        insertFiles.Parameters.Add(new NpgsqlParameter("sizes", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = entries.Select(e => e.Size).ToArray() });
        batch.BatchCommands.Add(insertFiles);
        await batch.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);

        return new SnapshotRecord(@namespace, projectId, snapshotId, fromGenerationId, filesHash,
            [.. entries.OrderBy(e => e.Path, StringComparer.Ordinal).Select(e => new FileEntry(e.Path, e.Hash, e.Size))], Truncate(now));
    }

    public async Task<SnapshotRecord?> GetSnapshotAsync(string @namespace, string snapshotId, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);
        await using var command = dataSource.CreateCommand(
            """
            SELECT s.project_id, s.from_generation_id, s.files_hash, s.created_at, f.path, f.blob_hash, f.size
            FROM snapshots s LEFT JOIN snapshot_files f ON f.namespace = s.namespace AND f.snapshot_id = s.snapshot_id
            WHERE s.namespace = @ns AND s.snapshot_id = @snapshot
            ORDER BY f.path COLLATE "C"
            """);
        command.Parameters.AddWithValue("ns", @namespace);
        command.Parameters.AddWithValue("snapshot", snapshotId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        SnapshotRecord? snapshot = null;
        var files = new List<FileEntry>();
        while (await reader.ReadAsync(cancellationToken))
        {
            snapshot ??= new SnapshotRecord(@namespace, reader.GetString(0), snapshotId, reader.IsDBNull(1) ? null : reader.GetString(1),
                reader.GetString(2), files, reader.GetFieldValue<DateTimeOffset>(3));
            if (!reader.IsDBNull(4))
            {
                files.Add(new FileEntry(reader.GetString(4), reader.GetString(5), reader.GetInt64(6)));
            }
        }

        return snapshot;
    }

    public async Task<IReadOnlyList<SandboxFile>?> ReadSnapshotFilesAsync(string @namespace, string snapshotId, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);
        await using var command = dataSource.CreateCommand(
            """
            SELECT f.path, b.content
            FROM snapshots s
            LEFT JOIN snapshot_files f ON f.namespace = s.namespace AND f.snapshot_id = s.snapshot_id
            LEFT JOIN blobs b ON b.hash = f.blob_hash
            WHERE s.namespace = @ns AND s.snapshot_id = @snapshot
            ORDER BY f.path COLLATE "C"
            """);
        command.Parameters.AddWithValue("ns", @namespace);
        command.Parameters.AddWithValue("snapshot", snapshotId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        List<SandboxFile>? files = null;
        while (await reader.ReadAsync(cancellationToken))
        {
            files ??= [];
            if (!reader.IsDBNull(0))
            {
                files.Add(new SandboxFile(reader.GetString(0), reader.GetFieldValue<byte[]>(1)));
            }
        }

        return files;
    }

    // ---- working copies ------------------------------------------------------------------------------------------

    public async Task<WorkingCopy?> GetWorkingCopyAsync(PreviewKey preview, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);

        // One statement, so the head and the file list come from the same snapshot of the data.
        await using var command = dataSource.CreateCommand(
            """
            SELECT w.project_id, w.snapshot_id, w.revision, w.files_hash, w.pushed_revision, w.pushed_sandbox_id, w.updated_at, f.path, f.blob_hash, f.size
            FROM working_copies w LEFT JOIN working_copy_files f ON f.namespace = w.namespace AND f.name = w.name
            WHERE w.namespace = @ns AND w.name = @name
            ORDER BY f.path COLLATE "C"
            """);
        AddPreview(command.Parameters, preview);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        WorkingCopy? copy = null;
        var files = new List<FileEntry>();
        while (await reader.ReadAsync(cancellationToken))
        {
            copy ??= new WorkingCopy(preview, reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3),
                files, reader.IsDBNull(4) ? null : reader.GetInt64(4), reader.IsDBNull(5) ? null : reader.GetString(5), reader.GetFieldValue<DateTimeOffset>(6));
            if (!reader.IsDBNull(7))
            {
                files.Add(new FileEntry(reader.GetString(7), reader.GetString(8), reader.GetInt64(9)));
            }
        }

        return copy;
    }

    public async Task<WorkingCopyHead?> GetWorkingCopyHeadAsync(PreviewKey preview, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);
        await using var command = dataSource.CreateCommand(
            "SELECT project_id, snapshot_id, revision, files_hash, pushed_revision, pushed_sandbox_id, updated_at FROM working_copies WHERE namespace = @ns AND name = @name");
        AddPreview(command.Parameters, preview);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new WorkingCopyHead(preview, reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetInt64(4), reader.IsDBNull(5) ? null : reader.GetString(5), reader.GetFieldValue<DateTimeOffset>(6))
            : null;
    }

    public async Task<WorkingCopy> InitializeWorkingCopyAsync(PreviewKey preview, string projectId, string snapshotId, bool reset,
        CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);
        var now = time.GetUtcNow();
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            await using (var check = new NpgsqlCommand(
                "SELECT project_id, file_count, total_bytes FROM snapshots WHERE namespace = @ns AND snapshot_id = @snapshot", connection, transaction))
            {
                check.Parameters.AddWithValue("ns", preview.Namespace);
                check.Parameters.AddWithValue("snapshot", snapshotId);
                await using var reader = await check.ExecuteReaderAsync(cancellationToken);
                if (!await reader.ReadAsync(cancellationToken) || reader.GetString(0) != projectId)
                {
                    throw new KeyNotFoundException($"Snapshot '{snapshotId}' of project '{projectId}' does not exist in namespace '{preview.Namespace}'");
                }
            }

            // Concurrent initializers: the loser's insert waits for the winner's commit and then inserts nothing.
            await using var insert = new NpgsqlBatch(connection, transaction);
            insert.BatchCommands.Add(Command(
                """
                INSERT INTO working_copies (namespace, name, project_id, snapshot_id, revision, files_hash, file_count, total_bytes, created_at, updated_at)
                SELECT @ns, @name, project_id, snapshot_id, 1, files_hash, file_count, total_bytes, @now, @now
                FROM snapshots WHERE namespace = @ns AND snapshot_id = @snapshot
                ON CONFLICT (namespace, name) DO NOTHING
                """,
                ("ns", preview.Namespace), ("name", preview.Name), ("snapshot", snapshotId), ("now", now)));
            var inserted = await insert.ExecuteNonQueryAsync(cancellationToken) == 1;
            if (inserted)
            {
                await using var fill = new NpgsqlBatch(connection, transaction);
                fill.BatchCommands.Add(Command(
                    """
                    INSERT INTO working_copy_files (namespace, name, path, blob_hash, size, revision)
                    SELECT @ns, @name, path, blob_hash, size, 1 FROM snapshot_files WHERE namespace = @ns AND snapshot_id = @snapshot
                    """,
                    ("ns", preview.Namespace), ("name", preview.Name), ("snapshot", snapshotId)));
                fill.BatchCommands.Add(Command(
                    """
                    INSERT INTO working_copy_changes (namespace, name, revision, path, blob_hash)
                    SELECT @ns, @name, 1, path, blob_hash FROM snapshot_files WHERE namespace = @ns AND snapshot_id = @snapshot
                    """,
                    ("ns", preview.Namespace), ("name", preview.Name), ("snapshot", snapshotId)));
                fill.BatchCommands.Add(PatchSetCommand(preview, new ChangeDescription("snapshot", new JsonObject { ["snapshotId"] = snapshotId }), now,
                    added: null, modified: 0, deleted: 0));
                await fill.ExecuteNonQueryAsync(cancellationToken);
            }
            else if (reset)
            {
                var head = await LockWorkingCopyAsync(connection, transaction, preview, cancellationToken)
                    ?? throw new KeyNotFoundException($"Working copy of {preview} vanished during initialization");
                var snapshotFiles = new List<PlannedWrite>();
                await using (var read = new NpgsqlCommand(
                    "SELECT path, blob_hash, size FROM snapshot_files WHERE namespace = @ns AND snapshot_id = @snapshot", connection, transaction))
                {
                    read.Parameters.AddWithValue("ns", preview.Namespace);
                    read.Parameters.AddWithValue("snapshot", snapshotId);
                    await using var reader = await read.ExecuteReaderAsync(cancellationToken);
                    while (await reader.ReadAsync(cancellationToken))
                    {
                        snapshotFiles.Add(new PlannedWrite(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), Content: null, ExpectedHash: null));
                    }
                }

                var commit = await CommitCoreAsync(connection, transaction, preview, head, snapshotFiles, replaceAll: true,
                    new ChangeDescription("snapshot", new JsonObject { ["snapshotId"] = snapshotId, ["reset"] = true }), snapshotId, now, cancellationToken);
                if (!commit.Changed)
                {
                    // Same files under another snapshot id: no new revision, but remember which snapshot it now follows.
                    await using var follow = new NpgsqlCommand(
                        "UPDATE working_copies SET snapshot_id = @snapshot WHERE namespace = @ns AND name = @name", connection, transaction);
                    AddPreview(follow.Parameters, preview);
                    follow.Parameters.AddWithValue("snapshot", snapshotId);
                    await follow.ExecuteNonQueryAsync(cancellationToken);
                }
            }

            await transaction.CommitAsync(cancellationToken);
        }

        return await GetWorkingCopyAsync(preview, cancellationToken)
            ?? throw new KeyNotFoundException($"Working copy of {preview} vanished after initialization");
    }

    public async Task<WorkingCopyFiles?> ReadFilesAsync(PreviewKey preview, IReadOnlyCollection<string>? paths, CancellationToken cancellationToken)
    {
        string[]? normalized = paths?.Select(NormalizePath).Distinct(StringComparer.Ordinal).ToArray();
        await ReadyAsync(cancellationToken);
        await using var command = dataSource.CreateCommand(
            $"""
            SELECT w.revision, w.files_hash, f.path, b.content
            FROM working_copies w
            LEFT JOIN working_copy_files f ON f.namespace = w.namespace AND f.name = w.name {(normalized is null ? string.Empty : "AND f.path = ANY(@paths)")}
            LEFT JOIN blobs b ON b.hash = f.blob_hash
            WHERE w.namespace = @ns AND w.name = @name
            ORDER BY f.path COLLATE "C"
            """);
        AddPreview(command.Parameters, preview);
        if (normalized is not null)
        {
            command.Parameters.Add(TextArray("paths", normalized));
        }

        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        WorkingCopyFiles? result = null;
        var files = new List<SandboxFile>();
        while (await reader.ReadAsync(cancellationToken))
        {
            result ??= new WorkingCopyFiles(reader.GetInt64(0), reader.GetString(1), files);
            if (!reader.IsDBNull(2))
            {
                files.Add(new SandboxFile(reader.GetString(2), reader.GetFieldValue<byte[]>(3)));
            }
        }

        return result;
    }

    public async Task<WorkingCopyCommit> CommitAsync(PreviewKey preview, IReadOnlyList<FileWrite> writes, ChangeDescription change,
        CancellationToken cancellationToken)
    {
        ValidateKind(change.Kind);
        var planned = new List<PlannedWrite>(writes.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var write in writes)
        {
            var path = NormalizePath(write.Path);
            if (!seen.Add(path))
            {
                throw new ArgumentException($"File path '{path}' appears more than once in one commit", nameof(writes));
            }

            if (write.Content is { } content)
            {
                CheckFileSize(path, content.LongLength);
                planned.Add(new PlannedWrite(path, ContentHash.Compute(content), content.LongLength, content, write.ExpectedHash));
            }
            else
            {
                planned.Add(new PlannedWrite(path, Hash: null, Size: 0, Content: null, write.ExpectedHash));
            }
        }

        await ReadyAsync(cancellationToken);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var head = await LockWorkingCopyAsync(connection, transaction, preview, cancellationToken)
            ?? throw new KeyNotFoundException($"{preview} has no working copy; initialize it from a snapshot first");
        var commit = await CommitCoreAsync(connection, transaction, preview, head, planned, replaceAll: false, change, newSnapshotId: null,
            time.GetUtcNow(), cancellationToken);
        if (commit.Changed)
        {
            await transaction.CommitAsync(cancellationToken);
        }

        return commit;
    }

    public async Task<WorkingCopyDelta?> GetDeltaAsync(PreviewKey preview, long fromRevision, CancellationToken cancellationToken)
    {
        if (fromRevision < 0)
        {
            return null;
        }

        await ReadyAsync(cancellationToken);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);

        // Repeatable read: the head, the written files and the deletions describe the same revision.
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
        await using var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(Command("SELECT revision FROM working_copies WHERE namespace = @ns AND name = @name",
            ("ns", preview.Namespace), ("name", preview.Name)));
        batch.BatchCommands.Add(Command(
            """
            SELECT f.path, b.content FROM working_copy_files f JOIN blobs b ON b.hash = f.blob_hash
            WHERE f.namespace = @ns AND f.name = @name AND f.revision > @from
            ORDER BY f.path COLLATE "C"
            """,
            ("ns", preview.Namespace), ("name", preview.Name), ("from", fromRevision)));
        batch.BatchCommands.Add(Command(
            """
            SELECT DISTINCT c.path FROM working_copy_changes c
            WHERE c.namespace = @ns AND c.name = @name AND c.revision > @from AND c.blob_hash IS NULL
              AND NOT EXISTS (SELECT 1 FROM working_copy_files f WHERE f.namespace = c.namespace AND f.name = c.name AND f.path = c.path)
            ORDER BY c.path
            """,
            ("ns", preview.Namespace), ("name", preview.Name), ("from", fromRevision)));
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        var revision = reader.GetInt64(0);
        if (fromRevision > revision)
        {
            return null;
        }

        await reader.NextResultAsync(cancellationToken);
        var written = new List<SandboxFile>();
        while (await reader.ReadAsync(cancellationToken))
        {
            written.Add(new SandboxFile(reader.GetString(0), reader.GetFieldValue<byte[]>(1)));
        }

        await reader.NextResultAsync(cancellationToken);
        var deleted = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            deleted.Add(reader.GetString(0));
        }

        return new WorkingCopyDelta(fromRevision, revision, written, deleted);
    }

    public async Task MarkPushedAsync(PreviewKey preview, string sandboxId, long revision, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);

        // Never backwards for the same sandbox, never beyond the working copy; a different sandbox replaces the record.
        await using var command = dataSource.CreateCommand(
            """
            UPDATE working_copies SET pushed_sandbox_id = @sandbox, pushed_revision = @revision
            WHERE namespace = @ns AND name = @name AND @revision BETWEEN 1 AND revision
              AND (pushed_sandbox_id IS DISTINCT FROM @sandbox OR pushed_revision < @revision)
            """);
        AddPreview(command.Parameters, preview);
        command.Parameters.AddWithValue("sandbox", sandboxId);
        command.Parameters.AddWithValue("revision", revision);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task DeleteWorkingCopyAsync(PreviewKey preview, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);
        await using var command = dataSource.CreateCommand("DELETE FROM working_copies WHERE namespace = @ns AND name = @name");
        AddPreview(command.Parameters, preview);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IAsyncDisposable> AcquirePushLockAsync(PreviewKey preview, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);

        // A session advisory lock on a dedicated connection: released on dispose, or by PostgreSQL if this process dies.
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var command = new NpgsqlCommand("SELECT pg_advisory_lock(hashtextextended(@key, 0))", connection);
            command.Parameters.AddWithValue("key", $"push:{preview.Namespace}/{preview.Name}");
            await command.ExecuteNonQueryAsync(cancellationToken);
            return new AdvisoryLock(connection, $"push:{preview.Namespace}/{preview.Name}");
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    // ---- activity ------------------------------------------------------------------------------------------------

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
        await using var batch = dataSource.CreateBatch();
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
        await using var command = dataSource.CreateCommand("SELECT last_activity_at FROM activity WHERE namespace = @ns AND name = @name");
        AddPreview(command.Parameters, preview);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is DateTime at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : null;
    }

    // ---- sessions and recreations -------------------------------------------------------------------------------

    public async Task<PreviewSessionRecord> RecordSessionAsync(SessionUpdate update, CancellationToken cancellationToken)
    {
        if (!KnownStates.Contains(update.State))
        {
            throw new ArgumentException($"Unknown session state '{update.State}'", nameof(update));
        }

        await ReadyAsync(cancellationToken);
        var now = time.GetUtcNow();
        var terminal = !OpenStates.Contains(update.State);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
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
                    error_message, meta, created_at, updated_at, ended_at)
                VALUES (@id, @ns, @name, @uid, @project, @snapshot, @state, @url, @info, @build, @error, @meta, @now, @now,
                    CASE WHEN @terminal THEN @now ELSE NULL END)
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
        await using var command = dataSource.CreateCommand(
            $"SELECT {SessionColumns} FROM preview_sessions WHERE namespace = @ns AND name = @name AND state IN ('queued', 'building', 'ready')");
        AddPreview(command.Parameters, preview);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadSession(reader) : null;
    }

    public async Task<IReadOnlyList<PreviewSessionRecord>> ListSessionsAsync(PreviewKey preview, int limit, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);
        await using var command = dataSource.CreateCommand(
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
        await using var command = dataSource.CreateCommand(
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
        await using var command = dataSource.CreateCommand(
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

    // ---- commit core ---------------------------------------------------------------------------------------------

    /// <summary>
    /// Under the working copy's row lock: no added path may be a directory of a kept file or have a kept file as one of
    /// its directories (<see cref="FileSetRules"/>). Reads only the candidate rows, not the whole set.
    /// </summary>
    private static async Task CheckFileSetAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, PreviewKey preview, List<string> added,
        List<string> deleted, CancellationToken cancellationToken)
    {
        var ancestors = added.SelectMany(Ancestors).Distinct(StringComparer.Ordinal).ToList();
        await using var command = new NpgsqlCommand(
            """
            SELECT path FROM working_copy_files
            WHERE namespace = @ns AND name = @name
              AND (path = ANY(@ancestors) OR EXISTS (SELECT 1 FROM unnest(@dirs) AS d(dir) WHERE starts_with(path, d.dir)))
            """,
            connection, transaction);
        AddPreview(command.Parameters, preview);
        command.Parameters.Add(TextArray("ancestors", ancestors));
        command.Parameters.Add(TextArray("dirs", added.Select(p => p + "/")));
        var paths = new HashSet<string>(added, StringComparer.Ordinal);
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                paths.Add(reader.GetString(0));
            }
        }

        paths.ExceptWith(deleted);
        if (FileSetRules.FindPrefixConflict(paths, added) is var (file, other))
        {
            throw FileSetConflictException.Prefix(file, other);
        }

        static IEnumerable<string> Ancestors(string path)
        {
            for (var slash = path.IndexOf('/', StringComparison.Ordinal); slash > 0; slash = path.IndexOf('/', slash + 1))
            {
                yield return path[..slash];
            }
        }
    }

    /// <summary>A file change with its content hash (null hash = delete); Content null means the blob is known to exist.</summary>
    private sealed record PlannedWrite(string Path, string? Hash, long Size, byte[]? Content, string? ExpectedHash);

    private sealed record BlobEntry(string Path, string Hash, long Size, byte[] Content);

    private sealed record WorkingCopyLock(string ProjectId, long Revision, string FilesHash, int FileCount, long TotalBytes);

    private static async Task<WorkingCopyLock?> LockWorkingCopyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, PreviewKey preview,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT project_id, revision, files_hash, file_count, total_bytes FROM working_copies WHERE namespace = @ns AND name = @name FOR UPDATE",
            connection, transaction);
        AddPreview(command.Parameters, preview);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new WorkingCopyLock(reader.GetString(0), reader.GetInt64(1), reader.GetString(2), reader.GetInt32(3), reader.GetInt64(4))
            : null;
    }

    /// <summary>
    /// Runs inside a transaction holding the working copy's row lock: checks expectations, classifies, enforces limits
    /// and writes the new revision in one batch. With <paramref name="replaceAll"/> every current file not written is deleted.
    /// </summary>
    private async Task<WorkingCopyCommit> CommitCoreAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, PreviewKey preview,
        WorkingCopyLock head, List<PlannedWrite> writes, bool replaceAll, ChangeDescription change, string? newSnapshotId, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var current = new Dictionary<string, (string Hash, long Size)>(StringComparer.Ordinal);
        await using (var read = new NpgsqlCommand(
            replaceAll
                ? "SELECT path, blob_hash, size FROM working_copy_files WHERE namespace = @ns AND name = @name"
                : "SELECT path, blob_hash, size FROM working_copy_files WHERE namespace = @ns AND name = @name AND path = ANY(@paths)",
            connection, transaction))
        {
            AddPreview(read.Parameters, preview);
            if (!replaceAll)
            {
                read.Parameters.Add(TextArray("paths", writes.Select(w => w.Path)));
            }

            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                current[reader.GetString(0)] = (reader.GetString(1), reader.GetInt64(2));
            }
        }

        if (replaceAll)
        {
            var written = writes.Select(w => w.Path).ToHashSet(StringComparer.Ordinal);
            writes.AddRange(current.Keys.Where(p => !written.Contains(p)).Select(p => new PlannedWrite(p, null, 0, null, null)));
        }

        List<string> added = [], modified = [], deleted = [], unchanged = [];
        var upserts = new List<PlannedWrite>();
        long bytesDelta = 0;
        foreach (var write in writes)
        {
            var exists = current.TryGetValue(write.Path, out var existing);
            if (write.ExpectedHash is { } expected)
            {
                var matches = expected == FileWrite.Absent ? !exists : exists && existing.Hash == expected;
                if (!matches)
                {
                    throw new WorkingCopyConflictException(write.Path, expected, exists ? existing.Hash : null);
                }
            }

            if (write.Hash is null)
            {
                (exists ? deleted : unchanged).Add(write.Path);
                bytesDelta -= exists ? existing.Size : 0;
            }
            else if (!exists)
            {
                added.Add(write.Path);
                upserts.Add(write);
                bytesDelta += write.Size;
            }
            else if (existing.Hash != write.Hash)
            {
                modified.Add(write.Path);
                upserts.Add(write);
                bytesDelta += write.Size - existing.Size;
            }
            else
            {
                unchanged.Add(write.Path);
            }
        }

        added.Sort(StringComparer.Ordinal);
        modified.Sort(StringComparer.Ordinal);
        deleted.Sort(StringComparer.Ordinal);
        unchanged.Sort(StringComparer.Ordinal);
        if (added.Count + modified.Count + deleted.Count == 0)
        {
            return new WorkingCopyCommit(head.Revision, head.FilesHash, added, modified, deleted, unchanged);
        }

        if (added.Count > 0)
        {
            await CheckFileSetAsync(connection, transaction, preview, added, deleted, cancellationToken);
        }

        CheckProjectLimits(head.FileCount + added.Count - deleted.Count, head.TotalBytes + bytesDelta);
        var revision = head.Revision + 1;
        await using var batch = new NpgsqlBatch(connection, transaction);
        AddBlobInsert(batch, upserts.Where(w => w.Content is not null).Select(w => new BlobEntry(w.Path, w.Hash!, w.Size, w.Content!)).ToList(), now);
        if (upserts.Count > 0)
        {
            var upsert = Command(
                """
                INSERT INTO working_copy_files (namespace, name, path, blob_hash, size, revision)
                SELECT @ns, @name, f.path, f.hash, f.size, @revision FROM unnest(@paths, @hashes, @sizes) AS f(path, hash, size)
                ON CONFLICT (namespace, name, path) DO UPDATE SET blob_hash = excluded.blob_hash, size = excluded.size, revision = excluded.revision
                """,
                ("ns", preview.Namespace), ("name", preview.Name), ("revision", revision));
            upsert.Parameters.Add(TextArray("paths", upserts.Select(w => w.Path)));
            upsert.Parameters.Add(TextArray("hashes", upserts.Select(w => w.Hash!)));
            upsert.Parameters.Add(new NpgsqlParameter("sizes", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = upserts.Select(w => w.Size).ToArray() });
            batch.BatchCommands.Add(upsert);
        }

        if (deleted.Count > 0)
        {
            var delete = Command("DELETE FROM working_copy_files WHERE namespace = @ns AND name = @name AND path = ANY(@paths)",
                ("ns", preview.Namespace), ("name", preview.Name));
            delete.Parameters.Add(TextArray("paths", deleted));
            batch.BatchCommands.Add(delete);
        }

        var changes = Command(
            """
            INSERT INTO working_copy_changes (namespace, name, revision, path, blob_hash)
            SELECT @ns, @name, @revision, c.path, c.hash FROM unnest(@paths, @hashes) AS c(path, hash)
            """,
            ("ns", preview.Namespace), ("name", preview.Name), ("revision", revision));
        changes.Parameters.Add(TextArray("paths", upserts.Select(w => w.Path).Concat(deleted)));
        changes.Parameters.Add(new NpgsqlParameter("hashes", NpgsqlDbType.Array | NpgsqlDbType.Text)
        {
            Value = upserts.Select(w => (object)w.Hash!).Concat(deleted.Select(_ => (object)DBNull.Value)).ToArray(),
        });
        batch.BatchCommands.Add(changes);
        batch.BatchCommands.Add(Command(
            $"""
            UPDATE working_copies w SET revision = @revision, updated_at = @now, snapshot_id = coalesce(@snapshot, w.snapshot_id),
                files_hash = m.files_hash, file_count = m.file_count, total_bytes = m.total_bytes
            FROM (SELECT {ManifestHashSql} AS files_hash, count(*)::integer AS file_count, coalesce(sum(size), 0)::bigint AS total_bytes
                  FROM working_copy_files WHERE namespace = @ns AND name = @name) m
            WHERE w.namespace = @ns AND w.name = @name
            RETURNING w.files_hash
            """,
            ("ns", preview.Namespace), ("name", preview.Name), ("revision", revision), ("now", now),
            ("snapshot", (object?)newSnapshotId ?? DBNull.Value)));
        batch.BatchCommands[^1].Parameters["snapshot"].NpgsqlDbType = NpgsqlDbType.Text;
        batch.BatchCommands.Add(PatchSetCommand(preview, change, now, added.Count, modified.Count, deleted.Count));

        string? filesHash = null;
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            // Only the working-copy update returns a row (its new hash); skip whatever the other statements report.
            do
            {
                if (reader.FieldCount == 1 && await reader.ReadAsync(cancellationToken))
                {
                    filesHash = reader.GetString(0);
                }
            }
            while (filesHash is null && await reader.NextResultAsync(cancellationToken));
        }

        return new WorkingCopyCommit(revision, filesHash ?? throw new InvalidOperationException("The working copy update returned no row"), added, modified, deleted, unchanged);
    }

    /// <summary>The patch-set row of the revision just written (reads revision and hash back from the working copy row).</summary>
    private static NpgsqlBatchCommand PatchSetCommand(PreviewKey preview, ChangeDescription change, DateTimeOffset now, int? added, int modified, int deleted)
    {
        var command = Command(
            """
            INSERT INTO patch_sets (namespace, name, project_id, revision, kind, payload, actor, added, modified, deleted, files_hash, created_at)
            SELECT namespace, name, project_id, revision, @kind, @payload, @actor, coalesce(@added, file_count), @modified, @deleted, files_hash, @now
            FROM working_copies WHERE namespace = @ns AND name = @name
            """,
            ("ns", preview.Namespace), ("name", preview.Name), ("kind", change.Kind), ("modified", modified), ("deleted", deleted), ("now", now));
        command.Parameters.Add(JsonParameter("payload", change.Payload?.ToJsonString()));
        command.Parameters.Add(new NpgsqlParameter("actor", NpgsqlDbType.Text) { Value = (object?)change.Actor ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("added", NpgsqlDbType.Integer) { Value = (object?)added ?? DBNull.Value });
        return command;
    }

    private static void AddBlobInsert(NpgsqlBatch batch, IReadOnlyList<BlobEntry> entries, DateTimeOffset now)
    {
        var unique = entries.DistinctBy(e => e.Hash).ToList();
        if (unique.Count == 0)
        {
            return;
        }

        // Content-addressed: a hash already stored keeps its row, so identical content is stored once.
        var command = Command(
            """
            INSERT INTO blobs (hash, size, content, created_at)
            SELECT b.hash, b.size, b.content, @now FROM unnest(@hashes, @sizes, @contents) AS b(hash, size, content)
            ON CONFLICT (hash) DO NOTHING
            """,
            ("now", now));
        command.Parameters.Add(TextArray("hashes", unique.Select(e => e.Hash)));
        command.Parameters.Add(new NpgsqlParameter("sizes", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = unique.Select(e => e.Size).ToArray() });
        command.Parameters.Add(new NpgsqlParameter("contents", NpgsqlDbType.Array | NpgsqlDbType.Bytea) { Value = unique.Select(e => e.Content).ToArray() });
        batch.BatchCommands.Add(command);
    }

    // ---- helpers -------------------------------------------------------------------------------------------------

    private ValueTask ReadyAsync(CancellationToken cancellationToken) => schema.WaitUntilReadyAsync(_options.ReadyTimeout, cancellationToken);

    private void CheckFileSize(string path, long size)
    {
        if (size > _options.MaxFileBytes)
        {
            throw new StoreLimitException($"'{path}' is {size} bytes; the limit is {_options.MaxFileBytes} bytes per file");
        }
    }

    private void CheckProjectLimits(int fileCount, long totalBytes)
    {
        if (fileCount > _options.MaxFilesPerProject)
        {
            throw new StoreLimitException($"The project would hold {fileCount} files; the limit is {_options.MaxFilesPerProject}");
        }

        if (totalBytes > _options.MaxProjectBytes)
        {
            throw new StoreLimitException($"The project would hold {totalBytes} bytes; the limit is {_options.MaxProjectBytes} bytes");
        }
    }

    private static string NormalizePath(string path) =>
        ProjectPath.TryNormalize(path, out var normalized, out var error)
            ? normalized
            : throw new ArgumentException($"File path '{path}' is not allowed: {error}", nameof(path));

    private static void ValidateProjectId(string projectId)
    {
        if (string.IsNullOrWhiteSpace(projectId) || projectId.Length > 253)
        {
            throw new ArgumentException("A project id must be 1 to 253 characters", nameof(projectId));
        }
    }

    private static void ValidateKind(string kind)
    {
        if (!KindPattern().IsMatch(kind))
        {
            throw new ArgumentException($"Change kind '{kind}' must be lowercase letters, digits, '-' or '_' (at most 32)", nameof(kind));
        }
    }

    [GeneratedRegex("^[a-z][a-z0-9_-]{0,31}$")]
    private static partial Regex KindPattern();

    private static DateTimeOffset Truncate(DateTimeOffset time) => new(time.Ticks - (time.Ticks % 10), time.Offset);

    private static NpgsqlBatchCommand Command(string sql, params (string Name, object Value)[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return command;
    }

    private static void AddPreview(NpgsqlParameterCollection parameters, PreviewKey preview)
    {
        parameters.AddWithValue("ns", preview.Namespace);
        parameters.AddWithValue("name", preview.Name);
    }

    private static NpgsqlParameter TextArray(string name, IEnumerable<string> values) =>
        new(name, NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = values.ToArray() };

    private static NpgsqlParameter JsonParameter(string name, string? json) =>
        new(name, NpgsqlDbType.Jsonb) { Value = (object?)json ?? DBNull.Value };

    private static string? NullableString(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static ProjectRecord ReadProject(NpgsqlDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), reader.GetBoolean(2), reader.GetBoolean(3),
            reader.IsDBNull(4) ? null : JsonSerializer.Deserialize<PreviewSettings>(reader.GetString(4), Json),
            reader.GetFieldValue<DateTimeOffset>(5), reader.GetFieldValue<DateTimeOffset>(6));

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
        reader.GetFieldValue<DateTimeOffset>(14));

    /// <summary>A session advisory lock held on its own connection until disposed.</summary>
    private sealed class AdvisoryLock(NpgsqlConnection connection, string key) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                await using var command = new NpgsqlCommand("SELECT pg_advisory_unlock(hashtextextended(@key, 0))", connection);
                command.Parameters.AddWithValue("key", key);
                await command.ExecuteNonQueryAsync(CancellationToken.None);
            }
            catch (NpgsqlException)
            {
                // A broken connection released the lock already (session locks die with the session).
            }
            finally
            {
                await connection.DisposeAsync();
            }
        }
    }
}
