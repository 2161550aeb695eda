using k8s;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Kubernetes;

namespace Midori.Operator.Testing.Fakes;

/// <summary>
/// In-memory stand-in for the API server behind <see cref="IPreviewSandboxClient"/>, for fast reconciler tests.
/// Keeps the rules reconcilers depend on: resourceVersion conflicts, generation bumps on spec changes only,
/// status writes separate from spec, finalizers holding a deleted object, garbage collection of owned Secrets.
/// Watching is the development API server's job (Midori.DevApiServer).
/// </summary>
public sealed class InMemoryPreviewSandboxClient(TimeProvider time) : IPreviewSandboxClient
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string, string), V1Alpha1PreviewSandbox> _objects = new();
    private readonly Dictionary<(string, string), V1ConfigMap> _configMaps = new();
    private readonly Dictionary<(string, string), V1Secret> _secrets = new();
    private long _resourceVersion = 100;

    public int StatusWrites { get; private set; }

    /// <summary>status.phase of every status write, in order.</summary>
    public List<string?> WrittenPhases { get; } = [];

    /// <summary>
    /// A created object reads back with the CRD's status default (<c>{phase: Pending}</c>), as the API server serves it;
    /// false: a CRD from before that default, where a new object has no status at all.
    /// </summary>
    public bool ServesStatusDefault { get; set; } = true;

    public int MetadataWrites { get; private set; }

    public V1Alpha1PreviewSandbox Create(V1Alpha1PreviewSandbox resource)
    {
        lock (_gate)
        {
            var copy = Clone(resource);
            copy.Metadata.Uid ??= Guid.NewGuid().ToString();
            copy.Metadata.NamespaceProperty ??= "default";
            copy.Metadata.Generation = 1;
            copy.Metadata.CreationTimestamp = time.GetUtcNow().UtcDateTime;
            copy.Metadata.ResourceVersion = NextVersion();
            copy.Status = ServesStatusDefault ? new PreviewSandboxStatus { Phase = Phases.Pending } : null;
            _objects[Key(copy)] = copy;
            return Clone(copy);
        }
    }

    /// <summary>Applies a spec change the way kubectl edit would: generation +1.</summary>
    public V1Alpha1PreviewSandbox UpdateSpec(string @namespace, string name, Action<PreviewSandboxSpec> change)
    {
        lock (_gate)
        {
            var current = _objects[(@namespace, name)];
            change(current.Spec);
            current.Metadata.Generation++;
            current.Metadata.ResourceVersion = NextVersion();
            return Clone(current);
        }
    }

    /// <summary>kubectl delete: sets deletionTimestamp (and bumps generation) while finalizers remain, else removes.</summary>
    public void Delete(string @namespace, string name)
    {
        lock (_gate)
        {
            if (!_objects.TryGetValue((@namespace, name), out var current))
            {
                return;
            }

            if (current.Metadata.Finalizers is { Count: > 0 })
            {
                current.Metadata.DeletionTimestamp ??= time.GetUtcNow().UtcDateTime;
                current.Metadata.Generation++;
                current.Metadata.ResourceVersion = NextVersion();
            }
            else
            {
                Remove(current);
            }
        }
    }

    public void PutConfigMap(V1ConfigMap configMap)
    {
        lock (_gate)
        {
            _configMaps[(configMap.Metadata.NamespaceProperty ?? "default", configMap.Metadata.Name)] = configMap;
        }
    }

    public V1Secret? GetSecret(string @namespace, string name)
    {
        lock (_gate)
        {
            return _secrets.GetValueOrDefault((@namespace, name));
        }
    }

    public V1Alpha1PreviewSandbox? Peek(string @namespace, string name)
    {
        lock (_gate)
        {
            return _objects.TryGetValue((@namespace, name), out var o) ? Clone(o) : null;
        }
    }

    public Task<V1Alpha1PreviewSandbox?> GetAsync(string @namespace, string name, CancellationToken cancellationToken) =>
        Task.FromResult(Peek(@namespace, name));

    public Task<PreviewSandboxPage> ListAsync(string? @namespace, string? continueToken, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            IReadOnlyList<V1Alpha1PreviewSandbox> items = [.. _objects.Values.Where(o => @namespace is null || o.Metadata.NamespaceProperty == @namespace).Select(Clone)];
            return Task.FromResult(new PreviewSandboxPage(items, _resourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), null));
        }
    }

    public IAsyncEnumerable<PreviewSandboxWatchEvent> WatchAsync(string? @namespace, string resourceVersion, TimeSpan timeout, CancellationToken cancellationToken) =>
        throw new NotSupportedException("Watch through the in-process DevKubeApiServer; this fake serves reconciler tests.");

    public Task<V1Alpha1PreviewSandbox> PatchStatusAsync(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var current = Require(resource);
            current.Status = KubernetesJson.Deserialize<PreviewSandboxStatus>(KubernetesJson.Serialize(status));
            current.Metadata.ResourceVersion = NextVersion();
            StatusWrites++;
            WrittenPhases.Add(status.Phase);
            return Task.FromResult(Clone(current));
        }
    }

    public Task<V1Alpha1PreviewSandbox> SetFinalizersAsync(V1Alpha1PreviewSandbox resource, IList<string> finalizers, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var current = Require(resource);
            if (current.Metadata.ResourceVersion != resource.Metadata.ResourceVersion)
            {
                throw new KubernetesConflictException($"Operation cannot be fulfilled on previewsandboxes.preview.midori.dev \"{resource.Metadata.Name}\": the object has been modified");
            }

            MetadataWrites++;
            current.Metadata.Finalizers = [.. finalizers];
            if (current.Metadata.DeletionTimestamp is not null && finalizers.Count == 0)
            {
                Remove(current);
                return Task.FromResult(Clone(current));
            }

            current.Metadata.ResourceVersion = NextVersion();
            return Task.FromResult(Clone(current));
        }
    }

    public Task<V1Alpha1PreviewSandbox> PatchAnnotationsAsync(string @namespace, string name, IReadOnlyDictionary<string, string?> annotations, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var current = _objects.TryGetValue((@namespace, name), out var o) ? o : throw new KeyNotFoundException($"{@namespace}/{name}");
            current.Metadata.Annotations ??= new Dictionary<string, string>();
            foreach (var (key, value) in annotations)
            {
                if (value is null)
                {
                    current.Metadata.Annotations.Remove(key);
                }
                else
                {
                    current.Metadata.Annotations[key] = value;
                }
            }

            MetadataWrites++;
            current.Metadata.ResourceVersion = NextVersion();
            return Task.FromResult(Clone(current));
        }
    }

    public Task<V1ConfigMap?> GetConfigMapAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_configMaps.GetValueOrDefault((@namespace, name)));
        }
    }

    public Task ApplyTokenSecretAsync(V1Alpha1PreviewSandbox owner, string secretName, string key, string token, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _secrets[(owner.Metadata.NamespaceProperty, secretName)] = new V1Secret
            {
                Metadata = new V1ObjectMeta
                {
                    Name = secretName,
                    NamespaceProperty = owner.Metadata.NamespaceProperty,
                    OwnerReferences = [new V1OwnerReference { ApiVersion = owner.ApiVersion, Kind = owner.Kind, Name = owner.Metadata.Name, Uid = owner.Metadata.Uid, BlockOwnerDeletion = true, Controller = true }],
                },
                Type = "Opaque",
                Data = new Dictionary<string, byte[]> { [key] = System.Text.Encoding.UTF8.GetBytes(token) },
            };
            return Task.CompletedTask;
        }
    }

    public Task<V1Alpha1PreviewSandbox> CreateAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_objects.ContainsKey((resource.Metadata.NamespaceProperty ?? "default", resource.Metadata.Name)))
            {
                throw new KubernetesConflictException($"previewsandboxes.preview.midori.dev \"{resource.Metadata.Name}\" already exists");
            }
        }

        return Task.FromResult(Create(resource));
    }

    public Task<bool> DeleteAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var existed = _objects.ContainsKey((@namespace, name));
            Delete(@namespace, name);
            return Task.FromResult(existed);
        }
    }

    public Task<bool> DeleteIfUnchangedAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_objects.TryGetValue(Key(resource), out var current))
            {
                return Task.FromResult(false);
            }

            if (current.Metadata.Uid != resource.Metadata.Uid || current.Metadata.ResourceVersion != resource.Metadata.ResourceVersion)
            {
                throw new KubernetesConflictException("Precondition failed: the object has been modified");
            }

            Delete(current.Metadata.NamespaceProperty, current.Metadata.Name);
            return Task.FromResult(true);
        }
    }

    public Task<V1Alpha1PreviewSandbox?> PatchSpecAsync(string @namespace, string name, System.Text.Json.Nodes.JsonObject specPatch, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_objects.TryGetValue((@namespace, name), out var current))
            {
                return Task.FromResult<V1Alpha1PreviewSandbox?>(null);
            }

            var before = KubernetesJson.Serialize(current.Spec);
            var spec = System.Text.Json.Nodes.JsonNode.Parse(before)!.AsObject();
            foreach (var (key, value) in specPatch)
            {
                if (value is null)
                {
                    spec.Remove(key);
                }
                else
                {
                    spec[key] = value.DeepClone();
                }
            }

            var after = spec.ToJsonString();
            current.Spec = KubernetesJson.Deserialize<PreviewSandboxSpec>(after);
            if (KubernetesJson.Serialize(current.Spec) != before)
            {
                current.Metadata.Generation++;
            }

            MetadataWrites++;
            current.Metadata.ResourceVersion = NextVersion();
            return Task.FromResult<V1Alpha1PreviewSandbox?>(Clone(current));
        }
    }

    public async Task<V1Alpha1PreviewSandbox?> PatchAnnotationsIfMatchAsync(string @namespace, string name, string resourceVersion,
        IReadOnlyDictionary<string, string?> annotations, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_objects.TryGetValue((@namespace, name), out var current))
            {
                return null;
            }

            if (current.Metadata.ResourceVersion != resourceVersion)
            {
                throw new KubernetesConflictException($"Operation cannot be fulfilled on previewsandboxes.preview.midori.dev \"{name}\": the object has been modified");
            }
        }

        return await PatchAnnotationsAsync(@namespace, name, annotations, cancellationToken);
    }

    public Task<string?> ReadSecretValueAsync(string @namespace, string name, string key, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_secrets.TryGetValue((@namespace, name), out var secret) && secret.Data?.TryGetValue(key, out var bytes) == true
                ? System.Text.Encoding.UTF8.GetString(bytes)
                : null);
        }
    }

    private void Remove(V1Alpha1PreviewSandbox current)
    {
        _objects.Remove(Key(current));
        foreach (var (secretKey, secret) in _secrets.ToList())
        {
            if (secret.Metadata.OwnerReferences?.Any(r => r.Uid == current.Metadata.Uid) == true)
            {
                _secrets.Remove(secretKey);
            }
        }
    }

    private V1Alpha1PreviewSandbox Require(V1Alpha1PreviewSandbox resource) =>
        _objects.TryGetValue(Key(resource), out var current) && current.Metadata.Uid == resource.Metadata.Uid
            ? current
            : throw new KeyNotFoundException($"{resource} not found");

    private string NextVersion() => (++_resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static (string, string) Key(V1Alpha1PreviewSandbox o) => (o.Metadata.NamespaceProperty, o.Metadata.Name);

    private static V1Alpha1PreviewSandbox Clone(V1Alpha1PreviewSandbox o) =>
        KubernetesJson.Deserialize<V1Alpha1PreviewSandbox>(KubernetesJson.Serialize(o));
}
