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

    public MidoriMetrics(IMeterFactory meterFactory)
    {
        Meter = meterFactory.Create(MeterName);
        _reconciles = Meter.CreateCounter<long>("midori.reconcile.count", description: "Reconciles by result (success, requeue, error, conflict).");
        _reconcileDuration = Meter.CreateHistogram<double>("midori.reconcile.duration", unit: "s", description: "Reconcile duration by result.");
        _queueWait = Meter.CreateHistogram<double>("midori.queue.wait", unit: "s", description: "Time an item waited in the queue after it fell due.");
        _timeToReady = Meter.CreateHistogram<double>("midori.sandbox.time_to_ready", unit: "s", description: "From provisioning to Ready, by kind (create, wake, recreate) and provider.");
        _expiries = Meter.CreateCounter<long>("midori.sandbox.expiries", description: "Sandboxes removed by reason (idle, ttl).");
        _recreations = Meter.CreateCounter<long>("midori.sandbox.recreations", description: "Recreations by reason (expired, idle_wake, error, manual) and success.");
        _providerRequests = Meter.CreateCounter<long>("midori.provider.requests", description: "Provider API requests by provider, operation and status.");
        _providerRequestDuration = Meter.CreateHistogram<double>("midori.provider.request.duration", unit: "s", description: "Provider API request duration by provider and operation.");
        _heartbeats = Meter.CreateCounter<long>("midori.heartbeats.received", description: "Heartbeats received by the HTTP API.");
        _heartbeatWrites = Meter.CreateCounter<long>("midori.heartbeats.apiserver_writes", description: "Annotation writes to the API server caused by heartbeats.");
        _filePushes = Meter.CreateCounter<long>("midori.files.pushes", description: "File pushes to sandboxes by source (api, reconcile) and result.");
        _filePushBytes = Meter.CreateCounter<long>("midori.files.pushed_bytes", unit: "By", description: "Bytes pushed to sandboxes.");
        _orphansDeleted = Meter.CreateCounter<long>("midori.provider.orphans", description: "Orphaned remote sandboxes found by the sweep, by provider and action (deleted, dry_run).");
    }

    public Meter Meter { get; }

    public void Reconciled(string result, TimeSpan duration)
    {
        var tag = new KeyValuePair<string, object?>("result", result);
        _reconciles.Add(1, tag);
        _reconcileDuration.Record(duration.TotalSeconds, tag);
    }

    public void QueueWait(TimeSpan wait) => _queueWait.Record(wait.TotalSeconds);

    /// <summary><paramref name="kind"/>: create | wake | recreate.</summary>
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

    public void Orphan(string provider, bool deleted) =>
        _orphansDeleted.Add(1, new("provider", provider), new("action", deleted ? "deleted" : "dry_run"));
}
