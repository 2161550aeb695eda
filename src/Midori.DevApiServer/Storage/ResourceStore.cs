using System.Globalization;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Midori.DevApiServer.Watch;

namespace Midori.DevApiServer.Storage;

/// <summary>
/// The "etcd" of the test server: current objects, one global resourceVersion counter across all kinds, and the
/// event history that doubles as the watch cache. Every read-modify-write runs under <see cref="Sync"/>, so
/// resourceVersions are handed out and published to watchers in strictly increasing order.
/// </summary>
public sealed class ResourceStore(WatchHub hub, int historyCapacity)
{
    private readonly Dictionary<string, (ResourceType Type, JsonObject Object)> _objects = new(StringComparer.Ordinal);
    private readonly LinkedList<StoredEvent> _history = new();
    private readonly Channel<string> _deletedUids = Channel.CreateUnbounded<string>();

    // History is complete for every resourceVersion greater than _historyStart.
    private long _historyStart;
    private long _compactedRevision;

    /// <summary>The single lock guarding all state; callers hold it for a whole request's read-modify-write.</summary>
    public object Sync { get; } = new();

    public long CurrentResourceVersion { get; private set; }

    /// <summary>Uids of objects that are gone for good, for the garbage collector.</summary>
    public ChannelReader<string> DeletedUids => _deletedUids.Reader;

    public JsonObject? Get(ResourceType type, string? ns, string name)
        => _objects.TryGetValue(Key(type, ns, name), out var entry) ? entry.Object : null;

    public List<JsonObject> List(ResourceType type, string? ns)
        => [.. _objects.Values.Where(e => Matches(e.Type, ns, e.Object, type)).Select(e => e.Object).OrderBy(SortKey, StringComparer.Ordinal)];

    public IEnumerable<(ResourceType Type, JsonObject Object)> All() => _objects.Values;

    public bool UidExists(string uid) => _objects.Values.Any(e => ObjectMeta.Uid(e.Object) == uid);

    /// <summary>Stores a new or changed object under the next resourceVersion and publishes the event.</summary>
    public JsonObject Commit(ResourceType type, JsonObject obj, JsonObject? previous)
    {
        var committed = Stamp(obj);
        _objects[Key(type, ObjectMeta.Namespace(committed), ObjectMeta.Name(committed)!)] = (type, committed);
        Record(new StoredEvent(CurrentResourceVersion, previous is null ? WatchEventKind.Added : WatchEventKind.Modified, type, committed, previous));
        return committed;
    }

    /// <summary>Removes an object; the DELETED event carries its last stored state with the deletion's resourceVersion.</summary>
    public JsonObject Remove(ResourceType type, JsonObject current)
    {
        _objects.Remove(Key(type, ObjectMeta.Namespace(current), ObjectMeta.Name(current)!));
        var tombstone = Stamp(current);
        Record(new StoredEvent(CurrentResourceVersion, WatchEventKind.Deleted, type, tombstone, current));
        if (ObjectMeta.Uid(current) is { } uid)
        {
            _deletedUids.Writer.TryWrite(uid);
        }

        return tombstone;
    }

    /// <summary>
    /// Compacts storage at the current resourceVersion (older versions become unreadable from "etcd"). Unless
    /// <paramref name="keepWatchCache"/> is set, the watch cache history is dropped too.
    /// </summary>
    public void Compact(bool keepWatchCache)
    {
        _compactedRevision = CurrentResourceVersion;
        if (!keepWatchCache)
        {
            _history.Clear();
            _historyStart = CurrentResourceVersion;
        }
    }

    /// <summary>Events newer than <paramref name="resourceVersion"/>, or null when that version is outside the window.</summary>
    public IEnumerable<StoredEvent>? EventsSince(long resourceVersion, bool watchCacheEnabled)
    {
        var oldest = watchCacheEnabled ? _historyStart : Math.Max(_historyStart, _compactedRevision);
        return resourceVersion < oldest ? null : _history.Where(e => e.ResourceVersion > resourceVersion).ToList();
    }

    /// <summary>The oldest resourceVersion a watch can start from, for "too old resource version" messages.</summary>
    public long OldestWatchableVersion => _historyStart + 1;

    /// <summary>Objects of a type as they were at <paramref name="resourceVersion"/>, or null when it is compacted.</summary>
    public List<JsonObject>? ListAt(ResourceType type, string? ns, long resourceVersion)
    {
        if (resourceVersion < _compactedRevision || resourceVersion < _historyStart)
        {
            return null;
        }

        // Undo newer events, newest first.
        var state = List(type, ns).ToDictionary(SortKey, StringComparer.Ordinal);
        for (var node = _history.Last; node is not null && node.Value.ResourceVersion > resourceVersion; node = node.Previous)
        {
            var e = node.Value;
            if (!Matches(e.Type, ns, e.Object, type))
            {
                continue;
            }

            if (e.Kind == WatchEventKind.Added)
            {
                state.Remove(SortKey(e.Object));
            }
            else
            {
                state[SortKey(e.Object)] = e.Previous!;
            }
        }

        return [.. state.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Value)];
    }

    private JsonObject Stamp(JsonObject obj)
    {
        var copy = JsonOrdering.Canonicalize(obj);
        CurrentResourceVersion++;
        ObjectMeta.Of(copy)["resourceVersion"] = CurrentResourceVersion.ToString(CultureInfo.InvariantCulture);
        return copy;
    }

    private void Record(StoredEvent e)
    {
        _history.AddLast(e);
        while (_history.Count > historyCapacity)
        {
            _historyStart = _history.First!.Value.ResourceVersion;
            _history.RemoveFirst();
        }

        hub.Publish(e);
    }

    private static bool Matches(ResourceType storedType, string? ns, JsonObject obj, ResourceType wanted)
        => storedType.StorageKey == wanted.StorageKey && (ns is null || ObjectMeta.Namespace(obj) == ns);

    private static string SortKey(JsonObject obj) => $"{ObjectMeta.Namespace(obj)}/{ObjectMeta.Name(obj)}";

    private static string Key(ResourceType type, string? ns, string name) => $"{type.StorageKey}/{ns}/{name}";
}
