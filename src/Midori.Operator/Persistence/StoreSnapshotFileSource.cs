using Midori.Operator.Controllers;
using Midori.Operator.Diagnostics;

namespace Midori.Operator.Persistence;

/// <summary>
/// <c>spec.source.snapshotId</c> backed by the store: a sandbox gets the preview's working copy, and a running one
/// receives only what changed since the revision it holds (under the preview's push lock, so a concurrent push by
/// the HTTP API cannot be overtaken by older content).
/// </summary>
internal sealed class StoreSnapshotFileSource(IWorkingCopyStore store, ILogger<StoreSnapshotFileSource> logger) : ISnapshotFileSource
{
    /// <summary>Re-reads of the head when a commit lands between reading the delta and the head.</summary>
    private const int ConsistentReadAttempts = 3;

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

    public async Task<FileSync?> BeginSyncAsync(PreviewKey preview, string projectId, string snapshotId, string sandboxId, long? heldRevision,
        CancellationToken cancellationToken)
    {
        IAsyncDisposable? pushLock = null;
        try
        {
            // Cheap path first: most health checks find the sandbox up to date and need no lock.
            var head = await EnsureWorkingCopyAsync(preview, projectId, snapshotId, cancellationToken);
            if (head is null)
            {
                return null;
            }

            if (Held(head, sandboxId, heldRevision) == head.Revision)
            {
                return new FileSync(head.Revision, head.FilesHash, [], [], upToDate: true);
            }

            pushLock = await store.AcquirePushLockAsync(preview, cancellationToken);
            head = await store.GetWorkingCopyHeadAsync(preview, cancellationToken);
            if (head is null)
            {
                await pushLock.DisposeAsync();
                return null;
            }

            var held = Held(head, sandboxId, heldRevision);
            if (held == head.Revision)
            {
                await pushLock.DisposeAsync();
                return new FileSync(head.Revision, head.FilesHash, [], [], upToDate: true);
            }

            var sync = held is { } from ? await DeltaAsync(preview, sandboxId, from, pushLock, cancellationToken) : null;
            if (sync is null)
            {
                // The sandbox's revision is unknown (or no longer in the history): push every file.
                var files = await store.ReadFilesAsync(preview, paths: null, cancellationToken)
                    ?? throw new SourceResolutionException($"the working copy of {preview} vanished");
                sync = new FileSync(files.Revision, files.FilesHash, files.Files, [], upToDate: false,
                    ct => MarkPushedAsync(preview, sandboxId, files.Revision, ct), pushLock);
            }

            pushLock = null; // owned by the sync now
            return sync;
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            throw Unavailable(ex);
        }
        finally
        {
            if (pushLock is not null)
            {
                await pushLock.DisposeAsync();
            }
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

    private async Task<FileSync?> DeltaAsync(PreviewKey preview, string sandboxId, long from, IAsyncDisposable pushLock, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < ConsistentReadAttempts; attempt++)
        {
            var delta = await store.GetDeltaAsync(preview, from, cancellationToken);
            if (delta is null)
            {
                return null;
            }

            // The delta has no set hash: take it from the head, provided no commit landed in between.
            var head = await store.GetWorkingCopyHeadAsync(preview, cancellationToken);
            if (head?.Revision == delta.ToRevision)
            {
                return new FileSync(delta.ToRevision, head.FilesHash, delta.Written, delta.Deleted, upToDate: false,
                    ct => MarkPushedAsync(preview, sandboxId, delta.ToRevision, ct), pushLock);
            }
        }

        return null;
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

    /// <summary>What the sandbox holds: the store's push record when it is about this sandbox, else the reconciler's status.</summary>
    private static long? Held(WorkingCopyHead head, string sandboxId, long? heldRevision) =>
        head.PushedSandboxId == sandboxId && head.PushedRevision is { } pushed && pushed >= (heldRevision ?? 0) ? pushed : heldRevision;

    private static bool IsStoreFailure(Exception ex) =>
        ex is Npgsql.NpgsqlException or StoreUnavailableException or TimeoutException or InvalidOperationException;

    private static SourceResolutionException Unavailable(Exception ex) => new($"the store could not provide the files: {ex.Message}");
}
