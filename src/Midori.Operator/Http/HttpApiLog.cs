using Microsoft.Extensions.Logging;

namespace Midori.Operator.Http;

/// <summary>HTTP API log messages (event ids 4000–4999, see <see cref="Diagnostics.LogEventIds"/>).</summary>
internal static partial class HttpApiLog
{
    // 4000–4099: were the API's own PreviewSandbox cache; the shared informer (Runtime) logs that now.

    // 4100–4199: previews and files
    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "Created PreviewSandbox {Namespace}/{Name} for project {ProjectId} from snapshot {SnapshotId}")]
    public static partial void PreviewCreated(this ILogger logger, string @namespace, string name, string projectId, string snapshotId);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "Reused PreviewSandbox {Namespace}/{Name} for project {ProjectId} (revision {Revision})")]
    public static partial void PreviewReused(this ILogger logger, string @namespace, string name, string projectId, long revision);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Information, Message = "Stopped PreviewSandbox {Namespace}/{Name} ({How})")]
    public static partial void PreviewStopped(this ILogger logger, string @namespace, string name, string how);

    [LoggerMessage(EventId = 4110, Level = LogLevel.Debug, Message = "Committed revision {Revision} of {Namespace}/{Name}: {Added} added, {Modified} modified, {Deleted} deleted")]
    public static partial void FilesCommitted(this ILogger logger, string @namespace, string name, long revision, int added, int modified, int deleted);

    [LoggerMessage(EventId = 4112, Level = LogLevel.Warning, Message = "Could not push revision {Revision} of {Namespace}/{Name} to sandbox {SandboxId}; the reconciler will: {Error}")]
    public static partial void PushFailed(this ILogger logger, string @namespace, string name, string sandboxId, long revision, string error);

    // 4200–4299: heartbeats
    [LoggerMessage(EventId = 4200, Level = LogLevel.Warning, Message = "Recording a batch of {Count} heartbeats failed")]
    public static partial void HeartbeatBatchFailed(this ILogger logger, Exception exception, int count);

    [LoggerMessage(EventId = 4201, Level = LogLevel.Debug, Message = "Wrote heartbeat annotation of {Namespace}/{Name} ({Reason})")]
    public static partial void HeartbeatAnnotated(this ILogger logger, string @namespace, string name, string reason);

    [LoggerMessage(EventId = 4202, Level = LogLevel.Warning, Message = "Could not write heartbeat annotation of {Namespace}/{Name}; activity is recorded in the store")]
    public static partial void HeartbeatAnnotationFailed(this ILogger logger, Exception exception, string @namespace, string name);

    // 4300–4399: requests and authentication
    [LoggerMessage(EventId = 4300, Level = LogLevel.Error, Message = "Unhandled error in HTTP API request {Method} {Path}")]
    public static partial void UnhandledError(this ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(EventId = 4301, Level = LogLevel.Warning, Message = "Kubernetes TokenReview/SubjectAccessReview failed")]
    public static partial void KubernetesReviewFailed(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4302, Level = LogLevel.Warning, Message = "HTTP API request {Method} {Path} answered 503: the store is unavailable ({ExceptionType}: {Error})")]
    public static partial void StoreUnavailable(this ILogger logger, string method, string path, string exceptionType, string error);

    [LoggerMessage(EventId = 4303, Level = LogLevel.Warning, Message = "The store did not answer the readiness check: {Error}")]
    public static partial void StoreNotReachable(this ILogger logger, string error);

    // 4500–4599: server-sent events, progress relay, seed routes, auto-build
    // 4500–4519: server-sent events
    [LoggerMessage(EventId = 4500, Level = LogLevel.Warning, Message = "Dropped a slow event-stream client of {Namespace}/{Name}: {Buffer} events were waiting")]
    public static partial void EventClientDropped(this ILogger logger, string @namespace, string name, int buffer);

    [LoggerMessage(EventId = 4501, Level = LogLevel.Debug, Message = "Event stream of {Namespace}/{Name} opened (Last-Event-ID {LastEventId})")]
    public static partial void EventStreamOpened(this ILogger logger, string @namespace, string name, string? lastEventId);

    [LoggerMessage(EventId = 4502, Level = LogLevel.Debug, Message = "Event stream of {Namespace}/{Name} closed ({Why})")]
    public static partial void EventStreamClosed(this ILogger logger, string @namespace, string name, string why);

    // 4520–4539: progress relay
    [LoggerMessage(EventId = 4520, Level = LogLevel.Information, Message = "Listening for preview progress on store notification channel {Channel}")]
    public static partial void ProgressListening(this ILogger logger, string channel);

    [LoggerMessage(EventId = 4521, Level = LogLevel.Warning, Message = "Listening for preview progress failed {Failures} times in a row; retrying in {Delay}")]
    public static partial void ProgressListenFailed(this ILogger logger, Exception exception, int failures, TimeSpan delay);

    [LoggerMessage(EventId = 4522, Level = LogLevel.Warning, Message = "Could not NOTIFY progress of {Namespace}/{Name}; published to this replica only")]
    public static partial void ProgressNotifyFailed(this ILogger logger, Exception exception, string @namespace, string name);

    [LoggerMessage(EventId = 4523, Level = LogLevel.Warning, Message = "Ignored a progress notification that is not valid JSON ({Length} characters)")]
    public static partial void ProgressPayloadInvalid(this ILogger logger, Exception exception, int length);

    [LoggerMessage(EventId = 4524, Level = LogLevel.Warning, Message = "Could not queue a progress notification")]
    public static partial void ProgressEnqueueFailed(this ILogger logger, Exception exception);

    // 4540–4559: seed-compatible routes
    [LoggerMessage(EventId = 4540, Level = LogLevel.Debug, Message = "Seed route resolved sandbox {SandboxId} to {Namespace}/{Name} (current sandbox {CurrentSandboxId})")]
    public static partial void SeedSandboxResolved(this ILogger logger, string sandboxId, string @namespace, string name, string? currentSandboxId);

    // 4560–4579: auto-build
    [LoggerMessage(EventId = 4560, Level = LogLevel.Information, Message = "Stored snapshot {SnapshotId} of project {ProjectId} in {Namespace} ({Files} files)")]
    public static partial void SnapshotStored(this ILogger logger, string @namespace, string projectId, string snapshotId, int files);

    [LoggerMessage(EventId = 4561, Level = LogLevel.Information, Message = "Auto-build of project {ProjectId} started preview {Namespace}/{Name} (reused: {Reused})")]
    public static partial void AutoBuildStarted(this ILogger logger, string @namespace, string projectId, string name, bool reused);

    [LoggerMessage(EventId = 4562, Level = LogLevel.Warning, Message = "Auto-build of project {ProjectId} in {Namespace} did not start a preview: {Error}")]
    public static partial void AutoBuildFailed(this ILogger logger, string @namespace, string projectId, string error);
}
