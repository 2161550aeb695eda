namespace Midori.Operator.Providers;

/// <summary>Log messages shared by providers (event ids 3200–3299: orphan sweep).</summary>
internal static partial class ProviderLog
{
    [LoggerMessage(EventId = 3200, Level = LogLevel.Information,
        Message = "Swept remote sandboxes: {Listed} labeled as ours, {Young} within the grace period, {Orphans} orphaned, {Deleted} deleted (dry run {DryRun})")]
    public static partial void SweepCompleted(this ILogger logger, int listed, int young, int orphans, int deleted, bool dryRun);

    [LoggerMessage(EventId = 3201, Level = LogLevel.Warning,
        Message = "Deleted orphaned {Provider} Sandbox {SandboxId}: its PreviewSandbox {Namespace}/{Name} (UID {OwnerUid}) no longer exists")]
    public static partial void OrphanDeleted(this ILogger logger, string provider, string sandboxId, string? @namespace, string? name, string ownerUid);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Warning,
        Message = "Found orphaned {Provider} Sandbox {SandboxId} of PreviewSandbox {Namespace}/{Name} (UID {OwnerUid}); left in place (dry run)")]
    public static partial void OrphanDryRun(this ILogger logger, string provider, string sandboxId, string? @namespace, string? name, string ownerUid);

    [LoggerMessage(EventId = 3203, Level = LogLevel.Warning,
        Message = "Could not list {Provider} sandboxes for the orphan sweep: {Error}")]
    public static partial void SweepListFailed(this ILogger logger, string provider, string error);

    [LoggerMessage(EventId = 3204, Level = LogLevel.Warning,
        Message = "Could not delete orphaned {Provider} Sandbox {SandboxId}: {Error}")]
    public static partial void OrphanDeleteFailed(this ILogger logger, string provider, string sandboxId, string error);

    [LoggerMessage(EventId = 3205, Level = LogLevel.Error, Message = "Orphan sweep failed")]
    public static partial void SweepFailed(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3206, Level = LogLevel.Debug, Message = "Orphan sweep disabled (Providers:OrphanSweep:Enabled=false)")]
    public static partial void SweepDisabled(this ILogger logger);
}
