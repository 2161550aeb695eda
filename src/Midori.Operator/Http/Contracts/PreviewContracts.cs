using System.Text.Json.Serialization;

namespace Midori.Operator.Http.Contracts;

// JSON shapes of the editor API. Unknown members are refused (UnmappedMemberHandling.Disallow), so a typo in a field
// name is a 400, not a silently ignored setting. Durations are integer seconds like the CRD.

/// <summary>A whole file. <see cref="Encoding"/>: "utf8" (default) or "base64" for binary content.</summary>
public sealed class FileInput
{
    public string? Path { get; set; }

    public string? Content { get; set; }

    public string? Encoding { get; set; }

    /// <summary>Optional compare-and-swap: the file's current hash ("sha256:…", or "absent" = must not exist yet).</summary>
    public string? BaseHash { get; set; }
}

public sealed class EnvVarInput
{
    public string? Name { get; set; }

    public string? Value { get; set; }
}

/// <summary>POST /previews. Unset members come from the project's previewSettings, then the CRD defaults.</summary>
public sealed class CreatePreviewRequest
{
    public string? ProjectId { get; set; }

    /// <summary>Resource name; default: derived from the project id (one preview per project).</summary>
    public string? Name { get; set; }

    public List<FileInput>? Files { get; set; }

    public string? Provider { get; set; }

    public int? TtlSeconds { get; set; }

    public int? IdleTimeoutSeconds { get; set; }

    public string? Template { get; set; }

    public string? Command { get; set; }

    public int? Port { get; set; }

    public List<EnvVarInput>? Env { get; set; }

    /// <summary>The AI generation the files came from (the editor's <c>Snapshot.fromGenerationId</c>).</summary>
    public string? FromGenerationId { get; set; }
}

/// <summary>PUT /files.</summary>
public sealed class PutFilesRequest
{
    public List<FileInput>? Files { get; set; }

    /// <summary>Paths to delete.</summary>
    public List<string>? Deleted { get; set; }

    /// <summary>The request is the whole project: files not listed are deleted.</summary>
    public bool? ReplaceAll { get; set; }
}

/// <summary>PATCH /files: line operations per file (see <see cref="Files.LinePatch"/> for the exact semantics).</summary>
public sealed class PatchFilesRequest
{
    public List<FilePatchInput>? Files { get; set; }
}

public sealed class FilePatchInput
{
    public string? Path { get; set; }

    /// <summary>Optional: the hash of the file the operations were made against; a different current hash is a 409.</summary>
    public string? BaseHash { get; set; }

    public List<LineOperationInput>? Operations { get; set; }
}

public sealed class LineOperationInput
{
    /// <summary>insert | delete | replace.</summary>
    public string? Type { get; set; }

    /// <summary>1-based line of the base file.</summary>
    public int? Line { get; set; }

    public string? Content { get; set; }

    public string? OldContent { get; set; }
}

/// <summary>PUT /projects/{projectId}.</summary>
public sealed class ProjectRequest
{
    public bool? PreviewEnabled { get; set; }

    public bool? PreviewAutoBuild { get; set; }

    public PreviewSettingsInput? PreviewSettings { get; set; }
}

public sealed class PreviewSettingsInput
{
    public int? TtlSeconds { get; set; }

    public int? IdleTimeoutSeconds { get; set; }

    public string? Command { get; set; }

    public int? Port { get; set; }

    public string? Template { get; set; }

    public string? Provider { get; set; }

    public Dictionary<string, string>? Env { get; set; }
}

// ---- responses ----------------------------------------------------------------------------------------------------

/// <summary><c>sandbox_info</c> of the status document the existing front ends read.</summary>
public sealed record SandboxInfoResponse(
    [property: JsonPropertyName("sandbox_id")] string? SandboxId,
    [property: JsonPropertyName("preview_url")] string? PreviewUrl,
    [property: JsonPropertyName("start_time")] DateTimeOffset? StartTime,
    [property: JsonPropertyName("end_time")] DateTimeOffset? EndTime,
    [property: JsonPropertyName("remaining_time_minutes")] int RemainingTimeMinutes);

public sealed record ConditionSummary(string Type, string Status, string? Reason, string? Message);

/// <summary>
/// The status document the existing front ends read (<c>success</c>, <c>status</c>, <c>sandbox_info</c>, <c>action_required</c>,
/// <c>message</c>) plus the resource's own view (phase, Ready, conditions, files revision and hash, deadlines).
/// </summary>
public sealed record PreviewStatusResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("sandbox_info")] SandboxInfoResponse? SandboxInfo,
    [property: JsonPropertyName("action_required")] string ActionRequired,
    [property: JsonPropertyName("message")] string Message,
    string Namespace,
    string Name,
    string ProjectId,
    string? Phase,
    bool Ready,
    string? Provider,
    IReadOnlyList<ConditionSummary> Conditions,
    long? FilesRevision,
    string? FilesHash,
    DateTimeOffset? IdleDeadline,
    DateTimeOffset? LastActivityTime,
    int Recreations,
    bool Suspended,
    bool CreatedByApi);

public sealed record CreatePreviewResponse(
    string Namespace,
    string Name,
    string ProjectId,
    bool Reused,
    string? SnapshotId,
    long Revision,
    string FilesHash,
    bool Pushed,
    string? PushError,
    bool Ready,
    string? SandboxId,
    string? Url,
    string? Token,
    DateTimeOffset? ExpiresAt,
    PreviewStatusResponse Status);

public sealed record FilesChangeResponse(
    long Revision,
    string FilesHash,
    bool Changed,
    IReadOnlyList<string> Added,
    IReadOnlyList<string> Modified,
    IReadOnlyList<string> Deleted,
    IReadOnlyList<string> Unchanged,
    IReadOnlyDictionary<string, string> Hashes,
    bool Pushed,
    string? PushError,
    IReadOnlyDictionary<string, LineChangeResponse>? LineChanges = null);

public sealed record LineChangeResponse(int Added, int Removed);

public sealed record HeartbeatResponse(
    DateTimeOffset ReceivedAt,
    DateTimeOffset IdleDeadline,
    int IdleTimeoutSeconds,
    bool AnnotationWritten,
    bool Waking,
    string? Phase);

public sealed record ProjectResponse(
    string Namespace,
    string ProjectId,
    bool PreviewEnabled,
    bool PreviewAutoBuild,
    PreviewSettingsInput? PreviewSettings,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);
