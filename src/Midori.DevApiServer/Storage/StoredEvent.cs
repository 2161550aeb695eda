using System.Text.Json.Nodes;

namespace Midori.DevApiServer.Storage;

public enum WatchEventKind
{
    Added,
    Modified,
    Deleted,
}

/// <summary>
/// One committed change, kept in the watch-cache history. <see cref="Object"/> is the state after the change
/// (for deletions: the last stored state stamped with the deletion's resourceVersion, as etcd reports it);
/// <see cref="Previous"/> is the state before, used to rebuild lists at an older resourceVersion and for label-filtered watches.
/// Committed objects are never mutated.
/// </summary>
public sealed record StoredEvent(long ResourceVersion, WatchEventKind Kind, ResourceType Type, JsonObject Object, JsonObject? Previous)
{
    public string? Namespace => (string?)Object["metadata"]?["namespace"];

    public string Name => (string?)Object["metadata"]?["name"] ?? string.Empty;
}
