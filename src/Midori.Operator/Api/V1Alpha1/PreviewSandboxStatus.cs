using System.Text.Json.Serialization;
using k8s.Models;

namespace Midori.Operator.Api.V1Alpha1;

/// <summary>Observed state. Written only through the status subresource, and only when it changed.</summary>
public sealed class PreviewSandboxStatus
{
    [JsonPropertyName("phase")]
    public string? Phase { get; set; }

    /// <summary>Provider that runs the sandbox (the spec's, or the operator default when the spec omits it).</summary>
    [JsonPropertyName("provider")]
    public string? Provider { get; set; }

    [JsonPropertyName("sandboxId")]
    public string? SandboxId { get; set; }

    /// <summary>The preview's stable URL, served by the operator's gateway; it never changes for the resource's life.</summary>
    [JsonPropertyName("previewUrl")]
    public string? PreviewUrl { get; set; }

    /// <summary>The provider's own URL of the current sandbox (changes with every sandbox); the gateway forwards to it.</summary>
    [JsonPropertyName("sandboxUrl")]
    public string? SandboxUrl { get; set; }

    /// <summary>Secret (owned by this resource) holding the preview token; the token never appears in status.</summary>
    [JsonPropertyName("tokenSecretRef")]
    public SecretKeyReference? TokenSecretRef { get; set; }

    [JsonPropertyName("startedAt")]
    public DateTime? StartedAt { get; set; }

    /// <summary>End of the current sandbox's TTL.</summary>
    [JsonPropertyName("expiresAt")]
    public DateTime? ExpiresAt { get; set; }

    [JsonPropertyName("idleDeadline")]
    public DateTime? IdleDeadline { get; set; }

    [JsonPropertyName("lastActivityTime")]
    public DateTime? LastActivityTime { get; set; }

    /// <summary>When the last sandbox was removed (expiry or suspend); activity after this wakes the preview.</summary>
    [JsonPropertyName("endedAt")]
    public DateTime? EndedAt { get; set; }

    /// <summary>When the sandbox was paused (phase Paused); the paused retention counts from here.</summary>
    [JsonPropertyName("pausedAt")]
    public DateTime? PausedAt { get; set; }

    /// <summary>Files revision the paused sandbox holds; a resume pushes only what changed after it.</summary>
    [JsonPropertyName("pausedFilesRevision")]
    public long? PausedFilesRevision { get; set; }

    /// <summary>
    /// The last heads-up sent before an idle or TTL cut. Identifies the cut by its time, so the warning goes out once per
    /// cut and a heartbeat that moves the deadline earns a new one later.
    /// </summary>
    [JsonPropertyName("lastExpiryWarning")]
    public ExpiryWarningRecord? LastExpiryWarning { get; set; }

    /// <summary>When the paused sandbox was archived by the provider (Daytona); a wake starts it from the archive.</summary>
    [JsonPropertyName("archivedAt")]
    public DateTime? ArchivedAt { get; set; }

    [JsonPropertyName("recreations")]
    public int? Recreations { get; set; }

    [JsonPropertyName("lastRecreation")]
    public RecreationRecord? LastRecreation { get; set; }

    /// <summary>Consecutive failed attempts to get a sandbox running; drives backoff and the Failed verdict.</summary>
    [JsonPropertyName("failedAttempts")]
    public int? FailedAttempts { get; set; }

    [JsonPropertyName("lastFailureTime")]
    public DateTime? LastFailureTime { get; set; }

    /// <summary>Consecutive failed health probes of the preview URL.</summary>
    [JsonPropertyName("probeFailures")]
    public int? ProbeFailures { get; set; }

    /// <summary>
    /// The heartbeat annotation as it was when the preview expired (empty: there was none). Any other valid value
    /// written later wakes the preview, whatever its precision: a whole-second time from the same second as
    /// <see cref="EndedAt"/> would otherwise read as older than the expiry.
    /// </summary>
    [JsonPropertyName("heartbeatAtExpiry")]
    public string? HeartbeatAtExpiry { get; set; }

    /// <summary>Last value of the recreate annotation acted upon.</summary>
    [JsonPropertyName("observedRecreateRequest")]
    public string? ObservedRecreateRequest { get; set; }

    [JsonPropertyName("filesRevision")]
    public long? FilesRevision { get; set; }

    [JsonPropertyName("filesHash")]
    public string? FilesHash { get; set; }

    [JsonPropertyName("conditions")]
    public IList<V1Condition>? Conditions { get; set; }

    [JsonPropertyName("observedGeneration")]
    public long? ObservedGeneration { get; set; }
}

public sealed class SecretKeyReference
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = string.Empty;

    [JsonPropertyName("key")]
    public string Key { get; set; } = string.Empty;
}

public sealed class ExpiryWarningRecord
{
    /// <summary><c>Idle</c> or <c>TTL</c> (see <see cref="ExpiryCuts"/>).</summary>
    [JsonPropertyName("cut")]
    public string Cut { get; set; } = string.Empty;

    /// <summary>When the cut is due (the idle deadline or the end of the TTL the warning announced).</summary>
    [JsonPropertyName("cutAt")]
    public DateTime? CutAt { get; set; }

    /// <summary>When the warning was sent.</summary>
    [JsonPropertyName("time")]
    public DateTime? Time { get; set; }
}

/// <summary>Names of the cuts in <c>status.lastExpiryWarning.cut</c>, Event messages and the <c>expiry-warning</c> stream event.</summary>
public static class ExpiryCuts
{
    public const string Idle = "Idle";
    public const string Ttl = "TTL";
}

public sealed class RecreationRecord
{
    /// <summary><c>expired</c>, <c>idle_wake</c>, <c>error</c> or <c>manual</c> (see <see cref="RecreationReasons"/>).</summary>
    [JsonPropertyName("reason")]
    public string Reason { get; set; } = string.Empty;

    [JsonPropertyName("time")]
    public DateTime? Time { get; set; }

    [JsonPropertyName("oldSandboxId")]
    public string? OldSandboxId { get; set; }

    [JsonPropertyName("newSandboxId")]
    public string? NewSandboxId { get; set; }
}
