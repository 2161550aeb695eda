using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using k8s;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Http.Contracts;
using Midori.Operator.Persistence;
using Midori.Operator.Runtime;

namespace Midori.Operator.Http.Services;

/// <summary>Event names on the <c>/events</c> stream.</summary>
public static class PreviewEventTypes
{
    /// <summary>The preview's state changed (phase, URL, sandbox id, expiry, conditions): <see cref="PreviewStatusEvent"/>.</summary>
    public const string Status = "status";

    /// <summary>A (re)creation advanced: <see cref="PreviewProgressEvent"/> (creating → transferring → updating → complete).</summary>
    public const string Progress = "progress";

    /// <summary>A recreation started, completed or failed (what the editor shows as start, complete and error): <see cref="PreviewProgressEvent"/>.</summary>
    public const string Recreation = "recreation";

    /// <summary>Heads-up before an idle or TTL cut: <see cref="PreviewExpiryWarningEvent"/> (once per cut; again when activity moves the deadline).</summary>
    public const string ExpiryWarning = "expiry-warning";

    /// <summary>The preview's resource is gone; the stream ends.</summary>
    public const string Deleted = "deleted";
}

/// <summary>One formatted server-sent event, shared by every connection that receives it.</summary>
/// <param name="Signature">Status events only: what a client must see change (dedupes heartbeat-only updates).</param>
public sealed record PreviewEvent(string Type, string Id, string Data, string? Signature = null);

/// <summary>Data of a <c>status</c> event: the fields clients react to, plus the status document the existing front ends read.</summary>
public sealed record PreviewStatusEvent(
    string Namespace,
    string Name,
    string? Phase,
    bool Ready,
    string? SandboxId,
    string? PreviewUrl,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? IdleDeadline,
    int Recreations,
    PreviewLastRecreation? LastRecreation,
    IReadOnlyList<ConditionSummary> Conditions,
    PreviewStatusResponse Document);

/// <summary>
/// Data of an <c>expiry-warning</c> event: the sandbox will be paused or deleted in <see cref="RemainingSeconds"/>
/// (at <see cref="CutAt"/>) by the idle or TTL cut, unless new activity moves an idle deadline.
/// </summary>
/// <param name="Cut"><c>Idle</c> or <c>TTL</c>.</param>
/// <param name="Outcome"><c>pause</c> (a wake resumes it) or <c>delete</c> (a wake recreates it).</param>
public sealed record PreviewExpiryWarningEvent(
    string Namespace,
    string Name,
    string Cut,
    DateTimeOffset? CutAt,
    int RemainingSeconds,
    string Outcome,
    string Message,
    DateTimeOffset? At)
{
    public const string Pause = "pause";
    public const string Delete = "delete";
}

/// <summary>Data of the <c>deleted</c> event, the last one of a stream.</summary>
public sealed record PreviewDeletedEvent(string Namespace, string Name, string Message);

public sealed record PreviewLastRecreation(string? Reason, DateTimeOffset? Time, string? OldSandboxId, string? NewSandboxId);

/// <summary>
/// A lifecycle notification of the reconciler (which runs on the leader only) as it travels to every replica.
/// <see cref="Kind"/>: <c>progress</c> (with <see cref="Stage"/> and <see cref="Percent"/>), <c>recreation-started</c>,
/// <c>recreation-completed</c> (with <see cref="Success"/>/<see cref="Error"/>), <c>expiry-warning</c> (with
/// <see cref="Cut"/>, <see cref="CutAt"/>, <see cref="RemainingSeconds"/>, <see cref="Outcome"/>).
/// </summary>
public sealed record ProgressMessage(
    string Namespace,
    string Name,
    string Kind,
    string? Stage = null,
    int? Percent = null,
    bool Recreating = false,
    string? Reason = null,
    string? OldSandboxId = null,
    string? NewSandboxId = null,
    bool? Success = null,
    string? Error = null,
    DateTimeOffset? At = null,
    string? Cut = null,
    DateTimeOffset? CutAt = null,
    int? RemainingSeconds = null,
    string? Outcome = null)
{
    public const string ProgressKind = "progress";
    public const string ExpiryWarningKind = "expiry-warning";
    public const string RecreationStartedKind = "recreation-started";
    public const string RecreationCompletedKind = "recreation-completed";

    [JsonIgnore]
    public PreviewKey Key => new(Namespace, Name);
}

/// <summary>Data of <c>progress</c> and <c>recreation</c> events (step, message, percentage: the editor's recreation progress).</summary>
public sealed record PreviewProgressEvent(
    string Namespace,
    string Name,
    string Step,
    int? Percentage,
    string Message,
    bool Recreating,
    string? Reason,
    string? OldSandboxId,
    string? NewSandboxId,
    bool? Success,
    string? Error,
    DateTimeOffset? At);

/// <summary>
/// Fan-out of preview events to server-sent-event connections on this replica. Status events come from the
/// <see cref="PreviewSandboxCache"/> watch (every replica has one), progress events from
/// <see cref="PreviewProgressRelay"/> (the leader's reconciler, relayed through PostgreSQL NOTIFY when the store is
/// configured). Every event is formatted once per change. Publishing never waits: each connection has a bounded
/// buffer, and a connection whose buffer is full is dropped (the client reconnects with Last-Event-ID and gets the
/// current state), so one slow client never holds up the hub or the others.
/// </summary>
public sealed class PreviewEventHub : BackgroundService
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly PreviewSandboxCache _cache;
    private readonly IOptionsMonitor<PreviewEventsOptions> _options;
    private readonly TimeProvider _time;
    private readonly ILogger<PreviewEventHub> _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<PreviewKey, PreviewEventConnection[]> _connections = [];
    private readonly ConcurrentDictionary<PreviewKey, PreviewEvent> _lastProgress = new();
    private long _dropped;

    public PreviewEventHub(PreviewSandboxCache cache, IOptionsMonitor<PreviewEventsOptions> options, TimeProvider time, ILogger<PreviewEventHub> logger)
    {
        _cache = cache;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Connections dropped because their buffer was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Open connections (all previews).</summary>
    public int ConnectionCount
    {
        get
        {
            lock (_gate)
            {
                return _connections.Values.Sum(c => c.Length);
            }
        }
    }

    /// <summary>Starts receiving the events of <paramref name="key"/>; dispose the connection to stop.</summary>
    public PreviewEventConnection Connect(PreviewKey key)
    {
        var connection = new PreviewEventConnection(this, key, _options.CurrentValue.ClientBufferSize);
        lock (_gate)
        {
            _connections[key] = _connections.TryGetValue(key, out var existing) ? [.. existing, connection] : [connection];
        }

        return connection;
    }

    /// <summary>The latest progress event of a preview, for clients that connect or reconnect mid-provisioning.</summary>
    public PreviewEvent? LastProgress(PreviewKey key) => _lastProgress.GetValueOrDefault(key);

    /// <summary>Publishes a lifecycle notification to this replica's connections. Never blocks.</summary>
    public void Publish(ProgressMessage message)
    {
        var key = message.Key;
        var resourceVersion = _cache.TryGet(key, out var resource) ? resource.Metadata.ResourceVersion : "0";
        if (message.Kind == ProgressMessage.ExpiryWarningKind)
        {
            // Not kept as the last progress: it is about the running sandbox, not a (re)creation a reconnect resumes.
            Fanout(key, ExpiryWarningEvent(message, resourceVersion));
            return;
        }

        var (type, step, text) = message.Kind switch
        {
            ProgressMessage.RecreationStartedKind => (PreviewEventTypes.Recreation, "started", $"Recreating the sandbox ({message.Reason})"),
            ProgressMessage.RecreationCompletedKind when message.Success == true => (PreviewEventTypes.Recreation, "completed", "Sandbox recreated"),
            ProgressMessage.RecreationCompletedKind => (PreviewEventTypes.Recreation, "failed", $"Recreation failed: {message.Error}"),
            _ => (PreviewEventTypes.Progress, message.Stage ?? "creating", StageMessage(message.Stage, message.Recreating)),
        };
        var data = new PreviewProgressEvent(message.Namespace, message.Name, step, message.Percent, text, message.Recreating, message.Reason,
            message.OldSandboxId, message.NewSandboxId, message.Success, message.Error, message.At);
        var preview = new PreviewEvent(type, $"{resourceVersion}.{type}.{step}", JsonSerializer.Serialize(data, Json));
        _lastProgress[key] = preview;
        Fanout(key, preview);
    }

    /// <summary>A status event for the object as it is now.</summary>
    public PreviewEvent StatusEvent(V1Alpha1PreviewSandbox resource)
    {
        var status = resource.Status;
        var document = PreviewStatusMapper.Map(resource, _time.GetUtcNow());
        var last = status?.LastRecreation is { } r
            ? new PreviewLastRecreation(r.Reason, PreviewStatusMapper.ToOffset(r.Time), r.OldSandboxId, r.NewSandboxId)
            : null;
        var data = new PreviewStatusEvent(resource.Metadata.NamespaceProperty, resource.Metadata.Name, status?.Phase, document.Ready, status?.SandboxId,
            status?.PreviewUrl, PreviewStatusMapper.ToOffset(status?.ExpiresAt), PreviewStatusMapper.ToOffset(status?.IdleDeadline),
            status?.Recreations ?? 0, last, document.Conditions, document);

        // What a client must see change; remaining minutes, activity times and heartbeat annotations are not in it.
        var signature = JsonSerializer.Serialize(new
        {
            data.Phase,
            data.Ready,
            data.SandboxId,
            data.PreviewUrl,
            data.ExpiresAt,
            data.Recreations,
            data.LastRecreation,
            data.Conditions,
            document.Suspended,
        }, Json);
        return new PreviewEvent(PreviewEventTypes.Status, resource.Metadata.ResourceVersion ?? "0", JsonSerializer.Serialize(data, Json), signature);
    }

    private static PreviewEvent ExpiryWarningEvent(ProgressMessage message, string? resourceVersion)
    {
        var cut = message.Cut ?? ExpiryCuts.Idle;
        var outcome = message.Outcome ?? PreviewExpiryWarningEvent.Delete;
        var remaining = message.RemainingSeconds ?? 0;
        var what = outcome == PreviewExpiryWarningEvent.Pause ? "paused" : "deleted";
        var text = cut == ExpiryCuts.Ttl
            ? $"The sandbox reaches its TTL in {remaining}s and will be {what}"
            : $"The sandbox will be {what} in {remaining}s unless there is activity (idle timeout)";
        var data = new PreviewExpiryWarningEvent(message.Namespace, message.Name, cut, message.CutAt, remaining, outcome, text, message.At);
        var at = message.CutAt?.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "0";
        return new PreviewEvent(PreviewEventTypes.ExpiryWarning, $"{resourceVersion ?? "0"}.{PreviewEventTypes.ExpiryWarning}.{at}", JsonSerializer.Serialize(data, Json));
    }

    public static PreviewEvent DeletedEvent(PreviewKey key) =>
        new(PreviewEventTypes.Deleted, "deleted", JsonSerializer.Serialize(new PreviewDeletedEvent(key.Namespace, key.Name, "The preview was deleted"), Json));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Every change of every preview; a status event is built only for previews somebody is watching.
        using var subscription = _cache.Subscribe(key: null, capacity: 16_384);
        try
        {
            await foreach (var change in subscription.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                if (change.Type == WatchEventType.Deleted || change.Object is null)
                {
                    _lastProgress.TryRemove(change.Key, out _);
                    if (HasConnections(change.Key))
                    {
                        Fanout(change.Key, DeletedEvent(change.Key));
                    }

                    continue;
                }

                if (HasConnections(change.Key))
                {
                    Fanout(change.Key, StatusEvent(change.Object));
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }

        lock (_gate)
        {
            foreach (var connection in _connections.Values.SelectMany(c => c))
            {
                connection.Complete();
            }
        }
    }

    internal void Disconnect(PreviewEventConnection connection)
    {
        lock (_gate)
        {
            if (_connections.TryGetValue(connection.Key, out var existing))
            {
                var remaining = existing.Where(c => !ReferenceEquals(c, connection)).ToArray();
                if (remaining.Length == 0)
                {
                    _connections.Remove(connection.Key);
                }
                else
                {
                    _connections[connection.Key] = remaining;
                }
            }
        }

        connection.Complete();
    }

    internal void OnDropped(PreviewEventConnection connection)
    {
        Interlocked.Increment(ref _dropped);
        _logger.EventClientDropped(connection.Key.Namespace, connection.Key.Name, _options.CurrentValue.ClientBufferSize);
    }

    private bool HasConnections(PreviewKey key)
    {
        lock (_gate)
        {
            return _connections.ContainsKey(key);
        }
    }

    private void Fanout(PreviewKey key, PreviewEvent preview)
    {
        PreviewEventConnection[]? targets;
        lock (_gate)
        {
            _connections.TryGetValue(key, out targets);
        }

        foreach (var connection in targets ?? [])
        {
            connection.Offer(preview);
        }
    }

    private static string StageMessage(string? stage, bool recreating) => stage switch
    {
        Controllers.ProvisioningStages.Creating => recreating ? "Creating a new sandbox" : "Creating the sandbox",
        Controllers.ProvisioningStages.Transferring => "Transferring files to the sandbox",
        Controllers.ProvisioningStages.Updating => "Starting the dev server and publishing the preview URL",
        Controllers.ProvisioningStages.Complete => recreating ? "Sandbox recreated" : "Sandbox ready",
        _ => stage ?? string.Empty,
    };
}

/// <summary>One client's stream of events: a bounded buffer the hub writes into without waiting.</summary>
public sealed class PreviewEventConnection : IDisposable
{
    private readonly PreviewEventHub _hub;
    private readonly Channel<PreviewEvent> _channel;
    private int _dropped;

    internal PreviewEventConnection(PreviewEventHub hub, PreviewKey key, int capacity)
    {
        _hub = hub;
        Key = key;
        _channel = Channel.CreateBounded<PreviewEvent>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait, // with TryWrite: a full buffer reports false instead of waiting
            SingleReader = true,
            SingleWriter = false,
        });
    }

    public PreviewKey Key { get; }

    public ChannelReader<PreviewEvent> Reader => _channel.Reader;

    /// <summary>True when the hub dropped this connection because its buffer was full.</summary>
    public bool WasDropped => Volatile.Read(ref _dropped) == 1;

    public void Dispose() => _hub.Disconnect(this);

    internal void Offer(PreviewEvent preview)
    {
        if (_channel.Writer.TryWrite(preview) || Volatile.Read(ref _dropped) == 1)
        {
            return;
        }

        // Full (the client reads too slowly) or already completed: end this stream rather than wait or lose events silently.
        if (_channel.Writer.TryComplete() && Interlocked.Exchange(ref _dropped, 1) == 0)
        {
            _hub.OnDropped(this);
        }
    }

    internal void Complete() => _channel.Writer.TryComplete();
}
