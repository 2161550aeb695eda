using System.Collections.Concurrent;
using k8s;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;

namespace Midori.Operator.Runtime;

/// <summary>
/// List + watch loop for PreviewSandboxes (KubeOps ResourceWatcher shape, client-go reflector semantics). It keeps
/// the objects in <see cref="PreviewSandboxObjectStore"/> (what the reconciler starts from) and enqueues keys. Started and stopped per leadership term by
/// <see cref="OperatorRuntimeHost"/> through <see cref="RunAsync"/>.
/// <list type="bullet">
/// <item>list every page → enqueue every key (plus keys that vanished since the last list) → watch from the list's resourceVersion with bookmarks;</item>
/// <item>ADDED → enqueue; MODIFIED → enqueue unless only status changed (generation, deletionTimestamp, finalizers,
/// heartbeat, recreate and retention annotations all unchanged vs. the last seen object, keyed by UID) or the only
/// other change is our finalizer being added (the reconcile that added it goes on with the object it wrote);</item>
/// <item>DELETED → forget the key; BOOKMARK → remember its resourceVersion;</item>
/// <item>watch closed by the server → re-watch from the last resourceVersion; 410 → relist; other errors → backoff 2^min(n,5) s + jitter.</item>
/// </list>
/// </summary>
public sealed class PreviewSandboxInformer
{
    /// <summary>A watch that ends sooner than this without any event counts as a failure (client-go's "very short watch").</summary>
    internal static readonly TimeSpan MinimumWatchDuration = TimeSpan.FromSeconds(1);

    private readonly IPreviewSandboxClient _client;
    private readonly ReconcileQueue _queue;
    private readonly OperatorOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<PreviewSandboxInformer> _logger;
    private readonly RetryBackoff _backoff;
    private readonly CrdPresence? _crd;
    // Written only by the list/watch loop; concurrent so the metrics callback can count phases meanwhile.
    private readonly ConcurrentDictionary<string, ObjectSnapshot> _cache = new(StringComparer.Ordinal);
    private readonly PreviewSandboxObjectStore? _store;
    private volatile bool _hasSynced;
    private volatile string? _lastResourceVersion;

    public PreviewSandboxInformer(
        IPreviewSandboxClient client,
        ReconcileQueue queue,
        IOptions<OperatorOptions> options,
        TimeProvider timeProvider,
        ILogger<PreviewSandboxInformer> logger,
        RetryBackoff? backoff = null,
        MidoriMetrics? metrics = null,
        CrdPresence? crd = null,
        PreviewSandboxObjectStore? store = null)
    {
        _crd = crd;
        _client = client;
        _store = store;
        metrics?.ObserveSandboxPhases(PhaseCounts);
        _queue = queue;
        _options = options.Value;
        _timeProvider = timeProvider;
        _logger = logger;
        _backoff = backoff ?? RetryBackoff.ForWatch();
    }

    /// <summary>True once the first full list of the current run has been enqueued (readiness).</summary>
    public bool HasSynced => _hasSynced;

    /// <summary>PreviewSandboxes per status phase (no status yet counts as Pending); empty until the current run has synced.</summary>
    public IReadOnlyDictionary<string, int> PhaseCounts()
    {
        if (!_hasSynced)
        {
            return new Dictionary<string, int>();
        }

        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var snapshot in _cache.Values)
        {
            var phase = snapshot.Phase ?? Phases.Pending;
            counts[phase] = counts.GetValueOrDefault(phase) + 1;
        }

        return counts;
    }

    /// <summary>The cached PreviewSandbox whose status names <paramref name="sandboxId"/>, for providers that only know the sandbox.</summary>
    public ObjectKey? FindBySandboxId(string sandboxId)
    {
        foreach (var snapshot in _cache.Values)
        {
            if (string.Equals(snapshot.SandboxId, sandboxId, StringComparison.Ordinal))
            {
                return snapshot.Key;
            }
        }

        return null;
    }

    /// <summary>The resourceVersion the next watch starts from; null when a relist is due.</summary>
    public string? LastResourceVersion => _lastResourceVersion;

    /// <summary>Runs list + watch until <paramref name="cancellationToken"/> is cancelled. Never throws for API errors.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var @namespace = string.IsNullOrWhiteSpace(_options.WatchNamespace) ? null : _options.WatchNamespace;
        _hasSynced = false;
        _lastResourceVersion = null;
        _cache.Clear();
        _store?.Reset();
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
            _store?.Reset();
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

        // Keys that vanished while we were not watching are enqueued too, so the reconciler observes NotFound.
        var keys = new HashSet<ObjectKey>(_cache.Values.Select(s => s.Key));
        _cache.Clear();
        foreach (var item in items)
        {
            if (KeyOf(item) is not { } key)
            {
                continue;
            }

            keys.Add(key);
            if (item.Metadata.Uid is { Length: > 0 } uid)
            {
                _cache[uid] = ObjectSnapshot.Of(key, item);
            }
        }

        _store?.Replace(items); // before the keys go out: a reconcile reads at least what this list saw
        foreach (var key in keys)
        {
            _queue.Add(key);
        }

        _logger.InformerListed(items.Count, resourceVersion, keys.Count);
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
        if (item is null || KeyOf(item) is not { } key)
        {
            return;
        }

        _store?.Upsert(item); // before the key goes out, as for the list
        var snapshot = ObjectSnapshot.Of(key, item);
        var uid = item.Metadata.Uid;
        var hasUid = !string.IsNullOrEmpty(uid);
        if (type == WatchEventType.Modified && hasUid && _cache.TryGetValue(uid!, out var previous) && previous.SameTrigger(snapshot))
        {
            _cache[uid!] = snapshot;
            _logger.InformerEventSkipped(key.Namespace, key.Name, item.Metadata.ResourceVersion);
            return;
        }

        if (hasUid)
        {
            _cache[uid!] = snapshot;
        }

        _queue.Add(key);
        _logger.InformerEventEnqueued(key.Namespace, key.Name, type.ToString(), item.Metadata.ResourceVersion);
    }

    private void OnDeleted(V1Alpha1PreviewSandbox? item)
    {
        if (item is null || KeyOf(item) is not { } key)
        {
            return;
        }

        _queue.Forget(key);
        _store?.Remove(item);
        if (item.Metadata.Uid is { Length: > 0 } uid)
        {
            _cache.TryRemove(uid, out _);
        }
    }

    private static ObjectKey? KeyOf(V1Alpha1PreviewSandbox item) =>
        item.Metadata is { Name: { Length: > 0 } name, NamespaceProperty: { Length: > 0 } ns } ? new ObjectKey(ns, name) : null;

    /// <summary>What we compare to decide whether a MODIFIED event matters to the reconciler.</summary>
    private sealed record ObjectSnapshot(
        ObjectKey Key, long? Generation, DateTime? DeletionTimestamp, IReadOnlyList<string> Finalizers, string? Heartbeat, string? Recreate, string? Retention,
        string? Phase, string? FilesPush = null, string? SandboxId = null)
    {
        public static ObjectSnapshot Of(ObjectKey key, V1Alpha1PreviewSandbox item)
        {
            var metadata = item.Metadata;
            string? heartbeat = null;
            string? recreate = null;
            string? retention = null;
            metadata.Annotations?.TryGetValue(GroupVersion.HeartbeatAnnotation, out heartbeat);
            metadata.Annotations?.TryGetValue(GroupVersion.RecreateAnnotation, out recreate);
            // Retention decides whether a finished preview is deleted: a change must be acted on now, not at the next resync.
            metadata.Annotations?.TryGetValue(GroupVersion.RetentionAnnotation, out retention);
            string? filesPush = null;
            metadata.Annotations?.TryGetValue(GroupVersion.FilesPushAnnotation, out filesPush);
            return new ObjectSnapshot(key, metadata.Generation, metadata.DeletionTimestamp, metadata.Finalizers?.ToArray() ?? [], heartbeat, recreate, retention,
                item.Status?.Phase, filesPush, item.Status?.SandboxId);
        }

        public bool SameTrigger(ObjectSnapshot other) =>
            Generation == other.Generation
            && DeletionTimestamp == other.DeletionTimestamp
            && (Finalizers.SequenceEqual(other.Finalizers, StringComparer.Ordinal) || OnlyOwnFinalizerAdded(other))
            && string.Equals(Heartbeat, other.Heartbeat, StringComparison.Ordinal)
            && string.Equals(Recreate, other.Recreate, StringComparison.Ordinal)
            && string.Equals(Retention, other.Retention, StringComparison.Ordinal)
            && string.Equals(FilesPush, other.FilesPush, StringComparison.Ordinal);

        private bool OnlyOwnFinalizerAdded(ObjectSnapshot next) =>
            next.DeletionTimestamp is null
            && !Finalizers.Contains(GroupVersion.FinalizerName, StringComparer.Ordinal)
            && next.Finalizers.SequenceEqual([.. Finalizers, GroupVersion.FinalizerName], StringComparer.Ordinal);
    }
}
