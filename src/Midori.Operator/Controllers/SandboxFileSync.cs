using Midori.Operator.Diagnostics;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using Midori.Operator.Files;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Controllers;

/// <summary>How a push to a sandbox ended.</summary>
public enum FilePushStatus
{
    /// <summary>The sandbox already held the latest revision.</summary>
    UpToDate,

    /// <summary>The delta (or every file) was written and the push recorded.</summary>
    Pushed,

    /// <summary>The preview has no working copy.</summary>
    NoWorkingCopy,

    /// <summary>The provider refused or the push timed out; nothing was recorded.</summary>
    Failed,
}

/// <summary>What <see cref="SandboxFileSync.PushAsync"/> did: the revision the sandbox now holds (when known) and what went over the wire.</summary>
public sealed record FilePush(FilePushStatus Status, long? Revision, string? Hash, long FromRevision = 0, int Written = 0, int Deleted = 0, long Bytes = 0,
    string? Error = null);

/// <summary>
/// The one way files reach a running sandbox from the store: the HTTP API's push after a commit and the reconciler's
/// repair both come here. Under the preview's push lock (across replicas for PostgreSQL) it reads what the sandbox is
/// known to hold, computes the delta to the latest revision (every file when unknown), deletes, uploads and marks the
/// push, so an older delta can never land after a newer one: "mark pushed" never moves backwards, and a stale
/// upload after it would leave the sandbox behind while the store says it is current.
/// </summary>
public sealed class SandboxFileSync(IWorkingCopyStore store, ILogger logger, MidoriMetrics? metrics = null)
{
    /// <summary>Metric source of pushes by the HTTP API.</summary>
    public const string ApiSource = "api";

    /// <summary>Metric source of pushes by the reconciler.</summary>
    public const string ReconcileSource = "reconcile";

    /// <summary>Re-reads of the head when a commit lands between reading the delta and the head.</summary>
    private const int ConsistentReadAttempts = 3;

    /// <summary>
    /// Brings <paramref name="sandboxId"/> to the latest revision. <paramref name="heldRevision"/> is what the caller
    /// last recorded for it (status.filesRevision; null: unknown); the store's push mark wins when it is about the same
    /// sandbox. <paramref name="timeout"/> bounds the lock wait and the transfer. Provider failures come back as
    /// <see cref="FilePushStatus.Failed"/>; store failures throw.
    /// </summary>
    public async Task<FilePush> PushAsync(PreviewKey preview, ISandboxProvider provider, string sandboxId, long? heldRevision, string source,
        TimeSpan? timeout, CancellationToken cancellationToken)
    {
        // Cheap path first: most health checks find the sandbox up to date and need no lock.
        var head = await store.GetWorkingCopyHeadAsync(preview, cancellationToken).ConfigureAwait(false);
        if (head is null)
        {
            return new FilePush(FilePushStatus.NoWorkingCopy, null, null);
        }

        if (Held(head, sandboxId, heldRevision) == head.Revision)
        {
            return new FilePush(FilePushStatus.UpToDate, head.Revision, head.FilesHash);
        }

        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout is { } limit)
        {
            bounded.CancelAfter(limit);
        }

        long revision = head.Revision;
        try
        {
            await using var pushLock = await store.AcquirePushLockAsync(preview, bounded.Token).ConfigureAwait(false);
            head = await store.GetWorkingCopyHeadAsync(preview, bounded.Token).ConfigureAwait(false);
            if (head is null)
            {
                return new FilePush(FilePushStatus.NoWorkingCopy, null, null);
            }

            var held = Held(head, sandboxId, heldRevision);
            if (held == head.Revision)
            {
                return new FilePush(FilePushStatus.UpToDate, head.Revision, head.FilesHash);
            }

            var plan = (held is { } from ? await DeltaAsync(preview, from, bounded.Token).ConfigureAwait(false) : null)
                ?? await EverythingAsync(preview, bounded.Token).ConfigureAwait(false);
            if (plan is null)
            {
                return new FilePush(FilePushStatus.NoWorkingCopy, null, null);
            }

            revision = plan.Revision;

            // Deletions first: a file replaced by a directory of the same name ('a' → 'a/b') needs the file gone.
            if (plan.Deleted.Count > 0)
            {
                await provider.DeleteFilesAsync(sandboxId, plan.Deleted, bounded.Token).ConfigureAwait(false);
            }

            if (plan.Written.Count > 0)
            {
                await provider.UploadFilesAsync(sandboxId, plan.Written, bounded.Token).ConfigureAwait(false);
            }

            // Still under the lock: the mark and the content the sandbox holds move together.
            await store.MarkPushedAsync(preview, sandboxId, plan.Revision, cancellationToken).ConfigureAwait(false);
            var bytes = plan.Written.Sum(f => (long)f.Content.Length);
            metrics?.FilesPushed(source, success: true, plan.Written.Count, bytes);
            logger.FilesPushed(source, preview.Namespace, preview.Name, sandboxId, plan.From, plan.Revision, plan.Written.Count, plan.Deleted.Count);
            return new FilePush(FilePushStatus.Pushed, plan.Revision, plan.Hash, plan.From, plan.Written.Count, plan.Deleted.Count, bytes);
        }
        catch (Exception ex) when (IsPushFailure(ex) && !cancellationToken.IsCancellationRequested)
        {
            metrics?.FilesPushed(source, success: false, 0, 0);
            var error = ex is OperationCanceledException ? $"push timed out after {timeout}" : ex.Message;
            logger.FilePushFailed(source, preview.Namespace, preview.Name, sandboxId, revision, error);
            return new FilePush(FilePushStatus.Failed, null, null, Error: error);
        }
    }

    /// <summary>What the sandbox holds: the store's push record when it is about this sandbox (and not older), else the caller's.</summary>
    internal static long? Held(WorkingCopyHead head, string sandboxId, long? heldRevision) =>
        head.PushedSandboxId == sandboxId && head.PushedRevision is { } pushed && pushed >= (heldRevision ?? 0) ? pushed : heldRevision;

    private static bool IsPushFailure(Exception ex) => ex is SandboxProviderException or HttpRequestException or OperationCanceledException;

    private async Task<Plan?> DeltaAsync(PreviewKey preview, long from, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < ConsistentReadAttempts; attempt++)
        {
            var delta = await store.GetDeltaAsync(preview, from, cancellationToken).ConfigureAwait(false);
            if (delta is null)
            {
                return null;
            }

            // The delta has no set hash: take it from the head, provided no commit landed in between.
            var head = await store.GetWorkingCopyHeadAsync(preview, cancellationToken).ConfigureAwait(false);
            if (head?.Revision == delta.ToRevision)
            {
                return new Plan(delta.FromRevision, delta.ToRevision, head.FilesHash, delta.Written, delta.Deleted);
            }
        }

        return null;
    }

    private async Task<Plan?> EverythingAsync(PreviewKey preview, CancellationToken cancellationToken)
    {
        // The sandbox's revision is unknown (or no longer in the history): push every file.
        var files = await store.ReadFilesAsync(preview, paths: null, cancellationToken).ConfigureAwait(false);
        return files is null ? null : new Plan(0, files.Revision, files.FilesHash, files.Files, []);
    }

    private sealed record Plan(long From, long Revision, string Hash, IReadOnlyList<SandboxFile> Written, IReadOnlyList<string> Deleted);
}
