using System.Text.Json;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Midori.Operator.Persistence;

/// <summary>
/// <see cref="IProjectStore"/> on PostgreSQL: per-project switches and preview settings.
/// </summary>
internal sealed class PostgresProjectStore(NpgsqlDataSource dataSource, StoreMigrator schema, IOptions<StoreOptions> options, TimeProvider time)
    : PostgresStorePart(dataSource, schema, options, time), IProjectStore
{
    public async Task<ProjectRecord?> GetProjectAsync(string @namespace, string projectId, CancellationToken cancellationToken)
    {
        await ReadyAsync(cancellationToken);
        await using var command = DataSource.CreateCommand(
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
        await using var command = DataSource.CreateCommand(
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
        command.Parameters.AddWithValue("now", Time.GetUtcNow());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return ReadProject(reader);
    }

    private static ProjectRecord ReadProject(NpgsqlDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), reader.GetBoolean(2), reader.GetBoolean(3),
            reader.IsDBNull(4) ? null : JsonSerializer.Deserialize<PreviewSettings>(reader.GetString(4), Json),
            reader.GetFieldValue<DateTimeOffset>(5), reader.GetFieldValue<DateTimeOffset>(6));
}
