using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Runtime;

/// <summary>
/// Full PreviewSandbox objects as <see cref="PreviewSandboxInformer"/> last saw them, keyed by namespace/name. The
/// informer stores an object before it enqueues its key, so a reconcile always reads at least what triggered it.
/// </summary>
public sealed class PreviewSandboxObjectStore : IPreviewSandboxLookup
{
    private readonly ConcurrentDictionary<ObjectKey, V1Alpha1PreviewSandbox> _objects = new();
    private volatile bool _synced;

    public int Count => _objects.Count;

    public bool TryGet(ObjectKey key, [NotNullWhen(true)] out V1Alpha1PreviewSandbox? resource)
    {
        resource = null;
        return _synced && _objects.TryGetValue(key, out resource);
    }

    public void Observe(V1Alpha1PreviewSandbox written)
    {
        if (Key(written) is not { } key)
        {
            return;
        }

        // Only replace what is there: a write racing the DELETED event must not bring a deleted object back.
        while (_objects.TryGetValue(key, out var current) && current.Metadata.Uid == written.Metadata.Uid && Compare(written, current) is null or > 0)
        {
            if (_objects.TryUpdate(key, written, current))
            {
                return;
            }
        }
    }

    /// <summary>The informer starts a new run: nothing is known until its first list.</summary>
    internal void Reset()
    {
        _synced = false;
        _objects.Clear();
    }

    /// <summary>The informer's full list.</summary>
    internal void Replace(IEnumerable<V1Alpha1PreviewSandbox> items)
    {
        var seen = new HashSet<ObjectKey>();
        foreach (var item in items)
        {
            if (Key(item) is { } key)
            {
                seen.Add(key);
                _objects[key] = item;
            }
        }

        foreach (var key in _objects.Keys)
        {
            if (!seen.Contains(key))
            {
                _objects.TryRemove(key, out _);
            }
        }

        _synced = true;
    }

    /// <summary>The informer's ADDED/MODIFIED event; an older copy than one this replica wrote itself is skipped.</summary>
    internal void Upsert(V1Alpha1PreviewSandbox item)
    {
        if (Key(item) is not { } key)
        {
            return;
        }

        _objects.AddOrUpdate(key, item, (_, current) => current.Metadata.Uid == item.Metadata.Uid && Compare(current, item) > 0 ? current : item);
    }

    internal void Remove(V1Alpha1PreviewSandbox item)
    {
        if (Key(item) is { } key && _objects.TryGetValue(key, out var current) && current.Metadata.Uid == item.Metadata.Uid)
        {
            _objects.TryRemove(new KeyValuePair<ObjectKey, V1Alpha1PreviewSandbox>(key, current));
        }
    }

    /// <summary>
    /// resourceVersions are opaque to clients, but every server we run against (etcd revisions, the test API server)
    /// issues increasing integers; null when one does not parse (then the incoming copy wins: last seen is newest).
    /// </summary>
    private static int? Compare(V1Alpha1PreviewSandbox a, V1Alpha1PreviewSandbox b) =>
        ulong.TryParse(a.Metadata.ResourceVersion, NumberStyles.None, CultureInfo.InvariantCulture, out var x)
        && ulong.TryParse(b.Metadata.ResourceVersion, NumberStyles.None, CultureInfo.InvariantCulture, out var y)
            ? x.CompareTo(y)
            : null;

    private static ObjectKey? Key(V1Alpha1PreviewSandbox item) =>
        item.Metadata is { Name: { Length: > 0 } name, NamespaceProperty: { Length: > 0 } ns } ? new ObjectKey(ns, name) : null;
}
