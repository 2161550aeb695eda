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
}
