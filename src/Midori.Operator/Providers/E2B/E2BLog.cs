namespace Midori.Operator.Providers.E2B;

/// <summary>Source-generated log messages of the E2B provider (ids 3500–3599). Never pass keys, tokens or env values.</summary>
internal static partial class E2BLog
{
    [LoggerMessage(EventId = 3500, Level = LogLevel.Warning,
        Message = "E2B provider has no API key (Providers__E2B__ApiKey or E2B_API_KEY); every e2b call fails until one is configured")]
    public static partial void CredentialsMissing(this ILogger logger);

    [LoggerMessage(EventId = 3501, Level = LogLevel.Information,
        Message = "Created E2B Sandbox {SandboxId} from template {Template} for {Namespace}/{Name} (owner {OwnerUid}), ending at {EndAt}")]
    public static partial void Created(this ILogger logger, string sandboxId, string template, string @namespace, string name, string ownerUid, DateTimeOffset? endAt);

    [LoggerMessage(EventId = 3502, Level = LogLevel.Warning,
        Message = "Could not read back E2B Sandbox {SandboxId} after creating it; assuming it ends at {EndAt}: {Reason}")]
    public static partial void ReadBackFailed(this ILogger logger, string sandboxId, DateTimeOffset endAt, string reason);

    [LoggerMessage(EventId = 3503, Level = LogLevel.Debug,
        Message = "Uploaded {FileCount} files ({ByteCount} bytes) to E2B Sandbox {SandboxId} in {RequestCount} request(s)")]
    public static partial void Uploaded(this ILogger logger, string sandboxId, int fileCount, long byteCount, int requestCount);

    [LoggerMessage(EventId = 3504, Level = LogLevel.Debug,
        Message = "Removed {FileCount} files from E2B Sandbox {SandboxId}")]
    public static partial void RemovedFiles(this ILogger logger, string sandboxId, int fileCount);

    [LoggerMessage(EventId = 3505, Level = LogLevel.Debug,
        Message = "Left the dev server of E2B Sandbox {SandboxId} running (pid {Pid}): the start request is unchanged")]
    public static partial void AlreadyRunning(this ILogger logger, string sandboxId, uint pid);

    [LoggerMessage(EventId = 3506, Level = LogLevel.Information,
        Message = "Stopped the dev server of E2B Sandbox {SandboxId} (pid {Pid}): the start request changed")]
    public static partial void StoppedOldServer(this ILogger logger, string sandboxId, uint pid);

    [LoggerMessage(EventId = 3507, Level = LogLevel.Information,
        Message = "Started the dev server of E2B Sandbox {SandboxId} (pid {Pid}) for port {Port} in {ElapsedMs} ms")]
    public static partial void Started(this ILogger logger, string sandboxId, uint pid, int port, long elapsedMs);

    [LoggerMessage(EventId = 3508, Level = LogLevel.Information,
        Message = "Extended E2B Sandbox {SandboxId} until {EndAt} ({Method})")]
    public static partial void Extended(this ILogger logger, string sandboxId, DateTimeOffset? endAt, string method);

    [LoggerMessage(EventId = 3509, Level = LogLevel.Information,
        Message = "Killed E2B Sandbox {SandboxId}")]
    public static partial void Killed(this ILogger logger, string sandboxId);

    [LoggerMessage(EventId = 3510, Level = LogLevel.Debug,
        Message = "E2B Sandbox {SandboxId} was already gone")]
    public static partial void AlreadyGone(this ILogger logger, string sandboxId);

    [LoggerMessage(EventId = 3511, Level = LogLevel.Information, Message = "Paused E2B sandbox {SandboxId}")]
    public static partial void Paused(this ILogger logger, string sandboxId);

    [LoggerMessage(EventId = 3512, Level = LogLevel.Information, Message = "Resumed (connected) E2B sandbox {SandboxId}")]
    public static partial void Resumed(this ILogger logger, string sandboxId);
}
