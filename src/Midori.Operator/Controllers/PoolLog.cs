namespace Midori.Operator.Controllers;

/// <summary>Source-generated log messages of the warm-pool controller (ids 5100–5199).</summary>
internal static partial class PoolLog
{
    [LoggerMessage(EventId = 5100, Level = LogLevel.Information, Message = "Listed {Count} PreviewSandboxPools")]
    public static partial void PoolsListed(this ILogger logger, int count);

    [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "No PreviewSandboxPool CRD is installed; warm pools are off, looking again in {Delay}")]
    public static partial void PoolCrdMissing(this ILogger logger, TimeSpan delay);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Warning, Message = "PreviewSandboxPool list/watch failed {Failures} times in a row; retrying in {Delay}")]
    public static partial void PoolWatchFailed(this ILogger logger, Exception exception, int failures, TimeSpan delay);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Information, Message = "Pool {Namespace}/{Pool}: warm sandbox {SandboxId} ready in {ElapsedMs} ms")]
    public static partial void PoolSandboxCreated(this ILogger logger, string @namespace, string pool, string sandboxId, long elapsedMs);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Warning, Message = "Pool {Namespace}/{Pool}: creating a warm sandbox failed: {Error}")]
    public static partial void PoolSandboxCreateFailed(this ILogger logger, string @namespace, string pool, string error);

    [LoggerMessage(EventId = 5105, Level = LogLevel.Information, Message = "Pool {Namespace}/{Pool}: removed warm sandbox {SandboxId} ({Reason})")]
    public static partial void PoolSandboxRemoved(this ILogger logger, string @namespace, string pool, string sandboxId, string reason);

    [LoggerMessage(EventId = 5106, Level = LogLevel.Warning, Message = "Pool {Namespace}/{Pool}: removing warm sandbox {SandboxId} failed: {Error}")]
    public static partial void PoolSandboxRemoveFailed(this ILogger logger, string @namespace, string pool, string sandboxId, string error);

    [LoggerMessage(EventId = 5107, Level = LogLevel.Warning, Message = "Pool {Namespace}/{Pool}: starting adopted warm sandbox {SandboxId} failed: {Error}")]
    public static partial void PoolSandboxStartFailed(this ILogger logger, string @namespace, string pool, string sandboxId, string error);

    [LoggerMessage(EventId = 5108, Level = LogLevel.Information, Message = "Pool {Namespace}/{Pool}: warm sandbox {SandboxId} claimed")]
    public static partial void PoolClaimed(this ILogger logger, string @namespace, string pool, string sandboxId);

    [LoggerMessage(EventId = 5109, Level = LogLevel.Warning, Message = "Pool {Namespace}/{Pool}: claiming warm sandbox {SandboxId} failed: {Error}")]
    public static partial void PoolClaimFailed(this ILogger logger, string @namespace, string pool, string sandboxId, string error);

    [LoggerMessage(EventId = 5110, Level = LogLevel.Information, Message = "Swept warm sandbox {SandboxId} at {Provider} of pool {Namespace}/{Pool}, which no longer exists")]
    public static partial void PoolSandboxSwept(this ILogger logger, string provider, string sandboxId, string @namespace, string pool);

    [LoggerMessage(EventId = 5111, Level = LogLevel.Warning, Message = "Pool sweep could not list {Provider}: {Error}")]
    public static partial void PoolSweepListFailed(this ILogger logger, string provider, string error);

    [LoggerMessage(EventId = 5112, Level = LogLevel.Warning, Message = "Pool {Namespace}/{Pool}: pass failed {Failures} times in a row; retrying in {Delay}")]
    public static partial void PoolReconcileFailed(this ILogger logger, Exception exception, string @namespace, string pool, int failures, TimeSpan delay);

    [LoggerMessage(EventId = 5113, Level = LogLevel.Error, Message = "Warm-pool component {Component} stopped")]
    public static partial void PoolComponentFailed(this ILogger logger, Exception exception, string component);

    [LoggerMessage(EventId = 5114, Level = LogLevel.Information, Message = "Claimed warm sandbox {SandboxId} from pool {Pool}")]
    public static partial void ClaimedWarmSandbox(this ILogger logger, string sandboxId, string pool);

    [LoggerMessage(EventId = 5115, Level = LogLevel.Warning, Message = "Integrity check: {Count} files differed in sandbox {SandboxId} after the push; pushing them again")]
    public static partial void IntegrityRepush(this ILogger logger, string sandboxId, int count);

    [LoggerMessage(EventId = 5116, Level = LogLevel.Information, Message = "Paused sandbox {SandboxId} at {Provider} ({Reason})")]
    public static partial void SandboxPaused(this ILogger logger, string provider, string sandboxId, string reason);

    [LoggerMessage(EventId = 5117, Level = LogLevel.Information, Message = "Resumed sandbox {SandboxId} at {Provider}: {Pushed} changed files pushed, ready in {ElapsedMs} ms")]
    public static partial void SandboxResumed(this ILogger logger, string provider, string sandboxId, int pushed, long elapsedMs);

    [LoggerMessage(EventId = 5118, Level = LogLevel.Warning, Message = "Could not resume sandbox {SandboxId} ({Why}); recreating it with every file")]
    public static partial void ResumeFellBack(this ILogger logger, string sandboxId, string why);

    [LoggerMessage(EventId = 5119, Level = LogLevel.Information, Message = "Expiry warning for sandbox {SandboxId}: the {Cut} cut is due at {CutAt} ({RemainingSeconds}s)")]
    public static partial void ExpiryWarned(this ILogger logger, string sandboxId, string cut, DateTimeOffset cutAt, int remainingSeconds);

    [LoggerMessage(EventId = 5120, Level = LogLevel.Information, Message = "Archived paused sandbox {SandboxId} at {Provider}")]
    public static partial void SandboxArchived(this ILogger logger, string provider, string sandboxId);

    [LoggerMessage(EventId = 5121, Level = LogLevel.Warning, Message = "Archiving paused sandbox {SandboxId} failed ({Error}); retrying")]
    public static partial void ArchiveFailed(this ILogger logger, string sandboxId, string error);
}
