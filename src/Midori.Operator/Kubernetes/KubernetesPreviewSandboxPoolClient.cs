// The typed custom-object watch is [Obsolete] in KubernetesClient 21 but is the only typed watch with resourceVersion +
// bookmarks (the generated watch yields untyped objects), as in KubernetesPreviewSandboxClient.
#pragma warning disable CS0618

using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Kubernetes;

/// <summary><see cref="IPreviewSandboxPoolClient"/> over the official client (plain REST, merge patches through <see cref="KubernetesJson"/>).</summary>
public sealed class KubernetesPreviewSandboxPoolClient(IKubernetes kubernetes) : IPreviewSandboxPoolClient
{
    public async Task<PreviewSandboxPoolPage?> ListAsync(string? @namespace, CancellationToken cancellationToken)
    {
        var items = new List<V1Alpha1PreviewSandboxPool>();
        string? continueToken = null;
        var resourceVersion = string.Empty;
        try
        {
            do
            {
                var list = string.IsNullOrEmpty(@namespace)
                    ? await kubernetes.CustomObjects.ListClusterCustomObjectAsync<V1Alpha1PreviewSandboxPoolList>(
                        GroupVersion.Group, GroupVersion.Version, PoolGroupVersion.Plural,
                        continueParameter: continueToken, limit: KubernetesPreviewSandboxClient.PageSize, cancellationToken: cancellationToken).ConfigureAwait(false)
                    : await kubernetes.CustomObjects.ListNamespacedCustomObjectAsync<V1Alpha1PreviewSandboxPoolList>(
                        GroupVersion.Group, GroupVersion.Version, @namespace, PoolGroupVersion.Plural,
                        continueParameter: continueToken, limit: KubernetesPreviewSandboxClient.PageSize, cancellationToken: cancellationToken).ConfigureAwait(false);
                items.AddRange(list.Items ?? []);
                resourceVersion = list.Metadata?.ResourceVersion is { Length: > 0 } rv ? rv : resourceVersion;
                continueToken = list.Metadata?.ContinueProperty is { Length: > 0 } next ? next : null;
            }
            while (continueToken is not null);
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (HttpOperationException ex)
        {
            throw KubernetesPreviewSandboxClient.Map(ex);
        }

        return new PreviewSandboxPoolPage(items, resourceVersion);
    }

    public async IAsyncEnumerable<PreviewSandboxPoolWatchEvent> WatchAsync(
        string? @namespace, string resourceVersion, TimeSpan timeout, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var watchCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Exception? streamError = null;
        var timeoutSeconds = (int)Math.Max(1, Math.Ceiling(timeout.TotalSeconds));
        var response = string.IsNullOrEmpty(@namespace)
            ? kubernetes.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(
                GroupVersion.Group, GroupVersion.Version, PoolGroupVersion.Plural,
                allowWatchBookmarks: true, resourceVersion: resourceVersion, timeoutSeconds: timeoutSeconds, watch: true, cancellationToken: watchCts.Token)
            : kubernetes.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync(
                GroupVersion.Group, GroupVersion.Version, @namespace, PoolGroupVersion.Plural,
                allowWatchBookmarks: true, resourceVersion: resourceVersion, timeoutSeconds: timeoutSeconds, watch: true, cancellationToken: watchCts.Token);
        var enumerator = response.WatchAsync<V1Alpha1PreviewSandboxPool, object>(
            ex =>
            {
                // ERROR events (410 Expired) and undecodable lines arrive here: stop reading, rethrow below.
                streamError ??= ex;
                watchCts.Cancel();
            }, watchCts.Token).GetAsyncEnumerator(watchCts.Token);
        try
        {
            while (true)
            {
                WatchEventType type;
                V1Alpha1PreviewSandboxPool? item;
                try
                {
                    if (!await enumerator.MoveNextAsync().ConfigureAwait(false))
                    {
                        break;
                    }

                    (type, item) = enumerator.Current;
                }
                catch (HttpOperationException ex)
                {
                    throw KubernetesPreviewSandboxClient.Map(ex);
                }
                catch (OperationCanceledException) when (streamError is not null && !cancellationToken.IsCancellationRequested)
                {
                    throw StreamError(streamError);
                }

                if (type == WatchEventType.Error)
                {
                    throw new KubernetesException($"Watch of {PoolGroupVersion.Plural} returned an ERROR event");
                }

                yield return new PreviewSandboxPoolWatchEvent(type, type == WatchEventType.Bookmark ? null : item, item?.Metadata?.ResourceVersion);
            }
        }
        finally
        {
            await enumerator.DisposeAsync().ConfigureAwait(false);
        }

        if (streamError is not null)
        {
            throw StreamError(streamError);
        }
    }

    public async Task PatchStatusAsync(V1Alpha1PreviewSandboxPool pool, PreviewSandboxPoolStatus status, CancellationToken cancellationToken)
    {
        var patch = JsonNode.Parse(KubernetesJson.Serialize(status))!.AsObject();
        // KubernetesJson leaves nulls out; in a merge patch a missing key keeps the old value, so cleared fields are sent as null.
        foreach (var name in new[] { "failedAttempts", "lastFailureTime" })
        {
            if (!patch.ContainsKey(name))
            {
                patch[name] = null;
            }
        }

        var body = new JsonObject { ["status"] = patch };
        try
        {
            await kubernetes.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
                new V1Patch(body.ToJsonString(), V1Patch.PatchType.MergePatch),
                GroupVersion.Group, GroupVersion.Version, pool.Metadata.NamespaceProperty, PoolGroupVersion.Plural, pool.Metadata.Name,
                cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
        {
            // Deleted meanwhile: nothing to report to.
        }
        catch (HttpOperationException ex)
        {
            throw KubernetesPreviewSandboxClient.Map(ex);
        }
    }

    private static Exception StreamError(Exception error) => error switch
    {
        KubernetesException { Status.Code: 410 } ke => new ResourceVersionExpiredException(ke.Status.Message ?? "The resourceVersion for the provided watch is too old"),
        HttpOperationException http => KubernetesPreviewSandboxClient.Map(http),
        _ => new KubernetesException($"Watch of {PoolGroupVersion.Plural} failed: {error.Message}"),
    };
}
