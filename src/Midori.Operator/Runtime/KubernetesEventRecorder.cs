using System.Net;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;

namespace Midori.Operator.Runtime;

/// <summary>
/// Records core/v1 Events without blocking the caller: <see cref="Normal"/>/<see cref="Warning"/> write to a bounded
/// channel and a background sender (this hosted service) creates the Events. Repeats of the same (object, type,
/// reason, message) within <see cref="AggregationWindow"/> patch the existing Event's <c>count</c> and
/// <c>lastTimestamp</c> instead of creating a new one (client-go's EventCorrelator, simplified). Failures are
/// logged and never thrown.
/// </summary>
public sealed class KubernetesEventRecorder : BackgroundService, IEventRecorder
{
    public const int Capacity = 1024;

    /// <summary>Kubernetes rejects longer messages on the events.k8s.io API; keep core/v1 Events within it too.</summary>
    public const int MaxMessageLength = 1024;

    public static readonly TimeSpan AggregationWindow = TimeSpan.FromMinutes(10);

    private const int MaxAggregates = 4096;

    private readonly IKubernetes _kubernetes;
    private readonly OperatorIdentity _identity;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<KubernetesEventRecorder> _logger;
    private readonly Channel<PendingEvent> _channel = Channel.CreateBounded<PendingEvent>(
        new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    // Touched only by the single sender loop.
    private readonly Dictionary<(string Uid, string Type, string Reason, string Message), Aggregate> _aggregates = [];

    private readonly ILeadershipFence? _fence;

    public KubernetesEventRecorder(IKubernetes kubernetes, OperatorIdentity identity, TimeProvider timeProvider, ILogger<KubernetesEventRecorder> logger,
        ILeadershipFence? fence = null)
    {
        _fence = fence;
        _kubernetes = kubernetes;
        _identity = identity;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    public void Normal(V1Alpha1PreviewSandbox resource, string reason, string message) => Record(resource, "Normal", reason, message);

    public void Warning(V1Alpha1PreviewSandbox resource, string reason, string message) => Record(resource, "Warning", reason, message);

    /// <summary>Sends everything queued so far; for tests and shutdown. Returns the number of events handled.</summary>
    internal async Task<int> FlushAsync(CancellationToken cancellationToken)
    {
        var handled = 0;
        while (_channel.Reader.TryRead(out var pending))
        {
            await SendAsync(pending, cancellationToken).ConfigureAwait(false);
            handled++;
        }

        return handled;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var pending in _channel.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                await SendAsync(pending, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Host stopping; unsent events are dropped (best effort).
        }
    }

    private void Record(V1Alpha1PreviewSandbox resource, string type, string reason, string message)
    {
        var metadata = resource.Metadata;
        if (message.Length > MaxMessageLength)
        {
            message = message[..(MaxMessageLength - 3)] + "...";
        }

        var pending = new PendingEvent(
            new V1ObjectReference
            {
                ApiVersion = string.IsNullOrEmpty(resource.ApiVersion) ? GroupVersion.ApiVersion : resource.ApiVersion,
                Kind = string.IsNullOrEmpty(resource.Kind) ? GroupVersion.Kind : resource.Kind,
                Name = metadata.Name,
                NamespaceProperty = metadata.NamespaceProperty,
                Uid = metadata.Uid,
                ResourceVersion = metadata.ResourceVersion,
            },
            type,
            reason,
            message,
            _timeProvider.GetUtcNow().UtcDateTime);
        if (!_channel.Writer.TryWrite(pending))
        {
            _logger.EventDropped(reason, metadata.NamespaceProperty, metadata.Name);
        }
    }

    private async Task SendAsync(PendingEvent pending, CancellationToken cancellationToken)
    {
        var involved = pending.InvolvedObject;
        var @namespace = string.IsNullOrEmpty(involved.NamespaceProperty) ? "default" : involved.NamespaceProperty;
        var aggregateKey = (involved.Uid ?? $"{@namespace}/{involved.Name}", pending.Type, pending.Reason, pending.Message);

        // Events are recorded by the reconciler and sent later: the leadership fence is checked when the write goes out.
        if (_fence is { IsHeld: false })
        {
            _logger.EventFenced(pending.Reason, involved.NamespaceProperty, involved.Name);
            return;
        }

        try
        {
            if (_aggregates.TryGetValue(aggregateKey, out var aggregate) && pending.Timestamp - aggregate.LastTimestamp < AggregationWindow)
            {
                var count = aggregate.Count + 1;
                var patch = new JsonObject
                {
                    ["count"] = count,
                    ["lastTimestamp"] = JsonValue.Create(pending.Timestamp.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture)),
                };
                try
                {
                    await _kubernetes.CoreV1.PatchNamespacedEventAsync(
                        new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch), aggregate.Name, @namespace,
                        cancellationToken: cancellationToken).ConfigureAwait(false);
                    _aggregates[aggregateKey] = aggregate with { Count = count, LastTimestamp = pending.Timestamp };
                    return;
                }
                catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
                {
                    // The Event expired (default TTL 1 h) or was deleted: create a fresh one below.
                }
            }

            var name = $"{involved.Name}.{pending.Timestamp.Ticks:x}{Random.Shared.Next(0x10000):x4}";
            var @event = new Corev1Event
            {
                ApiVersion = "v1",
                Kind = "Event",
                Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = @namespace },
                InvolvedObject = involved,
                Type = pending.Type,
                Reason = pending.Reason,
                Message = pending.Message,
                Source = new V1EventSource { Component = OperatorIdentity.Component },
                ReportingComponent = OperatorIdentity.Component,
                ReportingInstance = _identity.Name,
                FirstTimestamp = pending.Timestamp,
                LastTimestamp = pending.Timestamp,
                Count = 1,
            };
            await _kubernetes.CoreV1.CreateNamespacedEventAsync(@event, @namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (_aggregates.Count >= MaxAggregates)
            {
                Prune(pending.Timestamp);
            }

            _aggregates[aggregateKey] = new Aggregate(name, 1, pending.Timestamp);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            _logger.EventSendFailed(ex, pending.Reason, involved.NamespaceProperty, involved.Name);
        }
    }

    private void Prune(DateTime now)
    {
        foreach (var (key, aggregate) in _aggregates.ToList())
        {
            if (now - aggregate.LastTimestamp >= AggregationWindow)
            {
                _aggregates.Remove(key);
            }
        }

        if (_aggregates.Count >= MaxAggregates)
        {
            _aggregates.Clear();
        }
    }

    private sealed record PendingEvent(V1ObjectReference InvolvedObject, string Type, string Reason, string Message, DateTime Timestamp);

    private sealed record Aggregate(string Name, int Count, DateTime LastTimestamp);
}
