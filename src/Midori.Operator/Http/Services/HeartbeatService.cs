using System.Collections.Concurrent;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;
using Midori.Operator.Persistence;
using Midori.Operator.Runtime;

namespace Midori.Operator.Http.Services;

public sealed record HeartbeatResult(PreviewKey Preview, DateTimeOffset ReceivedAt, DateTimeOffset IdleDeadline, int IdleTimeoutSeconds,
    bool AnnotationWritten, bool Waking, string? Phase);

/// <summary>
/// Heartbeats are frequent and cheap: each is recorded in the store at once (batched, durable before the reply),
/// while the <c>preview.midori.dev/heartbeat</c> annotation — which the reconciler and kubectl see — is written at
/// most once per quarter of the idle timeout per preview. The decision uses the annotation value in the watch cache
/// (so it holds across replicas) plus this replica's own recent writes (the cache may lag them), and the write is
/// guarded by the cached resourceVersion so two replicas deciding at once do not both write. A heartbeat for an
/// Expired preview writes at once: that wakes it.
/// </summary>
public sealed class HeartbeatService
{
    private readonly PreviewSandboxCache _cache;
    private readonly ActivityRecorder _recorder;
    private readonly IPreviewSandboxClient _client;
    private readonly MidoriMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<HeartbeatService> _logger;
    private readonly ConcurrentDictionary<PreviewKey, DateTimeOffset> _lastWritten = new();
    private readonly ConcurrentDictionary<PreviewKey, byte> _writing = new();

    /// <summary>
    /// Tries of one annotation write. Each conflict needs another write to land between a fresh read and the patch
    /// (the reconciler writes status at most a few times per activity), so a handful is plenty even on a loaded node.
    /// </summary>
    internal const int MaxWriteAttempts = 5;

    public HeartbeatService(PreviewSandboxCache cache, ActivityRecorder recorder, IPreviewSandboxClient client, MidoriMetrics metrics, TimeProvider time,
        ILogger<HeartbeatService> logger)
    {
        _cache = cache;
        _recorder = recorder;
        _client = client;
        _metrics = metrics;
        _time = time;
        _logger = logger;
    }

    /// <param name="storeOptional">
    /// Traffic seen by the gateway: without a store, or while it is out, the annotation alone carries the activity
    /// (as a kubectl heartbeat does) instead of failing the request.
    /// </param>
    public async Task<ServiceResult<HeartbeatResult>> RecordAsync(PreviewKey key, CancellationToken cancellationToken, bool storeOptional = false)
    {
        var resource = await _cache.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (resource is null)
        {
            return ServiceError.NotFound($"preview {key} does not exist");
        }

        var now = _time.GetUtcNow();
        _metrics.HeartbeatReceived();
        if ((!storeOptional || _recorder.HasStore)
            && await _recorder.RecordAsync(key, now, cancellationToken).ConfigureAwait(false) is { } notRecorded && !storeOptional)
        {
            // With storeOptional (the gateway's traffic) an outage is not a refusal: the annotation below still records the activity.
            return notRecorded;
        }

        var idle = resource.Spec.EffectiveIdleTimeoutSeconds();
        var waking = Phases.WakesOnActivity(resource.Status?.Phase);
        var written = false;
        if (IsDue(key, resource, now) && _writing.TryAdd(key, 0))
        {
            try
            {
                written = await WriteAnnotationAsync(key, resource, now, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _writing.TryRemove(key, out _);
            }
        }

        return new HeartbeatResult(key, now, now.AddSeconds(idle), idle, written, waking, resource.Status?.Phase);
    }

    /// <summary>
    /// Due when nothing was written yet, when the newest known write is a quarter of the idle timeout old, or when
    /// the preview is Expired or Paused and no write happened since it ended (the wake-up).
    /// </summary>
    internal bool IsDue(PreviewKey key, V1Alpha1PreviewSandbox resource, DateTimeOffset now)
    {
        var latest = AnnotationTime(resource);
        if (_lastWritten.TryGetValue(key, out var local) && (latest is null || local > latest))
        {
            latest = local;
        }

        if (latest is null)
        {
            return true;
        }

        if (resource.Status is { } status && Phases.WakesOnActivity(status.Phase)
            && (PreviewStatusMapper.ToOffset(status.EndedAt) is not { } ended || latest <= ended))
        {
            return true;
        }

        return now - latest.Value >= resource.Spec.ActivityWriteInterval();
    }

    private async Task<bool> WriteAnnotationAsync(PreviewKey key, V1Alpha1PreviewSandbox resource, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var annotations = new Dictionary<string, string?> { [GroupVersion.HeartbeatAnnotation] = Heartbeat.Format(now) };
        try
        {
            var current = resource;
            V1Alpha1PreviewSandbox? updated;
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    updated = await _client.PatchAnnotationsIfMatchAsync(key.Namespace, key.Name, current.Metadata.ResourceVersion, annotations, cancellationToken)
                        .ConfigureAwait(false);
                    break;
                }
                catch (KubernetesConflictException) when (attempt < MaxWriteAttempts)
                {
                    // The object moved on, most often a status write the reconciler made for this very activity (it reads
                    // the store, written above): not a competing heartbeat. Decide again on the fresh copy and retry; only
                    // a newer annotation (another replica's write) makes this one unnecessary.
                    var fresh = await _client.GetAsync(key.Namespace, key.Name, cancellationToken).ConfigureAwait(false);
                    if (fresh is null)
                    {
                        return false;
                    }

                    _cache.Observe(fresh);
                    if (!IsDue(key, fresh, now))
                    {
                        return false;
                    }

                    current = fresh;
                }
            }

            if (updated is null)
            {
                return false;
            }

            _lastWritten[key] = now;
            _cache.Observe(updated);
            _metrics.HeartbeatWrite();
            _logger.HeartbeatAnnotated(key.Namespace, key.Name, Phases.WakesOnActivity(resource.Status?.Phase) ? "wake" : "due");
            return true;
        }
        catch (Exception ex) when (ex is KubernetesConflictException or k8s.Autorest.HttpOperationException or HttpRequestException)
        {
            // The activity is durable in the store; the next heartbeat tries the annotation again.
            _logger.HeartbeatAnnotationFailed(ex, key.Namespace, key.Name);
            return false;
        }
    }

    private static DateTimeOffset? AnnotationTime(V1Alpha1PreviewSandbox resource) => Heartbeat.Read(resource);
}
