using Microsoft.Extensions.Options;
using Midori.Operator.Files;
using Npgsql;
using NpgsqlTypes;

namespace Midori.Operator.Persistence;

/// <summary>
/// <see cref="ISnapshotStore"/> on PostgreSQL: immutable snapshots whose files are content-addressed blobs shared with working copies.
/// </summary>
internal sealed class PostgresSnapshotStore(NpgsqlDataSource dataSource, StoreMigrator schema, IOptions<StoreOptions> options, TimeProvider time)
    : PostgresStorePart(dataSource, schema, options, time), ISnapshotStore
{
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

        var now = Time.GetUtcNow();
        var snapshotId = Guid.CreateVersion7(now).ToString("N");
        var filesHash = FileSetHash.FromManifest(entries.Select(e => (e.Path, e.Hash)));
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
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
        await using var command = DataSource.CreateCommand(
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
        await using var command = DataSource.CreateCommand(
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
}
