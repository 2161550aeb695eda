using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Persistence;
using Midori.Operator.Runtime;

namespace Midori.Operator.Http.Services;

/// <summary>
/// Carries the reconciler's provisioning progress and recreation notifications — raised on the leader only — to the
/// <see cref="PreviewEventHub"/> of every replica, so a client connected to any replica sees them.
/// <list type="bullet">
/// <item>Each notification is sent on the store's <see cref="IStoreNotifications"/> channel, and every replica (the
/// leader included) listens on it and publishes what arrives to its own hub. With the PostgreSQL store that is
/// NOTIFY/LISTEN and reaches every replica; if sending fails, the leader still publishes locally.</item>
/// <item>Without a store shared across processes (in-memory notifications): in-process only. Clients connected to the
/// leader see progress; clients on other replicas see status events only (phase Creating/Recreating → Running with the
/// new URL and sandbox id, from their watch), not the percentages.</item>
/// </list>
/// As an <see cref="ISandboxLifecycleObserver"/> it only enqueues into a bounded outbox (oldest dropped when full), so
/// the reconciler is never blocked and never sees an exception from here.
/// </summary>
public sealed class PreviewProgressRelay : BackgroundService, ISandboxLifecycleObserver
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly Channel<ProgressMessage> _outbox = Channel.CreateBounded<ProgressMessage>(new BoundedChannelOptions(4_096)
    {
        FullMode = BoundedChannelFullMode.DropOldest,
        SingleReader = true,
        SingleWriter = false,
    });

    private readonly PreviewEventHub _hub;
    private readonly IStoreNotifications _notifications;
    private readonly string _channel;
    private readonly TimeProvider _time;
    private readonly ILogger<PreviewProgressRelay> _logger;
    private readonly RetryBackoff _backoff = RetryBackoff.ForWatch();
    private readonly ConcurrentDictionary<PreviewKey, bool> _recreating = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PreviewProgressRelay(PreviewEventHub hub, IOptions<PreviewEventsOptions> options, TimeProvider time, ILogger<PreviewProgressRelay> logger,
        IStoreNotifications? notifications = null)
    {
        _hub = hub;
        _notifications = notifications ?? new InMemoryStoreNotifications();
        _channel = options.Value.NotifyChannel;
        _time = time;
        _logger = logger;
    }

    /// <summary>True when notifications reach every replica (the PostgreSQL store's NOTIFY).</summary>
    public bool IsCrossReplica => _notifications.ReachesOtherReplicas;

    /// <summary>Completes once this replica listens on the channel.</summary>
    public Task Listening => _listening.Task;

    // ---- ISandboxLifecycleObserver (called inline by the reconciler: enqueue only) ------------------------------------

    public void Provisioning(V1Alpha1PreviewSandbox resource, bool recreating)
    {
        if (resource.Metadata is { Name: { Length: > 0 } name, NamespaceProperty: { Length: > 0 } ns })
        {
            _recreating[new PreviewKey(ns, name)] = recreating;
        }
    }

    public void Progress(V1Alpha1PreviewSandbox resource, string stage, int percent) =>
        Enqueue(resource, r =>
        {
            // The resource the reconciler passes carries the status from before this pass; Provisioning said which kind it is.
            var key = new PreviewKey(r.Metadata.NamespaceProperty, r.Metadata.Name);
            var recreating = stage == ProvisioningStages.Complete ? _recreating.TryRemove(key, out var was) && was : _recreating.GetValueOrDefault(key);
            return new ProgressMessage(key.Namespace, key.Name, ProgressMessage.ProgressKind, stage, percent, recreating, At: _time.GetUtcNow());
        });

    public void RecreationStarted(V1Alpha1PreviewSandbox resource, string reason, string? oldSandboxId) =>
        Enqueue(resource, r => new ProgressMessage(r.Metadata.NamespaceProperty, r.Metadata.Name, ProgressMessage.RecreationStartedKind,
            Recreating: true, Reason: reason, OldSandboxId: oldSandboxId, At: _time.GetUtcNow()));

    public void RecreationCompleted(V1Alpha1PreviewSandbox resource, RecreationRecord record, bool success, string? error, TimeSpan elapsed) =>
        Enqueue(resource, r => new ProgressMessage(r.Metadata.NamespaceProperty, r.Metadata.Name, ProgressMessage.RecreationCompletedKind,
            Percent: success ? 100 : null, Recreating: true, Reason: record.Reason, OldSandboxId: record.OldSandboxId, NewSandboxId: record.NewSandboxId,
            Success: success, Error: error is { Length: > 500 } ? error[..500] : error, At: _time.GetUtcNow()));

    public void ExpiryWarned(V1Alpha1PreviewSandbox resource, ExpiryWarning warning) =>
        Enqueue(resource, r => new ProgressMessage(r.Metadata.NamespaceProperty, r.Metadata.Name, ProgressMessage.ExpiryWarningKind,
            At: _time.GetUtcNow(), Cut: warning.Cut, CutAt: warning.CutAt, RemainingSeconds: (int)Math.Ceiling(warning.Remaining.TotalSeconds),
            Outcome: warning.Outcome == CutOutcome.Pause ? PreviewExpiryWarningEvent.Pause : PreviewExpiryWarningEvent.Delete));

    public void Ready(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, bool recreated, TimeSpan elapsed) { }

    public void Expired(V1Alpha1PreviewSandbox resource, string reason, TimeSpan lateness) { }

    public void Ended(V1Alpha1PreviewSandbox resource, string phase, string reason) { }

    public void Deleted(V1Alpha1PreviewSandbox resource) =>
        _recreating.TryRemove(new PreviewKey(resource.Metadata?.NamespaceProperty ?? string.Empty, resource.Metadata?.Name ?? string.Empty), out _);

    // ---- transport ------------------------------------------------------------------------------------------------

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Listen first: in-process notifications subscribe synchronously, so nothing sent after this is missed here.
        var listen = ListenAsync(stoppingToken);
        return Task.WhenAll(SendAsync(stoppingToken), listen);
    }

    private void Enqueue(V1Alpha1PreviewSandbox resource, Func<V1Alpha1PreviewSandbox, ProgressMessage> build)
    {
        try
        {
            if (resource.Metadata is { Name: { Length: > 0 }, NamespaceProperty: { Length: > 0 } })
            {
                _outbox.Writer.TryWrite(build(resource));
            }
        }
        catch (Exception ex)
        {
            // Observers must never throw into the reconciler; a lost progress point is harmless.
            _logger.ProgressEnqueueFailed(ex);
        }
    }

    private async Task SendAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var message in _outbox.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await _notifications.NotifyAsync(_channel, JsonSerializer.Serialize(message, Json), stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    // The store is unreachable: at least this replica's clients get it.
                    _logger.ProgressNotifyFailed(ex, message.Namespace, message.Name);
                    _hub.Publish(message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _notifications.ListenAsync(_channel, () =>
                {
                    failures = 0;
                    _listening.TrySetResult();
                    _logger.ProgressListening(_channel);
                }, OnNotification, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                failures++;
                var delay = _backoff.Compute(failures);
                _logger.ProgressListenFailed(ex, failures, delay);
                try
                {
                    await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    private void OnNotification(string payload)
    {
        try
        {
            if (JsonSerializer.Deserialize<ProgressMessage>(payload, Json) is { Namespace.Length: > 0, Name.Length: > 0 } message)
            {
                _hub.Publish(message);
            }
        }
        catch (JsonException ex)
        {
            _logger.ProgressPayloadInvalid(ex, payload.Length);
        }
    }
}
