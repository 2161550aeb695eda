using Microsoft.Extensions.Logging;

namespace Midori.Operator.Http;

/// <summary>Log messages of the API extensions: events, progress relay, seed routes, auto-build (4500–4599, <see cref="Diagnostics.LogEventIds"/>).</summary>
internal static partial class HttpApiExtensionsLog
{
    // 4500–4519: server-sent events
    [LoggerMessage(EventId = 4500, Level = LogLevel.Warning, Message = "Dropped a slow event-stream client of {Namespace}/{Name}: {Buffer} events were waiting")]
    public static partial void EventClientDropped(this ILogger logger, string @namespace, string name, int buffer);

    [LoggerMessage(EventId = 4501, Level = LogLevel.Debug, Message = "Event stream of {Namespace}/{Name} opened (Last-Event-ID {LastEventId})")]
    public static partial void EventStreamOpened(this ILogger logger, string @namespace, string name, string? lastEventId);

    [LoggerMessage(EventId = 4502, Level = LogLevel.Debug, Message = "Event stream of {Namespace}/{Name} closed ({Why})")]
    public static partial void EventStreamClosed(this ILogger logger, string @namespace, string name, string why);

    // 4520–4539: progress relay
    [LoggerMessage(EventId = 4520, Level = LogLevel.Information, Message = "Listening for preview progress on PostgreSQL channel {Channel}")]
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
