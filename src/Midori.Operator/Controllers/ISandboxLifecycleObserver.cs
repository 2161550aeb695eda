using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Controllers;

/// <summary>
/// Lifecycle notifications from the reconciler for whoever keeps history or figures (the store's session and
/// recreation rows, metrics, benchmarks). Called inline, so implementations must be quick and must not throw.
/// </summary>
public interface ISandboxLifecycleObserver
{
    void Provisioning(V1Alpha1PreviewSandbox resource, bool recreating);

    void Ready(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, bool recreated, TimeSpan elapsed);

    void RecreationStarted(V1Alpha1PreviewSandbox resource, string reason, string? oldSandboxId);

    void RecreationCompleted(V1Alpha1PreviewSandbox resource, RecreationRecord record, bool success, string? error, TimeSpan elapsed);

    /// <summary>Idle or TTL expiry; <paramref name="lateness"/> is how long after its deadline it happened.</summary>
    void Expired(V1Alpha1PreviewSandbox resource, string reason, TimeSpan lateness);

    /// <summary>The sandbox was removed and the preview now sits in <paramref name="phase"/> (Expired, Stopped, Failed).</summary>
    void Ended(V1Alpha1PreviewSandbox resource, string phase, string reason);

    void Deleted(V1Alpha1PreviewSandbox resource);
}

internal sealed class NullSandboxLifecycleObserver : ISandboxLifecycleObserver
{
    public static readonly NullSandboxLifecycleObserver Instance = new();

    public void Provisioning(V1Alpha1PreviewSandbox resource, bool recreating) { }

    public void Ready(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, bool recreated, TimeSpan elapsed) { }

    public void RecreationStarted(V1Alpha1PreviewSandbox resource, string reason, string? oldSandboxId) { }

    public void RecreationCompleted(V1Alpha1PreviewSandbox resource, RecreationRecord record, bool success, string? error, TimeSpan elapsed) { }

    public void Expired(V1Alpha1PreviewSandbox resource, string reason, TimeSpan lateness) { }

    public void Ended(V1Alpha1PreviewSandbox resource, string phase, string reason) { }

    public void Deleted(V1Alpha1PreviewSandbox resource) { }
}
