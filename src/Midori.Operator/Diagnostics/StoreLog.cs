using Microsoft.Extensions.Logging;

namespace Midori.Operator.Diagnostics;

/// <summary>Store log messages (event ids 5000–5999). Never logs connection strings or file contents.</summary>
internal static partial class StoreLog
{
    [LoggerMessage(EventId = 5000, Level = LogLevel.Information, Message = "Applied store migration {Version} {Name}")]
    public static partial void MigrationApplied(this ILogger logger, int version, string name);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Store schema is up to date ({Applied} applied now, {Total} known)")]
    public static partial void SchemaReady(this ILogger logger, int applied, int total);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "Could not migrate the store yet (attempt {Attempt}), retrying in {RetryIn}: {Error}")]
    public static partial void MigrationRetry(this ILogger logger, int attempt, TimeSpan retryIn, string error);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Critical, Message = "Store migration refused; the store stays unavailable: {Error}")]
    public static partial void MigrationRefused(this ILogger logger, string error);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "Store schema has migration {Version} {Name} that this build does not know (a newer operator ran)")]
    public static partial void UnknownMigration(this ILogger logger, int version, string name);

    [LoggerMessage(EventId = 5010, Level = LogLevel.Warning, Message = "Dropped a {Kind} history row for {Preview}: the queue is full")]
    public static partial void HistoryDropped(this ILogger logger, string kind, string preview);

    [LoggerMessage(EventId = 5011, Level = LogLevel.Warning, Message = "Failed to write a {Kind} history row for {Preview} (attempt {Attempt} of {Attempts}): {Error}")]
    public static partial void HistoryWriteFailed(this ILogger logger, string kind, string preview, int attempt, int attempts, string error);

    [LoggerMessage(EventId = 5012, Level = LogLevel.Error, Message = "Gave up writing a {Kind} history row for {Preview}")]
    public static partial void HistoryGaveUp(this ILogger logger, string kind, string preview, Exception exception);

    [LoggerMessage(EventId = 5020, Level = LogLevel.Warning, Message = "Could not read activity from the store; using the heartbeat annotation only: {Error}")]
    public static partial void ActivityReadFailed(this ILogger logger, string error);

    [LoggerMessage(EventId = 5021, Level = LogLevel.Warning, Message = "Could not record that Sandbox {SandboxId} holds revision {Revision}: {Error}")]
    public static partial void MarkPushedFailed(this ILogger logger, string sandboxId, long revision, string error);
}
