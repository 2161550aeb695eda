using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Diagnostics;
using Midori.Operator.Files;
using Midori.Operator.Http.Contracts;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;

namespace Midori.Operator.Http.Services;

/// <summary>Line operations for one file, validated.</summary>
public sealed record FilePatch(string Path, string? BaseHash, IReadOnlyList<LineOperation> Operations);

/// <summary>What a direct push did. <see cref="Pushed"/> false with an error: the change is durable and the reconciler converges it.</summary>
public sealed record PushOutcome(bool Pushed, string? Error, long? PushedRevision)
{
    public static readonly PushOutcome NothingToPush = new(true, null, null);
}

/// <summary>Lines added and removed in one modified text file (DiffPlex line diff against the previous revision).</summary>
public sealed record LineChangeSummary(int Added, int Removed);

/// <summary>A committed change and what happened when it was pushed.</summary>
public sealed record FilesChangeResult(WorkingCopyCommit Commit, IReadOnlyDictionary<string, string> Hashes, PushOutcome Push)
{
    /// <summary>Whole-file writes only: per modified text file, how many lines changed.</summary>
    public IReadOnlyDictionary<string, LineChangeSummary>? LineChanges { get; init; }
}

/// <summary>
/// The working copy of a preview: whole-file writes, line patches, and the direct push of each new revision to the
/// running sandbox. Order per change: validate → commit in the store (atomic, compare-and-swap; durable) → push the
/// delta since what the sandbox is known to hold → <see cref="IWorkingCopyStore.MarkPushedAsync"/>. The push goes
/// through <see cref="SandboxFileSync"/>, the reconciler's pusher too, under the store's cross-replica push lock, so an
/// older delta never lands after a newer one whichever replica or component pushes.
/// </summary>
public sealed class WorkingCopyService
{
    private readonly PreviewSandboxCache _cache;
    private readonly IPreviewStore? _store;
    private readonly ISandboxProviderRegistry _providers;
    private readonly HttpApiOptions _options;
    private readonly MidoriMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<WorkingCopyService> _logger;
    private readonly Kubernetes.IPreviewSandboxClient? _client;
    private readonly SandboxFileSync? _files;

    public WorkingCopyService(
        PreviewSandboxCache cache,
        ISandboxProviderRegistry providers,
        IOptions<HttpApiOptions> options,
        MidoriMetrics metrics,
        TimeProvider time,
        ILogger<WorkingCopyService> logger,
        IPreviewStore? store = null,
        Kubernetes.IPreviewSandboxClient? client = null)
    {
        _client = client;
        _cache = cache;
        _providers = providers;
        _options = options.Value;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _store = store;
        _files = store is null ? null : new SandboxFileSync(store, logger, metrics);
    }

    /// <summary>Whole files: only files whose hash differs are committed and pushed.</summary>
    public async Task<ServiceResult<FilesChangeResult>> PutFilesAsync(PreviewKey key, IReadOnlyList<IncomingFile> files, IReadOnlyList<string>? deleted,
        bool replaceAll, string? actor, CancellationToken cancellationToken)
    {
        if (_store is not { } store)
        {
            return ServiceError.StoreNotConfigured;
        }

        if (!(await RequireResourceAsync(key, cancellationToken).ConfigureAwait(false)).TryGetValue(out var resource, out var missing))
        {
            return missing;
        }

        if (!(await RequireWorkingCopyAsync(key, resource, cancellationToken).ConfigureAwait(false)).TryGetValue(out var workingCopy, out var noCopy))
        {
            return noCopy;
        }

        if (!PlanWrites(workingCopy, files, deleted, replaceAll).TryGetValue(out var writes, out var refused))
        {
            return refused;
        }

        var payload = new JsonObject
        {
            ["files"] = new JsonArray([.. files.Select(f => (JsonNode?)JsonValue.Create(f.Path))]),
            ["deleted"] = new JsonArray([.. writes.Where(w => w.Content is null).Select(w => (JsonNode?)JsonValue.Create(w.Path))]),
        };
        var written = new HashSet<string>(writes.Select(w => w.Path), StringComparer.Ordinal);
        IReadOnlyList<string> skipped = [.. files.Where(f => !written.Contains(f.Path)).Select(f => f.Path)];
        if (writes.Count == 0)
        {
            // Everything unchanged: no round trip, no revision, nothing to push.
            var unchangedCommit = new WorkingCopyCommit(workingCopy.Revision, workingCopy.FilesHash, [], [], [], skipped);
            return new FilesChangeResult(unchangedCommit, files.ToDictionary(f => f.Path, f => ContentHash.Compute(f.Content), StringComparer.Ordinal), PushOutcome.NothingToPush);
        }

        var lineChanges = await SummarizeLineChangesAsync(store, key, workingCopy, writes, cancellationToken).ConfigureAwait(false);
        if (lineChanges.Count > 0)
        {
            payload["lineChanges"] = new JsonObject([.. lineChanges.Select(e => KeyValuePair.Create(e.Key, (JsonNode?)new JsonObject { ["added"] = e.Value.Added, ["removed"] = e.Value.Removed }))]);
        }

        var committed = await CommitAndPushAsync(key, resource, writes, new ChangeDescription(replaceAll ? "batch" : "put", payload, actor), cancellationToken)
            .ConfigureAwait(false);
        if (!committed.TryGetValue(out var result, out var conflict))
        {
            return conflict;
        }

        var hashes = new Dictionary<string, string>(result.Hashes, StringComparer.Ordinal);
        foreach (var file in files.Where(f => !written.Contains(f.Path)))
        {
            hashes[file.Path] = ContentHash.Compute(file.Content);
        }

        return result with { Commit = result.Commit with { Unchanged = [.. skipped, .. result.Commit.Unchanged] }, Hashes = hashes, LineChanges = lineChanges };
    }

    /// <summary>Largest file whose line changes a whole-file write reports (diffing is linear-ish but not free).</summary>
    internal const int MaxSummarizedBytes = 1024 * 1024;

    /// <summary>For modified text files: lines added/removed versus the current revision (reported, and kept in the change history).</summary>
    private static async Task<Dictionary<string, LineChangeSummary>> SummarizeLineChangesAsync(IPreviewStore store, PreviewKey key, WorkingCopy workingCopy, IReadOnlyList<FileWrite> writes,
        CancellationToken cancellationToken)
    {
        var summaries = new Dictionary<string, LineChangeSummary>(StringComparer.Ordinal);
        var existing = workingCopy.Files.Where(f => f.Size <= MaxSummarizedBytes).Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
        var modified = writes.Where(w => w.Content is { Length: <= MaxSummarizedBytes } && existing.Contains(w.Path)).ToList();
        if (modified.Count == 0)
        {
            return summaries;
        }

        var before = await store.ReadFilesAsync(key, [.. modified.Select(w => w.Path)], cancellationToken).ConfigureAwait(false);
        var oldByPath = before?.Files.ToDictionary(f => f.Path, f => f.Content, StringComparer.Ordinal) ?? [];
        foreach (var write in modified)
        {
            if (oldByPath.TryGetValue(write.Path, out var old) && FileInputs.TryDecodeText(old) is { } oldText && FileInputs.TryDecodeText(write.Content!) is { } newText)
            {
                var (added, removed) = LineDiff.Summarize(oldText, newText);
                summaries[write.Path] = new LineChangeSummary(added, removed);
            }
        }

        return summaries;
    }

    /// <summary>
    /// Line patches. Each file is read, checked against its base hash and every op's oldContent, patched, and written
    /// back with the hash it was read at as compare-and-swap, so a concurrent change makes the commit fail with 409
    /// and nothing changes.
    /// </summary>
    public async Task<ServiceResult<FilesChangeResult>> PatchFilesAsync(PreviewKey key, IReadOnlyList<FilePatch> patches, string? actor,
        CancellationToken cancellationToken)
    {
        if (_store is not { } store)
        {
            return ServiceError.StoreNotConfigured;
        }

        if (!(await RequireResourceAsync(key, cancellationToken).ConfigureAwait(false)).TryGetValue(out var resource, out var missing))
        {
            return missing;
        }

        if ((await RequireWorkingCopyAsync(key, resource, cancellationToken).ConfigureAwait(false)).Error is { } noCopy)
        {
            return noCopy;
        }

        if (await store.ReadFilesAsync(key, [.. patches.Select(p => p.Path)], cancellationToken).ConfigureAwait(false) is not { } current)
        {
            return ServiceError.NotFound($"preview {key} has no working copy");
        }

        var byPath = current.Files.ToDictionary(f => f.Path, f => f.Content, StringComparer.Ordinal);
        var writes = new List<FileWrite>(patches.Count);
        foreach (var patch in patches)
        {
            if (!byPath.TryGetValue(patch.Path, out var content))
            {
                return ServiceError.NotFound($"'{patch.Path}' does not exist in the working copy; create it with PUT", "File not found", Path(patch.Path));
            }

            var hash = ContentHash.Compute(content);
            if (patch.BaseHash is { } baseHash && !string.Equals(baseHash, hash, StringComparison.Ordinal))
            {
                return ServiceError.Conflict($"'{patch.Path}' changed since base {baseHash}; re-read it and patch again",
                    new Dictionary<string, object?> { ["path"] = patch.Path, ["expectedHash"] = baseHash, ["currentHash"] = hash });
            }

            if (FileInputs.TryDecodeText(content) is not { } text)
            {
                return ServiceError.Unprocessable($"'{patch.Path}' is not UTF-8 text and cannot be line-patched; use PUT", Path(patch.Path));
            }

            string patched;
            try
            {
                patched = LinePatch.Apply(text, patch.Operations);
            }
            catch (LinePatchException ex) when (ex.IsConflict)
            {
                return ServiceError.Conflict($"'{patch.Path}': {ex.Message}; nothing was changed",
                    new Dictionary<string, object?> { ["path"] = patch.Path, ["operation"] = ex.OperationIndex, ["currentHash"] = hash });
            }
            catch (LinePatchException ex)
            {
                return ServiceError.Unprocessable($"'{patch.Path}': {ex.Message}", new Dictionary<string, object?> { ["path"] = patch.Path, ["operation"] = ex.OperationIndex });
            }

            var bytes = Encoding.UTF8.GetBytes(patched);
            if (FileInputs.CheckSize(patch.Path, bytes.Length, _options) is { } tooLarge)
            {
                return tooLarge;
            }

            writes.Add(new FileWrite(patch.Path, bytes, ExpectedHash: hash));
        }

        var payload = new JsonObject
        {
            ["files"] = new JsonArray([.. patches.Select(p => (JsonNode?)new JsonObject
            {
                ["path"] = p.Path,
                ["operations"] = p.Operations.Count,
            })]),
        };
        return await CommitAndPushAsync(key, resource, writes, new ChangeDescription("patch", payload, actor), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Parses and validates a PATCH body (400 for malformed operations, 413/422 for limits).</summary>
    public ServiceResult<List<FilePatch>> ParsePatch(PatchFilesRequest request)
    {
        if (request.Files is not { Count: > 0 } files)
        {
            return ServiceError.Invalid("files must list at least one file to patch");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var total = 0;
        var result = new List<FilePatch>(files.Count);
        for (var i = 0; i < files.Count; i++)
        {
            if (files[i] is not { } file)
            {
                return ServiceError.Invalid($"files[{i}] is null");
            }

            if (!FileInputs.NormalizePath(file.Path).TryGetValue(out var path, out var invalidPath))
            {
                return invalidPath;
            }

            if (!seen.Add(path))
            {
                return ServiceError.Invalid($"path '{path}' appears more than once", Path(path));
            }

            if (file.Operations is not { } operations)
            {
                return ServiceError.Invalid($"files[{i}] ('{path}') has no operations", Path(path));
            }

            total += operations.Count;
            if (total > _options.MaxPatchOperations)
            {
                return ServiceError.Unprocessable($"more than {_options.MaxPatchOperations} line operations in one request",
                    new Dictionary<string, object?> { ["limit"] = _options.MaxPatchOperations });
            }

            var parsed = new List<LineOperation>(operations.Count);
            for (var j = 0; j < operations.Count; j++)
            {
                if (operations[j] is not { } op)
                {
                    return ServiceError.Invalid($"files[{i}].operations[{j}] is null", Path(path));
                }

                LineOperationType? parsedType = op.Type?.ToLowerInvariant() switch
                {
                    "insert" => LineOperationType.Insert,
                    "delete" => LineOperationType.Delete,
                    "replace" => LineOperationType.Replace,
                    _ => null,
                };
                if (parsedType is not { } type)
                {
                    return ServiceError.Invalid($"files[{i}].operations[{j}].type is '{op.Type}'; use insert, delete or replace", Path(path));
                }

                if (op.Line is not { } line || line < 1)
                {
                    return ServiceError.Invalid($"files[{i}].operations[{j}].line must be a 1-based line number", Path(path));
                }

                if (type != LineOperationType.Delete && op.Content is null)
                {
                    return ServiceError.Invalid($"files[{i}].operations[{j}] ({op.Type}) needs content", Path(path));
                }

                parsed.Add(new LineOperation(type, line, op.Content, op.OldContent));
            }

            result.Add(new FilePatch(path, file.BaseHash, parsed));
        }

        return result;
    }

    /// <summary>
    /// Pushes what the sandbox lacks: the delta since the revision it is known to hold (the store's push mark for this
    /// sandbox, else status.filesRevision), or every file when neither is known. Never throws for provider failures.
    /// </summary>
    public async Task<PushOutcome> PushAsync(PreviewKey key, V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        var status = resource.Status;
        if (status is not { Phase: Phases.Running, SandboxId: { } sandboxId })
        {
            return new PushOutcome(false, $"no running sandbox (phase {status?.Phase ?? "Pending"}); the files are used when it starts", null);
        }

        var providerName = status.Provider ?? resource.Spec.Provider ?? _providers.DefaultProvider;
        if (!_providers.TryGet(providerName, out var provider))
        {
            return new PushOutcome(false, $"provider '{providerName}' is not configured", null);
        }

        if (_files is not { } files)
        {
            return new PushOutcome(false, "the store is not configured; nothing records what the sandbox holds", null);
        }

        FilePush push;
        try
        {
            push = await files.PushAsync(key, provider, sandboxId, status.FilesRevision, SandboxFileSync.ApiSource, _options.PushTimeout, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // The store failed around the push (the change itself is durable): the reconciler converges it.
            _metrics.FilesPushed(SandboxFileSync.ApiSource, success: false, 0, 0);
            _logger.PushFailed(key.Namespace, key.Name, sandboxId, 0, ex.Message);
            await PokeReconcilerAsync(key, 0, pushed: false).ConfigureAwait(false);
            return new PushOutcome(false, ex.Message, null);
        }

        switch (push.Status)
        {
            case FilePushStatus.NoWorkingCopy:
                return new PushOutcome(false, "the preview has no working copy", null);
            case FilePushStatus.UpToDate:
                return new PushOutcome(true, null, push.Revision);
            case FilePushStatus.Failed:
                await PokeReconcilerAsync(key, push.Revision ?? 0, pushed: false).ConfigureAwait(false);
                return new PushOutcome(false, push.Error, null);
            default:
                if (Controllers.ConditionSet.Find(status.Conditions, Api.V1Alpha1.PreviewSandboxConditions.FilesInSync)?.Status == "False")
                {
                    await PokeReconcilerAsync(key, push.Revision ?? 0, pushed: true).ConfigureAwait(false);
                }

                return new PushOutcome(true, null, push.Revision);
        }
    }

    /// <summary>
    /// Wakes the reconciler (an annotation it watches) so FilesInSync says what the sandbox now holds; it retries a
    /// failed push itself and reports why it fails. Best effort: the next resync does the same.
    /// </summary>
    private async Task PokeReconcilerAsync(PreviewKey key, long revision, bool pushed)
    {
        if (_client is null)
        {
            return;
        }

        try
        {
            var value = $"{revision.ToString(System.Globalization.CultureInfo.InvariantCulture)}:{(pushed ? "ok" : "failed")}";
            await _client.PatchAnnotationsAsync(key.Namespace, key.Name, new Dictionary<string, string?> { [GroupVersion.FilesPushAnnotation] = value },
                CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is k8s.Autorest.HttpOperationException or HttpRequestException or Kubernetes.KubernetesConflictException)
        {
            _logger.PushFailed(key.Namespace, key.Name, string.Empty, revision, $"could not wake the reconciler: {ex.Message}");
        }
    }

    /// <summary>Commits atomically (durable before anything is pushed), then pushes when something changed.</summary>
    internal async Task<ServiceResult<FilesChangeResult>> CommitAndPushAsync(PreviewKey key, V1Alpha1PreviewSandbox resource, IReadOnlyList<FileWrite> writes,
        ChangeDescription change, CancellationToken cancellationToken)
    {
        if (_store is not { } store)
        {
            return ServiceError.StoreNotConfigured;
        }

        WorkingCopyCommit commit;
        try
        {
            commit = await store.CommitAsync(key, writes, change, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WorkingCopyConflictException or StoreLimitException or FileSetConflictException)
        {
            // A lost compare-and-swap, a store limit, or a set a concurrent change made impossible after the check above.
            return ServiceError.FromException(ex)!;
        }

        _logger.FilesCommitted(key.Namespace, key.Name, commit.Revision, commit.Added.Count, commit.Modified.Count, commit.Deleted.Count);
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var write in writes)
        {
            if (write.Content is not null)
            {
                hashes[write.Path] = ContentHash.Compute(write.Content);
            }
        }

        // The change is durable now: a cancelled or failed push must not turn the reply into an error.
        var push = commit.Changed
            ? await PushAsync(key, _cache.TryGet(key, out var fresh) ? fresh : resource, CancellationToken.None).ConfigureAwait(false)
            : PushOutcome.NothingToPush;
        return new FilesChangeResult(commit, hashes, push);
    }

    internal async Task<ServiceResult<V1Alpha1PreviewSandbox>> RequireResourceAsync(PreviewKey key, CancellationToken cancellationToken)
    {
        var resource = await _cache.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (resource is null)
        {
            return ServiceError.NotFound($"preview {key} does not exist");
        }

        return resource.Metadata.DeletionTimestamp is not null ? ServiceError.Conflict($"preview {key} is being deleted") : resource;
    }

    /// <summary>The working copy; created on first use for resources made by hand with a snapshotId source.</summary>
    internal async Task<ServiceResult<WorkingCopy>> RequireWorkingCopyAsync(PreviewKey key, V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        if (_store is not { } store)
        {
            return ServiceError.StoreNotConfigured;
        }

        if (await store.GetWorkingCopyAsync(key, cancellationToken).ConfigureAwait(false) is { } existing)
        {
            return existing;
        }

        if (resource.Spec.Source.SnapshotId is not { } snapshotId)
        {
            return ServiceError.Conflict(
                $"preview {key} takes its files from spec.source (inline or configMapRef), not from a snapshot; change them in the manifest");
        }

        try
        {
            return await store.InitializeWorkingCopyAsync(key, resource.Spec.ProjectId, snapshotId, reset: false, cancellationToken).ConfigureAwait(false);
        }
        catch (KeyNotFoundException)
        {
            return ServiceError.Conflict($"snapshot '{snapshotId}' of preview {key} is not in the store");
        }
    }

    /// <summary>Writes for a whole-file request: changed files only (by hash), explicit deletions, and with replaceAll every unlisted file.</summary>
    internal ServiceResult<List<FileWrite>> PlanWrites(WorkingCopy workingCopy, IReadOnlyList<IncomingFile> files, IReadOnlyList<string>? deleted, bool replaceAll)
    {
        var current = workingCopy.Files.ToDictionary(f => f.Path, f => f.Hash, StringComparer.Ordinal);
        var writes = new List<FileWrite>(files.Count);
        var listed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            listed.Add(file.Path);
            var hash = ContentHash.Compute(file.Content);
            if (file.BaseHash is null && current.TryGetValue(file.Path, out var existing) && existing == hash)
            {
                continue; // unchanged: not even sent to the store
            }

            writes.Add(new FileWrite(file.Path, file.Content, file.BaseHash));
        }

        var deletions = new HashSet<string>(StringComparer.Ordinal);
        foreach (var given in deleted ?? [])
        {
            if (!FileInputs.NormalizePath(given).TryGetValue(out var path, out var invalid))
            {
                return invalid;
            }

            if (listed.Contains(path))
            {
                return ServiceError.Invalid($"'{path}' is both written and deleted", Path(path));
            }

            if (deletions.Add(path))
            {
                writes.Add(new FileWrite(path, null));
            }
        }

        if (replaceAll)
        {
            foreach (var path in current.Keys.Where(p => !listed.Contains(p) && writes.All(w => w.Path != p)))
            {
                writes.Add(new FileWrite(path, null));
            }
        }

        // The set after this change must still be one a file system can hold (a PUT of 'a/b' while 'a' is a file).
        var after = new HashSet<string>(current.Keys, StringComparer.Ordinal);
        foreach (var write in writes)
        {
            if (write.Content is null)
            {
                after.Remove(write.Path);
            }
            else
            {
                after.Add(write.Path);
            }
        }

        if (FileSetRules.FindPrefixConflict(after, writes.Where(w => w.Content is not null).Select(w => w.Path)) is var (dir, below))
        {
            return ServiceError.FileSetConflict(FileSetConflictException.Prefix(dir, below));
        }

        var resulting = current.Count + writes.Count(w => w.Content is not null && !current.ContainsKey(w.Path)) - writes.Count(w => w.Content is null && current.ContainsKey(w.Path));
        if (resulting > _options.MaxFilesPerProject)
        {
            return ServiceError.Unprocessable($"the project would hold {resulting} files; the limit is {_options.MaxFilesPerProject}",
                new Dictionary<string, object?> { ["limit"] = _options.MaxFilesPerProject });
        }

        return writes;
    }

    private static Dictionary<string, object?> Path(string path) => new() { ["path"] = path };
}
