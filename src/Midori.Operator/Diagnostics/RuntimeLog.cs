using Microsoft.Extensions.Logging;

namespace Midori.Operator.Diagnostics;

/// <summary>Source-generated log messages of the controller runtime (ids 1000–1999, see <see cref="LogEventIds"/>).</summary>
internal static partial class RuntimeLog
{
    #region Informer

    [LoggerMessage(EventId = LogEventIds.InformerStarted, Level = LogLevel.Information, Message = "Started PreviewSandbox informer in namespace {Namespace}")]
    public static partial void InformerStarted(this ILogger logger, string @namespace);

    [LoggerMessage(EventId = LogEventIds.InformerStopped, Level = LogLevel.Information, Message = "Stopped PreviewSandbox informer")]
    public static partial void InformerStopped(this ILogger logger);

    [LoggerMessage(EventId = LogEventIds.InformerListed, Level = LogLevel.Information, Message = "Listed {Count} PreviewSandboxes at resourceVersion {ResourceVersion}; enqueued {Enqueued}")]
    public static partial void InformerListed(this ILogger logger, int count, string resourceVersion, int enqueued);

    [LoggerMessage(EventId = LogEventIds.InformerWatchStarted, Level = LogLevel.Debug, Message = "Started watch of PreviewSandboxes from resourceVersion {ResourceVersion}")]
    public static partial void InformerWatchStarted(this ILogger logger, string resourceVersion);

    [LoggerMessage(EventId = LogEventIds.InformerWatchClosed, Level = LogLevel.Debug, Message = "Watch of PreviewSandboxes closed by the server after {Events} events; re-watching from resourceVersion {ResourceVersion}")]
    public static partial void InformerWatchClosed(this ILogger logger, int events, string resourceVersion);

    [LoggerMessage(EventId = LogEventIds.InformerResourceVersionExpired, Level = LogLevel.Information, Message = "ResourceVersion of the PreviewSandbox watch expired; relisting")]
    public static partial void InformerResourceVersionExpired(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = LogEventIds.InformerWatchFailed, Level = LogLevel.Warning, Message = "PreviewSandbox list/watch failed {Failures} times in a row; retrying in {Delay}")]
    public static partial void InformerWatchFailed(this ILogger logger, Exception exception, int failures, TimeSpan delay);

    [LoggerMessage(EventId = LogEventIds.InformerEventSkipped, Level = LogLevel.Trace, Message = "Skipped status-only change of PreviewSandbox {Namespace}/{Name} at resourceVersion {ResourceVersion}")]
    public static partial void InformerEventSkipped(this ILogger logger, string? @namespace, string? name, string? resourceVersion);

    [LoggerMessage(EventId = LogEventIds.InformerEventEnqueued, Level = LogLevel.Debug, Message = "Enqueued PreviewSandbox {Namespace}/{Name} after {EventType} at resourceVersion {ResourceVersion}")]
    public static partial void InformerEventEnqueued(this ILogger logger, string? @namespace, string? name, string eventType, string? resourceVersion);

    [LoggerMessage(EventId = LogEventIds.InformerEventFailed, Level = LogLevel.Warning, Message = "Failed to handle {EventType} watch event of PreviewSandbox {Namespace}/{Name}")]
    public static partial void InformerEventFailed(this ILogger logger, Exception exception, string eventType, string? @namespace, string? name);

    [LoggerMessage(EventId = LogEventIds.CrdMissing, Level = LogLevel.Warning,
        Message = "The PreviewSandbox CRD (previewsandboxes.preview.midori.dev) is not installed on this API server. Install it with `kubectl apply -k config/crd` (the Helm chart installs it too); the operator keeps retrying quietly and starts working once it appears (next try in {RetryIn})")]
    public static partial void CrdMissing(this ILogger logger, TimeSpan retryIn);

    [LoggerMessage(EventId = LogEventIds.CrdStillMissing, Level = LogLevel.Debug, Message = "PreviewSandbox CRD still not installed; next try in {RetryIn}")]
    public static partial void CrdStillMissing(this ILogger logger, TimeSpan retryIn);

    [LoggerMessage(EventId = LogEventIds.CrdInstalled, Level = LogLevel.Information, Message = "The PreviewSandbox CRD is installed now; listing PreviewSandboxes")]
    public static partial void CrdInstalled(this ILogger logger);

    [LoggerMessage(EventId = LogEventIds.InformerShortWatch, Level = LogLevel.Debug, Message = "Watch of PreviewSandboxes closed immediately without events")]
    public static partial void InformerShortWatch(this ILogger logger);

    #endregion

    #region Workers

    [LoggerMessage(EventId = LogEventIds.WorkersStarted, Level = LogLevel.Information, Message = "Started {Workers} reconcile workers")]
    public static partial void WorkersStarted(this ILogger logger, int workers);

    [LoggerMessage(EventId = LogEventIds.WorkersStopped, Level = LogLevel.Information, Message = "Stopped reconcile workers")]
    public static partial void WorkersStopped(this ILogger logger);

    [LoggerMessage(EventId = LogEventIds.ReconcileSucceeded, Level = LogLevel.Debug, Message = "Reconciled PreviewSandbox in {ElapsedMs} ms; next run in {RequeueAfter}")]
    public static partial void ReconcileSucceeded(this ILogger logger, double elapsedMs, TimeSpan requeueAfter);

    [LoggerMessage(EventId = LogEventIds.ReconcileFailed, Level = LogLevel.Warning, Message = "Reconcile of PreviewSandbox failed ({Failures} in a row): {Error}; retrying in {RequeueAfter}")]
    public static partial void ReconcileFailed(this ILogger logger, Exception? exception, int failures, string error, TimeSpan requeueAfter);

    [LoggerMessage(EventId = LogEventIds.ReconcileThrew, Level = LogLevel.Error, Message = "Reconcile of PreviewSandbox threw ({Failures} in a row); retrying in {RequeueAfter}")]
    public static partial void ReconcileThrew(this ILogger logger, Exception exception, int failures, TimeSpan requeueAfter);

    [LoggerMessage(EventId = LogEventIds.ReconcileConflict, Level = LogLevel.Debug, Message = "Reconcile of PreviewSandbox hit a write conflict; retrying in {RequeueAfter}")]
    public static partial void ReconcileConflict(this ILogger logger, TimeSpan requeueAfter);

    [LoggerMessage(EventId = LogEventIds.ReconcileCancelled, Level = LogLevel.Debug, Message = "Reconcile of PreviewSandbox was cancelled")]
    public static partial void ReconcileCancelled(this ILogger logger);

    #endregion

    #region Leadership and runtime host

    [LoggerMessage(EventId = LogEventIds.LeadershipDisabled, Level = LogLevel.Information, Message = "Leader election is disabled; {Identity} reconciles alone")]
    public static partial void LeadershipDisabled(this ILogger logger, string identity);

    [LoggerMessage(EventId = LogEventIds.LeadershipAcquired, Level = LogLevel.Information, Message = "Acquired Lease {Namespace}/{LeaseName} as {Identity}")]
    public static partial void LeadershipAcquired(this ILogger logger, string @namespace, string leaseName, string identity);

    [LoggerMessage(EventId = LogEventIds.LeadershipLost, Level = LogLevel.Warning, Message = "Lost Lease {Namespace}/{LeaseName} held as {Identity}")]
    public static partial void LeadershipLost(this ILogger logger, string @namespace, string leaseName, string identity);

    [LoggerMessage(EventId = LogEventIds.LeadershipStepDown, Level = LogLevel.Information, Message = "Stepping down from Lease {Namespace}/{LeaseName} held as {Identity}: shutting down")]
    public static partial void LeadershipStepDown(this ILogger logger, string @namespace, string leaseName, string identity);

    [LoggerMessage(EventId = LogEventIds.LeaderObserved, Level = LogLevel.Information, Message = "Observed leader {Leader} of Lease {Namespace}/{LeaseName}")]
    public static partial void LeaderObserved(this ILogger logger, string leader, string @namespace, string leaseName);

    [LoggerMessage(EventId = LogEventIds.LeaderElectionFailed, Level = LogLevel.Warning, Message = "Leader election on Lease {Namespace}/{LeaseName} failed; retrying in {Delay}")]
    public static partial void LeaderElectionFailed(this ILogger logger, Exception exception, string @namespace, string leaseName, TimeSpan delay);

    [LoggerMessage(EventId = LogEventIds.LeaseReleased, Level = LogLevel.Information, Message = "Released Lease {Namespace}/{LeaseName} held as {Identity}")]
    public static partial void LeaseReleased(this ILogger logger, string @namespace, string leaseName, string identity);

    [LoggerMessage(EventId = LogEventIds.LeaseReleaseFailed, Level = LogLevel.Warning, Message = "Could not release Lease {Namespace}/{LeaseName}; the next leader takes over when it expires")]
    public static partial void LeaseReleaseFailed(this ILogger logger, Exception exception, string @namespace, string leaseName);

    [LoggerMessage(EventId = LogEventIds.LeadershipFenceLapsed, Level = LogLevel.Warning,
        Message = "Leadership fence of Lease {Namespace}/{LeaseName} lapsed for {Identity}: last renewal sent at {LastRenewal}, valid for {Validity}; stopping all leader work and re-running the election")]
    public static partial void LeadershipFenceLapsed(this ILogger logger, string @namespace, string leaseName, string identity, DateTimeOffset? lastRenewal, TimeSpan validity);

    [LoggerMessage(EventId = LogEventIds.LeadershipWriteRefused, Level = LogLevel.Warning, Message = "Dropped {Reason} Event for {Namespace}/{Name}: the leadership fence is not held")]
    public static partial void EventFenced(this ILogger logger, string reason, string? @namespace, string? name);

    [LoggerMessage(EventId = LogEventIds.RuntimeTermStarted, Level = LogLevel.Information, Message = "Started informer and workers for leadership term {Term}")]
    public static partial void RuntimeTermStarted(this ILogger logger, long term);

    [LoggerMessage(EventId = LogEventIds.RuntimeTermStopped, Level = LogLevel.Information, Message = "Stopped informer and workers of leadership term {Term}; cleared the reconcile queue")]
    public static partial void RuntimeTermStopped(this ILogger logger, long term);

    [LoggerMessage(EventId = LogEventIds.RuntimeDrainTimedOut, Level = LogLevel.Warning, Message = "In-flight reconciles did not finish within {Timeout}; cancelled them")]
    public static partial void RuntimeDrainTimedOut(this ILogger logger, TimeSpan timeout);

    [LoggerMessage(EventId = LogEventIds.RuntimeComponentFailed, Level = LogLevel.Error, Message = "Runtime component {Component} stopped unexpectedly")]
    public static partial void RuntimeComponentFailed(this ILogger logger, Exception exception, string component);

    #endregion

    #region Events

    [LoggerMessage(EventId = LogEventIds.EventDropped, Level = LogLevel.Warning, Message = "Dropped Event {Reason} for PreviewSandbox {Namespace}/{Name}: the send buffer is full")]
    public static partial void EventDropped(this ILogger logger, string reason, string? @namespace, string? name);

    [LoggerMessage(EventId = LogEventIds.EventSendFailed, Level = LogLevel.Warning, Message = "Failed to record Event {Reason} for PreviewSandbox {Namespace}/{Name}")]
    public static partial void EventSendFailed(this ILogger logger, Exception exception, string reason, string? @namespace, string? name);

    #endregion

    [LoggerMessage(EventId = LogEventIds.SandboxDeathEnqueued, Level = LogLevel.Information,
        Message = "Provider {Provider} reported Sandbox {SandboxId} of PreviewSandbox {Namespace}/{Name} dead ({Detail}); reconciling it now")]
    public static partial void SandboxDeathEnqueued(this ILogger logger, string provider, string sandboxId, string @namespace, string name, string detail);

    #region Namespace policy

    [LoggerMessage(EventId = LogEventIds.PoliciesListed, Level = LogLevel.Debug, Message = "Listed {Count} PreviewSandboxPolicies")]
    public static partial void PoliciesListed(this ILogger logger, int count);

    [LoggerMessage(EventId = LogEventIds.PolicyCrdMissing, Level = LogLevel.Information, Message = "The PreviewSandboxPolicy CRD is not installed: no namespace policies apply; looking again in {Interval}")]
    public static partial void PolicyCrdMissing(this ILogger logger, TimeSpan interval);

    [LoggerMessage(EventId = LogEventIds.PolicyWatchFailed, Level = LogLevel.Warning, Message = "Watching PreviewSandboxPolicies failed ({Failures} in a row); relisting in {Delay}")]
    public static partial void PolicyWatchFailed(this ILogger logger, Exception exception, int failures, TimeSpan delay);

    [LoggerMessage(EventId = LogEventIds.PolicyDenied, Level = LogLevel.Information, Message = "PreviewSandbox {Namespace}/{Name} refused by namespace policy: {Violation}")]
    public static partial void PolicyDenied(this ILogger logger, string @namespace, string name, string violation);

    [LoggerMessage(EventId = LogEventIds.PolicyUnavailable, Level = LogLevel.Warning, Message = "Namespace policy for {Namespace} could not be evaluated: {Reason}")]
    public static partial void PolicyUnavailable(this ILogger logger, string @namespace, string reason);

    #endregion
}
