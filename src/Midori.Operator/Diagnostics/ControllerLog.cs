using Microsoft.Extensions.Logging;

namespace Midori.Operator.Diagnostics;

/// <summary>Reconciler log messages (event ids 2000–2999). Kubernetes wording: capital first letter, past tense, no period.</summary>
internal static partial class ControllerLog
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Debug, Message = "Reconciled PreviewSandbox: {Action} ({Reason})")]
    public static partial void Decided(this ILogger logger, string action, string reason);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Added finalizer to PreviewSandbox")]
    public static partial void AddedFinalizer(this ILogger logger);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Created remote Sandbox {SandboxId} with {Provider} in {ElapsedMs} ms ({FileCount} files)")]
    public static partial void CreatedSandbox(this ILogger logger, string provider, string sandboxId, long elapsedMs, int fileCount);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Adopted existing remote Sandbox {SandboxId} labeled with this PreviewSandbox's UID")]
    public static partial void AdoptedSandbox(this ILogger logger, string sandboxId);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Information, Message = "Deleted remote Sandbox {SandboxId} with {Provider}: {Reason}")]
    public static partial void DeletedSandbox(this ILogger logger, string provider, string sandboxId, string reason);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Information, Message = "Expired PreviewSandbox: {Reason}, {Lateness} ms after its deadline")]
    public static partial void Expired(this ILogger logger, string reason, long lateness);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Information, Message = "Started recreation of remote Sandbox (reason {RecreationReason}, old {OldSandboxId})")]
    public static partial void RecreationStarted(this ILogger logger, string recreationReason, string? oldSandboxId);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "Failed to get remote Sandbox running with {Provider} (attempt {Attempt}): {Error}")]
    public static partial void ProvisioningFailed(this ILogger logger, string provider, int attempt, string error, Exception? exception);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Warning, Message = "Could not resolve files for PreviewSandbox: {Error}")]
    public static partial void SourceFailed(this ILogger logger, string error);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Warning, Message = "Could not ask {Provider} about remote Sandbox {SandboxId}: {Error}")]
    public static partial void ProviderUnavailable(this ILogger logger, string provider, string sandboxId, string error);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "Removed finalizer from PreviewSandbox")]
    public static partial void RemovedFinalizer(this ILogger logger);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "Failed to delete remote Sandbox {SandboxId} with {Provider}: {Error}")]
    public static partial void DeleteFailed(this ILogger logger, string provider, string sandboxId, string error);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Warning, Message = "Ignored invalid heartbeat annotation value of {Length} characters")]
    public static partial void InvalidHeartbeat(this ILogger logger, int length);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Information, Message = "Synced {FileCount} files ({Bytes} bytes, {Hash}) to remote Sandbox {SandboxId}")]
    public static partial void SyncedFiles(this ILogger logger, string sandboxId, int fileCount, long bytes, string hash);

    [LoggerMessage(EventId = 2014, Level = LogLevel.Warning, Message = "Failed to sync files to remote Sandbox {SandboxId}: {Error}")]
    public static partial void SyncFailed(this ILogger logger, string sandboxId, string error);

    [LoggerMessage(EventId = 2015, Level = LogLevel.Warning, Message = "Failed to extend remote Sandbox {SandboxId}: {Error}")]
    public static partial void ExtendFailed(this ILogger logger, string sandboxId, string error);

    [LoggerMessage(EventId = 2016, Level = LogLevel.Warning, Message = "PreviewSandbox names provider {Provider}, which is not configured")]
    public static partial void UnknownProvider(this ILogger logger, string provider);

    [LoggerMessage(EventId = 2017, Level = LogLevel.Error, Message = "Marked PreviewSandbox Failed: {Message}")]
    public static partial void MarkedFailed(this ILogger logger, string message);

    [LoggerMessage(EventId = 2018, Level = LogLevel.Debug, Message = "Pushed revisions {From}..{To} of {Namespace}/{Name} to sandbox {SandboxId} for the {Source} ({Files} files, {Deleted} deleted)")]
    public static partial void FilesPushed(this ILogger logger, string source, string @namespace, string name, string sandboxId, long from, long to, int files, int deleted);

    [LoggerMessage(EventId = 2019, Level = LogLevel.Warning, Message = "Could not push revision {Revision} of {Namespace}/{Name} to sandbox {SandboxId} for the {Source}: {Error}")]
    public static partial void FilePushFailed(this ILogger logger, string source, string @namespace, string name, string sandboxId, long revision, string error);
}
