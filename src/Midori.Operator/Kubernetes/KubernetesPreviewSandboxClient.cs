// The typed custom-object watch (ListNamespacedCustomObjectWithHttpMessagesAsync(..., watch: true).WatchAsync<T, object>)
// is [Obsolete] in KubernetesClient 21 but is the only typed watch with resourceVersion + bookmarks.
#pragma warning disable CS0618

using System.Net;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Kubernetes;

/// <summary>
/// <see cref="IPreviewSandboxClient"/> over the official client. Works against any apiserver (real or in-process
/// test server): plain REST calls, merge patches serialized with <see cref="KubernetesJson"/>, and line-delimited watch.
/// </summary>
public sealed class KubernetesPreviewSandboxClient(IKubernetes kubernetes) : IPreviewSandboxClient
{
    /// <summary>Page size of list calls.</summary>
    public const int PageSize = 250;

    private static readonly string[] StatusPropertyNames = typeof(PreviewSandboxStatus)
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Select(p => p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name)
        .OfType<string>()
        .ToArray();

    public async Task<V1Alpha1PreviewSandbox?> GetAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await kubernetes.CustomObjects.GetNamespacedCustomObjectAsync<V1Alpha1PreviewSandbox>(
                GroupVersion.Group, GroupVersion.Version, @namespace, GroupVersion.Plural, name, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (HttpOperationException ex)
        {
            throw Map(ex);
        }
    }

    public async Task<PreviewSandboxPage> ListAsync(string? @namespace, string? continueToken, CancellationToken cancellationToken)
    {
        try
        {
            var list = string.IsNullOrEmpty(@namespace)
                ? await kubernetes.CustomObjects.ListClusterCustomObjectAsync<V1Alpha1PreviewSandboxList>(
                    GroupVersion.Group, GroupVersion.Version, GroupVersion.Plural,
                    continueParameter: continueToken, limit: PageSize, cancellationToken: cancellationToken).ConfigureAwait(false)
                : await kubernetes.CustomObjects.ListNamespacedCustomObjectAsync<V1Alpha1PreviewSandboxList>(
                    GroupVersion.Group, GroupVersion.Version, @namespace, GroupVersion.Plural,
                    continueParameter: continueToken, limit: PageSize, cancellationToken: cancellationToken).ConfigureAwait(false);
            var items = list.Items?.ToList() ?? [];
            return new PreviewSandboxPage(items, list.Metadata?.ResourceVersion ?? string.Empty, NullIfEmpty(list.Metadata?.ContinueProperty));
        }
        catch (HttpOperationException ex)
        {
            throw Map(ex);
        }
    }

    public async IAsyncEnumerable<PreviewSandboxWatchEvent> WatchAsync(
        string? @namespace, string resourceVersion, TimeSpan timeout, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var watchCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Exception? streamError = null;
        void OnError(Exception ex)
        {
            // ERROR events (Status objects) and undecodable lines arrive here, not as exceptions: stop reading and rethrow below.
            streamError ??= ex;
            watchCts.Cancel();
        }

        var timeoutSeconds = (int)Math.Max(1, Math.Ceiling(timeout.TotalSeconds));
        var response = string.IsNullOrEmpty(@namespace)
            ? kubernetes.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(
                GroupVersion.Group, GroupVersion.Version, GroupVersion.Plural,
                allowWatchBookmarks: true, resourceVersion: resourceVersion, timeoutSeconds: timeoutSeconds, watch: true,
                cancellationToken: watchCts.Token)
            : kubernetes.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync(
                GroupVersion.Group, GroupVersion.Version, @namespace, GroupVersion.Plural,
                allowWatchBookmarks: true, resourceVersion: resourceVersion, timeoutSeconds: timeoutSeconds, watch: true,
                cancellationToken: watchCts.Token);

        var enumerator = response.WatchAsync<V1Alpha1PreviewSandbox, object>(OnError, watchCts.Token).GetAsyncEnumerator(watchCts.Token);
        try
        {
            while (true)
            {
                WatchEventType type;
                V1Alpha1PreviewSandbox? item;
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
                    throw Map(ex);
                }
                catch (OperationCanceledException) when (streamError is not null && !cancellationToken.IsCancellationRequested)
                {
                    throw MapStreamError(streamError);
                }

                switch (type)
                {
                    case WatchEventType.Bookmark:
                        yield return new PreviewSandboxWatchEvent(type, null, item?.Metadata?.ResourceVersion);
                        break;
                    case WatchEventType.Error:
                        throw new KubernetesException($"Watch of {GroupVersion.Plural} returned an ERROR event");
                    default:
                        yield return new PreviewSandboxWatchEvent(type, item, item?.Metadata?.ResourceVersion);
                        break;
                }
            }
        }
        finally
        {
            await enumerator.DisposeAsync().ConfigureAwait(false);
        }

        if (streamError is not null)
        {
            throw MapStreamError(streamError);
        }
    }

    public async Task<V1Alpha1PreviewSandbox> PatchStatusAsync(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["status"] = BuildStatusPatch(resource.Status, status) };
        try
        {
            return await kubernetes.CustomObjects.PatchNamespacedCustomObjectStatusAsync<V1Alpha1PreviewSandbox>(
                new V1Patch(body.ToJsonString(), V1Patch.PatchType.MergePatch),
                GroupVersion.Group, GroupVersion.Version, resource.Metadata.NamespaceProperty, GroupVersion.Plural, resource.Metadata.Name,
                cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex)
        {
            throw Map(ex);
        }
    }

    public async Task<V1Alpha1PreviewSandbox> SetFinalizersAsync(V1Alpha1PreviewSandbox resource, IList<string> finalizers, CancellationToken cancellationToken)
    {
        // resourceVersion in a merge patch is a precondition: a stale object gets 409 instead of overwriting a newer list.
        var finalizerArray = new JsonArray(finalizers.Select(f => (JsonNode?)JsonValue.Create(f)).ToArray());
        var body = new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["finalizers"] = finalizerArray,
                ["resourceVersion"] = resource.Metadata.ResourceVersion,
            },
        };
        return await PatchAsync(resource.Metadata.NamespaceProperty, resource.Metadata.Name, body, cancellationToken).ConfigureAwait(false);
    }

    public async Task<V1Alpha1PreviewSandbox> PatchAnnotationsAsync(string @namespace, string name, IReadOnlyDictionary<string, string?> annotations, CancellationToken cancellationToken)
    {
        var annotationObject = new JsonObject();
        foreach (var (key, value) in annotations)
        {
            annotationObject[key] = value is null ? null : JsonValue.Create(value);
        }

        var body = new JsonObject { ["metadata"] = new JsonObject { ["annotations"] = annotationObject } };
        return await PatchAsync(@namespace, name, body, cancellationToken).ConfigureAwait(false);
    }

    public async Task<V1ConfigMap?> GetConfigMapAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await kubernetes.CoreV1.ReadNamespacedConfigMapAsync(name, @namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (HttpOperationException ex)
        {
            throw Map(ex);
        }
    }

    public async Task ApplyTokenSecretAsync(V1Alpha1PreviewSandbox owner, string secretName, string key, string token, CancellationToken cancellationToken)
    {
        var @namespace = owner.Metadata.NamespaceProperty;
        var ownerReference = OwnerReferenceFor(owner);
        var data = new Dictionary<string, byte[]> { [key] = Encoding.UTF8.GetBytes(token) };
        try
        {
            var secret = new V1Secret
            {
                ApiVersion = "v1",
                Kind = "Secret",
                Metadata = new V1ObjectMeta
                {
                    Name = secretName,
                    NamespaceProperty = @namespace,
                    OwnerReferences = [ownerReference],
                    Labels = new Dictionary<string, string> { [SandboxLabels.KubernetesManagedBy] = SandboxLabels.ManagedByOperator },
                },
                Type = "Opaque",
                Data = data,
            };
            await kubernetes.CoreV1.CreateNamespacedSecretAsync(secret, @namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
            return;
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.Conflict)
        {
            // AlreadyExists: fall through to read-modify-replace.
        }

        try
        {
            var existing = await kubernetes.CoreV1.ReadNamespacedSecretAsync(secretName, @namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
            var owned = existing.Metadata.OwnerReferences?.Any(r => r.Uid == ownerReference.Uid) == true;
            if (owned && existing.Data is { Count: 1 } current && current.TryGetValue(key, out var bytes) && bytes.AsSpan().SequenceEqual(data[key]))
            {
                return;
            }

            existing.Data = data;
            if (!owned)
            {
                var references = existing.Metadata.OwnerReferences?.Where(r => r.Controller != true).ToList() ?? [];
                references.Add(ownerReference);
                existing.Metadata.OwnerReferences = references;
            }

            await kubernetes.CoreV1.ReplaceNamespacedSecretAsync(existing, secretName, @namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex)
        {
            throw Map(ex);
        }
    }

    public async Task UpdateTokenSecretAsync(V1Alpha1PreviewSandbox owner, string secretName, string key, string token, CancellationToken cancellationToken)
    {
        // Ours (the status names it): replaced whole, without a resourceVersion (Secrets allow unconditional updates).
        var @namespace = owner.Metadata.NamespaceProperty;
        var secret = new V1Secret
        {
            ApiVersion = "v1",
            Kind = "Secret",
            Metadata = new V1ObjectMeta
            {
                Name = secretName,
                NamespaceProperty = @namespace,
                OwnerReferences = [OwnerReferenceFor(owner)],
                Labels = new Dictionary<string, string> { [SandboxLabels.KubernetesManagedBy] = SandboxLabels.ManagedByOperator },
            },
            Type = "Opaque",
            Data = new Dictionary<string, byte[]> { [key] = Encoding.UTF8.GetBytes(token) },
        };
        try
        {
            await kubernetes.CoreV1.ReplaceNamespacedSecretAsync(secret, secretName, @namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
        {
            await ApplyTokenSecretAsync(owner, secretName, key, token, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex)
        {
            throw Map(ex);
        }
    }

    public async Task<V1Alpha1PreviewSandbox> CreateAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        try
        {
            return await kubernetes.CustomObjects.CreateNamespacedCustomObjectAsync<V1Alpha1PreviewSandbox>(
                resource, GroupVersion.Group, GroupVersion.Version, resource.Metadata.NamespaceProperty, GroupVersion.Plural,
                cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex)
        {
            throw Map(ex);
        }
    }

    public async Task<bool> DeleteAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        try
        {
            await kubernetes.CustomObjects.DeleteNamespacedCustomObjectAsync(
                GroupVersion.Group, GroupVersion.Version, @namespace, GroupVersion.Plural, name, cancellationToken: cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
        catch (HttpOperationException ex)
        {
            throw Map(ex);
        }
    }

    public async Task<bool> DeleteIfUnchangedAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        var options = new V1DeleteOptions
        {
            Preconditions = new V1Preconditions { Uid = resource.Metadata.Uid, ResourceVersion = resource.Metadata.ResourceVersion },
        };
        try
        {
            await kubernetes.CustomObjects.DeleteNamespacedCustomObjectAsync(GroupVersion.Group, GroupVersion.Version, resource.Metadata.NamespaceProperty,
                GroupVersion.Plural, resource.Metadata.Name, options, cancellationToken: cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
        catch (HttpOperationException ex)
        {
            throw Map(ex);
        }
    }

    public async Task<V1Alpha1PreviewSandbox?> PatchSpecAsync(string @namespace, string name, JsonObject specPatch, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["spec"] = specPatch.DeepClone() };
        try
        {
            return await PatchAsync(@namespace, name, body, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task<V1Alpha1PreviewSandbox?> PatchAnnotationsIfMatchAsync(string @namespace, string name, string resourceVersion,
        IReadOnlyDictionary<string, string?> annotations, CancellationToken cancellationToken)
    {
        var annotationObject = new JsonObject();
        foreach (var (key, value) in annotations)
        {
            annotationObject[key] = value is null ? null : JsonValue.Create(value);
        }

        // resourceVersion in a merge patch is a precondition (409 when stale), as in SetFinalizersAsync.
        var body = new JsonObject { ["metadata"] = new JsonObject { ["annotations"] = annotationObject, ["resourceVersion"] = resourceVersion } };
        try
        {
            return await PatchAsync(@namespace, name, body, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task<string?> ReadSecretValueAsync(string @namespace, string name, string key, CancellationToken cancellationToken)
    {
        try
        {
            var secret = await kubernetes.CoreV1.ReadNamespacedSecretAsync(name, @namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
            return secret.Data?.TryGetValue(key, out var bytes) == true ? Encoding.UTF8.GetString(bytes) : null;
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (HttpOperationException ex)
        {
            throw Map(ex);
        }
    }

    /// <summary>
    /// The status merge patch: the full new status, plus an explicit null for every field the old status (or the
    /// status type) has that the new one lacks — a merge patch otherwise keeps fields it does not mention. Nested
    /// objects present on both sides are handled the same way; arrays are replaced whole by merge-patch semantics.
    /// </summary>
    internal static JsonObject BuildStatusPatch(PreviewSandboxStatus? oldStatus, PreviewSandboxStatus newStatus)
    {
        var patch = ToJsonObject(newStatus);
        var oldNode = oldStatus is null ? null : ToJsonObject(oldStatus);
        NullRemovedFields(oldNode, patch);
        foreach (var name in StatusPropertyNames)
        {
            if (!patch.ContainsKey(name))
            {
                patch[name] = null;
            }
        }

        return patch;
    }

    internal static V1OwnerReference OwnerReferenceFor(V1Alpha1PreviewSandbox owner) => new()
    {
        ApiVersion = string.IsNullOrEmpty(owner.ApiVersion) ? GroupVersion.ApiVersion : owner.ApiVersion,
        Kind = string.IsNullOrEmpty(owner.Kind) ? GroupVersion.Kind : owner.Kind,
        Name = owner.Metadata.Name,
        Uid = owner.Metadata.Uid,
        Controller = true,
        BlockOwnerDeletion = true,
    };

    internal static Exception Map(HttpOperationException ex) => ex.Response?.StatusCode switch
    {
        HttpStatusCode.Conflict => new KubernetesConflictException(StatusMessage(ex) ?? "Conflict", ex),
        HttpStatusCode.Gone => new ResourceVersionExpiredException(StatusMessage(ex) ?? "The resourceVersion is too old (410 Gone)"),
        _ => ex,
    };

    private static Exception MapStreamError(Exception error) => error switch
    {
        KubernetesException { Status.Code: 410 } ke => new ResourceVersionExpiredException(ke.Status.Message ?? "The resourceVersion for the provided watch is too old"),
        KubernetesException { Status.Code: 409 } ke => new KubernetesConflictException(ke.Status.Message ?? "Conflict", ke),
        HttpOperationException http => Map(http),
        _ => error,
    };

    private static string? StatusMessage(HttpOperationException ex)
    {
        var content = ex.Response?.Content;
        if (string.IsNullOrEmpty(content))
        {
            return null;
        }

        try
        {
            return KubernetesJson.Deserialize<V1Status>(content)?.Message;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private static void NullRemovedFields(JsonObject? oldObject, JsonObject newObject)
    {
        if (oldObject is null)
        {
            return;
        }

        foreach (var (name, oldValue) in oldObject)
        {
            if (!newObject.TryGetPropertyValue(name, out var newValue))
            {
                newObject[name] = null;
            }
            else if (oldValue is JsonObject oldChild && newValue is JsonObject newChild)
            {
                NullRemovedFields(oldChild, newChild);
            }
        }
    }

    private static JsonObject ToJsonObject<T>(T value) =>
        JsonNode.Parse(KubernetesJson.Serialize(value))?.AsObject() ?? new JsonObject();

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    private async Task<V1Alpha1PreviewSandbox> PatchAsync(string @namespace, string name, JsonObject body, CancellationToken cancellationToken)
    {
        try
        {
            return await kubernetes.CustomObjects.PatchNamespacedCustomObjectAsync<V1Alpha1PreviewSandbox>(
                new V1Patch(body.ToJsonString(), V1Patch.PatchType.MergePatch),
                GroupVersion.Group, GroupVersion.Version, @namespace, GroupVersion.Plural, name,
                cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex)
        {
            throw Map(ex);
        }
    }
}
