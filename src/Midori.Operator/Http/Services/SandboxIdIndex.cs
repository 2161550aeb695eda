using System.Collections.Concurrent;
using k8s;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Persistence;
using Midori.Operator.Runtime;

namespace Midori.Operator.Http.Services;

/// <summary>
/// Finds the preview a sandbox id belongs to, for the seed-compatible routes (whose front ends address a preview by
/// <c>sandboxId</c>). Follows the <see cref="PreviewSandboxCache"/>: every id a preview has had while this replica
/// watched it is remembered (up to <see cref="SeedCompatOptions.RememberedOldSandboxIds"/> per preview), so a front
/// end still holding the id from before a recreation keeps working; after a restart, the current id and
/// <c>status.lastRecreation.oldSandboxId</c> are known. Ids of deleted previews are forgotten.
/// </summary>
public sealed class SandboxIdIndex : BackgroundService
{
    private readonly PreviewSandboxCache _cache;
    private readonly int _remember;
    private readonly ConcurrentDictionary<string, PreviewKey> _byId = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly Dictionary<PreviewKey, List<string>> _idsByPreview = [];

    public SandboxIdIndex(PreviewSandboxCache cache, IOptions<SeedCompatOptions> options)
    {
        _cache = cache;
        _remember = options.Value.RememberedOldSandboxIds;
    }

    /// <summary>The preview in <paramref name="namespace"/> that has or had <paramref name="sandboxId"/>; null when none (or it is in another namespace).</summary>
    public PreviewKey? Find(string @namespace, string sandboxId)
    {
        if (_byId.TryGetValue(sandboxId, out var key) && key.Namespace == @namespace && _cache.TryGet(key, out _))
        {
            return key;
        }

        // The index follows the cache asynchronously: a preview that just got its sandbox may only be in the cache yet.
        foreach (var resource in _cache.All)
        {
            if (resource.Metadata.NamespaceProperty == @namespace
                && (resource.Status?.SandboxId == sandboxId || resource.Status?.LastRecreation?.OldSandboxId == sandboxId))
            {
                return new PreviewKey(@namespace, resource.Metadata.Name);
            }
        }

        return null;
    }

    /// <summary>Records the ids of one object (the current one and the one its last recreation replaced).</summary>
    public void Observe(V1Alpha1PreviewSandbox resource)
    {
        var key = new PreviewKey(resource.Metadata.NamespaceProperty, resource.Metadata.Name);
        Remember(key, resource.Status?.LastRecreation?.OldSandboxId);
        Remember(key, resource.Status?.SandboxId);
    }

    public void Forget(PreviewKey key)
    {
        lock (_gate)
        {
            if (_idsByPreview.Remove(key, out var ids))
            {
                foreach (var id in ids)
                {
                    _byId.TryRemove(new KeyValuePair<string, PreviewKey>(id, key));
                }
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var subscription = _cache.Subscribe(key: null, capacity: 16_384);
        foreach (var resource in _cache.All)
        {
            Observe(resource);
        }

        try
        {
            await foreach (var change in subscription.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                if (change.Type == WatchEventType.Deleted || change.Object is null)
                {
                    Forget(change.Key);
                }
                else
                {
                    Observe(change.Object);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private void Remember(PreviewKey key, string? sandboxId)
    {
        if (string.IsNullOrEmpty(sandboxId))
        {
            return;
        }

        lock (_gate)
        {
            if (!_idsByPreview.TryGetValue(key, out var ids))
            {
                _idsByPreview[key] = ids = [];
            }

            if (ids.Contains(sandboxId, StringComparer.Ordinal))
            {
                return;
            }

            ids.Add(sandboxId);
            _byId[sandboxId] = key;
            while (ids.Count > _remember + 1)
            {
                _byId.TryRemove(new KeyValuePair<string, PreviewKey>(ids[0], key));
                ids.RemoveAt(0);
            }
        }
    }
}
