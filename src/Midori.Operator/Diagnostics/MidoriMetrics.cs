using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Midori.Operator.Diagnostics;

/// <summary>
/// Every instrument the operator records, on one <see cref="Meter"/> ("Midori.Operator") created through
/// <see cref="IMeterFactory"/> so tests can observe it with <c>MetricCollector</c>. Names follow OpenTelemetry
/// conventions (dots, unit suffix); the Prometheus exporter turns them into <c>midori_reconcile_duration_seconds</c> etc.
/// Components record through the helper methods so tag names stay consistent.
/// </summary>
public sealed class MidoriMetrics
{
    public const string MeterName = "Midori.Operator";

    private readonly Counter<long> _reconciles;
    private readonly Histogram<double> _reconcileDuration;
    private readonly Histogram<double> _queueWait;
    private readonly Histogram<double> _timeToReady;
    private readonly Counter<long> _expiries;
    private readonly Counter<long> _recreations;
    private readonly Counter<long> _providerRequests;
    private readonly Histogram<double> _providerRequestDuration;
    private readonly Counter<long> _heartbeats;
    private readonly Counter<long> _heartbeatWrites;
    private readonly Counter<long> _filePushes;
    private readonly Counter<long> _filePushBytes;
    private readonly Counter<long> _orphansDeleted;
    private readonly Counter<long> _poolClaims;
    private readonly Histogram<double> _poolWarmReady;

    // Sources of the observable gauges, registered by the components that own the state (queue, informer, leadership).
    private Func<int>? _queueDepth;
    private Func<IReadOnlyDictionary<string, int>>? _sandboxPhases;
    private Func<bool>? _isLeader;

    public MidoriMetrics(IMeterFactory meterFactory)
    {
        Meter = meterFactory.Create(MeterName);
        _reconciles = Meter.CreateCounter<long>("midori.reconcile.count", description: "Reconciles by result (success, error, conflict, cancelled).");
        _reconcileDuration = Meter.CreateHistogram<double>("midori.reconcile.duration", unit: "s", description: "Reconcile duration by result.", tags: null, advice: ShortSeconds);
        _queueWait = Meter.CreateHistogram<double>("midori.queue.wait", unit: "s", description: "Time an item waited in the queue after it fell due.", tags: null, advice: ShortSeconds);
        _timeToReady = Meter.CreateHistogram<double>("midori.sandbox.time_to_ready", unit: "s", description: "From provisioning to Ready, by kind (create, wake, recreate) and provider.", tags: null, advice: LongSeconds);
        _expiries = Meter.CreateCounter<long>("midori.sandbox.expiries", description: "Sandboxes removed by reason (idle, ttl).");
        _recreations = Meter.CreateCounter<long>("midori.sandbox.recreations", description: "Recreations by reason (expired, idle_wake, error, manual) and success.");
        _providerRequests = Meter.CreateCounter<long>("midori.provider.requests", description: "Provider API requests by provider, operation and status.");
        _providerRequestDuration = Meter.CreateHistogram<double>("midori.provider.request.duration", unit: "s", description: "Provider API request duration by provider and operation.", tags: null, advice: LongSeconds);
        _heartbeats = Meter.CreateCounter<long>("midori.heartbeats.received", description: "Heartbeats received by the HTTP API.");
        _heartbeatWrites = Meter.CreateCounter<long>("midori.heartbeats.apiserver_writes", description: "Annotation writes to the API server caused by heartbeats.");
        _filePushes = Meter.CreateCounter<long>("midori.files.pushes", description: "File pushes to sandboxes by source (api, reconcile) and result.");
        _filePushBytes = Meter.CreateCounter<long>("midori.files.pushed_bytes", unit: "By", description: "Bytes pushed to sandboxes.");
        _orphansDeleted = Meter.CreateCounter<long>("midori.provider.orphans", description: "Orphaned remote sandboxes found by the sweep, by provider and action (deleted, dry_run).");

        _poolClaims = Meter.CreateCounter<long>("midori.pool.claims", description: "Warm-pool claims by provider and result (hit: a warm sandbox was handed out, miss: cold creation).");
        _poolWarmReady = Meter.CreateHistogram<double>("midori.pool.warm_time_to_ready", unit: "s", description: "Create + start of a warm sandbox (the cold time a claim saves), by provider and success.", tags: null, advice: LongSeconds);

        Meter.CreateObservableGauge("midori.queue.depth", ObserveQueueDepth, description: "Keys due now and waiting for a worker (leader only).");
        Meter.CreateObservableGauge("midori.sandboxes", ObserveSandboxPhases, description: "PreviewSandboxes by status phase, as the leader's informer sees them.");
        Meter.CreateObservableGauge("midori.leader", ObserveLeader, description: "1 while this instance holds the leader Lease (or leader election is off), else 0.");
    }

    /// <summary>Buckets for work measured in milliseconds to seconds (reconciles, queue wait); OpenTelemetry's defaults suit milliseconds.</summary>
    private static readonly InstrumentAdvice<double> ShortSeconds = new()
    {
        HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    };

    /// <summary>Buckets for remote work (sandbox provisioning, provider calls): tens of milliseconds to minutes.</summary>
    private static readonly InstrumentAdvice<double> LongSeconds = new()
    {
        HistogramBucketBoundaries = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300],
    };

    public Meter Meter { get; }

    /// <summary>Phases reported by <c>midori.sandboxes</c> even when no object is in them, so dashboards see zeros, not gaps.</summary>
    public static IReadOnlyList<string> SandboxPhases { get; } =
        [Api.V1Alpha1.Phases.Pending, Api.V1Alpha1.Phases.Creating, Api.V1Alpha1.Phases.Running, Api.V1Alpha1.Phases.Recreating,
         Api.V1Alpha1.Phases.Expired, Api.V1Alpha1.Phases.Stopped, Api.V1Alpha1.Phases.Failed];

    /// <summary>The queue registers how many keys are due and waiting.</summary>
    public void ObserveQueueDepth(Func<int> depth) => _queueDepth = depth;

    /// <summary>The informer registers its per-phase counts; an empty dictionary means "not synced" (followers report nothing).</summary>
    public void ObserveSandboxPhases(Func<IReadOnlyDictionary<string, int>> phases) => _sandboxPhases = phases;

    public void ObserveLeadership(Func<bool> isLeader) => _isLeader = isLeader;

    public void Reconciled(string result, TimeSpan duration)
    {
        var tag = new KeyValuePair<string, object?>("result", result);
        _reconciles.Add(1, tag);
        _reconcileDuration.Record(duration.TotalSeconds, tag);
    }

    public void QueueWait(TimeSpan wait) => _queueWait.Record(wait.TotalSeconds);

    /// <summary><paramref name="kind"/>: create | claim | resume | recreate | wake.</summary>
    public void TimeToReady(string kind, string provider, TimeSpan elapsed) =>
        _timeToReady.Record(elapsed.TotalSeconds, new("kind", kind), new("provider", provider));

    /// <summary><paramref name="reason"/>: idle | ttl.</summary>
    public void Expired(string reason) => _expiries.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void Recreated(string reason, bool success) =>
        _recreations.Add(1, new("reason", reason), new("success", success ? "true" : "false"));

    /// <summary>One provider call; <paramref name="status"/> is the HTTP status code or an error class (timeout, network, circuit_open).</summary>
    public void ProviderRequest(string provider, string operation, string status, TimeSpan duration)
    {
        var tags = new TagList { { "provider", provider }, { "operation", operation }, { "status", status } };
        _providerRequests.Add(1, tags);
        _providerRequestDuration.Record(duration.TotalSeconds, new("provider", provider), new("operation", operation));
    }

    public void HeartbeatReceived() => _heartbeats.Add(1);

    public void HeartbeatWrite() => _heartbeatWrites.Add(1);

    /// <summary><paramref name="source"/>: api | reconcile.</summary>
    public void FilesPushed(string source, bool success, int files, long bytes)
    {
        _filePushes.Add(1, new("source", source), new("result", success ? "success" : "error"));
        if (success)
        {
            _filePushBytes.Add(bytes, new KeyValuePair<string, object?>("source", source));
        }
    }

    private IEnumerable<Measurement<int>> ObserveQueueDepth() =>
        _queueDepth is { } depth ? [new Measurement<int>(depth())] : [];

    private IEnumerable<Measurement<int>> ObserveSandboxPhases()
    {
        if (_sandboxPhases?.Invoke() is not { Count: > 0 } counts)
        {
            return [];
        }

        var measurements = new List<Measurement<int>>(SandboxPhases.Count + 1);
        foreach (var phase in SandboxPhases)
        {
            measurements.Add(new Measurement<int>(counts.TryGetValue(phase, out var n) ? n : 0, new KeyValuePair<string, object?>("phase", phase)));
        }

        foreach (var (phase, n) in counts)
        {
            if (!SandboxPhases.Contains(phase))
            {
                measurements.Add(new Measurement<int>(n, new KeyValuePair<string, object?>("phase", phase)));
            }
        }

        return measurements;
    }

    private IEnumerable<Measurement<int>> ObserveLeader() =>
        _isLeader is { } isLeader ? [new Measurement<int>(isLeader() ? 1 : 0)] : [];

    public void Orphan(string provider, bool deleted) =>
        _orphansDeleted.Add(1, new("provider", provider), new("action", deleted ? "deleted" : "dry_run"));

    public void PoolClaim(string provider, bool hit) =>
        _poolClaims.Add(1, new("provider", provider), new("result", hit ? "hit" : "miss"));

    public void PoolSandboxCreated(string provider, bool success, TimeSpan elapsed) =>
        _poolWarmReady.Record(elapsed.TotalSeconds, new("provider", provider), new("success", success ? "true" : "false"));
}
