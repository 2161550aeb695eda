using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;
using Reasons = Midori.Operator.Api.V1Alpha1.PreviewSandboxConditions.Reasons;

namespace Midori.Operator.Controllers;

/// <summary>
/// The retention tiers of <c>spec.lifecycle</c> as reconcile steps: pause at an idle or TTL cut instead of deleting
/// (phase Paused, <c>status.pausedAt</c>, <c>pausedFilesRevision</c>), and resume on a wake, pushing only the files
/// that differ from what the paused sandbox holds (its file manifest); when the paused sandbox is gone or broken the
/// wake falls back to a recreation with every file; after the paused retention a provider with an archive tier
/// archives it (a wake restores it the same way). Decisions are <see cref="SandboxLifecyclePolicy"/>'s.
/// </summary>
internal sealed class SandboxLifecycleSteps(
    SandboxSourceResolver sources,
    SandboxProvisioner provisioner,
    IEventRecorder events,
    TimeProvider time,
    OperatorOptions options,
    ILogger logger,
    ISandboxLifecycleObserver observer)
{
    /// <summary>Whether the cut <paramref name="verdict"/> announces pauses the running sandbox rather than deleting it.</summary>
    public static bool Pauses(SandboxStatusBuilder pass, ISandboxProvider provider, PolicyVerdict verdict) =>
        pass.Phase == Phases.Running && pass.Status.SandboxId is not null
        && verdict.Reason is Reasons.IdleExpired or Reasons.TtlExpired
        && SandboxLifecyclePolicy.OutcomeOf(verdict.Reason == Reasons.TtlExpired ? SandboxCut.Ttl : SandboxCut.Idle,
            pass.Resource.Spec.EffectiveLifecycle(), provider.Capabilities.HasFlag(SandboxCapabilities.Pause)) == CutOutcome.Pause;

    /// <summary>
    /// Pauses the sandbox at the cut. Null when the provider no longer has it (the caller then ends the preview as
    /// Expired, as a delete-cut would); a provider error keeps the sandbox running and retries.
    /// </summary>
    public async Task<ReconcileResult?> PauseAsync(SandboxStatusBuilder pass, ISandboxProvider provider, SandboxSnapshot snapshot, PolicyVerdict verdict, CancellationToken cancellationToken)
    {
        var status = pass.Status;
        var sandboxId = status.SandboxId!;
        try
        {
            if (!await provider.PauseAsync(sandboxId, cancellationToken))
            {
                return null;
            }
        }
        catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
        {
            pass.RemovalPending(verdict.Reason, ex.Message);
            return ReconcileResult.After(SandboxSchedule.Retry);
        }

        var resource = pass.Resource;
        var deadline = verdict.Reason == Reasons.TtlExpired ? snapshot.ExpiresAt : snapshot.IdleDeadline;
        observer.Expired(resource, verdict.Reason, snapshot.Now - (deadline ?? snapshot.Now));
        status.PausedAt = snapshot.Now.UtcDateTime;
        status.PausedFilesRevision = status.FilesRevision;
        status.EndedAt = snapshot.Now.UtcDateTime;
        status.HeartbeatAtExpiry = snapshot.Heartbeat ?? string.Empty; // a new heartbeat value wakes it, as after an expiry
        status.SandboxUrl = null;
        status.IdleDeadline = null;
        status.ProbeFailures = null;
        var message = $"{verdict.Message}; sandbox {sandboxId} paused, new activity resumes it";
        pass.To(Phases.Paused).NotReady(Reasons.Paused, message).Observed();
        logger.SandboxPaused(provider.Name, sandboxId, verdict.Reason);
        events.Normal(resource, Reasons.Paused, message);
        observer.Ended(resource, Phases.Paused, verdict.Reason);
        var keep = SandboxLifecyclePolicy.Paused(snapshot.Now, snapshot.Now, resource.Spec.EffectiveLifecycle(),
            provider.Capabilities.HasFlag(SandboxCapabilities.Archive), archived: false);
        return SandboxSchedule.Until(keep.Until, snapshot.Now, options);
    }

    /// <summary>
    /// A store-backed preview: the working copy's delta since the revision the paused sandbox holds, deletions
    /// included (a manifest comparison only sees what is missing or different, not what should be gone). Other
    /// sources have no history of removed paths and rely on the manifest comparison that follows. Returns the number
    /// of files written or deleted.
    /// </summary>
    private async Task<int> PushChangesSincePauseAsync(SandboxStatusBuilder pass, ISandboxProvider provider, string sandboxId, CancellationToken cancellationToken)
    {
        var status = pass.Status;
        if (pass.Resource.Spec.Source.SnapshotId is null)
        {
            return 0;
        }

        FilePush push;
        try
        {
            push = await sources.SyncAsync(pass.Resource, provider, sandboxId, status.PausedFilesRevision ?? status.FilesRevision, status.FilesHash, cancellationToken);
        }
        catch (SourceResolutionException ex)
        {
            throw new SandboxProviderException(provider.Name, $"the changes since the pause could not be read: {ex.Message}", isTransient: true);
        }

        return push.Status == FilePushStatus.Failed
            ? throw new SandboxProviderException(provider.Name, $"pushing the changes since the pause failed: {push.Error}", isTransient: true)
            : push.Written + push.Deleted;
    }

    /// <summary>
    /// Moves the paused sandbox to the provider's archive once the paused retention is over (phase stays Paused,
    /// <c>status.archivedAt</c> set, Ready reason Archived); a wake restores it with the same resume. Null when the
    /// provider no longer has it (the caller ends the preview as Expired); a provider error retries.
    /// </summary>
    public async Task<ReconcileResult?> ArchiveAsync(SandboxStatusBuilder pass, ISandboxProvider provider, SandboxSnapshot snapshot, PolicyVerdict verdict, CancellationToken cancellationToken)
    {
        var status = pass.Status;
        var sandboxId = status.SandboxId;
        if (sandboxId is null)
        {
            return null;
        }

        try
        {
            if (!await provider.ArchiveAsync(sandboxId, cancellationToken))
            {
                return null;
            }
        }
        catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
        {
            logger.ArchiveFailed(sandboxId, ex.Message);
            pass.NotReady(Reasons.Paused, "Preview paused; archiving the sandbox is retried", degraded: $"Archiving sandbox {sandboxId} failed: {ex.Message}").Observed();
            return ReconcileResult.After(SandboxSchedule.Retry);
        }

        status.ArchivedAt = snapshot.Now.UtcDateTime;
        // The condition says what the later passes while archived say, so they write nothing.
        pass.To(Phases.Paused).NotReady(Reasons.Archived, SandboxPolicies.ArchivedMessage).Observed();
        logger.SandboxArchived(provider.Name, sandboxId);
        events.Normal(pass.Resource, EventReasons.Archived, $"{verdict.Message} ({sandboxId})");
        return SandboxSchedule.Until(verdict.NotBefore, snapshot.Now, options);
    }

    /// <summary>
    /// Brings a paused sandbox back on a wake: resume, push what differs, start, Ready (kind resume). When the
    /// provider no longer holds it, or it fails to come back, a recreation is begun instead (null: the next step creates).
    /// </summary>
    public async Task<ReconcileResult?> ResumeAsync(SandboxStatusBuilder pass, ISandboxProvider provider, SandboxSnapshot snapshot, PolicyVerdict verdict, CancellationToken cancellationToken)
    {
        var status = pass.Status;
        var resource = pass.Resource;
        var sandboxId = status.SandboxId;
        var started = time.GetTimestamp();
        var now = snapshot.Now;
        var ttlEnd = now.AddSeconds(resource.Spec.EffectiveTtlSeconds());
        ResolvedFiles files;
        try
        {
            files = await sources.ResolveAsync(resource, cancellationToken);
        }
        catch (SourceResolutionException ex)
        {
            events.Warning(resource, EventReasons.SourceError, ex.Message);
            pass.NotReady(Reasons.SourceError, ex.Message, degraded: ex.Message).Observed();
            return ReconcileResult.After(SandboxSchedule.Clamp(SandboxSchedule.Min(options.MaxBackoff, TimeSpan.FromSeconds(30))));
        }

        string? failure = null;
        if (sandboxId is not null)
        {
            try
            {
                if (await provider.ResumeAsync(sandboxId, ttlEnd, cancellationToken) is { } info)
                {
                    var pushed = await PushChangesSincePauseAsync(pass, provider, sandboxId, cancellationToken);
                    pushed += await provisioner.PushDifferingAsync(provider, sandboxId, files, cancellationToken);
                    var url = await provisioner.ApplySpecAsync(resource, provider, sandboxId, cancellationToken);
                    var activity = snapshot.LastActivity is { } a && a > now ? a : now;
                    status.SandboxUrl = url;
                    status.StartedAt = now.UtcDateTime;
                    status.ExpiresAt = (info.EndAt is { } end && end < ttlEnd ? end : ttlEnd).UtcDateTime;
                    status.LastActivityTime = activity.UtcDateTime;
                    status.IdleDeadline = activity.AddSeconds(resource.Spec.EffectiveIdleTimeoutSeconds()).UtcDateTime;
                    status.EndedAt = null;
                    status.HeartbeatAtExpiry = null;
                    status.PausedAt = null;
                    status.PausedFilesRevision = null;
                    status.ArchivedAt = null;
                    status.FailedAttempts = null;
                    status.LastFailureTime = null;
                    status.FilesHash = files.Hash;
                    status.FilesRevision = files.Revision;
                    await sources.MarkPushedAsync(resource, sandboxId, files, cancellationToken);
                    var elapsed = time.GetElapsedTime(started);
                    logger.SandboxResumed(provider.Name, sandboxId, pushed, (long)elapsed.TotalMilliseconds);
                    events.Normal(resource, EventReasons.Resumed, $"Resumed paused sandbox {sandboxId}; pushed {pushed} changed files");
                    pass.To(Phases.Running).Ready($"Preview is serving at {url}", files: FilesState.Synced(files.Hash)).Observed();
                    observer.ReadyAs(resource, status, true, elapsed, StartKinds.Resume);
                    return SandboxSchedule.NextCheck(status, time.GetUtcNow(), options);
                }

                failure = $"the provider no longer has paused sandbox {sandboxId}";
            }
            catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException or k8s.Autorest.HttpOperationException)
            {
                failure = $"resuming sandbox {sandboxId} failed: {ex.Message}";
            }
        }

        // Gone or broken: recreate with every file (the next step creates; the old sandbox is deleted first).
        var reason = SandboxSnapshotReasons.WasTtl(status) ? RecreationReasons.Expired : RecreationReasons.IdleWake;
        logger.ResumeFellBack(sandboxId ?? "(none)", failure ?? "no sandbox recorded");
        status.LastRecreation = new RecreationRecord { Reason = reason, Time = now.UtcDateTime, OldSandboxId = sandboxId };
        status.PausedAt = null;
        status.PausedFilesRevision = null;
        status.ArchivedAt = null;
        pass.To(Phases.Recreating).InProgress(Reasons.Recreating, $"Recreating: {failure ?? "no paused sandbox"}");
        events.Normal(resource, EventReasons.Recreating, $"Recreating sandbox ({reason}): {failure ?? "no paused sandbox"}");
        observer.RecreationStarted(resource, reason, sandboxId);
        return null;
    }
}

/// <summary>Which cut paused a preview, read back from its status (the Ready reason is Paused; the last Event says which).</summary>
internal static class SandboxSnapshotReasons
{
    /// <summary>True when the pause came at the TTL: the TTL had run out when it paused.</summary>
    public static bool WasTtl(PreviewSandboxStatus status) =>
        status.PausedAt is { } paused && status.StartedAt is { } started && status.ExpiresAt is { } expires && paused >= expires && started <= expires;
}
