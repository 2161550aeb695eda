using System.Collections.Concurrent;
using k8s;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;
using Midori.Operator.Persistence;

namespace Midori.Operator.Runtime;

/// <summary>
/// The one list + watch loop for PreviewSandboxes a replica runs (KubeOps ResourceWatcher shape, client-go reflector
/// semantics), on every replica for the life of the process (<see cref="OperatorRuntimeHost"/>). It fills the shared
/// <see cref="PreviewSandboxCache"/> (what the HTTP API and the gateway read) and, while a leader's term has attached
/// its <see cref="ReconcileQueue"/> (<see cref="AttachQueue"/>), enqueues keys; the reconciler starts from the cache
/// (<see cref="PreviewSandboxCacheLookup"/>), which holds an object before its key is enqueued.
/// <list type="bullet">
/// <item>list every page → replace the cache → enqueue every key (plus keys that vanished since the last list) → watch from the list's resourceVersion with bookmarks;</item>
/// <item>ADDED → enqueue; MODIFIED → enqueue unless only status changed (generation, deletionTimestamp, finalizers,
/// heartbeat, recreate and retention annotations all unchanged vs. the last seen object, keyed by UID), or when the
/// only other change is our finalizer being added;</item>
/// <item>DELETED → forget the key; BOOKMARK → remember its resourceVersion;</item>
/// <item>watch closed by the server → re-watch from the last resourceVersion; 410 → relist; other errors → backoff 2^min(n,5) s + jitter.</item>
/// </list>
/// </summary>
public sealed class PreviewSandboxInformer
{
    /// <summary>A watch that ends sooner than this without any event counts as a failure (client-go's "very short watch").</summary>
    internal static readonly TimeSpan MinimumWatchDuration = TimeSpan.FromSeconds(1);

    private readonly IPreviewSandboxClient _client;
    private readonly PreviewSandboxCache _cache;
    private readonly OperatorOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<PreviewSandboxInformer> _logger;
    private readonly RetryBackoff _backoff;
    private readonly CrdPresence? _crd;
    // What the last watch event of each object (by UID) carried that matters to the reconciler. Kept apart from the
    // cache because the cache also takes this replica's own writes (Observe): compared with those, the watch event of
    // a heartbeat this replica wrote would look unchanged and never reach the reconciler.
    private readonly ConcurrentDictionary<string, Trigger> _triggers = new(StringComparer.Ordinal);

    // Guards the attached queue against a list or an event in flight: a key is enqueued by the loop or by AttachQueue.
    private readonly Lock _intake = new();
    private ReconcileQueue? _queue;
    private volatile bool _hasSynced;
    private volatile string? _lastResourceVersion;

    public PreviewSandboxInformer(
        IPreviewSandboxClient client,
        PreviewSandboxCache cache,
        IOptions<OperatorOptions> options,
        TimeProvider timeProvider,
        ILogger<PreviewSandboxInformer> logger,
        RetryBackoff? backoff = null,
        MidoriMetrics? metrics = null,
        CrdPresence? crd = null)
    {
        _crd = crd;
        _client = client;
        _cache = cache;
        metrics?.ObserveSandboxPhases(PhaseCounts);
        _options = options.Value;
        _timeProvider = timeProvider;
        _logger = logger;
        _backoff = backoff ?? RetryBackoff.ForWatch();
    }

    /// <summary>True once the first full list of the current run is in the cache (readiness).</summary>
    public bool HasSynced => _hasSynced;

    /// <summary>The object store this informer fills.</summary>
    public PreviewSandboxCache Cache => _cache;

    /// <summary>
    /// Sends keys to <paramref name="queue"/> until the result is disposed (a leader's term): every cached key now (when
    /// synced; otherwise the first list does it), then every change that matters to the reconciler.
    /// </summary>
    public IDisposable AttachQueue(ReconcileQueue queue)
    {
        lock (_intake)
        {
            _queue = queue;
            if (_hasSynced)
            {
                foreach (var key in _cache.Keys)
                {
                    queue.Add(ToObjectKey(key));
                }
            }
        }

        return new Detach(this, queue);
    }

    /// <summary>PreviewSandboxes per status phase (no status yet counts as Pending); empty until the current run has synced.</summary>
    public IReadOnlyDictionary<string, int> PhaseCounts()
    {
        if (!_hasSynced)
        {
            return new Dictionary<string, int>();
        }

        return _cache.PhaseCounts();
    }

    /// <summary>The cached PreviewSandbox whose status names <paramref name="sandboxId"/>, for providers that only know the sandbox.</summary>
    public PreviewKey? FindBySandboxId(string sandboxId) => _cache.FindBySandboxId(sandboxId) is { } key ? ToObjectKey(key) : null;

    /// <summary>The resourceVersion the next watch starts from; null when a relist is due.</summary>
    public string? LastResourceVersion => _lastResourceVersion;

    /// <summary>Runs list + watch until <paramref name="cancellationToken"/> is cancelled. Never throws for API errors.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var @namespace = string.IsNullOrWhiteSpace(_options.WatchNamespace) ? null : _options.WatchNamespace;
        _hasSynced = false;
        _lastResourceVersion = null;
        _triggers.Clear();
        _logger.InformerStarted(@namespace ?? "(all)");
        var failures = 0;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    if (_lastResourceVersion is null)
                    {
                        _lastResourceVersion = await ListAndEnqueueAsync(@namespace, cancellationToken).ConfigureAwait(false);
                        _crd?.ReportPresent();
                        _hasSynced = true;
                        failures = 0;
                    }

                    var events = await WatchOnceAsync(@namespace, _lastResourceVersion, () => failures = 0, cancellationToken).ConfigureAwait(false);
                    _logger.InformerWatchClosed(events, _lastResourceVersion ?? string.Empty);
                }
                catch (ResourceVersionExpiredException ex)
                {
                    _logger.InformerResourceVersionExpired(ex);
                    _lastResourceVersion = null;
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception ex)
                {
                    failures++;
                    var delay = _backoff.Compute(failures);
                    if (_crd is not null && CrdPresence.IsMissing(ex))
                    {
                        _crd.ReportMissing(delay); // a setup step, said once: no stack trace per retry
                    }
                    else
                    {
                        _logger.InformerWatchFailed(ex, failures, delay);
                    }

                    await Task.Delay(delay, _timeProvider, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped while backing off.
        }
        finally
        {
            _hasSynced = false;
            _logger.InformerStopped();
        }
    }

    private async Task<string> ListAndEnqueueAsync(string? @namespace, CancellationToken cancellationToken)
    {
        var items = new List<V1Alpha1PreviewSandbox>();
        string? continueToken = null;
        var resourceVersion = string.Empty;
        do
        {
            var page = await _client.ListAsync(@namespace, continueToken, cancellationToken).ConfigureAwait(false);
            items.AddRange(page.Items);
            if (!string.IsNullOrEmpty(page.ResourceVersion))
            {
                resourceVersion = page.ResourceVersion;
            }

            continueToken = page.Continue;
        }
        while (!string.IsNullOrEmpty(continueToken));

        _triggers.Clear();
        foreach (var item in items)
        {
            if (item.Metadata?.Uid is { Length: > 0 } uid)
            {
                _triggers[uid] = Trigger.Of(item);
            }
        }

        int enqueued;
        lock (_intake)
        {
            // Keys that vanished while we were not watching are enqueued too, so the reconciler observes NotFound.
            var vanished = _cache.Replace(items);
            _hasSynced = true;
            var keys = new HashSet<PreviewKey>(vanished);
            keys.UnionWith(items.Select(PreviewSandboxCache.KeyOf).OfType<PreviewKey>());
            foreach (var key in keys)
            {
                _queue?.Add(ToObjectKey(key));
            }

            enqueued = keys.Count;
        }

        _logger.InformerListed(items.Count, resourceVersion, enqueued);
        return resourceVersion;
    }

    private async Task<int> WatchOnceAsync(string? @namespace, string resourceVersion, Action onEvent, CancellationToken cancellationToken)
    {
        _logger.InformerWatchStarted(resourceVersion);
        var started = _timeProvider.GetTimestamp();
        var events = 0;
        await foreach (var watchEvent in _client.WatchAsync(@namespace, resourceVersion, _options.WatchTimeout, cancellationToken).ConfigureAwait(false))
        {
            events++;
            onEvent();
            Handle(watchEvent);
        }

        if (events == 0 && _timeProvider.GetElapsedTime(started) < MinimumWatchDuration)
        {
            // Guards against a server that closes every watch at once: treat as an error so the loop backs off.
            _logger.InformerShortWatch();
            throw new InvalidOperationException("The watch of PreviewSandboxes closed immediately without any event.");
        }

        return events;
    }

    private void Handle(PreviewSandboxWatchEvent watchEvent)
    {
        var item = watchEvent.Object;
        try
        {
            switch (watchEvent.Type)
            {
                case WatchEventType.Bookmark:
                    break;
                case WatchEventType.Added:
                case WatchEventType.Modified:
                    OnUpsert(watchEvent.Type, item);
                    break;
                case WatchEventType.Deleted:
                    OnDeleted(item);
                    break;
                default:
                    break;
            }
        }
        catch (Exception ex)
        {
            // One bad object must not stop the stream (KubeOps): log, keep going.
            _logger.InformerEventFailed(ex, watchEvent.Type.ToString(), item?.Metadata?.NamespaceProperty, item?.Metadata?.Name);
        }
        finally
        {
            var resourceVersion = watchEvent.ResourceVersion ?? item?.Metadata?.ResourceVersion;
            if (!string.IsNullOrEmpty(resourceVersion))
            {
                _lastResourceVersion = resourceVersion;
            }
        }
    }

    private void OnUpsert(WatchEventType type, V1Alpha1PreviewSandbox? item)
    {
        if (item is null || PreviewSandboxCache.KeyOf(item) is not { } key)
        {
            return;
        }

        var trigger = Trigger.Of(item);
        var uid = item.Metadata.Uid;
        var hasUid = !string.IsNullOrEmpty(uid);
        var same = type == WatchEventType.Modified && hasUid && _triggers.TryGetValue(uid!, out var previous) && previous.Same(trigger);
        if (hasUid)
        {
            _triggers[uid!] = trigger;
        }

        lock (_intake)
        {
            _cache.Upsert(key, type, item);
            if (same)
            {
                _logger.InformerEventSkipped(key.Namespace, key.Name, item.Metadata.ResourceVersion);
                return;
            }

            _queue?.Add(ToObjectKey(key));
        }

        _logger.InformerEventEnqueued(key.Namespace, key.Name, type.ToString(), item.Metadata.ResourceVersion);
    }

    private void OnDeleted(V1Alpha1PreviewSandbox? item)
    {
        if (item is null || PreviewSandboxCache.KeyOf(item) is not { } key)
        {
            return;
        }

        if (item.Metadata.Uid is { Length: > 0 } uid)
        {
            _triggers.TryRemove(uid, out _);
        }

        lock (_intake)
        {
            _cache.Remove(key);
            _queue?.Forget(ToObjectKey(key));
        }
    }

    private static PreviewKey ToObjectKey(PreviewKey key) => new(key.Namespace, key.Name);

    private sealed class Detach(PreviewSandboxInformer informer, ReconcileQueue queue) : IDisposable
    {
        public void Dispose()
        {
            lock (informer._intake)
            {
                if (ReferenceEquals(informer._queue, queue))
                {
                    informer._queue = null;
                }
            }
        }
    }

    /// <summary>What we compare to decide whether a MODIFIED event matters to the reconciler.</summary>
    private sealed record Trigger(
        long? Generation, DateTime? DeletionTimestamp, IReadOnlyList<string> Finalizers, string? Heartbeat, string? Recreate, string? Retention, string? FilesPush)
    {
        public static Trigger Of(V1Alpha1PreviewSandbox item)
        {
            var metadata = item.Metadata;
            string? heartbeat = null;
            string? recreate = null;
            string? retention = null;
            string? filesPush = null;
            metadata.Annotations?.TryGetValue(GroupVersion.HeartbeatAnnotation, out heartbeat);
            metadata.Annotations?.TryGetValue(GroupVersion.RecreateAnnotation, out recreate);
            // Retention decides whether a finished preview is deleted: a change must be acted on now, not at the next resync.
            metadata.Annotations?.TryGetValue(GroupVersion.RetentionAnnotation, out retention);
            metadata.Annotations?.TryGetValue(GroupVersion.FilesPushAnnotation, out filesPush);
            return new Trigger(metadata.Generation, metadata.DeletionTimestamp, metadata.Finalizers?.ToArray() ?? [], heartbeat, recreate, retention, filesPush);
        }

        public bool Same(Trigger other) =>
            Generation == other.Generation
            && DeletionTimestamp == other.DeletionTimestamp
            && (Finalizers.SequenceEqual(other.Finalizers, StringComparer.Ordinal) || OnlyOwnFinalizerAdded(other))
            && string.Equals(Heartbeat, other.Heartbeat, StringComparison.Ordinal)
            && string.Equals(Recreate, other.Recreate, StringComparison.Ordinal)
            && string.Equals(Retention, other.Retention, StringComparison.Ordinal)
            && string.Equals(FilesPush, other.FilesPush, StringComparison.Ordinal);

        // The reconcile that added our finalizer goes on with the object it wrote: its watch event needs no second run.
        private bool OnlyOwnFinalizerAdded(Trigger next) =>
            next.DeletionTimestamp is null
            && !Finalizers.Contains(GroupVersion.FinalizerName, StringComparer.Ordinal)
            && next.Finalizers.SequenceEqual([.. Finalizers, GroupVersion.FinalizerName], StringComparer.Ordinal);
    }
}
