using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Kubernetes;

/// <summary>Records Kubernetes Events for lifecycle transitions. Best effort: failures are logged, never thrown.</summary>
public interface IEventRecorder
{
    void Normal(V1Alpha1PreviewSandbox resource, string reason, string message);
    void Warning(V1Alpha1PreviewSandbox resource, string reason, string message);
}

public static class EventReasons
{
    public const string Created = "Created";
    public const string Ready = "Ready";
    public const string Expired = "Expired";
    public const string Recreating = "Recreating";
    public const string Recreated = "Recreated";
    public const string Suspended = "Suspended";
    public const string Deleted = "Deleted";
    public const string ProviderError = "ProviderError";
    public const string SourceError = "SourceError";
    public const string Failed = "Failed";
    public const string FilesSynced = "FilesSynced";
    public const string InvalidHeartbeat = "InvalidHeartbeat";
}
