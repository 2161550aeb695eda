using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Persistence;

namespace Midori.Operator.Controllers;

/// <summary>The freshest editor activity of a preview, from the three places that record it.</summary>
internal static class SandboxActivity
{
    /// <summary>What the store holds (every heartbeat lands there); null without a store or when it cannot be read.</summary>
    public static async Task<DateTimeOffset?> ReadStoredAsync(IActivityStore? store, V1Alpha1PreviewSandbox resource, ILogger logger, CancellationToken cancellationToken)
    {
        if (store is null)
        {
            return null;
        }

        try
        {
            return await store.GetLastActivityAsync(new PreviewKey(resource.Metadata.NamespaceProperty, resource.Metadata.Name), cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Without the store the annotation (written every idle/4 by the API) still bounds how stale activity can be.
            logger.ActivityReadFailed(ex.Message);
            return null;
        }
    }

    /// <summary>The latest of the store, the heartbeat annotation and what status already recorded; never in the future.</summary>
    public static DateTimeOffset? Latest(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, DateTimeOffset now, DateTimeOffset? stored, ILogger logger)
    {
        DateTimeOffset? activity = status.LastActivityTime is { } recorded ? SandboxSnapshot.ToOffset(recorded) : null;
        if (stored is { } fromStore)
        {
            fromStore = fromStore > now ? now : fromStore;
            activity = activity is { } a && a >= fromStore ? a : fromStore;
        }

        if (Heartbeat.Raw(resource) is { } raw)
        {
            if (Heartbeat.TryParse(raw, out var heartbeat))
            {
                heartbeat = heartbeat > now ? now : heartbeat;
                activity = activity is { } a && a >= heartbeat ? a : heartbeat;
            }
            else
            {
                logger.InvalidHeartbeat(raw.Length);
            }
        }

        return activity;
    }

    /// <summary>
    /// Whether a pass moves status.lastActivityTime to <paramref name="latest"/>. Every pass reads the store, which takes
    /// every heartbeat, so recording each newer one would write status on every health check (every 30 s) while the
    /// editor is open. Status moves when the annotation is newer (that write is already paid for), when the store is a
    /// quarter of the idle timeout ahead (the annotation's own rhythm), or when the deadline status shows has passed;
    /// idle decisions always use <paramref name="latest"/> itself.
    /// </summary>
    public static bool Records(DateTimeOffset? recorded, DateTimeOffset latest, V1Alpha1PreviewSandbox resource, DateTimeOffset? startedAt, DateTimeOffset now)
    {
        if (recorded is not { } known)
        {
            return true;
        }

        if (latest <= known)
        {
            return false;
        }

        if (Heartbeat.Read(resource) is { } annotated && (annotated > now ? now : annotated) > known)
        {
            return true;
        }

        var spec = resource.Spec;
        return latest - known >= spec.ActivityWriteInterval()
            || SandboxLifecyclePolicy.IdleDeadline(known, startedAt, spec) <= now;
    }
}
