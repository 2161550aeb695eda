using k8s;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Kubernetes;

/// <summary>
/// The one seam to the Kubernetes API server. Optimistic concurrency is the server's: a stale write raises
/// <see cref="KubernetesConflictException"/> and callers requeue instead of retrying inline.
/// </summary>
public interface IPreviewSandboxClient
{
    Task<V1Alpha1PreviewSandbox?> GetAsync(string @namespace, string name, CancellationToken cancellationToken);

    /// <summary>Lists PreviewSandboxes (all namespaces when <paramref name="namespace"/> is null) with the collection resourceVersion.</summary>
    Task<PreviewSandboxPage> ListAsync(string? @namespace, string? continueToken, CancellationToken cancellationToken);

    /// <summary>Watches from <paramref name="resourceVersion"/> with bookmarks. A 410 (as status or ERROR event) raises <see cref="ResourceVersionExpiredException"/>.</summary>
    IAsyncEnumerable<PreviewSandboxWatchEvent> WatchAsync(string? @namespace, string resourceVersion, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Merge-patches the status subresource; returns the updated object.</summary>
    Task<V1Alpha1PreviewSandbox> PatchStatusAsync(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, CancellationToken cancellationToken);

    /// <summary>Replaces metadata.finalizers, guarded by the object's resourceVersion.</summary>
    Task<V1Alpha1PreviewSandbox> SetFinalizersAsync(V1Alpha1PreviewSandbox resource, IList<string> finalizers, CancellationToken cancellationToken);

    /// <summary>Merge-patches annotations (null value removes one). Annotation changes do not bump generation.</summary>
    Task<V1Alpha1PreviewSandbox> PatchAnnotationsAsync(string @namespace, string name, IReadOnlyDictionary<string, string?> annotations, CancellationToken cancellationToken);

    Task<V1ConfigMap?> GetConfigMapAsync(string @namespace, string name, CancellationToken cancellationToken);

    /// <summary>Creates or updates the Secret holding the preview token, owned by <paramref name="owner"/>.</summary>
    Task ApplyTokenSecretAsync(V1Alpha1PreviewSandbox owner, string secretName, string key, string token, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="ApplyTokenSecretAsync"/> for a Secret the caller created earlier (the status names it): one replace
    /// instead of create → conflict → read → replace; a missing Secret is applied as new.
    /// </summary>
    Task UpdateTokenSecretAsync(V1Alpha1PreviewSandbox owner, string secretName, string key, string token, CancellationToken cancellationToken) =>
        ApplyTokenSecretAsync(owner, secretName, key, token, cancellationToken);

    // ---- used by the HTTP API (Http/) ----

    /// <summary>Creates a PreviewSandbox; an existing one with the same name raises <see cref="KubernetesConflictException"/>.</summary>
    Task<V1Alpha1PreviewSandbox> CreateAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken);

    /// <summary>Deletes a PreviewSandbox (finalizers still run); false when it did not exist.</summary>
    Task<bool> DeleteAsync(string @namespace, string name, CancellationToken cancellationToken);

    /// <summary>Merge-patches spec fields (a JSON merge-patch fragment of <c>spec</c>); null when the object does not exist.</summary>
    Task<V1Alpha1PreviewSandbox?> PatchSpecAsync(string @namespace, string name, System.Text.Json.Nodes.JsonObject specPatch, CancellationToken cancellationToken);

    /// <summary>
    /// Like <see cref="PatchAnnotationsAsync"/>, guarded by <paramref name="resourceVersion"/> (a stale one raises
    /// <see cref="KubernetesConflictException"/>); null when the object does not exist.
    /// </summary>
    Task<V1Alpha1PreviewSandbox?> PatchAnnotationsIfMatchAsync(string @namespace, string name, string resourceVersion,
        IReadOnlyDictionary<string, string?> annotations, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes the PreviewSandbox only while it is still exactly <paramref name="resource"/> (UID and resourceVersion
    /// preconditions; a changed object raises <see cref="KubernetesConflictException"/>); false when it is gone.
    /// </summary>
    Task<bool> DeleteIfUnchangedAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken);

    /// <summary>One key of a Secret as UTF-8 text; null when the Secret or key does not exist.</summary>
    Task<string?> ReadSecretValueAsync(string @namespace, string name, string key, CancellationToken cancellationToken);
}

public sealed record PreviewSandboxPage(IReadOnlyList<V1Alpha1PreviewSandbox> Items, string ResourceVersion, string? Continue);

public sealed record PreviewSandboxWatchEvent(WatchEventType Type, V1Alpha1PreviewSandbox? Object, string? ResourceVersion);

/// <summary>The resourceVersion a watch or list started from is too old (HTTP 410 / reason Expired): relist.</summary>
public sealed class ResourceVersionExpiredException(string message) : Exception(message);

/// <summary>The write lost an optimistic-concurrency race (HTTP 409 Conflict).</summary>
public sealed class KubernetesConflictException(string message, Exception? inner = null) : Exception(message, inner);
