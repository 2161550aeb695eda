using System.Text;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Files;
using Midori.Operator.Kubernetes;
using Midori.Operator.Providers;

namespace Midori.Operator.Controllers;

/// <summary>The files a sandbox should hold, with their set hash and (for store-backed sources) the working-copy revision.</summary>
internal sealed record ResolvedFiles(IReadOnlyList<SandboxFile> Files, string Hash, long? Revision);

/// <summary>Seam for <c>spec.source.snapshotId</c>: the store supplies the latest working-copy revision of a snapshot.</summary>
public interface ISnapshotFileSource
{
    /// <summary>Latest files for the snapshot (the working copy, not the original snapshot); null when unknown.</summary>
    Task<SnapshotFiles?> GetLatestAsync(string @namespace, string projectId, string snapshotId, CancellationToken cancellationToken);
}

public sealed record SnapshotFiles(IReadOnlyList<SandboxFile> Files, long Revision);

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

            var snapshot = await snapshots.GetLatestAsync(resource.Metadata.NamespaceProperty, resource.Spec.ProjectId, snapshotId, cancellationToken)
                ?? throw new SourceResolutionException($"snapshot '{snapshotId}' of project '{resource.Spec.ProjectId}' was not found");
            return Build(snapshot.Files.Select(f => (f.Path, f.Content)), snapshot.Revision);
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

    private static ResolvedFiles Build(IEnumerable<(string Path, byte[] Content)> entries, long? revision)
    {
        var files = new List<SandboxFile>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (path, content) in entries)
        {
            if (!ProjectPath.TryNormalize(path, out var normalized, out var error))
            {
                throw new SourceResolutionException($"file path '{path}' is not allowed: {error}");
            }

            if (!seen.Add(normalized))
            {
                throw new SourceResolutionException($"file path '{normalized}' appears more than once");
            }

            files.Add(new SandboxFile(normalized, content));
        }

        if (files.Count == 0)
        {
            throw new SourceResolutionException("spec.source resolved to no files");
        }

        return new ResolvedFiles(files, FileSetHash.Compute(files), revision);
    }
}
