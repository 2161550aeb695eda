namespace Midori.Operator.Providers.Daytona;

/// <summary>Source-generated log messages of the Daytona provider (event ids 3300–3399). Never pass keys, tokens, commands or env values.</summary>
internal static partial class DaytonaLog
{
    [LoggerMessage(EventId = 3300, Level = LogLevel.Information,
        Message = "Created Daytona Sandbox {SandboxId} ({SandboxName}, state {State}) for owner {OwnerUid}, auto-stop {AutoStopMinutes} min")]
    public static partial void Created(this ILogger logger, string sandboxId, string sandboxName, string? state, string ownerUid, int autoStopMinutes);

    [LoggerMessage(EventId = 3301, Level = LogLevel.Information,
        Message = "Adopted Daytona Sandbox {SandboxId} ({SandboxName}, state {State}): created for owner {OwnerUid} by an earlier attempt")]
    public static partial void AdoptedByName(this ILogger logger, string sandboxId, string sandboxName, string? state, string ownerUid);

    [LoggerMessage(EventId = 3302, Level = LogLevel.Information,
        Message = "Skipped Daytona sandbox name {SandboxName}: it belongs to a sandbox that cannot be reused (state {State})")]
    public static partial void NameTaken(this ILogger logger, string sandboxName, string? state);

    [LoggerMessage(EventId = 3303, Level = LogLevel.Debug,
        Message = "Uploaded {FileCount} files ({ByteCount} bytes) to Daytona Sandbox {SandboxId} in {RequestCount} request(s)")]
    public static partial void Uploaded(this ILogger logger, string sandboxId, int fileCount, long byteCount, int requestCount);

    [LoggerMessage(EventId = 3304, Level = LogLevel.Debug,
        Message = "Deleted {FileCount} files in Daytona Sandbox {SandboxId}")]
    public static partial void DeletedFiles(this ILogger logger, string sandboxId, int fileCount);

    [LoggerMessage(EventId = 3305, Level = LogLevel.Debug,
        Message = "Left the dev server of Daytona Sandbox {SandboxId} running: session {SessionId} already runs this start request")]
    public static partial void AlreadyRunning(this ILogger logger, string sandboxId, string sessionId);

    [LoggerMessage(EventId = 3306, Level = LogLevel.Information,
        Message = "Started the dev server of Daytona Sandbox {SandboxId} in session {SessionId} (command {CommandId}), port {Port} in use after {ElapsedMs} ms")]
    public static partial void Started(this ILogger logger, string sandboxId, string sessionId, string? commandId, int port, long elapsedMs);

    [LoggerMessage(EventId = 3307, Level = LogLevel.Information,
        Message = "Stopped dev-server session {SessionId} of Daytona Sandbox {SandboxId}: the start request changed")]
    public static partial void StoppedOldSession(this ILogger logger, string sandboxId, string sessionId);

    [LoggerMessage(EventId = 3308, Level = LogLevel.Debug,
        Message = "Kept Daytona Sandbox {SandboxId} alive (last activity updated)")]
    public static partial void KeptAlive(this ILogger logger, string sandboxId);

    [LoggerMessage(EventId = 3309, Level = LogLevel.Information,
        Message = "Requested deletion of Daytona Sandbox {SandboxId} ({Outcome})")]
    public static partial void Deleted(this ILogger logger, string sandboxId, string outcome);

    [LoggerMessage(EventId = 3310, Level = LogLevel.Warning,
        Message = "Daytona API key is not configured: set Providers__Daytona__ApiKey or DAYTONA_API_KEY; every Daytona call fails until then")]
    public static partial void CredentialsMissing(this ILogger logger);

    [LoggerMessage(EventId = 3311, Level = LogLevel.Debug,
        Message = "Waiting for Daytona Sandbox {SandboxId} to start (state {State})")]
    public static partial void WaitingForStart(this ILogger logger, string sandboxId, string? state);

    [LoggerMessage(EventId = 3312, Level = LogLevel.Warning,
        Message = "Could not delete unusable Daytona Sandbox {SandboxId} of owner {OwnerUid}: {Error}")]
    public static partial void CleanupFailed(this ILogger logger, string sandboxId, string ownerUid, string error);

    [LoggerMessage(EventId = 3313, Level = LogLevel.Information, Message = "Paused (stopped) Daytona Sandbox {SandboxId}: {State}")]
    public static partial void Paused(this ILogger logger, string sandboxId, string? state);

    [LoggerMessage(EventId = 3314, Level = LogLevel.Information, Message = "Resumed (started) Daytona Sandbox {SandboxId}: {State}")]
    public static partial void Resumed(this ILogger logger, string sandboxId, string? state);
}
