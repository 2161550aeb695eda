using System.Data;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Files;
using Npgsql;
using NpgsqlTypes;

namespace Midori.Operator.Persistence;

/// <summary>
/// <see cref="IWorkingCopyStore"/> on PostgreSQL: working copies, their commits (serialized by a row lock on the working
/// copy, one transaction and one round trip each), deltas, push marks and the cross-replica push lock (a session
/// advisory lock).
/// </summary>
internal sealed partial class PostgresWorkingCopyStore(NpgsqlDataSource dataSource, StoreMigrator schema, IOptions<StoreOptions> options, TimeProvider time)
    : PostgresStorePart(dataSource, schema, options, time), IWorkingCopyStore
{
    public async Task<WorkingCopy?> GetWorkingCopyAsync(PreviewKey preview, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);

        // One statement, so the head and the file list come from the same snapshot of the data.
        await using var command = DataSource.CreateCommand(
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
        await using var command = DataSource.CreateCommand(
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
        var now = Time.GetUtcNow();
        await using (var connection = await DataSource.OpenConnectionAsync(cancellationToken))
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
        await using var command = DataSource.CreateCommand(
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
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var head = await LockWorkingCopyAsync(connection, transaction, preview, cancellationToken)
            ?? throw new KeyNotFoundException($"{preview} has no working copy; initialize it from a snapshot first");
        var commit = await CommitCoreAsync(connection, transaction, preview, head, planned, replaceAll: false, change, newSnapshotId: null,
            Time.GetUtcNow(), cancellationToken);
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
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);

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
        await using var command = DataSource.CreateCommand(
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
        await using var command = DataSource.CreateCommand("DELETE FROM working_copies WHERE namespace = @ns AND name = @name");
        AddPreview(command.Parameters, preview);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IAsyncDisposable> AcquirePushLockAsync(PreviewKey preview, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);

        // A session advisory lock on a dedicated connection: released on dispose, or by PostgreSQL if this process dies.
        var connection = await DataSource.OpenConnectionAsync(cancellationToken);
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

    private static void ValidateKind(string kind)
    {
        if (!KindPattern().IsMatch(kind))
        {
            throw new ArgumentException($"Change kind '{kind}' must be lowercase letters, digits, '-' or '_' (at most 32)", nameof(kind));
        }
    }

    [GeneratedRegex("^[a-z][a-z0-9_-]{0,31}$")]
    private static partial Regex KindPattern();

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
