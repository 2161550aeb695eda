using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.Channels;
using k8s;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;
using Midori.Operator.Persistence;
using Midori.Operator.Runtime;

namespace Midori.Operator.Http.Services;

/// <summary>A change seen by the cache: the new object, or null when it was deleted.</summary>
public sealed record PreviewSandboxChange(PreviewKey Key, WatchEventType Type, V1Alpha1PreviewSandbox? Object);

/// <summary>
/// Full PreviewSandbox objects kept by list + watch on EVERY replica (the leader's informer only enqueues keys), so
/// status reads and heartbeat decisions never call the API server or a provider. Same loop shape as
/// <see cref="PreviewSandboxInformer"/> (list → watch from the list's resourceVersion with bookmarks → relist on 410 →
/// backoff on errors) and the same <see cref="RetryBackoff.ForWatch"/>. Cached objects are shared: never mutate them.
/// Subscribers (SSE, create-and-wait) get every change through a bounded channel.
/// </summary>
public sealed class PreviewSandboxCache : BackgroundService
{
    private readonly IPreviewSandboxClient _client;
    private readonly OperatorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<PreviewSandboxCache> _logger;
    private readonly RetryBackoff _backoff = RetryBackoff.ForWatch();
    private readonly ConcurrentDictionary<PreviewKey, V1Alpha1PreviewSandbox> _objects = new();
    private readonly Lock _subscribersGate = new();
    private ImmutableSubscribers _subscribers = ImmutableSubscribers.Empty;
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _isSynced;

    private readonly CrdPresence? _crd;

    public PreviewSandboxCache(IPreviewSandboxClient client, IOptions<OperatorOptions> options, TimeProvider time, ILogger<PreviewSandboxCache> logger, CrdPresence? crd = null)
    {
        _crd = crd;
        _client = client;
        _options = options.Value;
        _time = time;
        _logger = logger;
    }

    /// <summary>True once the first list has been loaded; until then reads fall back to the API server.</summary>
    public bool IsSynced => _isSynced;

    /// <summary>Completes when the first list has been loaded.</summary>
    public Task Synced => _synced.Task;

    public int Count => _objects.Count;

    public bool TryGet(PreviewKey key, out V1Alpha1PreviewSandbox resource) => _objects.TryGetValue(key, out resource!);

    /// <summary>Every cached object at this moment (a copy of the list; the objects are shared, never mutate them).</summary>
    public IReadOnlyCollection<V1Alpha1PreviewSandbox> All => [.. _objects.Values];

    /// <summary>The cached object; before the first sync, a direct GET from the API server (not cached).</summary>
    public async ValueTask<V1Alpha1PreviewSandbox?> GetAsync(PreviewKey key, CancellationToken cancellationToken)
    {
        if (_objects.TryGetValue(key, out var cached))
        {
            return cached;
        }

        return _isSynced ? null : await _client.GetAsync(key.Namespace, key.Name, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>PreviewSandboxes of one project in a namespace (scan: projects have a handful of previews).</summary>
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

        return [.. _objects.Where(e => e.Key.Namespace == @namespace && e.Value.Spec.ProjectId == projectId).Select(e => e.Value)];
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

        var changed = false;
        _objects.AddOrUpdate(key, _ => { changed = true; return resource; }, (_, current) =>
        {
            if (IsNewer(resource, current))
            {
                changed = true;
                return resource;
            }

            return current;
        });
        if (changed)
        {
            Publish(new PreviewSandboxChange(key, WatchEventType.Modified, resource));
        }
    }

    /// <summary>Every later change of <paramref name="key"/> (all keys when null). Dispose to stop. Slow readers lose the oldest changes.</summary>
    public PreviewSandboxSubscription Subscribe(PreviewKey? key = null, int capacity = 64)
    {
        var subscription = new PreviewSandboxSubscription(this, key, Channel.CreateBounded<PreviewSandboxChange>(
            new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = false }));
        lock (_subscribersGate)
        {
            _subscribers = _subscribers.Add(subscription);
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
            _subscribers = _subscribers.Remove(subscription);
        }

        subscription.Complete();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var @namespace = string.IsNullOrWhiteSpace(_options.WatchNamespace) ? null : _options.WatchNamespace;
        string? resourceVersion = null;
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (resourceVersion is null)
                {
                    resourceVersion = await ListAsync(@namespace, stoppingToken).ConfigureAwait(false);
                    _crd?.ReportPresent();
                    failures = 0;
                }

                await foreach (var watchEvent in _client.WatchAsync(@namespace, resourceVersion, _options.WatchTimeout, stoppingToken).ConfigureAwait(false))
                {
                    failures = 0;
                    Apply(watchEvent);
                    if ((watchEvent.ResourceVersion ?? watchEvent.Object?.Metadata?.ResourceVersion) is { Length: > 0 } rv)
                    {
                        resourceVersion = rv;
                    }
                }
            }
            catch (ResourceVersionExpiredException)
            {
                _logger.CacheRelist();
                resourceVersion = null;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                failures++;
                var delay = _backoff.Compute(failures);
                if (_crd is not null && CrdPresence.IsMissing(ex))
                {
                    _crd.ReportMissing(delay); // said once for the process (the informer shares it)
                }
                else
                {
                    _logger.CacheWatchFailed(ex, failures, delay);
                }
                try
                {
                    await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        lock (_subscribersGate)
        {
            foreach (var subscription in _subscribers.Items)
            {
                subscription.Complete();
            }
        }
    }

    private async Task<string> ListAsync(string? @namespace, CancellationToken cancellationToken)
    {
        var items = new Dictionary<PreviewKey, V1Alpha1PreviewSandbox>();
        string? continueToken = null;
        var resourceVersion = string.Empty;
        do
        {
            var page = await _client.ListAsync(@namespace, continueToken, cancellationToken).ConfigureAwait(false);
            foreach (var item in page.Items)
            {
                if (KeyOf(item) is { } key)
                {
                    items[key] = item;
                }
            }

            if (!string.IsNullOrEmpty(page.ResourceVersion))
            {
                resourceVersion = page.ResourceVersion;
            }

            continueToken = page.Continue;
        }
        while (!string.IsNullOrEmpty(continueToken));

        foreach (var key in _objects.Keys.Where(k => !items.ContainsKey(k)).ToList())
        {
            if (_objects.TryRemove(key, out _))
            {
                Publish(new PreviewSandboxChange(key, WatchEventType.Deleted, null));
            }
        }

        foreach (var (key, item) in items)
        {
            _objects[key] = item;
            Publish(new PreviewSandboxChange(key, WatchEventType.Modified, item));
        }

        _isSynced = true;
        _synced.TrySetResult();
        _logger.CacheListed(items.Count, resourceVersion);
        return resourceVersion;
    }

    private void Apply(PreviewSandboxWatchEvent watchEvent)
    {
        if (watchEvent.Object is not { } item || KeyOf(item) is not { } key)
        {
            return;
        }

        switch (watchEvent.Type)
        {
            case WatchEventType.Added:
            case WatchEventType.Modified:
                _objects[key] = item;
                Publish(new PreviewSandboxChange(key, watchEvent.Type, item));
                break;
            case WatchEventType.Deleted:
                _objects.TryRemove(key, out _);
                Publish(new PreviewSandboxChange(key, WatchEventType.Deleted, null));
                break;
            default:
                break;
        }
    }

    private void Publish(PreviewSandboxChange change)
    {
        foreach (var subscription in _subscribers.Items)
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

    private static PreviewKey? KeyOf(V1Alpha1PreviewSandbox item) =>
        item.Metadata is { Name: { Length: > 0 } name, NamespaceProperty: { Length: > 0 } ns } ? new PreviewKey(ns, name) : null;

    /// <summary>Copy-on-write list so publishing never takes a lock.</summary>
    private sealed class ImmutableSubscribers(PreviewSandboxSubscription[] items)
    {
        public static readonly ImmutableSubscribers Empty = new([]);

        public PreviewSandboxSubscription[] Items { get; } = items;

        public ImmutableSubscribers Add(PreviewSandboxSubscription s) => new([.. Items, s]);

        public ImmutableSubscribers Remove(PreviewSandboxSubscription s) => new([.. Items.Where(i => !ReferenceEquals(i, s))]);
    }
}

/// <summary>A live feed of cache changes; dispose to stop receiving.</summary>
public sealed class PreviewSandboxSubscription : IDisposable
{
    private readonly PreviewSandboxCache _cache;
    private readonly Channel<PreviewSandboxChange> _channel;

    internal PreviewSandboxSubscription(PreviewSandboxCache cache, PreviewKey? key, Channel<PreviewSandboxChange> channel)
    {
        _cache = cache;
        Key = key;
        _channel = channel;
    }

    public PreviewKey? Key { get; }

    public ChannelReader<PreviewSandboxChange> Reader => _channel.Reader;

    public void Dispose() => _cache.Unsubscribe(this);

    internal void Offer(PreviewSandboxChange change) => _channel.Writer.TryWrite(change);

    internal void Complete() => _channel.Writer.TryComplete();
}
