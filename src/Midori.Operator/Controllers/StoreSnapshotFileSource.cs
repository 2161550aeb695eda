using Midori.Operator.Diagnostics;
using Midori.Operator.Providers;
using Midori.Operator.Persistence;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Controllers;

/// <summary>
/// <c>spec.source.snapshotId</c> backed by the store: a sandbox gets the preview's working copy, and a running one
/// receives only what changed since the revision it holds, through <see cref="SandboxFileSync"/> (the HTTP API's
/// pusher too, so both take the same cross-replica push lock).
/// </summary>
internal sealed class StoreSnapshotFileSource(IWorkingCopyStore store, ILogger<StoreSnapshotFileSource> logger, MidoriMetrics? metrics = null) : ISnapshotFileSource
{
    private readonly SandboxFileSync _files = new(store, logger, metrics);

    public async Task<SnapshotFiles?> GetLatestAsync(PreviewKey preview, string projectId, string snapshotId, CancellationToken cancellationToken)
    {
        try
        {
            if (await EnsureWorkingCopyAsync(preview, projectId, snapshotId, cancellationToken) is null)
            {
                return null;
            }

            var files = await store.ReadFilesAsync(preview, paths: null, cancellationToken);
            return files is null ? null : new SnapshotFiles(files.Files, files.Revision, files.FilesHash);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            throw Unavailable(ex);
        }
    }

    public async Task<FilePush?> PushAsync(PreviewKey preview, string projectId, string snapshotId, ISandboxProvider provider, string sandboxId, long? heldRevision,
        CancellationToken cancellationToken)
    {
        try
        {
            if (await EnsureWorkingCopyAsync(preview, projectId, snapshotId, cancellationToken) is null)
            {
                return null;
            }

            return await _files.PushAsync(preview, provider, sandboxId, heldRevision, SandboxFileSync.ReconcileSource, timeout: null, cancellationToken);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            throw Unavailable(ex);
        }
    }

    public async Task MarkPushedAsync(PreviewKey preview, string sandboxId, long revision, CancellationToken cancellationToken)
    {
        try
        {
            await store.MarkPushedAsync(preview, sandboxId, revision, cancellationToken);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            logger.MarkPushedFailed(sandboxId, revision, ex.Message);
        }
    }

    /// <summary>The working copy for this snapshot: created when missing, reset when it follows another snapshot; null when the snapshot is unknown.</summary>
    private async Task<WorkingCopyHead?> EnsureWorkingCopyAsync(PreviewKey preview, string projectId, string snapshotId, CancellationToken cancellationToken)
    {
        var head = await store.GetWorkingCopyHeadAsync(preview, cancellationToken);
        if (head is not null && head.SnapshotId == snapshotId)
        {
            return head;
        }

        try
        {
            await store.InitializeWorkingCopyAsync(preview, projectId, snapshotId, reset: head is not null, cancellationToken);
        }
        catch (KeyNotFoundException)
        {
            return null;
        }

        return await store.GetWorkingCopyHeadAsync(preview, cancellationToken);
    }

    private static bool IsStoreFailure(Exception ex) =>
        ex is Npgsql.NpgsqlException or StoreUnavailableException or TimeoutException or InvalidOperationException;

    private static SourceResolutionException Unavailable(Exception ex) => new($"the store could not provide the files: {ex.Message}");
}
