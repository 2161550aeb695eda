using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;

namespace Midori.Operator.Gateway;

/// <summary>
/// Proxied traffic as activity, through the same coalesced heartbeat path as the editor's heartbeats
/// (<see cref="HeartbeatService"/>: the store at once, the annotation at most once per quarter of the idle timeout).
/// This replica records at most one per preview per <see cref="GatewayOptions.ActivityInterval"/>, so a page load of
/// a hundred assets is one heartbeat. A preview opts out with <see cref="GroupVersion.TrafficActivityAnnotation"/> = "false".
/// </summary>
public sealed class GatewayActivity(HeartbeatService heartbeats, IOptions<GatewayOptions> options, TimeProvider time, ILogger<GatewayActivity> logger)
{
    private readonly ConcurrentDictionary<PreviewKey, DateTimeOffset> _last = new();

    public static bool Counts(V1Alpha1PreviewSandbox resource, GatewayOptions options) =>
        resource.Metadata.Annotations?.TryGetValue(GroupVersion.TrafficActivityAnnotation, out var value) == true
            ? !string.Equals(value, "false", StringComparison.OrdinalIgnoreCase)
            : options.TrafficIsActivity;

    /// <summary>Records activity unless one was recorded within the interval; never blocks the request.</summary>
    public void Touch(PreviewKey key, V1Alpha1PreviewSandbox resource)
    {
        if (!Counts(resource, options.Value))
        {
            return;
        }

        var now = time.GetUtcNow();
        var last = _last.GetValueOrDefault(key);
        if (now - last < options.Value.ActivityInterval || !_last.TryUpdate(key, now, last) && !_last.TryAdd(key, now))
        {
            return;
        }

        _ = RecordAsync(key);
    }

    /// <summary>A wake: the heartbeat write that makes the reconciler start a new sandbox for an Expired preview.</summary>
    public async Task WakeAsync(PreviewKey key, CancellationToken cancellationToken)
    {
        _last[key] = time.GetUtcNow();
        if ((await heartbeats.RecordAsync(key, cancellationToken, storeOptional: true).ConfigureAwait(false)).Error is { } refused)
        {
            logger.GatewayActivityRefused(key.Namespace, key.Name, refused.Detail);
        }
    }

    private async Task RecordAsync(PreviewKey key)
    {
        try
        {
            if ((await heartbeats.RecordAsync(key, CancellationToken.None, storeOptional: true).ConfigureAwait(false)).Error is { } refused)
            {
                _last.TryRemove(key, out _); // the next request tries again
                logger.GatewayActivityRefused(key.Namespace, key.Name, refused.Detail);
            }
        }
        catch (Exception ex)
        {
            // Activity is best effort here; the next request tries again.
            _last.TryRemove(key, out _);
            logger.GatewayActivityFailed(ex, key.Namespace, key.Name);
        }
    }
}
