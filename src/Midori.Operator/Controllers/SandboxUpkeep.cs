using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;

namespace Midori.Operator.Controllers;

/// <summary>
/// Keeps a healthy running sandbox current: records new activity (and extends the provider's own timer), applies a
/// changed spec in place, brings the files up to the source, and forgets old failures once it has been stable.
/// </summary>
internal sealed class SandboxUpkeep(
    SandboxProvisioner provisioner,
    SandboxSourceResolver sources,
    IEventRecorder events,
    OperatorOptions options,
    ILogger logger,
    ISandboxLifecycleObserver observer)
{
    public async Task<ReconcileResult> KeepRunningAsync(SandboxStatusBuilder pass, ISandboxProvider provider, SandboxSnapshot snapshot, CancellationToken cancellationToken)
    {
        var status = pass.Status;
        var resource = pass.Resource;
        var sandboxId = status.SandboxId!;
        status.ProbeFailures = snapshot.ProbeFailures == 0 ? null : snapshot.ProbeFailures;

        // New activity: record it and keep the provider's own auto-stop from firing before our deadlines.
        DateTimeOffset? recorded = status.LastActivityTime is { } known ? SandboxSnapshot.ToOffset(known) : null;
        DateTime? DeadlineOf(DateTimeOffset? activity) => SandboxLifecyclePolicy.IdleDeadline(activity, snapshot.StartedAt, resource.Spec)?.UtcDateTime;
        if (snapshot.LastActivity is { } activity && SandboxActivity.Records(recorded, activity, resource, snapshot.StartedAt, snapshot.Now))
        {
            recorded = activity;
            status.LastActivityTime = activity.UtcDateTime;
            if (snapshot.ExpiresAt is { } expiresAt)
            {
                try
                {
                    await provider.ExtendAsync(sandboxId, expiresAt, cancellationToken);
                }
                catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
                {
                    logger.ExtendFailed(sandboxId, ex.Message);
                }
            }
        }

        // The deadline of the activity status shows (never later than the real one, which the policies decide on).
        status.IdleDeadline = DeadlineOf(recorded);
        var nextWarning = WarnBeforeCut(pass, provider, snapshot);
        string? degraded = null;

        // Spec changed while running: apply the dev-server shape in place.
        if (status.ObservedGeneration != pass.Generation)
        {
            try
            {
                status.SandboxUrl = await provisioner.ApplySpecAsync(resource, provider, sandboxId, cancellationToken);
            }
            catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
            {
                degraded = $"Could not apply the changed spec: {ex.Message}";
            }
        }

        var files = await SyncFilesAsync(pass, provider, sandboxId, cancellationToken);
        if (!files.InSync)
        {
            degraded ??= "Files in the sandbox are behind the source; retrying";
        }

        if (snapshot.ProbeFailures > 0)
        {
            degraded ??= $"Preview URL failed {snapshot.ProbeFailures} health probe(s) in a row";
        }

        // Stable again: forget earlier failures so a later loss starts the backoff afresh.
        var stableAfter = TimeSpan.FromSeconds(Math.Max(resource.Spec.EffectiveRecreate().EffectiveCooldownSeconds(), options.HealthCheckInterval.TotalSeconds));
        if (status.FailedAttempts is > 0 && snapshot.ProbeHealthy == true && snapshot.StartedAt is { } started && snapshot.Now - started >= stableAfter)
        {
            status.FailedAttempts = null;
            status.LastFailureTime = null;
        }

        pass.To(Phases.Running)
            .Ready($"Preview is serving at {status.SandboxUrl}", degraded ?? (status.FailedAttempts is > 0 ? snapshot.LastError : null), files)
            .Observed();
        if (pass.Changed && snapshot.LastActivity is { } latest && (recorded is null || latest > recorded))
        {
            // Status goes out anyway (a warning, a file push, a condition): it carries the freshest activity for free,
            // so no later pass has to write it on its own when the deadline status shows comes.
            status.LastActivityTime = latest.UtcDateTime;
            status.IdleDeadline = DeadlineOf(latest);
        }

        var next = SandboxSchedule.NextCheck(status, snapshot.Now, options, nextWarning);
        return files.InSync || next.RequeueAfter <= SandboxSchedule.Retry ? next : ReconcileResult.After(SandboxSchedule.Retry);
    }

    /// <summary>
    /// Sends the heads-up before the next cut when <see cref="SandboxLifecyclePolicy.WarningDue"/> says so (a Kubernetes
    /// Event and the live stream's <c>expiry-warning</c>), and records it in <c>status.lastExpiryWarning</c> so it goes out
    /// once per cut. Returns when the next heads-up is due, for the requeue.
    /// </summary>
    private DateTimeOffset? WarnBeforeCut(SandboxStatusBuilder pass, ISandboxProvider provider, SandboxSnapshot snapshot)
    {
        var status = pass.Status;
        var cut = SandboxLifecyclePolicy.NextCut(snapshot, provider.Capabilities.HasFlag(SandboxCapabilities.Pause));
        var warnedCutAt = status.LastExpiryWarning?.CutAt is { } w ? SandboxSnapshot.ToOffset(w) : (DateTimeOffset?)null;
        if (SandboxLifecyclePolicy.WarningDue(cut, snapshot.Now, warnedCutAt) is not { } remaining)
        {
            return SandboxLifecyclePolicy.NextWarningAt(cut, snapshot.Now, warnedCutAt);
        }

        var name = cut!.Cut == SandboxCut.Ttl ? ExpiryCuts.Ttl : ExpiryCuts.Idle;
        var seconds = (int)Math.Ceiling(remaining.TotalSeconds);
        var what = cut.Outcome == CutOutcome.Pause ? "paused" : "deleted";
        var message = cut.Cut == SandboxCut.Ttl
            ? $"Sandbox {status.SandboxId} reaches its TTL in {seconds}s (at {cut.At:O}) and will be {what}"
            : $"Sandbox {status.SandboxId} will be {what} in {seconds}s (at {cut.At:O}) unless there is activity (idle timeout)";
        status.LastExpiryWarning = new ExpiryWarningRecord { Cut = name, CutAt = cut.At.UtcDateTime, Time = snapshot.Now.UtcDateTime };
        events.Normal(pass.Resource, PreviewSandboxConditions.Reasons.ExpiryWarning, message);
        observer.ExpiryWarned(pass.Resource, new ExpiryWarning(name, cut.At, remaining, cut.Outcome));
        logger.ExpiryWarned(status.SandboxId ?? string.Empty, name, cut.At, seconds);
        return null;
    }

    /// <summary>
    /// Brings the sandbox up to the source: a delta (writes + deletes) for store-backed sources, the whole set for the
    /// others when its hash changed. Not in sync: the push failed or the source cannot be read (retried soon).
    /// </summary>
    private async Task<FilesState> SyncFilesAsync(SandboxStatusBuilder pass, ISandboxProvider provider, string sandboxId, CancellationToken cancellationToken)
    {
        var status = pass.Status;
        FilePush push;
        try
        {
            push = await sources.SyncAsync(pass.Resource, provider, sandboxId, status.FilesRevision, status.FilesHash, cancellationToken);
        }
        catch (SourceResolutionException ex)
        {
            // The sandbox cannot be brought to what the source says: not in sync, and the condition says why.
            logger.SourceFailed(ex.Message);
            return FilesState.Behind(PreviewSandboxConditions.Reasons.SourceError, ex.Message);
        }

        if (push.Status == FilePushStatus.Failed)
        {
            logger.SyncFailed(sandboxId, push.Error ?? "unknown error");
            return FilesState.Behind(PreviewSandboxConditions.Reasons.SyncFailed, $"Pushing files to the sandbox failed: {push.Error}");
        }

        if (push.Status == FilePushStatus.Pushed)
        {
            logger.SyncedFiles(sandboxId, push.Written, push.Bytes, push.Hash ?? string.Empty);
            events.Normal(pass.Resource, EventReasons.FilesSynced, $"Synced {push.Written} files and removed {push.Deleted} ({push.Hash})");
        }

        // Also when up to date: the HTTP API may have pushed a newer revision directly.
        status.FilesHash = push.Hash;
        status.FilesRevision = push.Revision;
        return FilesState.Synced(status.FilesHash);
    }
}
