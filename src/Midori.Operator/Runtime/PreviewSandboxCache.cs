using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.Channels;
using k8s;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Kubernetes;
using Midori.Operator.Persistence;

namespace Midori.Operator.Runtime;

/// <summary>
/// The object store of the one <see cref="PreviewSandboxInformer"/> a replica runs: full PreviewSandbox objects with
/// indexes by project and by sandbox id, and subscriptions to every change. Status reads, heartbeat decisions, the
/// gateway and the death enqueue read it, so none of them calls the API server or a provider. Only the informer
/// fills it (plus <see cref="Observe"/>, this replica's own writes). Cached objects are shared: never mutate them. They are
/// held without <c>metadata.managedFields</c>.
/// </summary>
public sealed class PreviewSandboxCache
{
    private readonly IPreviewSandboxClient _client;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<PreviewKey, V1Alpha1PreviewSandbox> _objects = new();

    // Indexes change together with _objects under _write; reads of single objects stay lock-free.
    private readonly Lock _write = new();
    private readonly Dictionary<(string Namespace, string ProjectId), HashSet<PreviewKey>> _byProject = [];
    private readonly Dictionary<string, PreviewKey> _bySandboxId = new(StringComparer.Ordinal);

    private readonly Lock _subscribersGate = new();
    private PreviewSandboxSubscription[] _subscribers = [];
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _isSynced;

    public PreviewSandboxCache(IPreviewSandboxClient client, TimeProvider time)
    {
        _client = client;
        _time = time;
    }

    /// <summary>True once the informer's first list has been loaded; until then reads fall back to the API server.</summary>
    public bool IsSynced => _isSynced;

    /// <summary>Completes when the first list has been loaded.</summary>
    public Task Synced => _synced.Task;

    public int Count => _objects.Count;

    public bool TryGet(PreviewKey key, out V1Alpha1PreviewSandbox resource) => _objects.TryGetValue(key, out resource!);

    /// <summary>Every cached object at this moment (a copy of the list; the objects are shared, never mutate them).</summary>
    public IReadOnlyCollection<V1Alpha1PreviewSandbox> All => [.. _objects.Values];

    /// <summary>Every cached key at this moment.</summary>
    public IReadOnlyCollection<PreviewKey> Keys => [.. _objects.Keys];

    /// <summary>The cached object; before the first sync, a direct GET from the API server (not cached).</summary>
    public async ValueTask<V1Alpha1PreviewSandbox?> GetAsync(PreviewKey key, CancellationToken cancellationToken)
    {
        if (_objects.TryGetValue(key, out var cached))
        {
            return cached;
        }

        return _isSynced ? null : await _client.GetAsync(key.Namespace, key.Name, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>PreviewSandboxes of one project in a namespace (project index).</summary>
    public async ValueTask<IReadOnlyList<V1Alpha1PreviewSandbox>> FindByProjectAsync(string @namespace, string projectId, CancellationToken cancellationToken)
    {
        if (!_isSynced)
        {
            // Not synced yet: ask the API server so a create never duplicates a preview the cache has not seen.
            var all = new List<V1Alpha1PreviewSandbox>();
            string? continueToken = null;
            do
            {
                var page = await _client.ListAsync(@namespace, continueToken, cancellationToken).ConfigureAwait(false);
                all.AddRange(page.Items.Where(i => i.Spec.ProjectId == projectId));
                continueToken = page.Continue;
            }
            while (!string.IsNullOrEmpty(continueToken));
            return all;
        }

        PreviewKey[] keys;
        lock (_write)
        {
            keys = _byProject.TryGetValue((@namespace, projectId), out var set) ? [.. set] : [];
        }

        return [.. keys.Select(k => _objects.TryGetValue(k, out var o) ? o : null).OfType<V1Alpha1PreviewSandbox>()];
    }

    /// <summary>The cached PreviewSandbox whose status names <paramref name="sandboxId"/> (sandbox id index), for providers that only know the sandbox.</summary>
    public PreviewKey? FindBySandboxId(string sandboxId)
    {
        lock (_write)
        {
            return _bySandboxId.TryGetValue(sandboxId, out var key) ? key : null;
        }
    }

    /// <summary>PreviewSandboxes per status phase (no status yet counts as Pending).</summary>
    public IReadOnlyDictionary<string, int> PhaseCounts()
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var item in _objects.Values)
        {
            var phase = item.Status?.Phase ?? Phases.Pending;
            counts[phase] = counts.GetValueOrDefault(phase) + 1;
        }

        return counts;
    }

    /// <summary>
    /// Write-through after this replica's own writes, so it reads them back at once; ignored when the cache already
    /// holds a newer resourceVersion (the watch event may have been first).
    /// </summary>
    public void Observe(V1Alpha1PreviewSandbox resource)
    {
        if (KeyOf(resource) is not { } key)
        {
            return;
        }

        lock (_write)
        {
            if (_objects.TryGetValue(key, out var current) && !IsNewer(resource, current))
            {
                return;
            }

            Put(key, resource);
        }

        Publish(new PreviewSandboxChange(key, WatchEventType.Modified, resource));
    }

    /// <summary>Every later change of <paramref name="key"/> (all keys when null). Dispose to stop. Slow readers lose the oldest changes.</summary>
    public PreviewSandboxSubscription Subscribe(PreviewKey? key = null, int capacity = 64)
    {
        var subscription = new PreviewSandboxSubscription(this, key, Channel.CreateBounded<PreviewSandboxChange>(
            new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = false }));
        lock (_subscribersGate)
        {
            _subscribers = [.. _subscribers, subscription];
        }

        return subscription;
    }

    /// <summary>Waits until the object satisfies <paramref name="predicate"/> (given null when absent); returns the last object seen and whether it matched.</summary>
    public async Task<(V1Alpha1PreviewSandbox? Resource, bool Matched)> WaitForAsync(
        PreviewKey key, Func<V1Alpha1PreviewSandbox?, bool> predicate, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var subscription = Subscribe(key);
        var current = await GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (predicate(current))
        {
            return (current, true);
        }

        using var deadline = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, cancellationToken);
        try
        {
            await foreach (var change in subscription.Reader.ReadAllAsync(linked.Token).ConfigureAwait(false))
            {
                current = change.Object;
                if (predicate(current))
                {
                    return (current, true);
                }
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // Timed out: report what we have.
        }

        return (current, false);
    }

    internal void Unsubscribe(PreviewSandboxSubscription subscription)
    {
        lock (_subscribersGate)
        {
            _subscribers = [.. _subscribers.Where(s => !ReferenceEquals(s, subscription))];
        }

        subscription.Complete();
    }

    /// <summary>The informer's full list: replaces the content, publishes every object and the removal of those that vanished; returns the vanished keys.</summary>
    internal IReadOnlyList<PreviewKey> Replace(IReadOnlyCollection<V1Alpha1PreviewSandbox> items)
    {
        var listed = new Dictionary<PreviewKey, V1Alpha1PreviewSandbox>();
        foreach (var item in items)
        {
            if (KeyOf(item) is { } key)
            {
                listed[key] = item;
            }
        }

        List<PreviewKey> vanished;
        lock (_write)
        {
            vanished = [.. _objects.Keys.Where(k => !listed.ContainsKey(k))];
            foreach (var key in vanished)
            {
                Drop(key);
            }

            foreach (var (key, item) in listed)
            {
                Put(key, item);
            }
        }

        foreach (var key in vanished)
        {
            Publish(new PreviewSandboxChange(key, WatchEventType.Deleted, null));
        }

        foreach (var (key, item) in listed)
        {
            Publish(new PreviewSandboxChange(key, WatchEventType.Modified, item));
        }

        _isSynced = true;
        _synced.TrySetResult();
        return vanished;
    }

    /// <summary>The informer's ADDED/MODIFIED event.</summary>
    internal void Upsert(PreviewKey key, WatchEventType type, V1Alpha1PreviewSandbox item)
    {
        lock (_write)
        {
            Put(key, item);
        }

        Publish(new PreviewSandboxChange(key, type, item));
    }

    /// <summary>The informer's DELETED event.</summary>
    internal void Remove(PreviewKey key)
    {
        lock (_write)
        {
            Drop(key);
        }

        Publish(new PreviewSandboxChange(key, WatchEventType.Deleted, null));
    }

    /// <summary>Ends every subscription (the informer has stopped for good: host shutdown).</summary>
    internal void CompleteSubscriptions()
    {
        lock (_subscribersGate)
        {
            foreach (var subscription in _subscribers)
            {
                subscription.Complete();
            }
        }
    }

    internal static PreviewKey? KeyOf(V1Alpha1PreviewSandbox item) =>
        item.Metadata is { Name: { Length: > 0 } name, NamespaceProperty: { Length: > 0 } ns } ? new PreviewKey(ns, name) : null;

    // Callers hold _write. The object is replaced in place: lock-free readers never see the key missing meanwhile.
    private void Put(PreviewKey key, V1Alpha1PreviewSandbox item)
    {
        if (_objects.TryGetValue(key, out var previous))
        {
            Unindex(key, previous);
        }

        // Nothing here reads managedFields, and on an object several managers wrote they outweigh the rest of it.
        if (item.Metadata is { ManagedFields: not null } metadata)
        {
            metadata.ManagedFields = null;
        }

        _objects[key] = item;
        if (item.Spec?.ProjectId is { Length: > 0 } project)
        {
            var index = (key.Namespace, project);
            if (!_byProject.TryGetValue(index, out var set))
            {
                _byProject[index] = set = [];
            }

            set.Add(key);
        }

        if (item.Status?.SandboxId is { Length: > 0 } sandboxId)
        {
            _bySandboxId[sandboxId] = key;
        }
    }

    // Callers hold _write.
    private void Drop(PreviewKey key)
    {
        if (_objects.TryRemove(key, out var previous))
        {
            Unindex(key, previous);
        }
    }

    // Callers hold _write.
    private void Unindex(PreviewKey key, V1Alpha1PreviewSandbox previous)
    {
        if (previous.Spec?.ProjectId is { Length: > 0 } project && _byProject.TryGetValue((key.Namespace, project), out var set))
        {
            set.Remove(key);
            if (set.Count == 0)
            {
                _byProject.Remove((key.Namespace, project));
            }
        }

        if (previous.Status?.SandboxId is { Length: > 0 } sandboxId && _bySandboxId.TryGetValue(sandboxId, out var owner) && owner == key)
        {
            _bySandboxId.Remove(sandboxId);
        }
    }

    private void Publish(PreviewSandboxChange change)
    {
        foreach (var subscription in _subscribers)
        {
            if (subscription.Key is null || subscription.Key == change.Key)
            {
                subscription.Offer(change);
            }
        }
    }

    private static bool IsNewer(V1Alpha1PreviewSandbox candidate, V1Alpha1PreviewSandbox current) =>
        long.TryParse(candidate.Metadata.ResourceVersion, NumberStyles.None, CultureInfo.InvariantCulture, out var a)
        && long.TryParse(current.Metadata.ResourceVersion, NumberStyles.None, CultureInfo.InvariantCulture, out var b)
            ? a > b
            : !string.Equals(candidate.Metadata.ResourceVersion, current.Metadata.ResourceVersion, StringComparison.Ordinal);
}
