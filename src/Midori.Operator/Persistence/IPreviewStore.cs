using System.Text.Json.Nodes;
using Midori.Operator.Providers;
using Midori.Operator.Files;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Persistence;

// The store seam (PostgreSQL in production, an in-memory fake in tests). It is deliberately "dumb durable storage":
// domain rules (patch application, defaults from previewSettings, retention) live in services that call it, while
// everything that must be atomic under concurrency (compare-and-swap of working-copy files, revision numbers,
// idempotent migrations) is guaranteed here. Every implementation must pass the same contract tests.

/// <summary>Per-project preview settings ; null members fall back to operator/CRD defaults.</summary>
public sealed record PreviewSettings
{
    public int? TtlSeconds { get; init; }
    public int? IdleTimeoutSeconds { get; init; }
    public string? Command { get; init; }
    public int? Port { get; init; }
    public string? Template { get; init; }
    public string? Provider { get; init; }
    public IReadOnlyDictionary<string, string>? Env { get; init; }
}

/// <summary>Project row. Projects are scoped to a namespace (the tenant boundary).</summary>
public sealed record ProjectRecord(
    string Namespace,
    string ProjectId,
    bool PreviewEnabled,
    bool PreviewAutoBuild,
    PreviewSettings? PreviewSettings,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>A file as listed (no content): path relative to the project root and its content hash ("sha256:…").</summary>
public sealed record FileEntry(string Path, string Hash, long Size);

/// <summary>Frozen file set of a project. File contents live in content-addressed blobs.</summary>
public sealed record SnapshotRecord(
    string Namespace,
    string ProjectId,
    string SnapshotId,
    string? FromGenerationId,
    string FilesHash,
    IReadOnlyList<FileEntry> Files,
    DateTimeOffset CreatedAt);

/// <summary>
/// The live working copy of one preview: starts as a snapshot, then every accepted change commits a new revision.
/// <see cref="PushedRevision"/>/<see cref="PushedSandboxId"/> say what the running sandbox is known to hold.
/// </summary>
public sealed record WorkingCopy(
    PreviewKey Preview,
    string ProjectId,
    string SnapshotId,
    long Revision,
    string FilesHash,
    IReadOnlyList<FileEntry> Files,
    long? PushedRevision,
    string? PushedSandboxId,
    DateTimeOffset UpdatedAt);

/// <summary>
/// One file change inside a commit. <see cref="Content"/> null deletes the file. <see cref="ExpectedHash"/> makes the
/// write conditional: null = unconditional, <see cref="FileWrite.Absent"/> = the file must not exist yet, otherwise the
/// file's current hash must equal it (compare-and-swap; a mismatch fails the whole commit with
/// <see cref="WorkingCopyConflictException"/> and changes nothing).
/// </summary>
public sealed record FileWrite(string Path, byte[]? Content, string? ExpectedHash = null)
{
    public const string Absent = "absent";
}

/// <summary>What a commit is, for the patch-set history (kind "put" | "patch" | "batch" | "snapshot", plus the request's ops as JSON).</summary>
public sealed record ChangeDescription(string Kind, JsonNode? Payload = null, string? Actor = null);

/// <summary>Result of a commit. Revision is unchanged (and nothing is written) when every file was unchanged.</summary>
public sealed record WorkingCopyCommit(
    long Revision,
    string FilesHash,
    IReadOnlyList<string> Added,
    IReadOnlyList<string> Modified,
    IReadOnlyList<string> Deleted,
    IReadOnlyList<string> Unchanged)
{
    public bool Changed => Added.Count + Modified.Count + Deleted.Count > 0;
}

/// <summary>A conditional write found another version of the file (stale base). Maps to HTTP 409.</summary>
public sealed class WorkingCopyConflictException(string path, string? expectedHash, string? actualHash)
    : Exception($"'{path}' changed since the base the change was made against (expected {expectedHash ?? "any"}, found {actualHash ?? "absent"})")
{
    public string Path { get; } = path;
    public string? ExpectedHash { get; } = expectedHash;
    public string? ActualHash { get; } = actualHash;
}

/// <summary>A limit of the store was hit (files per project, total size). Maps to HTTP 413/422.</summary>
public sealed class StoreLimitException(string message) : Exception(message);

/// <summary>The store cannot be used right now (database unreachable, schema not migrated yet or refused). Maps to HTTP 503.</summary>
public sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A working copy without its file list: the cheap read for "is the sandbox up to date?".</summary>
public sealed record WorkingCopyHead(
    PreviewKey Preview,
    string ProjectId,
    string SnapshotId,
    long Revision,
    string FilesHash,
    long? PushedRevision,
    string? PushedSandboxId,
    DateTimeOffset UpdatedAt);

/// <summary>States of a preview session, as the history and the API report them.</summary>
public static class SessionStates
{
    public const string Queued = "queued";
    public const string Building = "building";
    public const string Ready = "ready";
    public const string Failed = "failed";
    public const string Expired = "expired";
    public const string Cancelled = "cancelled";
}

/// <summary>The <c>sandbox_info</c> document the API returns for a running session.</summary>
public sealed record SandboxInfoDocument(string SandboxId, string PreviewUrl, DateTimeOffset StartTime, DateTimeOffset EndTime);

/// <summary>
/// One preview session: from a sandbox being requested until it ends (expired, cancelled, failed). A wake starts a new
/// one. <see cref="Kind"/> says how its sandbox came to run (<see cref="StartKinds"/>: create, claim, resume,
/// recreate); null until it was Ready, and for rows written before kinds were recorded.
/// </summary>
public sealed record PreviewSessionRecord(
    Guid Id,
    PreviewKey Preview,
    string ResourceUid,
    string ProjectId,
    string? SnapshotId,
    string State,
    string? Url,
    SandboxInfoDocument? SandboxInfo,
    DateTimeOffset? AccessedAt,
    long? BuildTimeMs,
    string? ErrorMessage,
    JsonObject? Meta,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    string? Kind = null);

/// <summary>Change to the open session of a preview (created when none is open). Null members are left as they are.</summary>
public sealed record SessionUpdate(
    PreviewKey Preview,
    string ResourceUid,
    string ProjectId,
    string State,
    string? SnapshotId = null,
    string? Url = null,
    SandboxInfoDocument? SandboxInfo = null,
    long? BuildTimeMs = null,
    string? ErrorMessage = null,
    JsonObject? Meta = null,
    string? Kind = null);

/// <summary>Recreation history row: why a sandbox was replaced, by which, and how long it took.</summary>
public sealed record RecreationRow(
    PreviewKey Preview,
    string ResourceUid,
    string Reason,
    string? OldSandboxId,
    string? NewSandboxId,
    string? OldUrl,
    string? NewUrl,
    bool Success,
    string? Error,
    long DurationMs,
    DateTimeOffset At);

public interface IProjectStore
{
    Task<ProjectRecord?> GetProjectAsync(string @namespace, string projectId, CancellationToken cancellationToken);

    /// <summary>Creates or updates the project row (settings and switches); returns the stored row.</summary>
    Task<ProjectRecord> UpsertProjectAsync(string @namespace, string projectId, bool previewEnabled, bool previewAutoBuild,
        PreviewSettings? settings, CancellationToken cancellationToken);
}

public interface ISnapshotStore
{
    /// <summary>Stores a snapshot; blobs are content-addressed so identical content is stored once. Creates the project row when missing (enabled, no auto-build).</summary>
    Task<SnapshotRecord> CreateSnapshotAsync(string @namespace, string projectId, IReadOnlyList<SandboxFile> files,
        string? fromGenerationId, CancellationToken cancellationToken);

    Task<SnapshotRecord?> GetSnapshotAsync(string @namespace, string snapshotId, CancellationToken cancellationToken);

    Task<IReadOnlyList<SandboxFile>?> ReadSnapshotFilesAsync(string @namespace, string snapshotId, CancellationToken cancellationToken);
}

public interface IWorkingCopyStore
{
    Task<WorkingCopy?> GetWorkingCopyAsync(PreviewKey preview, CancellationToken cancellationToken);

    /// <summary>Revision, hash and push state without the file list (the reconciler asks this on every health check).</summary>
    async Task<WorkingCopyHead?> GetWorkingCopyHeadAsync(PreviewKey preview, CancellationToken cancellationToken) =>
        await GetWorkingCopyAsync(preview, cancellationToken) is { } copy
            ? new WorkingCopyHead(copy.Preview, copy.ProjectId, copy.SnapshotId, copy.Revision, copy.FilesHash, copy.PushedRevision, copy.PushedSandboxId, copy.UpdatedAt)
            : null;

    /// <summary>
    /// Creates the preview's working copy from a snapshot (revision 1). Idempotent: an existing working copy for the
    /// same snapshot is returned as is; with <paramref name="reset"/> (a new snapshot for the same preview) the
    /// snapshot's files are committed as a new revision. Without <paramref name="reset"/> an existing working copy is
    /// returned as is even when it came from another snapshot (the editor's changes win). Throws
    /// <see cref="KeyNotFoundException"/> when the snapshot does not exist in the namespace or belongs to another project.
    /// </summary>
    Task<WorkingCopy> InitializeWorkingCopyAsync(PreviewKey preview, string projectId, string snapshotId, bool reset,
        CancellationToken cancellationToken);

    /// <summary>Content of the working copy's files (all, or the given paths) at the current revision.</summary>
    Task<WorkingCopyFiles?> ReadFilesAsync(PreviewKey preview, IReadOnlyCollection<string>? paths, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically applies the writes as one new revision (durable when this returns) and records the change set.
    /// Commits to one preview are serialized. Throws <see cref="WorkingCopyConflictException"/> (nothing written),
    /// <see cref="StoreLimitException"/>, <see cref="ArgumentException"/> for a bad path or duplicate path, and
    /// <see cref="KeyNotFoundException"/> when the preview has no working copy.
    /// </summary>
    Task<WorkingCopyCommit> CommitAsync(PreviewKey preview, IReadOnlyList<FileWrite> writes, ChangeDescription change,
        CancellationToken cancellationToken);

    /// <summary>
    /// Files changed between <paramref name="fromRevision"/> (exclusive) and the current revision: what a delta push
    /// must write and delete. Null when there is no working copy or <paramref name="fromRevision"/> is not in its
    /// history (negative, or newer than the current revision): push everything instead.
    /// </summary>
    Task<WorkingCopyDelta?> GetDeltaAsync(PreviewKey preview, long fromRevision, CancellationToken cancellationToken);

    /// <summary>Records that <paramref name="sandboxId"/> holds <paramref name="revision"/>; never moves backwards for the same sandbox.</summary>
    Task MarkPushedAsync(PreviewKey preview, string sandboxId, long revision, CancellationToken cancellationToken);

    /// <summary>Drops the working copy (the preview's resource is gone). History (sessions, recreations, patch sets) stays.</summary>
    Task DeleteWorkingCopyAsync(PreviewKey preview, CancellationToken cancellationToken);

    /// <summary>
    /// Holds a per-preview lock (across replicas for PostgreSQL, across callers of one instance for the in-memory
    /// store) while the caller reads a delta, pushes it to the sandbox and calls <see cref="MarkPushedAsync"/>, so two
    /// pushers (HTTP API, reconciler) cannot land stale content after newer content. Waits while another holder has
    /// it; other previews are not blocked. Dispose to release. Every store implements it (the contract suite checks).
    /// </summary>
    Task<IAsyncDisposable> AcquirePushLockAsync(PreviewKey preview, CancellationToken cancellationToken);
}

public sealed record WorkingCopyFiles(long Revision, string FilesHash, IReadOnlyList<SandboxFile> Files);

public sealed record WorkingCopyDelta(long FromRevision, long ToRevision, IReadOnlyList<SandboxFile> Written, IReadOnlyList<string> Deleted);

public interface IActivityStore
{
    /// <summary>Records activity (heartbeats) durably; keeps the latest time per preview. Batched: one round trip for many previews.</summary>
    Task RecordActivityAsync(IReadOnlyList<(PreviewKey Preview, DateTimeOffset At)> activity, CancellationToken cancellationToken);

    Task<DateTimeOffset?> GetLastActivityAsync(PreviewKey preview, CancellationToken cancellationToken);
}

public interface ISessionStore
{
    /// <summary>
    /// Applies a transition to the preview's open session (queued, building or ready). With none open, a non-terminal
    /// state opens a new session; a terminal state is a no-op when the latest session of the same resource UID is
    /// already closed (returned as is), else it is recorded as a new, already-closed session (e.g. a failure before
    /// anything opened). An open session of another UID (resource deleted and recreated) is closed as cancelled first.
    /// </summary>
    Task<PreviewSessionRecord> RecordSessionAsync(SessionUpdate update, CancellationToken cancellationToken);

    Task<PreviewSessionRecord?> GetOpenSessionAsync(PreviewKey preview, CancellationToken cancellationToken);

    Task<IReadOnlyList<PreviewSessionRecord>> ListSessionsAsync(PreviewKey preview, int limit, CancellationToken cancellationToken);

    Task RecordRecreationAsync(RecreationRow row, CancellationToken cancellationToken);

    Task<IReadOnlyList<RecreationRow>> ListRecreationsAsync(PreviewKey preview, int limit, CancellationToken cancellationToken);
}

/// <summary>The whole store, for DI convenience; each consumer should depend on the narrowest interface it needs.</summary>
public interface IPreviewStore : IProjectStore, ISnapshotStore, IWorkingCopyStore, IActivityStore, ISessionStore;
