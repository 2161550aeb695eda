using System.Text.Json.Nodes;
using Midori.Operator.Controllers;
using Midori.Operator.Files;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.DevStack.Store;

/// <summary>
/// In-memory <see cref="IPreviewStore"/> with the semantics the PostgreSQL store guarantees: content-addressed blobs,
/// atomic all-or-nothing commits with per-file compare-and-swap, gap-free revisions (an all-unchanged commit writes
/// nothing), deltas between revisions, monotonic push marks, batched activity keeping the latest time, sessions and
/// recreation history, and limits (files per project, bytes per working copy) raised as <see cref="StoreLimitException"/>.
/// The reconciler reads it through the production <c>StoreSnapshotFileSource</c> adapter, like the PostgreSQL store.
/// One lock guards everything, like one serializable transaction per call. Nothing survives a restart: the development
/// stack uses it when no PostgreSQL connection string is set, and the tests use it as the store fake.
/// </summary>
public sealed class InMemoryPreviewStore(TimeProvider time, int maxFilesPerProject = 10_000, long maxBytesPerWorkingCopy = long.MaxValue, long maxFileBytes = long.MaxValue)
    : IPreviewStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string, string), ProjectRecord> _projects = new();
    private readonly Dictionary<string, byte[]> _blobs = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, string), SnapshotState> _snapshots = new();
    private readonly Dictionary<PreviewKey, WorkingCopyState> _workingCopies = new();
    private readonly Dictionary<PreviewKey, DateTimeOffset> _activity = new();
    private readonly Dictionary<PreviewKey, SemaphoreSlim> _pushLocks = new();
    private readonly List<PreviewSessionRecord> _sessions = [];
    private readonly List<RecreationRow> _recreations = [];
    private readonly List<(PreviewKey Preview, long Revision, ChangeDescription Change)> _changes = [];

    /// <summary>Number of <see cref="RecordActivityAsync"/> calls (round trips a real store would make).</summary>
    public int ActivityBatches { get; private set; }

    /// <summary>Total (preview, time) pairs received through <see cref="RecordActivityAsync"/>.</summary>
    public int ActivityRecords { get; private set; }

    /// <summary>Commits that produced a new revision.</summary>
    public int Commits { get; private set; }

    /// <summary>Change sets recorded per revision (the patch-set history).</summary>
    public IReadOnlyList<(PreviewKey Preview, long Revision, ChangeDescription Change)> Changes
    {
        get
        {
            lock (_gate)
            {
                return [.. _changes];
            }
        }
    }

    // ---- projects -----------------------------------------------------------------------------------------------

    public Task<ProjectRecord?> GetProjectAsync(string @namespace, string projectId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_projects.GetValueOrDefault((@namespace, projectId)));
        }
    }

    public Task<ProjectRecord> UpsertProjectAsync(string @namespace, string projectId, bool previewEnabled, bool previewAutoBuild,
        PreviewSettings? settings, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var created = _projects.TryGetValue((@namespace, projectId), out var existing) ? existing.CreatedAt : now;
            var record = new ProjectRecord(@namespace, projectId, previewEnabled, previewAutoBuild, settings, created, now);
            _projects[(@namespace, projectId)] = record;
            return Task.FromResult(record);
        }
    }

    // ---- snapshots ----------------------------------------------------------------------------------------------

    public Task<SnapshotRecord> CreateSnapshotAsync(string @namespace, string projectId, IReadOnlyList<SandboxFile> files,
        string? fromGenerationId, CancellationToken cancellationToken)
    {
        var normalized = NormalizeAll(files);
        if (normalized.Count > maxFilesPerProject)
        {
            throw new StoreLimitException($"a snapshot may hold at most {maxFilesPerProject} files; got {normalized.Count}");
        }

        ThrowIfTooLarge(normalized.Select(f => (f.Path, (long)f.Content.Length)));

        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (!_projects.ContainsKey((@namespace, projectId)))
            {
                _projects[(@namespace, projectId)] = new ProjectRecord(@namespace, projectId, PreviewEnabled: true, PreviewAutoBuild: false, null, now, now);
            }

            var entries = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var file in normalized)
            {
                entries[file.Path] = PutBlob(file.Content);
            }

            var state = new SnapshotState(@namespace, projectId, "snap-" + Guid.NewGuid().ToString("N"), fromGenerationId, entries, now);
            _snapshots[(@namespace, state.SnapshotId)] = state;
            return Task.FromResult(ToRecord(state));
        }
    }

    public Task<SnapshotRecord?> GetSnapshotAsync(string @namespace, string snapshotId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_snapshots.TryGetValue((@namespace, snapshotId), out var state) ? ToRecord(state) : null);
        }
    }

    public Task<IReadOnlyList<SandboxFile>?> ReadSnapshotFilesAsync(string @namespace, string snapshotId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<SandboxFile>?>(
                _snapshots.TryGetValue((@namespace, snapshotId), out var state) ? Materialize(state.Files) : null);
        }
    }

    // ---- working copies -----------------------------------------------------------------------------------------

    public Task<WorkingCopy?> GetWorkingCopyAsync(PreviewKey preview, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_workingCopies.TryGetValue(preview, out var state) ? ToRecord(preview, state) : null);
        }
    }

    public Task<WorkingCopy> InitializeWorkingCopyAsync(PreviewKey preview, string projectId, string snapshotId, bool reset, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_snapshots.TryGetValue((preview.Namespace, snapshotId), out var snapshot))
            {
                throw new KeyNotFoundException($"snapshot '{snapshotId}' does not exist in namespace '{preview.Namespace}'");
            }

            if (!string.Equals(snapshot.ProjectId, projectId, StringComparison.Ordinal))
            {
                throw new KeyNotFoundException($"snapshot '{snapshotId}' belongs to project '{snapshot.ProjectId}', not '{projectId}'");
            }

            var now = time.GetUtcNow();
            if (!_workingCopies.TryGetValue(preview, out var state))
            {
                state = new WorkingCopyState(projectId, snapshotId, new SortedDictionary<string, string>(snapshot.Files, StringComparer.Ordinal), now);
                state.Revision = 1;
                state.History.Add((1, snapshot.Files.ToDictionary(e => e.Key, e => (string?)e.Value, StringComparer.Ordinal)));
                _workingCopies[preview] = state;
                _changes.Add((preview, 1, new ChangeDescription("snapshot", new JsonObject { ["snapshotId"] = snapshotId })));
                Commits++;
                return Task.FromResult(ToRecord(preview, state));
            }

            if (!reset || (state.SnapshotId == snapshotId && SameFiles(state.Files, snapshot.Files)))
            {
                // Idempotent: the same snapshot again, or no reset asked for.
                return Task.FromResult(ToRecord(preview, state));
            }

            var changes = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var (path, hash) in snapshot.Files)
            {
                if (!state.Files.TryGetValue(path, out var current) || current != hash)
                {
                    changes[path] = hash;
                }
            }

            foreach (var path in state.Files.Keys.Where(p => !snapshot.Files.ContainsKey(p)))
            {
                changes[path] = null;
            }

            state.SnapshotId = snapshotId;
            state.UpdatedAt = now;
            if (changes.Count > 0)
            {
                Apply(preview, state, changes, new ChangeDescription("snapshot", new JsonObject { ["snapshotId"] = snapshotId }));
            }

            return Task.FromResult(ToRecord(preview, state));
        }
    }

    public Task<WorkingCopyFiles?> ReadFilesAsync(PreviewKey preview, IReadOnlyCollection<string>? paths, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_workingCopies.TryGetValue(preview, out var state))
            {
                return Task.FromResult<WorkingCopyFiles?>(null);
            }

            IEnumerable<KeyValuePair<string, string>> selected = paths is null
                ? state.Files
                : paths.Select(p => ProjectPath.Normalize(p)).Distinct(StringComparer.Ordinal)
                    .Where(state.Files.ContainsKey).Select(p => new KeyValuePair<string, string>(p, state.Files[p]));
            IReadOnlyList<SandboxFile> files = [.. selected.Select(e => new SandboxFile(e.Key, _blobs[e.Value]))];
            return Task.FromResult<WorkingCopyFiles?>(new WorkingCopyFiles(state.Revision, state.FilesHash(_blobs), files));
        }
    }

    public Task<WorkingCopyCommit> CommitAsync(PreviewKey preview, IReadOnlyList<FileWrite> writes, ChangeDescription change, CancellationToken cancellationToken)
    {
        var normalized = new List<FileWrite>(writes.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var write in writes)
        {
            var path = ProjectPath.Normalize(write.Path);
            if (!seen.Add(path))
            {
                throw new ArgumentException($"'{path}' is written more than once in one commit", nameof(writes));
            }

            normalized.Add(write with { Path = path });
        }

        ThrowIfTooLarge(normalized.Where(w => w.Content is not null).Select(w => (w.Path, (long)w.Content!.Length)));

        lock (_gate)
        {
            if (!_workingCopies.TryGetValue(preview, out var state))
            {
                throw new KeyNotFoundException($"preview {preview} has no working copy");
            }

            // Compare-and-swap first: any mismatch fails the whole commit before anything changes.
            foreach (var write in normalized)
            {
                var current = state.Files.GetValueOrDefault(write.Path);
                var ok = write.ExpectedHash switch
                {
                    null => true,
                    FileWrite.Absent => current is null,
                    var expected => string.Equals(current, expected, StringComparison.Ordinal),
                };
                if (!ok)
                {
                    throw new WorkingCopyConflictException(write.Path, write.ExpectedHash, current);
                }
            }

            var added = new List<string>();
            var modified = new List<string>();
            var deleted = new List<string>();
            var unchanged = new List<string>();
            var changes = new Dictionary<string, string?>(StringComparer.Ordinal);
            var newHashes = new Dictionary<string, (string Hash, byte[] Content)>(StringComparer.Ordinal);
            foreach (var write in normalized)
            {
                var current = state.Files.GetValueOrDefault(write.Path);
                if (write.Content is null)
                {
                    (current is null ? unchanged : deleted).Add(write.Path);
                    if (current is not null)
                    {
                        changes[write.Path] = null;
                    }

                    continue;
                }

                var hash = ContentHash.Compute(write.Content);
                if (current == hash)
                {
                    unchanged.Add(write.Path);
                    continue;
                }

                (current is null ? added : modified).Add(write.Path);
                changes[write.Path] = hash;
                newHashes[write.Path] = (hash, write.Content);
            }

            if (added.Count > 0)
            {
                var after = new HashSet<string>(state.Files.Keys, StringComparer.Ordinal);
                after.ExceptWith(deleted);
                after.UnionWith(added);
                if (FileSetRules.FindPrefixConflict(after, added) is var (dir, below))
                {
                    throw FileSetConflictException.Prefix(dir, below);
                }
            }

            var fileCount = state.Files.Count + added.Count - deleted.Count;
            if (fileCount > maxFilesPerProject)
            {
                throw new StoreLimitException($"the project would hold {fileCount} files; the limit is {maxFilesPerProject}");
            }

            var bytes = state.Files.Where(e => !changes.ContainsKey(e.Key)).Sum(e => (long)_blobs[e.Value].Length) + newHashes.Values.Sum(v => (long)v.Content.Length);
            if (bytes > maxBytesPerWorkingCopy)
            {
                throw new StoreLimitException($"the project would hold {bytes} bytes; the limit is {maxBytesPerWorkingCopy}");
            }

            if (changes.Count > 0)
            {
                foreach (var (_, (hash, content)) in newHashes)
                {
                    _blobs.TryAdd(hash, content.ToArray());
                }

                Apply(preview, state, changes, change);
            }

            added.Sort(StringComparer.Ordinal);
            modified.Sort(StringComparer.Ordinal);
            deleted.Sort(StringComparer.Ordinal);
            unchanged.Sort(StringComparer.Ordinal);
            return Task.FromResult(new WorkingCopyCommit(state.Revision, state.FilesHash(_blobs), added, modified, deleted, unchanged));
        }
    }

    public Task<WorkingCopyDelta?> GetDeltaAsync(PreviewKey preview, long fromRevision, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_workingCopies.TryGetValue(preview, out var state) || fromRevision > state.Revision)
            {
                return Task.FromResult<WorkingCopyDelta?>(null);
            }

            var touched = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var (revision, changes) in state.History)
            {
                if (revision > fromRevision)
                {
                    touched.UnionWith(changes.Keys);
                }
            }

            var written = new List<SandboxFile>();
            var deletedPaths = new List<string>();
            foreach (var path in touched)
            {
                if (state.Files.TryGetValue(path, out var hash))
                {
                    written.Add(new SandboxFile(path, _blobs[hash]));
                }
                else
                {
                    deletedPaths.Add(path);
                }
            }

            return Task.FromResult<WorkingCopyDelta?>(new WorkingCopyDelta(Math.Min(fromRevision, state.Revision), state.Revision, written, deletedPaths));
        }
    }

    public Task MarkPushedAsync(PreviewKey preview, string sandboxId, long revision, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_workingCopies.TryGetValue(preview, out var state))
            {
                if (state.PushedSandboxId != sandboxId)
                {
                    state.PushedSandboxId = sandboxId;
                    state.PushedRevision = revision;
                }
                else if (state.PushedRevision is not { } pushed || revision > pushed)
                {
                    state.PushedRevision = revision;
                }
            }

            return Task.CompletedTask;
        }
    }

    public Task DeleteWorkingCopyAsync(PreviewKey preview, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _workingCopies.Remove(preview);
            return Task.CompletedTask;
        }
    }

    public async Task<IAsyncDisposable> AcquirePushLockAsync(PreviewKey preview, CancellationToken cancellationToken)
    {
        // One semaphore per preview, kept for the store's life (previews are few; PostgreSQL's advisory locks are keyed the same way).
        SemaphoreSlim gate;
        lock (_gate)
        {
            if (!_pushLocks.TryGetValue(preview, out gate!))
            {
                _pushLocks[preview] = gate = new SemaphoreSlim(1, 1);
            }
        }

        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new PushLock(gate);
    }

    private sealed class PushLock(SemaphoreSlim gate) : IAsyncDisposable
    {
        private int _released;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate.Release();
            }

            return ValueTask.CompletedTask;
        }
    }

    // ---- activity -----------------------------------------------------------------------------------------------

    public Task RecordActivityAsync(IReadOnlyList<(PreviewKey Preview, DateTimeOffset At)> activity, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            ActivityBatches++;
            ActivityRecords += activity.Count;
            foreach (var (preview, at) in activity)
            {
                if (!_activity.TryGetValue(preview, out var current) || at > current)
                {
                    _activity[preview] = at;
                }
            }

            return Task.CompletedTask;
        }
    }

    public Task<DateTimeOffset?> GetLastActivityAsync(PreviewKey preview, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<DateTimeOffset?>(_activity.TryGetValue(preview, out var at) ? at : null);
        }
    }

    // ---- sessions -----------------------------------------------------------------------------------------------

    public Task<PreviewSessionRecord> RecordSessionAsync(SessionUpdate update, CancellationToken cancellationToken)
    {
        if (update.State is not (SessionStates.Queued or SessionStates.Building or SessionStates.Ready) && !IsTerminal(update.State))
        {
            throw new ArgumentException($"Unknown session state '{update.State}'", nameof(update));
        }

        lock (_gate)
        {
            var now = time.GetUtcNow();
            var index = _sessions.FindLastIndex(s => s.Preview == update.Preview);
            var latest = index >= 0 ? _sessions[index] : null;
            var open = latest is not null && !IsTerminal(latest.State) ? latest : null;
            if (open is not null && open.ResourceUid != update.ResourceUid)
            {
                // The resource was deleted and created again under the same name: the old session ended with it.
                _sessions[index] = open with { State = SessionStates.Cancelled, UpdatedAt = now };
                open = null;
            }

            if (open is null)
            {
                if (IsTerminal(update.State) && latest is not null && latest.ResourceUid == update.ResourceUid)
                {
                    return Task.FromResult(latest); // already ended: a repeated end changes nothing
                }

                var created = new PreviewSessionRecord(Guid.NewGuid(), update.Preview, update.ResourceUid, update.ProjectId, update.SnapshotId, update.State,
                    update.Url, update.SandboxInfo, null, update.BuildTimeMs, update.ErrorMessage, update.Meta?.DeepClone().AsObject(), now, now, update.Kind);
                _sessions.Add(created);
                return Task.FromResult(created);
            }

            var meta = open.Meta?.DeepClone().AsObject();
            if (update.Meta is { } patch)
            {
                meta ??= [];
                foreach (var (key, value) in patch)
                {
                    meta[key] = value?.DeepClone(); // shallow merge, like jsonb ||
                }
            }

            var updated = open with
            {
                State = update.State,
                SnapshotId = update.SnapshotId ?? open.SnapshotId,
                Url = update.Url ?? open.Url,
                SandboxInfo = update.SandboxInfo ?? open.SandboxInfo,
                BuildTimeMs = update.BuildTimeMs ?? open.BuildTimeMs,
                ErrorMessage = update.ErrorMessage ?? open.ErrorMessage,
                Meta = meta,
                UpdatedAt = now,
                Kind = update.Kind ?? open.Kind,
            };
            _sessions[index] = updated;
            return Task.FromResult(updated);
        }
    }

    public Task<PreviewSessionRecord?> GetOpenSessionAsync(PreviewKey preview, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var latest = _sessions.LastOrDefault(s => s.Preview == preview);
            return Task.FromResult(latest is not null && !IsTerminal(latest.State) ? WithAccess(latest) : null);
        }
    }

    public Task<IReadOnlyList<PreviewSessionRecord>> ListSessionsAsync(PreviewKey preview, int limit, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            IReadOnlyList<PreviewSessionRecord> list = [.. _sessions.Where(s => s.Preview == preview).Reverse().Take(limit).Select(WithAccess)];
            return Task.FromResult(list);
        }
    }

    public Task RecordRecreationAsync(RecreationRow row, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _recreations.Add(row);
            return Task.CompletedTask;
        }
    }

    public Task<IReadOnlyList<RecreationRow>> ListRecreationsAsync(PreviewKey preview, int limit, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            IReadOnlyList<RecreationRow> list = [.. _recreations.Where(r => r.Preview == preview).Reverse().Take(limit)];
            return Task.FromResult(list);
        }
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    private void ThrowIfTooLarge(IEnumerable<(string Path, long Length)> files)
    {
        foreach (var (path, length) in files)
        {
            if (length > maxFileBytes)
            {
                throw new StoreLimitException($"'{path}' is {length} bytes; the limit is {maxFileBytes}");
            }
        }
    }

    private void Apply(PreviewKey preview, WorkingCopyState state, Dictionary<string, string?> changes, ChangeDescription change)
    {
        foreach (var (path, hash) in changes)
        {
            if (hash is null)
            {
                state.Files.Remove(path);
            }
            else
            {
                state.Files[path] = hash;
            }
        }

        state.CachedHash = null;
        state.Revision++;
        state.History.Add((state.Revision, changes));
        state.UpdatedAt = time.GetUtcNow();
        _changes.Add((preview, state.Revision, change));
        Commits++;
    }

    private PreviewSessionRecord WithAccess(PreviewSessionRecord session) =>
        _activity.TryGetValue(session.Preview, out var at) && at >= session.CreatedAt ? session with { AccessedAt = at } : session;

    private static bool IsTerminal(string state) => state is SessionStates.Failed or SessionStates.Expired or SessionStates.Cancelled;

    private string PutBlob(byte[] content)
    {
        var hash = ContentHash.Compute(content);
        _blobs.TryAdd(hash, content.ToArray());
        return hash;
    }

    private List<SandboxFile> Materialize(IEnumerable<KeyValuePair<string, string>> entries) =>
        [.. entries.Select(e => new SandboxFile(e.Key, _blobs[e.Value]))];

    private static List<SandboxFile> NormalizeAll(IReadOnlyList<SandboxFile> files)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<SandboxFile>(files.Count);
        foreach (var file in files)
        {
            var path = ProjectPath.Normalize(file.Path);
            if (!seen.Add(path))
            {
                throw new ArgumentException($"'{path}' appears more than once", nameof(files));
            }

            list.Add(new SandboxFile(path, file.Content));
        }

        if (FileSetRules.FindPrefixConflict(seen) is var (dir, below))
        {
            throw FileSetConflictException.Prefix(dir, below);
        }

        return list;
    }

    private static bool SameFiles(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b) =>
        a.Count == b.Count && a.All(e => b.TryGetValue(e.Key, out var h) && h == e.Value);

    private SnapshotRecord ToRecord(SnapshotState state) => new(
        state.Namespace, state.ProjectId, state.SnapshotId, state.FromGenerationId, FileSetHash.Compute(Materialize(state.Files)),
        [.. state.Files.Select(e => new FileEntry(e.Key, e.Value, _blobs[e.Value].Length))], state.CreatedAt);

    private WorkingCopy ToRecord(PreviewKey preview, WorkingCopyState state) => new(
        preview, state.ProjectId, state.SnapshotId, state.Revision, state.FilesHash(_blobs),
        [.. state.Files.Select(e => new FileEntry(e.Key, e.Value, _blobs[e.Value].Length))], state.PushedRevision, state.PushedSandboxId, state.UpdatedAt);

    private sealed record SnapshotState(
        string Namespace, string ProjectId, string SnapshotId, string? FromGenerationId, SortedDictionary<string, string> Files, DateTimeOffset CreatedAt);

    private sealed class WorkingCopyState(string projectId, string snapshotId, SortedDictionary<string, string> files, DateTimeOffset updatedAt)
    {
        public string ProjectId { get; } = projectId;

        public string SnapshotId { get; set; } = snapshotId;

        public SortedDictionary<string, string> Files { get; } = files;

        public long Revision { get; set; }

        public List<(long Revision, Dictionary<string, string?> Changes)> History { get; } = [];

        public long? PushedRevision { get; set; }

        public string? PushedSandboxId { get; set; }

        public DateTimeOffset UpdatedAt { get; set; } = updatedAt;

        /// <summary>Set hash, cached until the next change (hashing every file on every read would dominate benchmarks).</summary>
        public string? CachedHash { get; set; }

        public string FilesHash(Dictionary<string, byte[]> blobs) =>
            CachedHash ??= Midori.Operator.Files.FileSetHash.Compute(Files.Select(e => new SandboxFile(e.Key, blobs[e.Value])));
    }
}
