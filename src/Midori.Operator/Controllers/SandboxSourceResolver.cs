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
    /// Brings <paramref name="sandboxId"/> to the latest revision of the preview's working copy through
    /// <see cref="SandboxFileSync"/> (the same pusher, under the same lock, as the HTTP API), given the revision the
    /// reconciler last recorded for it (<paramref name="heldRevision"/>, null: unknown). Null when the snapshot does not exist.
    /// </summary>
    Task<FilePush?> PushAsync(PreviewKey preview, string projectId, string snapshotId, ISandboxProvider provider, string sandboxId, long? heldRevision,
        CancellationToken cancellationToken);

    /// <summary>Records that the sandbox holds the revision (after a (re)creation). Never throws: a lost record only costs a later delta push.</summary>
    Task MarkPushedAsync(PreviewKey preview, string sandboxId, long revision, CancellationToken cancellationToken);
}

public sealed record SnapshotFiles(IReadOnlyList<SandboxFile> Files, long Revision, string FilesHash);

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
    /// Brings a running sandbox up to the source: the delta from the working copy for store-backed sources (through
    /// <see cref="SandboxFileSync"/>), else the whole resolved set when its hash differs from <paramref name="heldHash"/>.
    /// Provider failures come back as <see cref="FilePushStatus.Failed"/>; source trouble throws <see cref="SourceResolutionException"/>.
    /// </summary>
    public async Task<FilePush> SyncAsync(V1Alpha1PreviewSandbox resource, ISandboxProvider provider, string sandboxId, long? heldRevision, string? heldHash,
        CancellationToken cancellationToken)
    {
        if (resource.Spec.Source.SnapshotId is { } snapshotId && snapshots is not null)
        {
            var push = await snapshots.PushAsync(PreviewOf(resource), resource.Spec.ProjectId, snapshotId, provider, sandboxId, heldRevision, cancellationToken)
                ?? throw new SourceResolutionException($"snapshot '{snapshotId}' of project '{resource.Spec.ProjectId}' was not found");
            return push.Status == FilePushStatus.NoWorkingCopy
                ? throw new SourceResolutionException($"the working copy of {PreviewOf(resource)} vanished")
                : push;
        }

        var files = await ResolveAsync(resource, cancellationToken);
        if (files.Hash == heldHash)
        {
            return new FilePush(FilePushStatus.UpToDate, files.Revision, files.Hash);
        }

        // Inline and ConfigMap sources have no history to diff against: the whole set, written over what is there.
        try
        {
            await provider.UploadFilesAsync(sandboxId, files.Files, cancellationToken);
        }
        catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
        {
            return new FilePush(FilePushStatus.Failed, null, null, Error: ex.Message);
        }

        return new FilePush(FilePushStatus.Pushed, files.Revision, files.Hash, Written: files.Files.Count, Bytes: files.Files.Sum(f => (long)f.Content.Length));
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
