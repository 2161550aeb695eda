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

    /// <summary>
    /// <see cref="Ready"/> with how the sandbox came to be when the flag does not say it (<see cref="ReadyKinds"/>:
    /// claimed from a warm pool); null: as <see cref="Ready"/>. Observers that do not care keep the default.
    /// </summary>
    void ReadyAs(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, bool recreated, TimeSpan elapsed, string? kind) =>
        Ready(resource, status, recreated, elapsed);

    void RecreationStarted(V1Alpha1PreviewSandbox resource, string reason, string? oldSandboxId);

    void RecreationCompleted(V1Alpha1PreviewSandbox resource, RecreationRecord record, bool success, string? error, TimeSpan elapsed);

    /// <summary>Idle or TTL expiry; <paramref name="lateness"/> is how long after its deadline it happened.</summary>
    void Expired(V1Alpha1PreviewSandbox resource, string reason, TimeSpan lateness);

    /// <summary>The sandbox was removed and the preview now sits in <paramref name="phase"/> (Expired, Stopped, Failed).</summary>
    void Ended(V1Alpha1PreviewSandbox resource, string phase, string reason);

    void Deleted(V1Alpha1PreviewSandbox resource);

    /// <summary>
    /// Progress of a (re)creation for live clients (server-sent events): <paramref name="stage"/> is one of
    /// <see cref="ProvisioningStages"/>, <paramref name="percent"/> 0–100.
    /// </summary>
    void Progress(V1Alpha1PreviewSandbox resource, string stage, int percent) { }

    /// <summary>
    /// Heads-up before a cut, once per cut: the sandbox will be paused or deleted at <paramref name="warning"/>'s
    /// <see cref="ExpiryWarning.CutAt"/> unless activity moves the deadline.
    /// </summary>
    void ExpiryWarned(V1Alpha1PreviewSandbox resource, ExpiryWarning warning) { }
}

/// <summary>A heads-up before an idle or TTL cut: which cut (<see cref="ExpiryCuts"/>), when, how long from now, and what it does.</summary>
public sealed record ExpiryWarning(string Cut, DateTimeOffset CutAt, TimeSpan Remaining, CutOutcome Outcome);

/// <summary>Ready kinds beyond create / wake / recreate (the <c>kind</c> of <c>midori.sandbox.time_to_ready</c>).</summary>
public static class ReadyKinds
{
    /// <summary>A warm sandbox claimed from a PreviewSandboxPool (files pushed, dev server restarted if needed).</summary>
    public const string Claim = StartKinds.Claim;
}

/// <summary>Stages of a (re)creation as clients see them (the progress events of the HTTP API's live status stream).</summary>
public static class ProvisioningStages
{
    public const string Creating = "creating";
    public const string Transferring = "transferring";
    public const string Updating = "updating";
    public const string Complete = "complete";
}

/// <summary>Fans every notification out to all registered observers (store, metrics, live events); one failing observer does not stop the others.</summary>
internal sealed class CompositeSandboxLifecycleObserver(IReadOnlyList<ISandboxLifecycleObserver> observers) : ISandboxLifecycleObserver
{
    /// <summary>One observer for <paramref name="observers"/>: none, the single one, or a composite.</summary>
    public static ISandboxLifecycleObserver Of(IEnumerable<ISandboxLifecycleObserver>? observers) => observers?.ToList() switch
    {
        null or [] => NullSandboxLifecycleObserver.Instance,
        [var single] => single,
        var many => new CompositeSandboxLifecycleObserver(many),
    };

    public void Provisioning(V1Alpha1PreviewSandbox resource, bool recreating) => Each(o => o.Provisioning(resource, recreating));

    public void Ready(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, bool recreated, TimeSpan elapsed) =>
        Each(o => o.Ready(resource, status, recreated, elapsed));

    public void ReadyAs(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, bool recreated, TimeSpan elapsed, string? kind) =>
        Each(o => o.ReadyAs(resource, status, recreated, elapsed, kind));

    public void RecreationStarted(V1Alpha1PreviewSandbox resource, string reason, string? oldSandboxId) =>
        Each(o => o.RecreationStarted(resource, reason, oldSandboxId));

    public void RecreationCompleted(V1Alpha1PreviewSandbox resource, RecreationRecord record, bool success, string? error, TimeSpan elapsed) =>
        Each(o => o.RecreationCompleted(resource, record, success, error, elapsed));

    public void Expired(V1Alpha1PreviewSandbox resource, string reason, TimeSpan lateness) => Each(o => o.Expired(resource, reason, lateness));

    public void Ended(V1Alpha1PreviewSandbox resource, string phase, string reason) => Each(o => o.Ended(resource, phase, reason));

    public void Deleted(V1Alpha1PreviewSandbox resource) => Each(o => o.Deleted(resource));

    public void Progress(V1Alpha1PreviewSandbox resource, string stage, int percent) => Each(o => o.Progress(resource, stage, percent));

    public void ExpiryWarned(V1Alpha1PreviewSandbox resource, ExpiryWarning warning) => Each(o => o.ExpiryWarned(resource, warning));

    private void Each(Action<ISandboxLifecycleObserver> notify)
    {
        foreach (var observer in observers)
        {
            try
            {
                notify(observer);
            }
            catch (Exception)
            {
                // Observers must not throw (contract above); if one does, history/metrics lose a point, the reconcile goes on.
            }
        }
    }
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
