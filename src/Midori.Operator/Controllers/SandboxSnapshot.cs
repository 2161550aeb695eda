using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers;

namespace Midori.Operator.Controllers;

/// <summary>What the provider said about the current sandbox, gathered once per reconcile.</summary>
public enum RemoteObservation
{
    /// <summary>Not asked: there is no current sandbox, or the phase does not need one.</summary>
    NotChecked,
    Running,
    /// <summary>Exists but is not serving yet (starting).</summary>
    Pending,
    /// <summary>Gone, stopped or failed: the sandbox no longer serves the preview.</summary>
    Lost,
    /// <summary>The provider could not be asked (outage); nothing is concluded from it.</summary>
    Unknown,
}

/// <summary>
/// Everything a decision needs, gathered once by the reconciler (house rule 3). Policies read only this,
/// so they are pure functions and can be tested with tables.
/// </summary>
public sealed record SandboxSnapshot(
    V1Alpha1PreviewSandbox Resource,
    DateTimeOffset Now,
    RemoteObservation Remote,
    bool? ProbeHealthy,
    DateTimeOffset? LastActivity)
{
    public PreviewSandboxSpec Spec => Resource.Spec;

    public PreviewSandboxStatus Status => Resource.Status ?? new PreviewSandboxStatus();

    public long Generation => Resource.Metadata.Generation ?? 0;

    public string? Phase => Status.Phase;

    /// <summary>A sandbox is supposed to exist right now.</summary>
    public bool HasSandbox => Status.SandboxId is not null && Phase is Phases.Running;

    public string? RecreateRequest =>
        Resource.Metadata.Annotations?.TryGetValue(GroupVersion.RecreateAnnotation, out var v) == true && !string.IsNullOrWhiteSpace(v) ? v : null;

    /// <summary>The heartbeat annotation as written (null when absent).</summary>
    public string? Heartbeat => Api.V1Alpha1.Heartbeat.Raw(Resource);

    /// <summary>The heartbeat annotation is set but is not an RFC 3339 time (it is ignored, and reported).</summary>
    public bool HeartbeatIsInvalid => Heartbeat is { } raw && !Api.V1Alpha1.Heartbeat.TryParse(raw, out _);

    /// <summary>
    /// A valid heartbeat value other than the one recorded at expiry: someone wrote activity after the preview
    /// expired. Compared by value, so the precision of the time does not matter; anchored in status, so it holds
    /// across operator restarts.
    /// </summary>
    public bool HeartbeatChangedSinceExpiry =>
        Status.HeartbeatAtExpiry is { } recorded && Heartbeat is { } current
        && !string.Equals(current, recorded, StringComparison.Ordinal) && Api.V1Alpha1.Heartbeat.TryParse(current, out _);

    public bool HasNewRecreateRequest => RecreateRequest is { } r && r != Status.ObservedRecreateRequest;

    public bool SpecChangedSinceObserved => Status.ObservedGeneration is { } g && g != Generation;

    public DateTimeOffset? StartedAt => Status.StartedAt is { } t ? ToOffset(t) : null;

    public DateTimeOffset? ExpiresAt => StartedAt?.AddSeconds(Spec.EffectiveTtlSeconds()) is { } ttlEnd
        ? (Status.ExpiresAt is { } reported && ToOffset(reported) < ttlEnd ? ToOffset(reported) : ttlEnd)
        : null;

    /// <summary>End of the idle window, never before the boot grace (<c>spec.lifecycle.minRunningSeconds</c>) has passed.</summary>
    public DateTimeOffset? IdleDeadline => SandboxLifecyclePolicy.IdleDeadline(LastActivity, StartedAt, Spec);

    public DateTimeOffset? EndedAt => Status.EndedAt is { } t ? ToOffset(t) : null;

    /// <summary>Probe failures including this reconcile's probe.</summary>
    public int ProbeFailures => ProbeHealthy switch
    {
        true => 0,
        false => (Status.ProbeFailures ?? 0) + 1,
        null => Status.ProbeFailures ?? 0,
    };

    /// <summary>The last failure, kept in the Degraded condition while it is True.</summary>
    public string? LastError => ConditionSet.Find(Status.Conditions, PreviewSandboxConditions.Degraded) is { Status: "True" } degraded
        ? degraded.Message
        : null;

    public static DateTimeOffset ToOffset(DateTime time) =>
        new(DateTime.SpecifyKind(time, time.Kind == DateTimeKind.Unspecified ? DateTimeKind.Utc : time.Kind).ToUniversalTime(), TimeSpan.Zero);
}

/// <summary>Remote view of the provider's answer, mapped to what the policies care about.</summary>
public static class RemoteObservations
{
    public static RemoteObservation From(SandboxInfo? info) => info?.State switch
    {
        null => RemoteObservation.Lost,
        SandboxState.Running => RemoteObservation.Running,
        SandboxState.Pending => RemoteObservation.Pending,
        _ => RemoteObservation.Lost,
    };
}
