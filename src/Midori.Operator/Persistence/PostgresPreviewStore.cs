using Microsoft.Extensions.Options;
using Midori.Operator.Files;
using Midori.Operator.Providers;
using Npgsql;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Persistence;

/// <summary>
/// <see cref="IPreviewStore"/> on PostgreSQL through one <see cref="NpgsqlDataSource"/>: one part per interface
/// (<see cref="PostgresProjectStore"/>, <see cref="PostgresSnapshotStore"/>, <see cref="PostgresWorkingCopyStore"/>,
/// <see cref="PostgresActivityStore"/>, <see cref="PostgresSessionStore"/>), sharing <see cref="PostgresStorePart"/>.
/// Every multi-statement operation is one transaction and, where it matters, one round trip (<see cref="NpgsqlBatch"/>).
/// </summary>
internal sealed class PostgresPreviewStore(NpgsqlDataSource dataSource, StoreMigrator schema, IOptions<StoreOptions> options, TimeProvider time) : IPreviewStore
{
    private readonly PostgresProjectStore _projects = new(dataSource, schema, options, time);

    private readonly PostgresSnapshotStore _snapshots = new(dataSource, schema, options, time);

    private readonly PostgresWorkingCopyStore _workingCopies = new(dataSource, schema, options, time);

    private readonly PostgresActivityStore _activity = new(dataSource, schema, options, time);

    private readonly PostgresSessionStore _sessions = new(dataSource, schema, options, time);

    public Task<ProjectRecord?> GetProjectAsync(string @namespace, string projectId, CancellationToken cancellationToken) =>
        _projects.GetProjectAsync(@namespace, projectId, cancellationToken);

    public Task<ProjectRecord> UpsertProjectAsync(string @namespace, string projectId, bool previewEnabled, bool previewAutoBuild, PreviewSettings? settings, CancellationToken cancellationToken) =>
        _projects.UpsertProjectAsync(@namespace, projectId, previewEnabled, previewAutoBuild, settings, cancellationToken);

    public Task<SnapshotRecord> CreateSnapshotAsync(string @namespace, string projectId, IReadOnlyList<SandboxFile> files, string? fromGenerationId, CancellationToken cancellationToken) =>
        _snapshots.CreateSnapshotAsync(@namespace, projectId, files, fromGenerationId, cancellationToken);

    public Task<SnapshotRecord?> GetSnapshotAsync(string @namespace, string snapshotId, CancellationToken cancellationToken) =>
        _snapshots.GetSnapshotAsync(@namespace, snapshotId, cancellationToken);

    public Task<IReadOnlyList<SandboxFile>?> ReadSnapshotFilesAsync(string @namespace, string snapshotId, CancellationToken cancellationToken) =>
        _snapshots.ReadSnapshotFilesAsync(@namespace, snapshotId, cancellationToken);

    public Task<WorkingCopy?> GetWorkingCopyAsync(PreviewKey preview, CancellationToken cancellationToken) =>
        _workingCopies.GetWorkingCopyAsync(preview, cancellationToken);

    public Task<WorkingCopyHead?> GetWorkingCopyHeadAsync(PreviewKey preview, CancellationToken cancellationToken) =>
        _workingCopies.GetWorkingCopyHeadAsync(preview, cancellationToken);

    public Task<WorkingCopy> InitializeWorkingCopyAsync(PreviewKey preview, string projectId, string snapshotId, bool reset, CancellationToken cancellationToken) =>
        _workingCopies.InitializeWorkingCopyAsync(preview, projectId, snapshotId, reset, cancellationToken);

    public Task<WorkingCopyFiles?> ReadFilesAsync(PreviewKey preview, IReadOnlyCollection<string>? paths, CancellationToken cancellationToken) =>
        _workingCopies.ReadFilesAsync(preview, paths, cancellationToken);

    public Task<WorkingCopyCommit> CommitAsync(PreviewKey preview, IReadOnlyList<FileWrite> writes, ChangeDescription change, CancellationToken cancellationToken) =>
        _workingCopies.CommitAsync(preview, writes, change, cancellationToken);

    public Task<WorkingCopyDelta?> GetDeltaAsync(PreviewKey preview, long fromRevision, CancellationToken cancellationToken) =>
        _workingCopies.GetDeltaAsync(preview, fromRevision, cancellationToken);

    public Task MarkPushedAsync(PreviewKey preview, string sandboxId, long revision, CancellationToken cancellationToken) =>
        _workingCopies.MarkPushedAsync(preview, sandboxId, revision, cancellationToken);

    public Task DeleteWorkingCopyAsync(PreviewKey preview, CancellationToken cancellationToken) =>
        _workingCopies.DeleteWorkingCopyAsync(preview, cancellationToken);

    public Task<IAsyncDisposable> AcquirePushLockAsync(PreviewKey preview, CancellationToken cancellationToken) =>
        _workingCopies.AcquirePushLockAsync(preview, cancellationToken);

    public Task RecordActivityAsync(IReadOnlyList<(PreviewKey Preview, DateTimeOffset At)> activity, CancellationToken cancellationToken) =>
        _activity.RecordActivityAsync(activity, cancellationToken);

    public Task<DateTimeOffset?> GetLastActivityAsync(PreviewKey preview, CancellationToken cancellationToken) =>
        _activity.GetLastActivityAsync(preview, cancellationToken);

    public Task<PreviewSessionRecord> RecordSessionAsync(SessionUpdate update, CancellationToken cancellationToken) =>
        _sessions.RecordSessionAsync(update, cancellationToken);

    public Task<PreviewSessionRecord?> GetOpenSessionAsync(PreviewKey preview, CancellationToken cancellationToken) =>
        _sessions.GetOpenSessionAsync(preview, cancellationToken);

    public Task<IReadOnlyList<PreviewSessionRecord>> ListSessionsAsync(PreviewKey preview, int limit, CancellationToken cancellationToken) =>
        _sessions.ListSessionsAsync(preview, limit, cancellationToken);

    public Task RecordRecreationAsync(RecreationRow row, CancellationToken cancellationToken) =>
        _sessions.RecordRecreationAsync(row, cancellationToken);

    public Task<IReadOnlyList<RecreationRow>> ListRecreationsAsync(PreviewKey preview, int limit, CancellationToken cancellationToken) =>
        _sessions.ListRecreationsAsync(preview, limit, cancellationToken);
}
