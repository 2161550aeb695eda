using System.Collections.Concurrent;
using k8s;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;

namespace Midori.Operator.Controllers;

/// <summary>
/// Keeps <c>spec.replicas</c> ready sandboxes per PreviewSandboxPool, while this replica leads (an
/// <see cref="ILeaderController"/>: <see cref="OperatorRuntimeHost"/> runs it in every leadership term): list + watch of pools feeds its own <see cref="ReconcileQueue"/>;
/// one worker runs gather (the provider's sandboxes labelled with the pool's UID, minus claimed ones) → decide
/// (<see cref="PoolPolicy"/>) → act (remove, start, create + start the template's dev server) → status (written only
/// when it changed), requeued after the policy's delay.
/// <para>
/// Leak-proofing: every warm sandbox carries the pool's UID as owner label plus <see cref="SandboxLabels.Pool"/>,
/// so after a crash the next leader finds it again. A member not created by this term is adopted only if its project
/// directory is empty (a claimed sandbox whose preview vanished holds files); sandboxes of pools that no longer exist
/// are swept every <see cref="PoolOptions.SweepInterval"/> (the general <see cref="OrphanSweepController"/> leaves pool
/// sandboxes to this controller). A claimed sandbox is known by the PreviewSandbox status that names it (the shared
/// informer cache) and, until that status is written, by this process's claim set.
/// </para>
/// </summary>
public sealed class PreviewSandboxPoolController : IWarmSandboxPool, ILeaderController
{
    private static readonly TimeSpan CrdRecheckInterval = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan WatchTimeout = TimeSpan.FromMinutes(5);

    private readonly IPreviewSandboxPoolClient _client;
    private readonly ISandboxProviderRegistry _providers;
    private readonly PreviewSandboxCache _previews;
    private readonly ILeadershipFence _fence;
    private readonly IProviderHealth? _health;
    private readonly PoolOptions _options;
    private readonly PoolSettings _settings;
    private readonly string? _watchNamespace;
    private readonly MidoriMetrics? _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<PreviewSandboxPoolController> _logger;
    private readonly RetryBackoff _watchBackoff = RetryBackoff.ForWatch();

    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<PreviewKey, V1Alpha1PreviewSandboxPool> _pools = new();
    private readonly ConcurrentDictionary<PreviewKey, V1Alpha1PreviewSandboxPool> _deleted = new();
    private readonly Dictionary<PreviewKey, PoolView> _views = [];
    private readonly Dictionary<string, PreviewKey> _claimed = new(StringComparer.Ordinal);
    private readonly HashSet<string> _verified = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<PreviewKey, long> _unreportedClaims = new();
    private readonly ConcurrentDictionary<string, DateTimeOffset> _firstSeen = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<PreviewKey, int> _failures = new();
    private ReconcileQueue? _queue;
    private volatile bool _synced;

    public PreviewSandboxPoolController(
        IPreviewSandboxPoolClient client,
        FencedSandboxProviderRegistry providers,
        PreviewSandboxCache previews,
        ILeadershipFence fence,
        IOptions<PoolOptions> options,
        IOptions<OperatorOptions> operatorOptions,
        TimeProvider time,
        ILogger<PreviewSandboxPoolController> logger,
        MidoriMetrics? metrics = null,
        IProviderHealth? health = null)
    {
        _client = client;
        _providers = providers;
        _previews = previews;
        _fence = fence;
        _health = health;
        _options = options.Value;
        _settings = _options.ToSettings();
        _watchNamespace = string.IsNullOrWhiteSpace(operatorOptions.Value.WatchNamespace) ? null : operatorOptions.Value.WatchNamespace;
        _metrics = metrics;
        _time = time;
        _logger = logger;
    }

    /// <summary>True once the current term has listed the pools.</summary>
    public bool HasSynced => _synced;

    public string Name => "warm pools";

    /// <summary>One leadership term: the pool informer, the worker and the sweep, until <paramref name="term"/> ends.</summary>
    public Task RunAsync(CancellationToken term) => _options.Enabled ? RunTermAsync(term) : Task.CompletedTask;

    public async Task<WarmClaim?> TryClaimAsync(WarmClaimRequest request, CancellationToken cancellationToken)
    {
        var template = string.IsNullOrEmpty(request.Template) ? null : request.Template;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            string? id = null;
            PreviewKey pool = default;
            ReconcileQueue? queue;
            lock (_lock)
            {
                queue = _queue;
                if (queue is not null && _options.Enabled)
                {
                    foreach (var (key, view) in _views)
                    {
                        if (key.Namespace == request.Namespace && string.Equals(view.Provider, request.Provider, StringComparison.OrdinalIgnoreCase)
                            && view.Template == template && view.Ready.Count > 0)
                        {
                            id = view.Ready[0];
                            view.Ready.RemoveAt(0);
                            _claimed[id] = key;
                            pool = key;
                            break;
                        }
                    }
                }
            }

            if (id is null || !_providers.TryGet(request.Provider, out var provider))
            {
                _metrics?.PoolClaim(request.Provider, hit: false);
                return null;
            }

            queue!.Add(pool); // replace the claimed one
            _unreportedClaims.AddOrUpdate(pool, 1, static (_, n) => n + 1);
            try
            {
                await provider.ExtendAsync(id, request.Until, cancellationToken).ConfigureAwait(false);
                if (await provider.GetAsync(id, cancellationToken).ConfigureAwait(false) is { State: SandboxState.Running } info)
                {
                    _metrics?.PoolClaim(provider.Name, hit: true);
                    _logger.PoolClaimed(pool.Namespace, pool.Name, id);
                    return new WarmClaim(info, pool.Name);
                }
            }
            catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
            {
                _logger.PoolClaimFailed(pool.Namespace, pool.Name, id, ex.Message);
            }

            // Gone or broken: it stays marked claimed (never handed out again) until it disappears; try the next one.
        }

        _metrics?.PoolClaim(request.Provider, hit: false);
        return null;
    }

    /// <summary>One pass over <paramref name="key"/>; returns when to look again (the term's worker calls it; tests call it directly).</summary>
    internal async Task<TimeSpan> ReconcileAsync(PreviewKey key, CancellationToken cancellationToken)
    {
        if (!_pools.TryGetValue(key, out var pool))
        {
            if (_deleted.TryRemove(key, out var gone))
            {
                await DrainAsync(gone, cancellationToken).ConfigureAwait(false);
            }

            lock (_lock)
            {
                _views.Remove(key);
            }

            return Timeout.InfiniteTimeSpan;
        }

        if (_deleted.TryRemove(key, out var replaced) && replaced.Metadata.Uid != pool.Metadata.Uid)
        {
            await DrainAsync(replaced, cancellationToken).ConfigureAwait(false); // deleted and created again under the same name
        }

        var now = _time.GetUtcNow();
        var providerName = string.IsNullOrEmpty(pool.Spec.Provider) ? _providers.DefaultProvider : pool.Spec.Provider;
        var uid = pool.Metadata.Uid ?? throw new InvalidOperationException("PreviewSandboxPool has no metadata.uid");
        var selector = $"{SandboxLabels.Pool}={pool.Metadata.Name}";
        var generation = pool.Metadata.Generation ?? 0;
        if (!_providers.TryGet(providerName, out var provider))
        {
            var unavailable = PoolPolicy.Decide(new PoolSnapshot(pool.Spec.Replicas, pool.Spec.EffectiveTtlSeconds(), [], now, 0, null, ProviderAvailable: false), _settings);
            var status = PoolPolicy.StatusAfter(unavailable with { Message = $"provider {providerName} is not configured" }, pool.Status, pool.Spec.Replicas, 0, 0, 0, now, generation, selector);
            await WriteStatusAsync(key, pool, status, 0, cancellationToken).ConfigureAwait(false);
            return TimeSpan.FromMinutes(1);
        }

        // gather
        var warmStart = WarmStart(pool.Spec);
        var startDigest = StartDigest(warmStart);
        var members = new List<WarmMember>();
        var listed = await provider.ListAsync(uid, cancellationToken).ConfigureAwait(false);
        var listedIds = listed.Select(s => s.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var sandbox in listed)
        {
            if (IsClaimed(sandbox.Id))
            {
                continue;
            }

            var dirty = false;
            if (!IsVerified(sandbox.Id) && sandbox.State is SandboxState.Running or SandboxState.Pending)
            {
                dirty = await IsDirtyAsync(provider, sandbox.Id, cancellationToken).ConfigureAwait(false);
            }

            var booted = sandbox.Labels?.GetValueOrDefault(SandboxLabels.PoolStart) ?? DefaultStartDigest;
            members.Add(new WarmMember(sandbox.Id, sandbox.State, sandbox.CreatedAt, sandbox.EndAt, dirty, Outdated: booted != startDigest));
        }

        ForgetVanishedClaims(key, listedIds);
        var status0 = pool.Status;
        var snapshot = new PoolSnapshot(pool.Spec.Replicas, pool.Spec.EffectiveTtlSeconds(), members, now,
            status0?.FailedAttempts ?? 0, status0?.LastFailureTime is { } lf ? new DateTimeOffset(DateTime.SpecifyKind(lf, DateTimeKind.Utc)) : null,
            _health?.Get(provider.Name) is not { Available: false });

        // decide
        var decision = PoolPolicy.Decide(snapshot, _settings);

        // act: removals first (a claim may have taken one meanwhile: then it is not ours to remove)
        var removals = new List<WarmRemoval>();
        lock (_lock)
        {
            var view = ViewOf(key, provider.Name, pool.Spec.Template);
            foreach (var removal in decision.Remove)
            {
                view.Ready.Remove(removal.Id);
                if (!_claimed.ContainsKey(removal.Id))
                {
                    removals.Add(removal);
                }
            }
        }

        foreach (var removal in removals)
        {
            try
            {
                await provider.DeleteAsync(removal.Id, cancellationToken).ConfigureAwait(false);
                _logger.PoolSandboxRemoved(key.Namespace, key.Name, removal.Id, removal.Reason);
            }
            catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
            {
                _logger.PoolSandboxRemoveFailed(key.Namespace, key.Name, removal.Id, ex.Message);
            }
        }

        var started = new List<string>();
        foreach (var id in decision.Start)
        {
            try
            {
                await provider.StartAsync(id, warmStart, cancellationToken).ConfigureAwait(false);
                started.Add(id);
            }
            catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
            {
                _logger.PoolSandboxStartFailed(key.Namespace, key.Name, id, ex.Message);
            }
        }

        var creations = await Task.WhenAll(Enumerable.Range(0, decision.Create)
            .Select(_ => CreateWarmAsync(key, pool, provider, uid, cancellationToken))).ConfigureAwait(false);
        var created = creations.OfType<SandboxInfo>().ToList();
        var failed = creations.Length - created.Count;

        lock (_lock)
        {
            var view = ViewOf(key, provider.Name, pool.Spec.Template);
            view.Ready.Clear();
            var ready = decision.Keep.Where(m => m.State == SandboxState.Running || started.Contains(m.Id))
                .Select(m => (m.Id, m.EndAt))
                .Concat(created.Select(c => (c.Id, c.EndAt)))
                .Where(m => !_claimed.ContainsKey(m.Id))
                .OrderBy(m => m.EndAt ?? DateTimeOffset.MaxValue); // oldest first: rotation then wastes the least
            // members of an earlier start first: they go anyway (a claim restarts their server if its start differs)
            view.Ready.AddRange((decision.Outgoing ?? []).Select(m => m.Id).Where(id => !_claimed.ContainsKey(id)));
            view.Ready.AddRange(ready.Select(m => m.Id));
        }

        var claims = _unreportedClaims.GetValueOrDefault(key);
        var next = PoolPolicy.StatusAfter(decision with { Start = started }, status0, pool.Spec.Replicas, created.Count, failed, claims, _time.GetUtcNow(), generation, selector);
        await WriteStatusAsync(key, pool, next, claims, cancellationToken).ConfigureAwait(false);
        if (failed > 0)
        {
            var retry = PoolPolicy.BackoffRemaining(snapshot with { FailedAttempts = next.FailedAttempts ?? 0, LastFailure = _time.GetUtcNow(), Now = _time.GetUtcNow() }, _settings);
            return retry is { } r && r < decision.RequeueAfter ? r : retry ?? TimeSpan.FromSeconds(1);
        }

        return decision.RequeueAfter;
    }

    /// <summary>Deletes warm sandboxes of pools that no longer exist (not claimed, older than the grace). </summary>
    internal async Task<int> SweepOnceAsync(CancellationToken cancellationToken)
    {
        if (!_synced)
        {
            return 0;
        }

        var live = _pools.Values.Select(p => p.Metadata.Uid).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var now = _time.GetUtcNow();
        var deleted = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var provider in _providers.All)
        {
            IReadOnlyList<SandboxInfo> sandboxes;
            try
            {
                sandboxes = await provider.ListAsync(null, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
            {
                _logger.PoolSweepListFailed(provider.Name, ex.Message);
                continue;
            }

            foreach (var sandbox in sandboxes)
            {
                if (sandbox.Labels?.GetValueOrDefault(SandboxLabels.Pool) is not { Length: > 0 } poolName
                    || (_watchNamespace is not null && sandbox.Labels.GetValueOrDefault(SandboxLabels.Namespace) != _watchNamespace)
                    || (sandbox.OwnerUid is { } owner && live.Contains(owner))
                    || IsClaimed(sandbox.Id))
                {
                    continue;
                }

                var key = provider.Name + "/" + sandbox.Id;
                seen.Add(key);
                var born = sandbox.CreatedAt ?? _firstSeen.GetOrAdd(key, now);
                if (now - born < _options.SweepGrace)
                {
                    continue;
                }

                try
                {
                    await provider.DeleteAsync(sandbox.Id, cancellationToken).ConfigureAwait(false);
                    deleted++;
                    _metrics?.Orphan(provider.Name, deleted: true);
                    _logger.PoolSandboxSwept(provider.Name, sandbox.Id, sandbox.Labels.GetValueOrDefault(SandboxLabels.Namespace) ?? string.Empty, poolName);
                }
                catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
                {
                    _logger.PoolSandboxRemoveFailed(string.Empty, poolName, sandbox.Id, ex.Message);
                }
            }
        }

        foreach (var stale in _firstSeen.Keys.Where(k => !seen.Contains(k)))
        {
            _firstSeen.TryRemove(stale, out _);
        }

        return deleted;
    }

    /// <summary>Lists the pools into the controller's cache (the term's informer does this). Null: CRD not installed.</summary>
    internal async Task<string?> ListAsync(ReconcileQueue? queue, CancellationToken cancellationToken)
    {
        var page = await _client.ListAsync(_watchNamespace, cancellationToken).ConfigureAwait(false);
        if (page is null)
        {
            _pools.Clear();
            _synced = false;
            return null;
        }

        var seen = new HashSet<PreviewKey>();
        foreach (var item in page.Items)
        {
            if (KeyOf(item) is { } key)
            {
                _pools[key] = item;
                seen.Add(key);
                queue?.Add(key);
            }
        }

        foreach (var (key, gone) in _pools.Where(p => !seen.Contains(p.Key)).ToList())
        {
            _pools.TryRemove(key, out _);
            _deleted[key] = gone;
            queue?.Add(key);
        }

        _synced = true;
        _logger.PoolsListed(seen.Count);
        return page.ResourceVersion;
    }

    /// <summary>Applies one watch event to the cache; enqueues when the spec or the object's existence changed.</summary>
    internal void Apply(PreviewSandboxPoolWatchEvent watchEvent, ReconcileQueue? queue)
    {
        if (watchEvent.Object is not { } item || KeyOf(item) is not { } key)
        {
            return;
        }

        switch (watchEvent.Type)
        {
            case WatchEventType.Added or WatchEventType.Modified:
                var changed = !_pools.TryGetValue(key, out var previous) || previous.Metadata.Generation != item.Metadata.Generation
                    || previous.Metadata.Uid != item.Metadata.Uid;
                _pools[key] = item;
                if (changed)
                {
                    queue?.Add(key); // our own status writes come back as MODIFIED with the same generation: no extra pass
                }

                break;
            case WatchEventType.Deleted:
                _pools.TryRemove(key, out _);
                _deleted[key] = item;
                queue?.Add(key);
                break;
        }
    }

    /// <summary>Serves claims as a term does, without its loops (tests drive the passes themselves).</summary>
    internal void ServeClaims(ReconcileQueue queue)
    {
        lock (_lock)
        {
            _queue = queue;
        }
    }

    private static readonly string DefaultStartDigest = StartDigest(WarmStart(new PreviewSandboxPoolSpec()));

    /// <summary>The <see cref="SandboxLabels.PoolStart"/> value of a start: 12 hex digits of its SHA-256 (a valid label value everywhere).</summary>
    internal static string StartDigest(SandboxStartRequest start) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes($"{start.Command}\n{start.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)}")))[..12];

    /// <summary>What a warm sandbox runs: the pool's dev server, so a claim with the same start finds it booted.</summary>
    internal static SandboxStartRequest WarmStart(PreviewSandboxPoolSpec spec) =>
        new(string.IsNullOrWhiteSpace(spec.Command) ? null : spec.Command, spec.EffectivePort(), new Dictionary<string, string>());

    private async Task<SandboxInfo?> CreateWarmAsync(PreviewKey key, V1Alpha1PreviewSandboxPool pool, ISandboxProvider provider, string uid, CancellationToken cancellationToken)
    {
        var began = _time.GetTimestamp();
        var ttl = TimeSpan.FromSeconds(pool.Spec.EffectiveTtlSeconds());
        var start = WarmStart(pool.Spec);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [SandboxLabels.OwnerUid] = uid,
            [SandboxLabels.Namespace] = key.Namespace,
            [SandboxLabels.Name] = key.Name,
            [SandboxLabels.Pool] = key.Name,
            [SandboxLabels.PoolStart] = StartDigest(start),
        };
        string? id = null;
        try
        {
            // Each warm sandbox is a distinct creation: a fresh sequence number, so a provider that derives the sandbox
            // name from (owner, sequence) does not hand back an existing member.
            var sequence = Random.Shared.Next(1, int.MaxValue);
            var info = await provider.CreateAsync(
                new SandboxCreateRequest(uid, key.Namespace, key.Name, "pool-" + key.Name, string.IsNullOrEmpty(pool.Spec.Template) ? null : pool.Spec.Template,
                    start.Port, ttl, ttl, labels, sequence),
                cancellationToken).ConfigureAwait(false);
            id = info.Id;
            MarkVerified(id);
            await provider.StartAsync(id, start, cancellationToken).ConfigureAwait(false);
            var elapsed = _time.GetElapsedTime(began);
            _metrics?.PoolSandboxCreated(provider.Name, success: true, elapsed);
            _logger.PoolSandboxCreated(key.Namespace, key.Name, id, (long)elapsed.TotalMilliseconds);
            return info with { State = SandboxState.Running };
        }
        catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
        {
            _metrics?.PoolSandboxCreated(provider.Name, success: false, _time.GetElapsedTime(began));
            _logger.PoolSandboxCreateFailed(key.Namespace, key.Name, ex.Message);
            if (id is not null)
            {
                try
                {
                    await provider.DeleteAsync(id, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception cleanup) when (cleanup is SandboxProviderException or HttpRequestException)
                {
                    // Left for the next pass: it lists the sandbox as Pending and removes it once stuck.
                }
            }

            return null;
        }
    }

    private async Task<bool> IsDirtyAsync(ISandboxProvider provider, string id, CancellationToken cancellationToken)
    {
        if (!provider.Capabilities.HasFlag(SandboxCapabilities.FileManifest))
        {
            return true; // cannot tell what it holds: replace rather than hand someone else's files out
        }

        try
        {
            var manifest = await provider.GetFileManifestAsync(id, cancellationToken).ConfigureAwait(false);
            if (manifest is { Count: 0 })
            {
                MarkVerified(id);
                return false;
            }

            return manifest is not null;
        }
        catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
        {
            return true;
        }
    }

    private async Task DrainAsync(V1Alpha1PreviewSandboxPool gone, CancellationToken cancellationToken)
    {
        var providerName = string.IsNullOrEmpty(gone.Spec.Provider) ? _providers.DefaultProvider : gone.Spec.Provider;
        if (gone.Metadata.Uid is not { } uid || !_providers.TryGet(providerName, out var provider))
        {
            return;
        }

        foreach (var sandbox in await provider.ListAsync(uid, cancellationToken).ConfigureAwait(false))
        {
            if (IsClaimed(sandbox.Id))
            {
                continue;
            }

            await provider.DeleteAsync(sandbox.Id, cancellationToken).ConfigureAwait(false);
            _logger.PoolSandboxRemoved(gone.Metadata.NamespaceProperty, gone.Metadata.Name, sandbox.Id, "pool deleted");
        }
    }

    private async Task WriteStatusAsync(PreviewKey key, V1Alpha1PreviewSandboxPool pool, PreviewSandboxPoolStatus status, long claims, CancellationToken cancellationToken)
    {
        if (PoolPolicy.SameStatus(pool.Status, status))
        {
            return;
        }

        _fence.EnsureHeld($"write the status of PreviewSandboxPool {key}");
        await _client.PatchStatusAsync(pool, status, cancellationToken).ConfigureAwait(false);
        pool.Status = status;
        if (claims > 0)
        {
            _unreportedClaims.AddOrUpdate(key, 0, (_, n) => Math.Max(0, n - claims));
        }
    }

    private bool IsClaimed(string id)
    {
        if (_previews.FindBySandboxId(id) is not null)
        {
            return true;
        }

        lock (_lock)
        {
            return _claimed.ContainsKey(id);
        }
    }

    private bool IsVerified(string id)
    {
        lock (_lock)
        {
            return _verified.Contains(id);
        }
    }

    private void MarkVerified(string id)
    {
        lock (_lock)
        {
            _verified.Add(id);
        }
    }

    private void ForgetVanishedClaims(PreviewKey pool, HashSet<string> listed)
    {
        lock (_lock)
        {
            foreach (var (id, owner) in _claimed.Where(c => c.Value == pool && (!listed.Contains(c.Key) || _previews.FindBySandboxId(c.Key) is not null)).ToList())
            {
                // Gone at the provider, or recorded in its preview's status (the cache keeps it out of the pool from now on).
                _claimed.Remove(id);
                _verified.Remove(id);
            }
        }
    }

    private PoolView ViewOf(PreviewKey key, string provider, string? template)
    {
        if (!_views.TryGetValue(key, out var view))
        {
            view = new PoolView { Provider = provider };
            _views[key] = view;
        }

        view.Provider = provider;
        view.Template = string.IsNullOrEmpty(template) ? null : template;
        return view;
    }

    private static PreviewKey? KeyOf(V1Alpha1PreviewSandboxPool pool) =>
        pool.Metadata is { Name: { Length: > 0 } name, NamespaceProperty: { Length: > 0 } ns } ? new PreviewKey(ns, name) : null;

    private async Task RunTermAsync(CancellationToken token)
    {
        using var queue = new ReconcileQueue(_time);
        lock (_lock)
        {
            _queue = queue;
            _verified.Clear(); // another replica may have led meanwhile: members are checked again before they are handed out
            _views.Clear();
        }

        try
        {
            await Task.WhenAll(
                Guard("pool informer", () => InformAsync(queue, token)),
                Guard("pool worker", () => WorkAsync(queue, token)),
                Guard("pool sweep", () => SweepLoopAsync(token))).ConfigureAwait(false);
        }
        finally
        {
            lock (_lock)
            {
                _queue = null;
                _views.Clear();
            }

            _synced = false;
            _failures.Clear();
        }
    }

    private async Task Guard(string name, Func<Task> run)
    {
        try
        {
            await run().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Leadership lost or host stopping.
        }
        catch (Exception ex)
        {
            _logger.PoolComponentFailed(ex, name);
        }
    }

    private async Task InformAsync(ReconcileQueue queue, CancellationToken token)
    {
        string? resourceVersion = null;
        var failures = 0;
        while (!token.IsCancellationRequested)
        {
            TimeSpan? delay = null;
            try
            {
                if (resourceVersion is null)
                {
                    resourceVersion = await ListAsync(queue, token).ConfigureAwait(false);
                    if (resourceVersion is null)
                    {
                        _logger.PoolCrdMissing(CrdRecheckInterval);
                        await Task.Delay(CrdRecheckInterval, _time, token).ConfigureAwait(false);
                        continue;
                    }

                    failures = 0;
                }

                var started = _time.GetTimestamp();
                var events = 0;
                await foreach (var watchEvent in _client.WatchAsync(_watchNamespace, resourceVersion, WatchTimeout, token).ConfigureAwait(false))
                {
                    events++;
                    failures = 0;
                    Apply(watchEvent, queue);
                    resourceVersion = watchEvent.ResourceVersion is { Length: > 0 } rv ? rv : resourceVersion;
                }

                if (events == 0 && _time.GetElapsedTime(started) < PreviewSandboxInformer.MinimumWatchDuration)
                {
                    throw new InvalidOperationException($"The watch of {PoolGroupVersion.Plural} closed immediately without any event.");
                }
            }
            catch (ResourceVersionExpiredException)
            {
                resourceVersion = null;
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                failures++;
                resourceVersion = null;
                delay = _watchBackoff.Compute(failures);
                _logger.PoolWatchFailed(ex, failures, delay.Value);
            }

            if (delay is { } wait)
            {
                await Task.Delay(wait, _time, token).ConfigureAwait(false);
            }
        }
    }

    private async Task WorkAsync(ReconcileQueue queue, CancellationToken token)
    {
        var backoff = RetryBackoff.ForReconcile(_settings.MaxBackoff);
        while (!token.IsCancellationRequested)
        {
            var key = await queue.DequeueAsync(token).ConfigureAwait(false);
            try
            {
                var next = await ReconcileAsync(key, token).ConfigureAwait(false);
                _failures.TryRemove(key, out _);
                if (next != Timeout.InfiniteTimeSpan)
                {
                    queue.AddAfter(key, next > _settings.Resync ? _settings.Resync : next);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (LeadershipLapsedException)
            {
                break;
            }
            catch (Exception ex)
            {
                var failures = _failures.AddOrUpdate(key, 1, static (_, n) => n + 1);
                var delay = backoff.Compute(failures);
                _logger.PoolReconcileFailed(ex, key.Namespace, key.Name, failures, delay);
                queue.AddAfter(key, delay);
            }
            finally
            {
                queue.Done(key);
            }
        }
    }

    private async Task SweepLoopAsync(CancellationToken token)
    {
        using var timer = new PeriodicTimer(_options.SweepInterval, _time);
        while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
        {
            try
            {
                await SweepOnceAsync(token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _logger.PoolComponentFailed(ex, "pool sweep");
            }
        }
    }

    /// <summary>What claims read: a pool's provider, template and its ready, unclaimed members (oldest first).</summary>
    private sealed class PoolView
    {
        public required string Provider { get; set; }

        public string? Template { get; set; }

        public List<string> Ready { get; } = [];
    }
}
