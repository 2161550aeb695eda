using System.Text.Json.Nodes;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Kubernetes;

namespace Midori.Operator.Runtime;

/// <summary>
/// The API-server seam as the leader-only side (reconciler, orphan sweep, retention) sees it: reads pass through,
/// every write first passes <see cref="ILeadershipFence.EnsureHeld"/>. The HTTP API, which serves on every replica,
/// keeps the undecorated client.
/// </summary>
public sealed class FencedPreviewSandboxClient(IPreviewSandboxClient inner, ILeadershipFence fence) : IPreviewSandboxClient
{
    public Task<V1Alpha1PreviewSandbox?> GetAsync(string @namespace, string name, CancellationToken cancellationToken) =>
        inner.GetAsync(@namespace, name, cancellationToken);

    public Task<PreviewSandboxPage> ListAsync(string? @namespace, string? continueToken, CancellationToken cancellationToken) =>
        inner.ListAsync(@namespace, continueToken, cancellationToken);

    public IAsyncEnumerable<PreviewSandboxWatchEvent> WatchAsync(string? @namespace, string resourceVersion, TimeSpan timeout, CancellationToken cancellationToken) =>
        inner.WatchAsync(@namespace, resourceVersion, timeout, cancellationToken);

    public Task<V1ConfigMap?> GetConfigMapAsync(string @namespace, string name, CancellationToken cancellationToken) =>
        inner.GetConfigMapAsync(@namespace, name, cancellationToken);

    public Task<string?> ReadSecretValueAsync(string @namespace, string name, string key, CancellationToken cancellationToken) =>
        inner.ReadSecretValueAsync(@namespace, name, key, cancellationToken);

    public Task<V1Alpha1PreviewSandbox> PatchStatusAsync(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, CancellationToken cancellationToken)
    {
        fence.EnsureHeld("patch status");
        return inner.PatchStatusAsync(resource, status, cancellationToken);
    }

    public Task<V1Alpha1PreviewSandbox> SetFinalizersAsync(V1Alpha1PreviewSandbox resource, IList<string> finalizers, CancellationToken cancellationToken)
    {
        fence.EnsureHeld("set finalizers");
        return inner.SetFinalizersAsync(resource, finalizers, cancellationToken);
    }

    public Task<V1Alpha1PreviewSandbox> PatchAnnotationsAsync(string @namespace, string name, IReadOnlyDictionary<string, string?> annotations, CancellationToken cancellationToken)
    {
        fence.EnsureHeld("patch annotations");
        return inner.PatchAnnotationsAsync(@namespace, name, annotations, cancellationToken);
    }

    public Task ApplyTokenSecretAsync(V1Alpha1PreviewSandbox owner, string secretName, string key, string token, CancellationToken cancellationToken)
    {
        fence.EnsureHeld("write the token Secret");
        return inner.ApplyTokenSecretAsync(owner, secretName, key, token, cancellationToken);
    }

    public Task UpdateTokenSecretAsync(V1Alpha1PreviewSandbox owner, string secretName, string key, string token, CancellationToken cancellationToken)
    {
        fence.EnsureHeld("write the token Secret");
        return inner.UpdateTokenSecretAsync(owner, secretName, key, token, cancellationToken);
    }

    public Task<V1Alpha1PreviewSandbox> CreateAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        fence.EnsureHeld("create a PreviewSandbox");
        return inner.CreateAsync(resource, cancellationToken);
    }

    public Task<bool> DeleteAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        fence.EnsureHeld("delete a PreviewSandbox");
        return inner.DeleteAsync(@namespace, name, cancellationToken);
    }

    public Task<V1Alpha1PreviewSandbox?> PatchSpecAsync(string @namespace, string name, JsonObject specPatch, CancellationToken cancellationToken)
    {
        fence.EnsureHeld("patch spec");
        return inner.PatchSpecAsync(@namespace, name, specPatch, cancellationToken);
    }

    public Task<V1Alpha1PreviewSandbox?> PatchAnnotationsIfMatchAsync(string @namespace, string name, string resourceVersion,
        IReadOnlyDictionary<string, string?> annotations, CancellationToken cancellationToken)
    {
        fence.EnsureHeld("patch annotations");
        return inner.PatchAnnotationsIfMatchAsync(@namespace, name, resourceVersion, annotations, cancellationToken);
    }

    public Task<bool> DeleteIfUnchangedAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        fence.EnsureHeld("delete a finished PreviewSandbox");
        return inner.DeleteIfUnchangedAsync(resource, cancellationToken);
    }
}
