using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers;

namespace Midori.Operator.Controllers;

/// <summary>What the reconciler should do next.</summary>
public enum SandboxAction
{
    /// <summary>Nothing to change now; come back at <see cref="PolicyVerdict.NotBefore"/> or on the next event.</summary>
    Wait,
    /// <summary>Get a sandbox running (first start, resume, or finishing an interrupted creation).</summary>
    Create,
    /// <summary>Begin a recreation (replace, wake, or recover a lost sandbox): recorded, old sandbox removed, then Create.</summary>
    Recreate,
    /// <summary>Clear failure bookkeeping (the spec changed after Failed), then Create.</summary>
    Restart,
    /// <summary>Remove the sandbox and keep the resource as Expired (or pause it, when spec.lifecycle says so: <see cref="SandboxLifecycleSteps"/>).</summary>
    Expire,
    /// <summary>Wake a Paused preview: resume its sandbox, or recreate when it is gone.</summary>
    Resume,
    /// <summary>Remove the sandbox and keep the resource as Stopped.</summary>
    Suspend,
    /// <summary>Give up: phase Failed until the spec or the recreate annotation changes.</summary>
    Fail,
    /// <summary>Sandbox is healthy: sync files, refresh status, schedule the next deadline.</summary>
    KeepRunning,
    /// <summary>The paused retention elapsed and the provider archives: move the paused sandbox to its archive (Daytona).</summary>
    Archive,
    /// <summary>Retention of a finished preview elapsed: delete the resource (the finalizer cleans up). See <see cref="SandboxRetention"/>.</summary>
    Delete,
}

/// <summary>A decision with the reason (CamelCase, for conditions) and a human message.</summary>
public sealed record PolicyVerdict(
    SandboxAction Action,
    string Reason,
    string Message,
    string? RecreationReason = null,
    DateTimeOffset? NotBefore = null);

/// <param name="ProviderCanArchive">The preview's provider keeps paused sandboxes in an archive tier (Daytona).</param>
public sealed record PolicySettings(int ProbeFailureThreshold, TimeSpan MaxBackoff, RetentionSettings? Retention = null, bool ProviderCanArchive = false);

/// <summary>
/// Pure decision chain (cert-manager policies.go): each check looks at the snapshot and either returns a verdict or
/// passes. The first verdict wins. No IO, no clock other than <see cref="SandboxSnapshot.Now"/>.
/// </summary>
public static class SandboxPolicies
{
    private delegate PolicyVerdict? Policy(SandboxSnapshot s, PolicySettings settings);

    /// <summary>Ready message of an archived preview (the step that archives and the passes after it say the same).</summary>
    internal const string ArchivedMessage = "Preview archived; new activity restores it";

    private static readonly Policy[] Chain =
    [
        // The editor's Stop button (or GitOps) wins over everything else.
        Suspended,
        // Failed is sticky until someone changes the spec or asks for a recreate.
        FailedIsSticky,
        // A new value of the recreate annotation replaces the running sandbox.
        ManualRecreate,
        // Hard lifetime cap of one sandbox.
        LifetimeExceeded,
        // No activity within the idle timeout.
        IdleExpired,
        // A paused preview: woken by activity (resume), or kept until its paused retention ends (then archived or deleted).
        PausedPreview,
        // Activity newer than the expiry wakes an expired preview.
        WokenByActivity,
        // Stopped and no longer suspended: start again.
        Resumed,
        // The provider lost the sandbox or its URL stopped answering while still wanted.
        SandboxLost,
        // No sandbox yet, or a creation was interrupted: (re)create, respecting backoff.
        NotYetRunning,
    ];

    public static PolicyVerdict Evaluate(SandboxSnapshot snapshot, PolicySettings settings)
    {
        foreach (var policy in Chain)
        {
            if (policy(snapshot, settings) is { } verdict)
            {
                return SandboxRetention.Apply(snapshot, settings.Retention, verdict);
            }
        }

        return new PolicyVerdict(SandboxAction.KeepRunning, PreviewSandboxConditions.Reasons.SandboxReady, "Sandbox is running");
    }

    /// <summary>
    /// Delay before the next attempt after <paramref name="failedAttempts"/> consecutive failures: the first retry is
    /// immediate, then cooldown × 2^(n−2), capped.
    /// </summary>
    public static TimeSpan Backoff(int failedAttempts, int cooldownSeconds, TimeSpan cap)
    {
        if (failedAttempts <= 1 || cooldownSeconds <= 0)
        {
            return TimeSpan.Zero;
        }

        var seconds = cooldownSeconds * Math.Pow(2, Math.Min(failedAttempts - 2, 30));
        return seconds >= cap.TotalSeconds ? cap : TimeSpan.FromSeconds(seconds);
    }

    private static PolicyVerdict? Suspended(SandboxSnapshot s, PolicySettings _)
    {
        if (!s.Spec.IsSuspended())
        {
            return null;
        }

        // Stopped means the sandbox is gone (status.sandboxId keeps naming the removed one); suspending again would
        // move status.endedAt on every resync and retention, anchored there, would never fire.
        return s.Phase == Phases.Stopped
            ? new PolicyVerdict(SandboxAction.Wait, PreviewSandboxConditions.Reasons.Suspended, "Preview is suspended")
            : new PolicyVerdict(SandboxAction.Suspend, PreviewSandboxConditions.Reasons.Suspended, "Preview was suspended; sandbox removed");
    }

    private static PolicyVerdict? FailedIsSticky(SandboxSnapshot s, PolicySettings _)
    {
        if (s.Phase != Phases.Failed)
        {
            return null;
        }

        if (s.HasNewRecreateRequest)
        {
            return new PolicyVerdict(SandboxAction.Recreate, PreviewSandboxConditions.Reasons.Recreating,
                "Recreate requested for a failed preview", RecreationReasons.Manual);
        }

        if (s.SpecChangedSinceObserved)
        {
            return new PolicyVerdict(SandboxAction.Restart, PreviewSandboxConditions.Reasons.Provisioning,
                "Spec changed; retrying a failed preview");
        }

        return new PolicyVerdict(SandboxAction.Wait, ReadyReason(s) ?? PreviewSandboxConditions.Reasons.RecreateExhausted,
            "Preview failed; change the spec or set the recreate annotation to retry");
    }

    private static PolicyVerdict? ManualRecreate(SandboxSnapshot s, PolicySettings _)
    {
        if (!s.HasNewRecreateRequest || !(s.HasSandbox || s.Phase is Phases.Expired or Phases.Paused))
        {
            return null;
        }

        return new PolicyVerdict(SandboxAction.Recreate, PreviewSandboxConditions.Reasons.Recreating,
            $"Recreate requested ({s.RecreateRequest})", RecreationReasons.Manual);
    }

    private static PolicyVerdict? LifetimeExceeded(SandboxSnapshot s, PolicySettings _) =>
        s.HasSandbox && s.ExpiresAt is { } end && s.Now >= end
            ? new PolicyVerdict(SandboxAction.Expire, PreviewSandboxConditions.Reasons.TtlExpired,
                $"Sandbox reached its TTL of {s.Spec.EffectiveTtlSeconds()}s")
            : null;

    private static PolicyVerdict? IdleExpired(SandboxSnapshot s, PolicySettings _) =>
        s.HasSandbox && s.IdleDeadline is { } deadline && s.Now >= deadline
            ? new PolicyVerdict(SandboxAction.Expire, PreviewSandboxConditions.Reasons.IdleExpired,
                $"No activity for {s.Spec.EffectiveIdleTimeoutSeconds()}s")
            : null;

    private static PolicyVerdict? PausedPreview(SandboxSnapshot s, PolicySettings settings)
    {
        if (s.Phase != Phases.Paused)
        {
            return null;
        }

        var woken = (s.LastActivity is { } activity && (s.EndedAt is not { } ended || activity > ended)) || s.HeartbeatChangedSinceExpiry;
        if (woken)
        {
            return new PolicyVerdict(SandboxAction.Resume, PreviewSandboxConditions.Reasons.Recreating, "New activity; resuming the paused sandbox");
        }

        var pausedAt = s.Status.PausedAt is { } p ? SandboxSnapshot.ToOffset(p) : s.EndedAt ?? s.Now;
        var archived = s.Status.ArchivedAt is not null;
        var retention = s.Spec.EffectiveLifecycle().EffectivePausedRetentionSeconds();
        var kept = SandboxLifecyclePolicy.Paused(pausedAt, s.Now, s.Spec.EffectiveLifecycle(), settings.ProviderCanArchive, archived);
        return kept.Outcome switch
        {
            PausedOutcome.Delete => new PolicyVerdict(SandboxAction.Expire, PreviewSandboxConditions.Reasons.IdleExpired,
                archived
                    ? $"Archived for {retention}s after {retention}s paused (pausedRetentionSeconds); sandbox deleted, new activity recreates it"
                    : $"Paused for {retention}s (pausedRetentionSeconds); sandbox deleted, new activity recreates it"),
            PausedOutcome.Archive => new PolicyVerdict(SandboxAction.Archive, PreviewSandboxConditions.Reasons.Archived,
                $"Paused for {retention}s (pausedRetentionSeconds); sandbox archived, new activity restores it", NotBefore: kept.Until),
            _ when archived => new PolicyVerdict(SandboxAction.Wait, PreviewSandboxConditions.Reasons.Archived, ArchivedMessage, NotBefore: kept.Until),
            _ => new PolicyVerdict(SandboxAction.Wait, PreviewSandboxConditions.Reasons.Paused, "Preview paused; new activity resumes it", NotBefore: kept.Until),
        };
    }

    private static PolicyVerdict? WokenByActivity(SandboxSnapshot s, PolicySettings _)
    {
        if (s.Phase != Phases.Expired)
        {
            return null;
        }

        // Newer activity, or any new heartbeat value since the expiry (a whole-second value written in the same second
        // as a sub-second endedAt is not "newer", yet it was written after the expiry).
        var woken = (s.LastActivity is { } activity && (s.EndedAt is not { } ended || activity > ended)) || s.HeartbeatChangedSinceExpiry;
        if (!woken)
        {
            return new PolicyVerdict(SandboxAction.Wait, ReadyReason(s) ?? PreviewSandboxConditions.Reasons.IdleExpired,
                "Preview expired; new activity wakes it");
        }

        if (!s.Spec.EffectiveRecreate().IsEnabled())
        {
            return new PolicyVerdict(SandboxAction.Wait, PreviewSandboxConditions.Reasons.RecreateDisabled,
                "Preview expired and recreate is disabled");
        }

        var reason = ReadyReason(s) == PreviewSandboxConditions.Reasons.TtlExpired ? RecreationReasons.Expired : RecreationReasons.IdleWake;
        return new PolicyVerdict(SandboxAction.Recreate, PreviewSandboxConditions.Reasons.Recreating,
            "New activity after expiry; recreating the sandbox with the latest files", reason);
    }

    private static PolicyVerdict? Resumed(SandboxSnapshot s, PolicySettings _) =>
        s.Phase == Phases.Stopped
            ? new PolicyVerdict(SandboxAction.Create, PreviewSandboxConditions.Reasons.Provisioning, "Preview resumed")
            : null;

    private static PolicyVerdict? SandboxLost(SandboxSnapshot s, PolicySettings settings)
    {
        if (!s.HasSandbox)
        {
            return null;
        }

        var lost = s.Remote == RemoteObservation.Lost || s.ProbeFailures >= settings.ProbeFailureThreshold;
        if (!lost)
        {
            return null;
        }

        var why = s.Remote == RemoteObservation.Lost
            ? $"Sandbox {s.Status.SandboxId} is gone or stopped"
            : $"Preview URL failed {s.ProbeFailures} health probes in a row";
        var recreate = s.Spec.EffectiveRecreate();
        if (!recreate.IsEnabled())
        {
            return new PolicyVerdict(SandboxAction.Fail, PreviewSandboxConditions.Reasons.SandboxLost, $"{why}; recreate is disabled");
        }

        // The loss itself is a failure; recreating after it is one more attempt.
        var failures = (s.Status.FailedAttempts ?? 0) + 1;
        if (failures > recreate.EffectiveMaxAttempts())
        {
            return Exhausted(failures, recreate.EffectiveMaxAttempts(), why);
        }

        return new PolicyVerdict(SandboxAction.Recreate, PreviewSandboxConditions.Reasons.SandboxLost, $"{why}; recreating", RecreationReasons.Error);
    }

    private static PolicyVerdict? NotYetRunning(SandboxSnapshot s, PolicySettings settings)
    {
        if (s.HasSandbox)
        {
            return null;
        }

        var recreating = s.Phase == Phases.Recreating;
        var message = recreating ? "Recreating the sandbox" : "Creating the sandbox";
        var recreate = s.Spec.EffectiveRecreate();
        var failures = s.Status.FailedAttempts ?? 0;
        if (failures > recreate.EffectiveMaxAttempts())
        {
            return Exhausted(failures, recreate.EffectiveMaxAttempts(), s.LastError ?? message);
        }

        if (failures > 0 && s.Status.LastFailureTime is { } lastFailure)
        {
            var notBefore = SandboxSnapshot.ToOffset(lastFailure) + Backoff(failures, recreate.EffectiveCooldownSeconds(), settings.MaxBackoff);
            if (s.Now < notBefore)
            {
                return new PolicyVerdict(SandboxAction.Wait, PreviewSandboxConditions.Reasons.BackingOff,
                    $"Retrying at {notBefore:O} after {failures} failed attempt(s): {s.LastError ?? message}", NotBefore: notBefore);
            }
        }

        return new PolicyVerdict(SandboxAction.Create,
            recreating ? PreviewSandboxConditions.Reasons.Recreating : PreviewSandboxConditions.Reasons.Provisioning, message);
    }

    private static PolicyVerdict Exhausted(int failures, int maxAttempts, string why) =>
        new(SandboxAction.Fail, PreviewSandboxConditions.Reasons.RecreateExhausted,
            $"Gave up after {failures} consecutive failures (recreate.maxAttempts={maxAttempts}); last: {why}");

    private static string? ReadyReason(SandboxSnapshot s) =>
        ConditionSet.Find(s.Status.Conditions, PreviewSandboxConditions.Ready)?.Reason;
}

/// <summary>Which of the two cuts ends a running sandbox.</summary>
public enum SandboxCut
{
    /// <summary>No activity within the idle timeout (<c>spec.lifecycle.onIdle</c>).</summary>
    Idle,

    /// <summary>The sandbox's TTL elapsed (<c>spec.lifecycle.onExpire</c>).</summary>
    Ttl,
}

/// <summary>What a cut does to the sandbox.</summary>
public enum CutOutcome
{
    /// <summary>The sandbox is removed; a wake creates a new one and transfers every file.</summary>
    Delete,

    /// <summary>The sandbox is paused (E2B) or stopped (Daytona, local) and kept; a wake resumes it.</summary>
    Pause,
}

/// <summary>The next cut of a running sandbox, what it does, and when the heads-up before it is due.</summary>
public sealed record PlannedCut(SandboxCut Cut, DateTimeOffset At, CutOutcome Outcome, DateTimeOffset? WarnAt);

/// <summary>What to do with a paused sandbox now.</summary>
public enum PausedOutcome
{
    /// <summary>Keep it paused until <see cref="PausedVerdict.Until"/>.</summary>
    Keep,

    /// <summary>The retention elapsed and the provider archives (Daytona): archive it, and delete at the end of the retention.</summary>
    Archive,

    /// <summary>The retention elapsed: delete the sandbox; the preview becomes Expired and a wake creates a new one.</summary>
    Delete,
}

public sealed record PausedVerdict(PausedOutcome Outcome, DateTimeOffset? Until);

/// <summary>
/// Pure decisions of the retention tiers (run → pause → archive/delete): which cut comes first, whether it pauses or
/// deletes, when the heads-up is due, how long a paused sandbox is kept. No IO, no clock: callers pass the times.
/// </summary>
public static class SandboxLifecyclePolicy
{
    /// <summary>
    /// End of the idle window: last activity plus the idle timeout, but never before the sandbox has run
    /// <c>minRunningSeconds</c> (a slow first boot sends no heartbeats, and cutting it would just start the boot over).
    /// </summary>
    public static DateTimeOffset? IdleDeadline(DateTimeOffset? lastActivity, DateTimeOffset? startedAt, PreviewSandboxSpec spec)
    {
        if (lastActivity is not { } activity)
        {
            return null;
        }

        var deadline = activity.AddSeconds(spec.EffectiveIdleTimeoutSeconds());
        var minRunning = spec.EffectiveLifecycle().EffectiveMinRunningSeconds();
        return minRunning > 0 && startedAt?.AddSeconds(minRunning) is { } graceEnd && graceEnd > deadline ? graceEnd : deadline;
    }

    /// <summary>
    /// Pause or delete at <paramref name="cut"/>. Pause needs a provider that can pause; without one the cut deletes,
    /// as it did before lifecycle policies existed.
    /// </summary>
    public static CutOutcome OutcomeOf(SandboxCut cut, PreviewSandboxLifecycle lifecycle, bool providerCanPause)
    {
        var action = cut == SandboxCut.Idle ? lifecycle.EffectiveOnIdle() : lifecycle.EffectiveOnExpire();
        return action == LifecycleActions.Pause && providerCanPause ? CutOutcome.Pause : CutOutcome.Delete;
    }

    /// <summary>
    /// The earlier of the idle and TTL cuts of a running sandbox (TTL wins a tie: it is the harder limit), with the time
    /// of its heads-up. Null when neither deadline is known yet.
    /// </summary>
    public static PlannedCut? NextCut(SandboxSnapshot s, bool providerCanPause)
    {
        var idle = s.IdleDeadline;
        var ttl = s.ExpiresAt;
        (SandboxCut Cut, DateTimeOffset At)? next = (idle, ttl) switch
        {
            ({ } i, { } t) => i < t ? (SandboxCut.Idle, i) : (SandboxCut.Ttl, t),
            ({ } i, null) => (SandboxCut.Idle, i),
            (null, { } t) => (SandboxCut.Ttl, t),
            _ => null,
        };
        if (next is not { } n)
        {
            return null;
        }

        var lifecycle = s.Spec.EffectiveLifecycle();
        return new PlannedCut(n.Cut, n.At, OutcomeOf(n.Cut, lifecycle, providerCanPause), WarnAt(n.Cut, n.At, s.Spec));
    }

    /// <summary>
    /// When the heads-up before a cut at <paramref name="cutAt"/> is due; null when warnings are off. For the idle cut
    /// the warning is at most half the idle timeout, so a warning never fires right after fresh activity.
    /// </summary>
    public static DateTimeOffset? WarnAt(SandboxCut cut, DateTimeOffset cutAt, PreviewSandboxSpec spec)
    {
        var seconds = spec.EffectiveLifecycle().EffectiveExpiryWarningSeconds();
        if (seconds <= 0)
        {
            return null;
        }

        if (cut == SandboxCut.Idle)
        {
            seconds = Math.Min(seconds, spec.EffectiveIdleTimeoutSeconds() / 2);
        }

        return seconds <= 0 ? null : cutAt.AddSeconds(-seconds);
    }

    /// <summary>
    /// Heads-up to send now, if any: due, its cut not yet reached, and not already sent for this cut (identified by the
    /// cut time the last warning carried, so a heartbeat that moves the deadline earns a new warning later).
    /// </summary>
    public static TimeSpan? WarningDue(PlannedCut? cut, DateTimeOffset now, DateTimeOffset? lastWarnedCutAt)
    {
        if (cut is not { WarnAt: { } warnAt } || now < warnAt || now >= cut.At || SameCut(lastWarnedCutAt, cut.At))
        {
            return null;
        }

        return cut.At - now;
    }

    /// <summary>
    /// When the next heads-up falls due (for the requeue): the warning time of <paramref name="cut"/> when it is still
    /// ahead and not yet sent; null otherwise.
    /// </summary>
    public static DateTimeOffset? NextWarningAt(PlannedCut? cut, DateTimeOffset now, DateTimeOffset? lastWarnedCutAt) =>
        cut is { WarnAt: { } warnAt } && warnAt > now && !SameCut(lastWarnedCutAt, cut.At) ? warnAt : null;

    /// <summary>
    /// The recorded cut time went through status (whole microseconds at best) and activity times carry ticks: a cut
    /// that moved by less than a second is the same cut, not one that earns a second warning.
    /// </summary>
    private static bool SameCut(DateTimeOffset? warnedCutAt, DateTimeOffset cutAt) =>
        warnedCutAt is { } w && (w - cutAt).Duration() < TimeSpan.FromSeconds(1);

    /// <summary>
    /// A paused sandbox is kept for <c>pausedRetentionSeconds</c> after <paramref name="pausedAt"/>. After that a provider
    /// that archives (Daytona) archives it and keeps it as long again; otherwise it is deleted.
    /// </summary>
    public static PausedVerdict Paused(DateTimeOffset pausedAt, DateTimeOffset now, PreviewSandboxLifecycle lifecycle, bool providerCanArchive, bool archived)
    {
        var retention = TimeSpan.FromSeconds(lifecycle.EffectivePausedRetentionSeconds());
        var keepUntil = pausedAt + retention;
        if (now < keepUntil)
        {
            return new PausedVerdict(PausedOutcome.Keep, keepUntil);
        }

        if (providerCanArchive)
        {
            var archiveUntil = keepUntil + retention;
            if (!archived && now < archiveUntil)
            {
                return new PausedVerdict(PausedOutcome.Archive, archiveUntil);
            }

            if (now < archiveUntil)
            {
                return new PausedVerdict(PausedOutcome.Keep, archiveUntil);
            }
        }

        return new PausedVerdict(PausedOutcome.Delete, null);
    }

    /// <summary>
    /// How a wake brings a paused preview back: resume when the provider still holds the paused sandbox (paused,
    /// stopped or already running again), otherwise recreate (new sandbox, every file transferred).
    /// </summary>
    public static string WakeKind(SandboxState? pausedSandbox) => pausedSandbox switch
    {
        SandboxState.Stopped or SandboxState.Running or SandboxState.Pending => StartKinds.Resume,
        _ => StartKinds.Recreate,
    };
}
