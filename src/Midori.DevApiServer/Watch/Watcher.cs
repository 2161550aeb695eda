using System.Globalization;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Midori.DevApiServer.Storage;

namespace Midori.DevApiServer.Watch;

/// <summary>
/// One open watch: a filter plus a bounded channel of serialized event lines. Writers never block on it: if a slow
/// client lets the channel fill up, the watch is terminated (the real server drops such watchers too) and the client re-watches.
/// </summary>
public sealed class Watcher
{
    private readonly Channel<string> _lines;

    private readonly Func<JsonObject, bool, JsonObject>? _render;
    private bool _rendered;

    /// <param name="fields">Field selector; watches apply it like lists do.</param>
    /// <param name="render">Turns each event's object into what the client asked for (a one-row Table; true for the first event).</param>
    public Watcher(ResourceType type, string? ns, LabelSelector selector, int capacity, FieldSelector? fields = null, Func<JsonObject, bool, JsonObject>? render = null)
    {
        Type = type;
        Namespace = ns;
        Selector = selector;
        Fields = fields ?? FieldSelector.Everything;
        _render = render;
        _lines = Channel.CreateBounded<string>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    }

    public ResourceType Type { get; }

    public string? Namespace { get; }

    public LabelSelector Selector { get; }

    public FieldSelector Fields { get; }

    public ChannelReader<string> Lines => _lines.Reader;

    public bool IsClosed { get; private set; }

    /// <summary>Delivers a stored event, translated for label-filtered watches (entering the selection = ADDED, leaving it = DELETED).</summary>
    public void Deliver(StoredEvent e)
    {
        if (e.Type.StorageKey != Type.StorageKey || (Namespace is not null && e.Namespace != Namespace))
        {
            return;
        }

        var matchesNow = Matches(e.Object);
        var matchedBefore = e.Previous is not null && Matches(e.Previous);
        var type = e.Kind switch
        {
            WatchEventKind.Added => matchesNow ? "ADDED" : null,
            WatchEventKind.Deleted => matchesNow ? "DELETED" : null,
            _ when matchesNow && matchedBefore => "MODIFIED",
            _ when matchesNow => "ADDED",
            _ when matchedBefore => "DELETED",
            _ => null,
        };
        if (type is not null)
        {
            Write(type, Present(e.Object));
        }
    }

    public bool Matches(JsonObject obj) => Selector.Matches(ObjectMeta.Labels(obj)) && Fields.Matches(obj);

    public void DeliverInitial(JsonObject obj) => Write("ADDED", Present(obj));

    /// <summary>A bookmark carries only the resourceVersion up to which this watcher has been sent every event.</summary>
    public void DeliverBookmark(long resourceVersion) => Write("BOOKMARK", new JsonObject
    {
        ["apiVersion"] = Type.ApiVersion,
        ["kind"] = Type.Kind,
        ["metadata"] = new JsonObject { ["resourceVersion"] = resourceVersion.ToString(CultureInfo.InvariantCulture) },
    });

    public void DeliverError(JsonObject status)
    {
        Write("ERROR", status);
        Close();
    }

    public void Close()
    {
        IsClosed = true;
        _lines.Writer.TryComplete();
    }

    private JsonObject Present(JsonObject stored)
    {
        var copy = (JsonObject)stored.DeepClone();
        copy["apiVersion"] = Type.ApiVersion;
        return JsonOrdering.Canonicalize(copy);
    }

    private void Write(string type, JsonObject obj)
    {
        if (IsClosed)
        {
            return;
        }

        if (_render is not null && type is not ("BOOKMARK" or "ERROR"))
        {
            obj = _render(obj, !_rendered);
            _rendered = true;
        }

        var line = new JsonObject { ["type"] = type, ["object"] = obj }.ToJsonString();
        if (!_lines.Writer.TryWrite(line))
        {
            Close();
        }
    }
}
