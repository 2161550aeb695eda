// The typed custom-object watch is [Obsolete] in KubernetesClient 21 but is the only typed watch with resourceVersion +
// bookmarks, as in KubernetesPreviewSandboxClient.
#pragma warning disable CS0618

using System.Collections.Concurrent;
using System.Net;
using k8s;
using k8s.Autorest;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;

namespace Midori.Operator.Runtime;

/// <summary>
/// Every PreviewSandboxPolicy, kept by list + watch on every replica (the HTTP API enforces policy on followers too),
/// with the informer's loop shape: list → watch from the list's resourceVersion with bookmarks → relist on 410 or a
/// broken stream → <see cref="RetryBackoff.ForWatch"/> on errors. The CRD not being installed counts as "no policies"
/// (the behaviour without policies is unchanged) and is looked for again every <see cref="CrdRecheckInterval"/>.
/// Namespace labels (for the selectors) are read on demand and kept for <see cref="NamespaceLabelTtl"/>.
/// </summary>
public sealed class PreviewSandboxPolicyCache : BackgroundService
{
    public static readonly TimeSpan CrdRecheckInterval = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan NamespaceLabelTtl = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan WatchTimeout = TimeSpan.FromMinutes(5);

    private readonly IKubernetes _kubernetes;
    private readonly TimeProvider _time;
    private readonly ILogger<PreviewSandboxPolicyCache> _logger;
    private readonly RetryBackoff _backoff = RetryBackoff.ForWatch();
    private readonly ConcurrentDictionary<string, V1Alpha1PreviewSandboxPolicy> _policies = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (IReadOnlyDictionary<string, string> Labels, long ReadAt)> _namespaces = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _resourceVersion;

    public PreviewSandboxPolicyCache(IKubernetes kubernetes, TimeProvider time, ILogger<PreviewSandboxPolicyCache> logger)
    {
        _kubernetes = kubernetes;
        _time = time;
        _logger = logger;
    }

    /// <summary>Completes once the policies have been listed (or the CRD was found missing) for the first time.</summary>
    public Task Synced => _synced.Task;

    public bool IsSynced => _synced.Task.IsCompleted;

    /// <summary>The policies as last seen (shared objects: never mutate them).</summary>
    public IReadOnlyCollection<V1Alpha1PreviewSandboxPolicy> Policies => [.. _policies.Values];

    /// <summary>
    /// A namespace's labels plus <c>kubernetes.io/metadata.name</c> (which the API server sets on every namespace).
    /// A namespace that cannot be found has only that one. Other errors propagate: the caller cannot decide without them.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, string>> GetNamespaceLabelsAsync(string @namespace, CancellationToken cancellationToken)
    {
        if (_namespaces.TryGetValue(@namespace, out var cached) && _time.GetElapsedTime(cached.ReadAt) < NamespaceLabelTtl)
        {
            return cached.Labels;
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            var ns = await _kubernetes.CoreV1.ReadNamespaceAsync(@namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var (key, value) in ns.Metadata?.Labels ?? new Dictionary<string, string>())
            {
                labels[key] = value;
            }
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
        {
            // Unknown namespace (or a development server without Namespace objects): the name label still applies.
        }

        labels["kubernetes.io/metadata.name"] = @namespace;
        _namespaces[@namespace] = (labels, _time.GetTimestamp());
        return labels;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            TimeSpan? delay = null;
            try
            {
                if (_resourceVersion is null)
                {
                    _resourceVersion = await ListAsync(stoppingToken).ConfigureAwait(false);
                    _synced.TrySetResult();
                    failures = 0;
                }

                await WatchAsync(_resourceVersion, () => failures = 0, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
            {
                // No PreviewSandboxPolicy CRD: no policies. Look again later (installing the CRD needs no restart).
                if (!_policies.IsEmpty || !IsSynced)
                {
                    _logger.PolicyCrdMissing(CrdRecheckInterval);
                }

                _policies.Clear();
                _resourceVersion = null;
                _synced.TrySetResult();
                delay = CrdRecheckInterval;
            }
            catch (Exception ex)
            {
                // 410 Expired, a broken stream or an API error: relist after a backoff (policies are few; a relist is cheap).
                failures++;
                _resourceVersion = null;
                delay = _backoff.Compute(failures);
                _logger.PolicyWatchFailed(ex, failures, delay.Value);
            }

            if (delay is { } wait)
            {
                try
                {
                    await Task.Delay(wait, _time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    private async Task<string> ListAsync(CancellationToken cancellationToken)
    {
        var list = await _kubernetes.CustomObjects.ListClusterCustomObjectAsync<V1Alpha1PreviewSandboxPolicyList>(
            GroupVersion.Group, GroupVersion.Version, PolicyGroupVersion.Plural, cancellationToken: cancellationToken).ConfigureAwait(false);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in list.Items ?? [])
        {
            if (item.Metadata?.Name is { Length: > 0 } name)
            {
                _policies[name] = item;
                seen.Add(name);
            }
        }

        foreach (var name in _policies.Keys.Where(n => !seen.Contains(n)).ToList())
        {
            _policies.TryRemove(name, out _);
        }

        _logger.PoliciesListed(seen.Count);
        return list.Metadata?.ResourceVersion ?? string.Empty;
    }

    private async Task WatchAsync(string resourceVersion, Action onEvent, CancellationToken cancellationToken)
    {
        using var watchCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Exception? streamError = null;
        var response = _kubernetes.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(
            GroupVersion.Group, GroupVersion.Version, PolicyGroupVersion.Plural,
            allowWatchBookmarks: true, resourceVersion: resourceVersion, timeoutSeconds: (int)WatchTimeout.TotalSeconds, watch: true,
            cancellationToken: watchCts.Token);
        var started = _time.GetTimestamp();
        var events = 0;
        try
        {
            await foreach (var (type, item) in response.WatchAsync<V1Alpha1PreviewSandboxPolicy, object>(
                ex =>
                {
                    // ERROR events (e.g. 410 Expired) and undecodable lines arrive here: stop, and relist below.
                    streamError ??= ex;
                    watchCts.Cancel();
                }, watchCts.Token).ConfigureAwait(false))
            {
                events++;
                onEvent();
                if (item?.Metadata?.ResourceVersion is { Length: > 0 } rv)
                {
                    _resourceVersion = rv;
                }

                switch (type)
                {
                    case WatchEventType.Added or WatchEventType.Modified when item?.Metadata?.Name is { Length: > 0 } name:
                        _policies[name] = item;
                        break;
                    case WatchEventType.Deleted when item?.Metadata?.Name is { Length: > 0 } name:
                        _policies.TryRemove(name, out _);
                        break;
                    case WatchEventType.Error:
                        throw new KubernetesException($"Watch of {PolicyGroupVersion.Plural} returned an ERROR event");
                }
            }
        }
        catch (OperationCanceledException) when (streamError is not null && !cancellationToken.IsCancellationRequested)
        {
            throw new KubernetesException($"Watch of {PolicyGroupVersion.Plural} failed: {streamError.Message}");
        }

        if (streamError is not null)
        {
            throw new KubernetesException($"Watch of {PolicyGroupVersion.Plural} failed: {streamError.Message}");
        }

        if (events == 0 && _time.GetElapsedTime(started) < PreviewSandboxInformer.MinimumWatchDuration)
        {
            throw new InvalidOperationException($"The watch of {PolicyGroupVersion.Plural} closed immediately without any event.");
        }
    }
}
