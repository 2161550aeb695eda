using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;
using Reasons = Midori.Operator.Api.V1Alpha1.PreviewSandboxConditions.Reasons;

namespace Midori.Operator.Controllers;

/// <summary>
/// Ends a preview's sandbox while the resource stays: expiry and suspension (the resource is kept as Expired or
/// Stopped, a wake or resume creates a new sandbox), giving up (Failed), a policy refusal; and deletes a finished
/// preview whose retention elapsed (the finalizer then removes what is left).
/// </summary>
internal sealed class SandboxTeardown(
    IPreviewSandboxClient client,
    IEventRecorder events,
    TimeProvider time,
    OperatorOptions options,
    ILogger logger,
    ISandboxLifecycleObserver observer)
{
    /// <summary>Removes the sandbox and keeps the resource in <paramref name="phase"/> (Expired or Stopped).</summary>
    public async Task<ReconcileResult> EndAsync(SandboxStatusBuilder pass, ISandboxProvider provider, SandboxSnapshot snapshot, PolicyVerdict verdict,
        string phase, CancellationToken cancellationToken)
    {
        if (await TryDeleteCurrentAsync(pass, provider, verdict.Reason, cancellationToken) is { } error)
        {
            pass.RemovalPending(verdict.Reason, error);
            return ReconcileResult.After(SandboxSchedule.Retry);
        }

        var resource = pass.Resource;
        if (phase == Phases.Expired)
        {
            var deadline = verdict.Reason == Reasons.TtlExpired ? snapshot.ExpiresAt : snapshot.IdleDeadline;
            var lateness = deadline is { } d ? (long)(snapshot.Now - d).TotalMilliseconds : 0;
            logger.Expired(verdict.Reason, lateness);
            observer.Expired(resource, verdict.Reason, snapshot.Now - (deadline ?? snapshot.Now));
            events.Normal(resource, EventReasons.Expired, verdict.Message);
        }
        else
        {
            events.Normal(resource, EventReasons.Suspended, verdict.Message);
        }

        var status = pass.Status;
        status.EndedAt = snapshot.Now.UtcDateTime;
        status.HeartbeatAtExpiry = phase == Phases.Expired ? snapshot.Heartbeat ?? string.Empty : null;
        status.SandboxUrl = null;
        status.IdleDeadline = null;
        status.ProbeFailures = null;
        status.PausedAt = null;
        status.PausedFilesRevision = null;
        status.ArchivedAt = null;
        pass.To(phase).NotReady(verdict.Reason, verdict.Message).Observed();
        observer.Ended(resource, phase, verdict.Reason);
        return SandboxSchedule.UntilRetention(resource, status, snapshot.Now, options);
    }

    /// <summary>Gives up: phase Failed until the spec or the recreate annotation changes.</summary>
    public async Task<ReconcileResult> FailAsync(SandboxStatusBuilder pass, ISandboxProvider provider, PolicyVerdict verdict, CancellationToken cancellationToken)
    {
        // A broken sandbox still costs money; remove it on a best-effort basis (deletion of the resource retries it).
        await TryDeleteCurrentAsync(pass, provider, verdict.Reason, cancellationToken);

        logger.MarkedFailed(verdict.Message);
        events.Warning(pass.Resource, EventReasons.Failed, verdict.Message);
        var status = pass.Status;
        status.SandboxUrl = null;
        status.IdleDeadline = null;
        status.EndedAt = time.GetUtcNow().UtcDateTime;
        pass.To(Phases.Failed).NotReady(verdict.Reason, verdict.Message, degraded: verdict.Message).Observed();
        observer.Ended(pass.Resource, Phases.Failed, verdict.Reason);
        return SandboxSchedule.UntilRetention(pass.Resource, status, time.GetUtcNow(), options);
    }

    /// <summary>
    /// Retention elapsed: delete the resource, guarded by the UID and resourceVersion this decision was made on (a
    /// heartbeat or spec change racing it wins: the delete conflicts and the next pass decides again). The finalizer
    /// then removes any sandbox; history stays in the store.
    /// </summary>
    public async Task<ReconcileResult> DeleteForRetentionAsync(SandboxStatusBuilder pass, PolicyVerdict verdict, CancellationToken cancellationToken)
    {
        logger.RetentionDeleting(pass.Phase ?? Phases.Pending, verdict.Message);
        if (await client.DeleteIfUnchangedAsync(pass.Resource, cancellationToken))
        {
            events.Normal(pass.Resource, EventReasons.RetentionElapsed, verdict.Message);
        }

        return ReconcileResult.Done();
    }

    /// <summary>
    /// The namespace's policies refuse the spec: Ready=False reason PolicyDenied and nothing at the provider (a sandbox
    /// it already had is removed, since it would run the refused spec). The caller publishes.
    /// </summary>
    public async Task<ReconcileResult> RefuseAsync(SandboxStatusBuilder pass, ISandboxProvider? provider, PolicyViolation violation, CancellationToken cancellationToken)
    {
        var message = $"Refused by {violation}";
        if (provider is not null && await TryDeleteCurrentAsync(pass, provider, Reasons.PolicyDenied, cancellationToken) is { } error)
        {
            pass.InProgress(Reasons.PolicyDenied, $"{message}; could not remove the sandbox yet: {error}", degraded: error);
            return ReconcileResult.After(SandboxSchedule.Retry);
        }

        var status = pass.Status;
        var resource = pass.Resource;
        var wasDenied = ConditionSet.Find(status.Conditions, PreviewSandboxConditions.Ready) is { Reason: Reasons.PolicyDenied } ready && ready.Message == message;
        (status.SandboxId, status.PreviewUrl, status.IdleDeadline, status.ProbeFailures) = (null, null, null, null);
        pass.To(Phases.Pending).NotReady(Reasons.PolicyDenied, message, degraded: message).Observed();
        if (!wasDenied)
        {
            logger.PolicyDenied(resource.Metadata.NamespaceProperty, resource.Metadata.Name, violation.ToString());
            events.Warning(resource, Reasons.PolicyDenied, message);
        }

        // A spec change re-triggers at once; a policy change is seen at the latest at the next resync.
        return ReconcileResult.After(options.ResyncInterval);
    }

    /// <summary>Deletes the sandbox the status says exists; null on success (or nothing to delete), else the error.</summary>
    public async Task<string?> TryDeleteCurrentAsync(SandboxStatusBuilder pass, ISandboxProvider provider, string reason, CancellationToken cancellationToken)
    {
        var status = pass.Status;
        if (status.SandboxId is not { } sandboxId || status.Phase is not (Phases.Running or Phases.Creating or Phases.Recreating or Phases.Paused))
        {
            return null;
        }

        try
        {
            await provider.DeleteAsync(sandboxId, cancellationToken);
            logger.DeletedSandbox(provider.Name, sandboxId, reason);
            return null;
        }
        catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
        {
            logger.DeleteFailed(provider.Name, sandboxId, ex.Message);
            return ex.Message;
        }
    }
}
