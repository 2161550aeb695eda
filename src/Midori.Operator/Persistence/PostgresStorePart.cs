using System.Text.Json;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Files;
using Npgsql;
using NpgsqlTypes;

namespace Midori.Operator.Persistence;

/// <summary>
/// What the PostgreSQL store's parts share: the data source, the wait for the schema, the limits, and the small
/// command, parameter and reader helpers. Each part implements one of <see cref="IPreviewStore"/>'s interfaces.
/// </summary>
internal abstract class PostgresStorePart(NpgsqlDataSource dataSource, StoreMigrator schema, IOptions<StoreOptions> options, TimeProvider time)
{
    protected static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The working copy's set hash, computed in SQL exactly like <see cref="FileSetHash.FromManifest"/>.</summary>
    protected const string ManifestHashSql =
        """'sha256:' || encode(sha256(convert_to(coalesce(string_agg(path || E'\n' || blob_hash || E'\n', '' ORDER BY path COLLATE "C"), ''), 'UTF8')), 'hex')""";

    protected NpgsqlDataSource DataSource => dataSource;

    protected StoreOptions Options { get; } = options.Value;

    protected TimeProvider Time => time;

    protected ValueTask ReadyAsync(CancellationToken cancellationToken) => schema.WaitUntilReadyAsync(Options.ReadyTimeout, cancellationToken);

    protected void CheckFileSize(string path, long size)
    {
        if (size > Options.MaxFileBytes)
        {
            throw new StoreLimitException($"'{path}' is {size} bytes; the limit is {Options.MaxFileBytes} bytes per file");
        }
    }

    protected void CheckProjectLimits(int fileCount, long totalBytes)
    {
        if (fileCount > Options.MaxFilesPerProject)
        {
            throw new StoreLimitException($"The project would hold {fileCount} files; the limit is {Options.MaxFilesPerProject}");
        }

        if (totalBytes > Options.MaxProjectBytes)
        {
            throw new StoreLimitException($"The project would hold {totalBytes} bytes; the limit is {Options.MaxProjectBytes} bytes");
        }
    }

    protected static string NormalizePath(string path) =>
        ProjectPath.TryNormalize(path, out var normalized, out var error)
            ? normalized
            : throw new ArgumentException($"File path '{path}' is not allowed: {error}", nameof(path));

    protected static void ValidateProjectId(string projectId)
    {
        if (string.IsNullOrWhiteSpace(projectId) || projectId.Length > 253)
        {
            throw new ArgumentException("A project id must be 1 to 253 characters", nameof(projectId));
        }
    }

    protected static DateTimeOffset Truncate(DateTimeOffset time) => new(time.Ticks - (time.Ticks % 10), time.Offset);

    protected static NpgsqlBatchCommand Command(string sql, params (string Name, object Value)[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return command;
    }

    protected static void AddPreview(NpgsqlParameterCollection parameters, PreviewKey preview)
    {
        parameters.AddWithValue("ns", preview.Namespace);
        parameters.AddWithValue("name", preview.Name);
    }

    protected static NpgsqlParameter TextArray(string name, IEnumerable<string> values) =>
        new(name, NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = values.ToArray() };

    protected static NpgsqlParameter JsonParameter(string name, string? json) =>
        new(name, NpgsqlDbType.Jsonb) { Value = (object?)json ?? DBNull.Value };

    protected static string? NullableString(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    protected sealed record BlobEntry(string Path, string Hash, long Size, byte[] Content);

    protected static void AddBlobInsert(NpgsqlBatch batch, IReadOnlyList<BlobEntry> entries, DateTimeOffset now)
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
}
