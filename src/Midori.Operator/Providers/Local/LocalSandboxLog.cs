namespace Midori.Operator.Providers.Local;

/// <summary>Source-generated log messages of the local provider. Never pass tokens or environment values.</summary>
internal static partial class LocalSandboxLog
{
    [LoggerMessage(EventId = 3100, Level = LogLevel.Information,
        Message = "Created local Sandbox {SandboxId} for {Namespace}/{Name} (owner {OwnerUid}), ending at {EndAt}")]
    public static partial void Created(this ILogger logger, string sandboxId, string @namespace, string name, string ownerUid, DateTimeOffset endAt);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Debug,
        Message = "Uploaded {FileCount} files ({ByteCount} bytes) to local Sandbox {SandboxId}")]
    public static partial void Uploaded(this ILogger logger, string sandboxId, int fileCount, long byteCount);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Information,
        Message = "Started local Sandbox {SandboxId} ({Mode}) on port {ActualPort} for sandbox port {Port} in {ElapsedMs} ms")]
    public static partial void Started(this ILogger logger, string sandboxId, string mode, int actualPort, int port, long elapsedMs);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Debug,
        Message = "Left local Sandbox {SandboxId} running: the start request is unchanged")]
    public static partial void AlreadyRunning(this ILogger logger, string sandboxId);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Information,
        Message = "Restarting local Sandbox {SandboxId}: the start request changed")]
    public static partial void Restarting(this ILogger logger, string sandboxId);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Information,
        Message = "Stopped local Sandbox {SandboxId} at its end time {EndAt}")]
    public static partial void StoppedAtEndTime(this ILogger logger, string sandboxId, DateTimeOffset endAt);

    [LoggerMessage(EventId = 3106, Level = LogLevel.Information,
        Message = "Extended local Sandbox {SandboxId} until {EndAt}")]
    public static partial void Extended(this ILogger logger, string sandboxId, DateTimeOffset endAt);

    [LoggerMessage(EventId = 3107, Level = LogLevel.Information,
        Message = "Deleted local Sandbox {SandboxId}")]
    public static partial void Deleted(this ILogger logger, string sandboxId);

    [LoggerMessage(EventId = 3108, Level = LogLevel.Warning,
        Message = "Dev server of local Sandbox {SandboxId} exited unexpectedly with code {ExitCode}")]
    public static partial void ServerExited(this ILogger logger, string sandboxId, int exitCode);

    [LoggerMessage(EventId = 3109, Level = LogLevel.Warning,
        Message = "Failed to start local Sandbox {SandboxId}: {Reason}")]
    public static partial void StartFailed(this ILogger logger, string sandboxId, string reason);

    [LoggerMessage(EventId = 3110, Level = LogLevel.Information,
        Message = "Loaded {Count} local Sandboxes from {RootDirectory}; their servers are Stopped until started again")]
    public static partial void Loaded(this ILogger logger, int count, string rootDirectory);

    [LoggerMessage(EventId = 3111, Level = LogLevel.Warning,
        Message = "Skipped unreadable local Sandbox metadata {Path}")]
    public static partial void SkippedMetadata(this ILogger logger, string path, Exception exception);

    [LoggerMessage(EventId = 3112, Level = LogLevel.Warning,
        Message = "Failed to stop local Sandbox {SandboxId} cleanly")]
    public static partial void StopFailed(this ILogger logger, string sandboxId, Exception exception);

    [LoggerMessage(EventId = 3113, Level = LogLevel.Debug,
        Message = "Stopped local Sandbox {SandboxId}")]
    public static partial void Stopped(this ILogger logger, string sandboxId);

    [LoggerMessage(EventId = 3114, Level = LogLevel.Warning,
        Message = "Killed orphaned sandbox process {Pid} under {RootDirectory} left by an earlier operator instance")]
    public static partial void KilledOrphan(this ILogger logger, int pid, string rootDirectory);

    [LoggerMessage(EventId = 3115, Level = LogLevel.Warning,
        Message = "Refused the dev-server command of local Sandbox {SandboxId}: no working sandbox ({Problem})")]
    public static partial void IsolationUnavailable(this ILogger logger, string sandboxId, string problem);

    [LoggerMessage(EventId = 3116, Level = LogLevel.Information, Message = "Paused local Sandbox {SandboxId}: server stopped, directory kept")]
    public static partial void Paused(this ILogger logger, string sandboxId);

    [LoggerMessage(EventId = 3117, Level = LogLevel.Information, Message = "Resumed local Sandbox {SandboxId} until {EndAt}")]
    public static partial void Resumed(this ILogger logger, string sandboxId, DateTimeOffset endAt);
}
