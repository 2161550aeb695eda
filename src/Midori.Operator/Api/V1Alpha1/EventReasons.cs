namespace Midori.Operator.Api.V1Alpha1;

/// <summary>Reasons of the Kubernetes Events the operator records on a PreviewSandbox (<c>kubectl get events</c>).</summary>
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

    /// <summary>A paused sandbox was resumed on a wake (spec.lifecycle Pause).</summary>
    public const string Resumed = "Resumed";

    /// <summary>A paused sandbox was archived by the provider after the paused retention (Daytona).</summary>
    public const string Archived = "Archived";

    /// <summary>Retention of a finished preview elapsed and the resource was deleted (also the decision's condition-style reason).</summary>
    public const string RetentionElapsed = "RetentionElapsed";
}
