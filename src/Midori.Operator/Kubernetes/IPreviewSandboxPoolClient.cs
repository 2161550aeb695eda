using k8s;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Kubernetes;

/// <summary>The PreviewSandboxPool calls of the pool controller: list, watch, status.</summary>
public interface IPreviewSandboxPoolClient
{
    /// <summary>Every pool (all namespaces when <paramref name="namespace"/> is null) and the list's resourceVersion; null when the CRD is not installed.</summary>
    Task<PreviewSandboxPoolPage?> ListAsync(string? @namespace, CancellationToken cancellationToken);

    /// <summary>Watches from <paramref name="resourceVersion"/> with bookmarks; 410 raises <see cref="ResourceVersionExpiredException"/>.</summary>
    IAsyncEnumerable<PreviewSandboxPoolWatchEvent> WatchAsync(string? @namespace, string resourceVersion, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Merge-patches the status subresource (fields that became null are removed).</summary>
    Task PatchStatusAsync(V1Alpha1PreviewSandboxPool pool, PreviewSandboxPoolStatus status, CancellationToken cancellationToken);
}

public sealed record PreviewSandboxPoolPage(IReadOnlyList<V1Alpha1PreviewSandboxPool> Items, string ResourceVersion);

public sealed record PreviewSandboxPoolWatchEvent(WatchEventType Type, V1Alpha1PreviewSandboxPool? Object, string? ResourceVersion);
