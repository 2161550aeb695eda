using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Http.Contracts;

namespace Midori.Operator.Http.Services;

/// <summary>Pure mapping from a PreviewSandbox to the status document the existing front ends read (also what SSE status events carry).</summary>
public static class PreviewStatusMapper
{
    public static class SeedStatus
    {
        public const string Running = "running";
        public const string Expired = "expired";
        public const string NotFound = "not_found";
        public const string Creating = "creating";
        public const string Failed = "failed";
    }

    /// <summary>Created through the API (DELETE may remove those; hand-made ones are only suspended).</summary>
    public static bool IsCreatedByApi(V1Alpha1PreviewSandbox resource) =>
        resource.Metadata.Labels?.TryGetValue(SandboxLabels.CreatedBy, out var value) == true && value == SandboxLabels.CreatedByApi;

    public static bool IsReady(V1Alpha1PreviewSandbox? resource) =>
        resource?.Status is { Phase: Phases.Running } status
        && status.Conditions?.FirstOrDefault(c => c.Type == PreviewSandboxConditions.Ready)?.Status == "True";

    public static PreviewStatusResponse Map(V1Alpha1PreviewSandbox resource, DateTimeOffset now)
    {
        var status = resource.Status;
        var phase = status?.Phase;
        var ready = IsReady(resource);
        var suspended = resource.Spec.IsSuspended();
        var (seedStatus, action, message) = phase switch
        {
            Phases.Running => (SeedStatus.Running, "none", ready ? "Sandbox is running" : "Sandbox is running but not ready"),
            Phases.Expired => (SeedStatus.Expired, "sync_needed", "Sandbox expired; a heartbeat or new files wake it"),
            Phases.Stopped => (SeedStatus.Expired, "sync_needed", "Preview is stopped"),
            Phases.Paused => (SeedStatus.Expired, "sync_needed", "Sandbox paused; a heartbeat or new files resume it"),
            Phases.Failed => (SeedStatus.Failed, "sync_needed", ReadyMessage(resource) ?? "Preview failed"),
            _ => (SeedStatus.Creating, "none", suspended ? "Preview is stopping" : "Sandbox is being created"),
        };

        if (suspended && phase is not Phases.Stopped)
        {
            (seedStatus, action, message) = (SeedStatus.Expired, "sync_needed", "Preview is stopping");
        }

        SandboxInfoResponse? info = null;
        if (status?.SandboxId is { } sandboxId && seedStatus == SeedStatus.Running)
        {
            var end = ToOffset(status.ExpiresAt);
            var remaining = end is { } e ? (int)Math.Max(0, Math.Floor((e - now).TotalMinutes)) : 0;
            info = new SandboxInfoResponse(sandboxId, status.PreviewUrl, ToOffset(status.StartedAt), end, remaining);
        }

        var conditions = status?.Conditions?.Select(c => new ConditionSummary(c.Type, c.Status, c.Reason, c.Message)).ToList() ?? [];
        return new PreviewStatusResponse(
            Success: true,
            Status: seedStatus,
            SandboxInfo: info,
            ActionRequired: action,
            Message: message,
            Namespace: resource.Metadata.NamespaceProperty,
            Name: resource.Metadata.Name,
            ProjectId: resource.Spec.ProjectId,
            Phase: phase,
            Ready: ready,
            Provider: status?.Provider ?? resource.Spec.Provider,
            Conditions: conditions,
            FilesRevision: status?.FilesRevision,
            FilesHash: status?.FilesHash,
            IdleDeadline: ToOffset(status?.IdleDeadline),
            LastActivityTime: ToOffset(status?.LastActivityTime),
            Recreations: status?.Recreations ?? 0,
            Suspended: suspended,
            CreatedByApi: IsCreatedByApi(resource));
    }

    public static DateTimeOffset? ToOffset(DateTime? value) =>
        value is { } v ? Controllers.SandboxSnapshot.ToOffset(v) : null;

    private static string? ReadyMessage(V1Alpha1PreviewSandbox resource) =>
        resource.Status?.Conditions?.FirstOrDefault(c => c.Type == PreviewSandboxConditions.Ready)?.Message;
}
