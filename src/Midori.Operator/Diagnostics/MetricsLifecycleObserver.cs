using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Reasons = Midori.Operator.Api.V1Alpha1.PreviewSandboxConditions.Reasons;

namespace Midori.Operator.Diagnostics;

/// <summary>
/// Turns the reconciler's lifecycle notifications into <see cref="MidoriMetrics"/> figures: time to Ready split into
/// create / wake / recreate, expiries by reason, recreations by reason and success. Registered as one more
/// <see cref="ISandboxLifecycleObserver"/> beside the store's and the live-events observers.
/// </summary>
internal sealed class MetricsLifecycleObserver(MidoriMetrics metrics) : ISandboxLifecycleObserver
{
    public const string KindCreate = "create";
    public const string KindWake = "wake";
    public const string KindRecreate = "recreate";

    public void Provisioning(V1Alpha1PreviewSandbox resource, bool recreating) { }

    public void Ready(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, bool recreated, TimeSpan elapsed) =>
        ReadyAs(resource, status, recreated, elapsed, null);

    /// <summary>Warm (kind claim) vs cold (create) time to Ready sit side by side in one histogram.</summary>
    public void ReadyAs(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, bool recreated, TimeSpan elapsed, string? kind) =>
        metrics.TimeToReady(kind ?? ReadyKind(status, recreated), status.Provider ?? resource.Spec.Provider ?? "unknown", elapsed);

    public void RecreationStarted(V1Alpha1PreviewSandbox resource, string reason, string? oldSandboxId) { }

    public void RecreationCompleted(V1Alpha1PreviewSandbox resource, RecreationRecord record, bool success, string? error, TimeSpan elapsed) =>
        metrics.Recreated(record.Reason ?? RecreationReasons.Manual, success);

    public void Expired(V1Alpha1PreviewSandbox resource, string reason, TimeSpan lateness) =>
        metrics.Expired(reason switch
        {
            Reasons.IdleExpired => "idle",
            Reasons.TtlExpired => "ttl",
            _ => reason,
        });

    public void Ended(V1Alpha1PreviewSandbox resource, string phase, string reason) { }

    public void Deleted(V1Alpha1PreviewSandbox resource) { }

    /// <summary>A wake-up is a recreation caused by new activity after an idle or TTL expiry; other recreations replace a lost or unwanted sandbox.</summary>
    internal static string ReadyKind(PreviewSandboxStatus status, bool recreated) => !recreated
        ? KindCreate
        : status.LastRecreation?.Reason is RecreationReasons.IdleWake or RecreationReasons.Expired ? KindWake : KindRecreate;
}
