using System.Text;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Files;
using Midori.Operator.Kubernetes;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;

namespace Midori.Operator.Controllers;

/// <summary>The files a sandbox should hold, with their set hash and (for store-backed sources) the working-copy revision.</summary>
internal sealed record ResolvedFiles(IReadOnlyList<SandboxFile> Files, string Hash, long? Revision);

/// <summary>
/// Seam for <c>spec.source.snapshotId</c>, backed by the store and keyed by the preview: a sandbox gets the preview's
/// working copy (its latest revision), which starts as the snapshot and then follows every accepted change.
/// Implementations report store trouble as <see cref="SourceResolutionException"/>.
/// </summary>
public interface ISnapshotFileSource
{
    /// <summary>
    /// Latest files of the preview's working copy, created from the snapshot when missing (and reset to it when the
    /// working copy follows another snapshot); null when the snapshot does not exist.
    /// </summary>
    Task<SnapshotFiles?> GetLatestAsync(PreviewKey preview, string projectId, string snapshotId, CancellationToken cancellationToken);

    /// <summary>
    /// What <paramref name="sandboxId"/> must receive to hold the latest revision, given the revision the reconciler
    /// last recorded for it (<paramref name="heldRevision"/>, null: unknown). The store's push record wins when it is
    /// about the same sandbox (the HTTP API pushes directly). Null when the snapshot does not exist.
    /// </summary>
    Task<FileSync?> BeginSyncAsync(PreviewKey preview, string projectId, string snapshotId, string sandboxId, long? heldRevision,
        CancellationToken cancellationToken);

    /// <summary>Records that the sandbox holds the revision (after a (re)creation). Never throws: a lost record only costs a later delta push.</summary>
    Task MarkPushedAsync(PreviewKey preview, string sandboxId, long revision, CancellationToken cancellationToken);
}

public sealed record SnapshotFiles(IReadOnlyList<SandboxFile> Files, long Revision, string FilesHash);

/// <summary>
/// A planned push to a running sandbox: the files to write and delete to reach <see cref="Revision"/>/<see cref="Hash"/>.
/// May hold the preview's push lock until disposed; <see cref="CompleteAsync"/> records the push after it succeeded.
/// </summary>
public sealed class FileSync(long? revision, string hash, IReadOnlyList<SandboxFile> written, IReadOnlyList<string> deleted, bool upToDate,
    Func<CancellationToken, Task>? complete = null, IAsyncDisposable? pushLock = null) : IAsyncDisposable
{
    public long? Revision { get; } = revision;

    public string Hash { get; } = hash;

    public IReadOnlyList<SandboxFile> Written { get; } = written;

    public IReadOnlyList<string> Deleted { get; } = deleted;

    /// <summary>The sandbox already holds this revision/hash; nothing to push.</summary>
    public bool UpToDate { get; } = upToDate;

    public Task CompleteAsync(CancellationToken cancellationToken) => complete?.Invoke(cancellationToken) ?? Task.CompletedTask;

    public ValueTask DisposeAsync() => pushLock?.DisposeAsync() ?? ValueTask.CompletedTask;
}

/// <summary>The source cannot be turned into files (missing ConfigMap or key, bad path, no store). Not the provider's fault.</summary>
public sealed class SourceResolutionException(string message) : Exception(message);

/// <summary>Turns spec.source into files: inline entries, a ConfigMap's keys, or a stored snapshot.</summary>
internal sealed class SandboxSourceResolver(IPreviewSandboxClient client, ISnapshotFileSource? snapshots = null)
{
    public async Task<ResolvedFiles> ResolveAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        var source = resource.Spec.Source;
        if (source.SnapshotId is { } snapshotId)
        {
            if (snapshots is null)
            {
                throw new SourceResolutionException(
                    "spec.source.snapshotId needs the PostgreSQL store (ConnectionStrings:Midori), which is not configured");
            }

            var snapshot = await snapshots.GetLatestAsync(PreviewOf(resource), resource.Spec.ProjectId, snapshotId, cancellationToken)
                ?? throw new SourceResolutionException($"snapshot '{snapshotId}' of project '{resource.Spec.ProjectId}' was not found");

            // The store already normalized the paths and hashed the set; files may legitimately be empty after deletions.
            return new ResolvedFiles(snapshot.Files, snapshot.FilesHash, snapshot.Revision);
        }

        if (source.Inline is { Count: > 0 } inline)
        {
            return Build(inline.Select(f => (f.Path, Encoding.UTF8.GetBytes(f.Content))), revision: null);
        }

        if (source.ConfigMapRef is { } reference)
        {
            var configMap = await client.GetConfigMapAsync(resource.Metadata.NamespaceProperty, reference.Name, cancellationToken)
                ?? throw new SourceResolutionException($"ConfigMap '{reference.Name}' was not found");
            var entries = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (var (key, value) in configMap.Data ?? new Dictionary<string, string>())
            {
                entries[key] = Encoding.UTF8.GetBytes(value);
            }

            foreach (var (key, value) in configMap.BinaryData ?? new Dictionary<string, byte[]>())
            {
                entries[key] = value;
            }

            var selected = reference.Items is { Count: > 0 } items
                ? items.Select(item => entries.TryGetValue(item.Key, out var content)
                    ? (item.Path, content)
                    : throw new SourceResolutionException($"ConfigMap '{reference.Name}' has no key '{item.Key}'"))
                : entries.Select(e => (e.Key, e.Value));
            return Build(selected, revision: null);
        }

        throw new SourceResolutionException("spec.source must set exactly one of snapshotId, inline or configMapRef");
    }

    /// <summary>
    /// Plans bringing a running sandbox up to date: a delta from the working copy for store-backed sources, else the
    /// whole resolved set when its hash differs from <paramref name="heldHash"/>.
    /// </summary>
    public async Task<FileSync> BeginSyncAsync(V1Alpha1PreviewSandbox resource, string sandboxId, long? heldRevision, string? heldHash,
        CancellationToken cancellationToken)
    {
        if (resource.Spec.Source.SnapshotId is { } snapshotId && snapshots is not null)
        {
            return await snapshots.BeginSyncAsync(PreviewOf(resource), resource.Spec.ProjectId, snapshotId, sandboxId, heldRevision, cancellationToken)
                ?? throw new SourceResolutionException($"snapshot '{snapshotId}' of project '{resource.Spec.ProjectId}' was not found");
        }

        var files = await ResolveAsync(resource, cancellationToken);
        return new FileSync(files.Revision, files.Hash, files.Files, [], upToDate: files.Hash == heldHash);
    }

    /// <summary>After a (re)creation: tells a store-backed source which revision the new sandbox holds.</summary>
    public Task MarkPushedAsync(V1Alpha1PreviewSandbox resource, string sandboxId, ResolvedFiles files, CancellationToken cancellationToken) =>
        snapshots is not null && resource.Spec.Source.SnapshotId is not null && files.Revision is { } revision
            ? snapshots.MarkPushedAsync(PreviewOf(resource), sandboxId, revision, cancellationToken)
            : Task.CompletedTask;

    private static PreviewKey PreviewOf(V1Alpha1PreviewSandbox resource) => new(resource.Metadata.NamespaceProperty, resource.Metadata.Name);

    private static ResolvedFiles Build(IEnumerable<(string Path, byte[] Content)> entries, long? revision)
    {
        var files = new List<SandboxFile>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal); // normalized → as written in the spec
        foreach (var (path, content) in entries)
        {
            if (!ProjectPath.TryNormalize(path, out var normalized, out var error))
            {
                throw new SourceResolutionException($"file path '{path}' is not allowed: {error}");
            }

            if (seen.TryGetValue(normalized, out var earlier))
            {
                throw new SourceResolutionException(string.Equals(earlier, path, StringComparison.Ordinal)
                    ? $"file path '{normalized}' appears more than once"
                    : FileSetRules.DescribeNormalizationConflict(earlier, path));
            }

            seen[normalized] = path;
            files.Add(new SandboxFile(normalized, content));
        }

        if (FileSetRules.FindPrefixConflict(seen.Keys) is var (file, other))
        {
            throw new SourceResolutionException(FileSetRules.DescribePrefixConflict(file, other));
        }

        if (files.Count == 0)
        {
            throw new SourceResolutionException("spec.source resolved to no files");
        }

        return new ResolvedFiles(files, FileSetHash.Compute(files), revision);
    }
}
