namespace Midori.Operator.Http.Contracts;

// JSON shapes of the seed-compatible routes, which the existing front ends' hooks useDaytonaPreview / useCodeEditor call.
// camelCase like the hooks; null members are omitted. Unknown request members are refused like everywhere else.
// Errors are RFC 9457 problems that additionally carry the {"success": false, "error": "<message>"} those hooks show.

/// <summary><c>POST /api/preview/daytona</c>: <c>{"projectId": "...", "files": [{"path": "...", "content": "..."}]}</c> (startPreview).</summary>
public sealed class SeedStartRequest
{
    public string? ProjectId { get; set; }

    /// <summary>Every file of the project; <c>encoding: "base64"</c> for binary files.</summary>
    public List<FileInput>? Files { get; set; }
}

/// <summary>
/// <c>PUT /api/preview/daytona?sandboxId=</c>: either a batch <c>{"files": [{"path", "content"}]}</c> (updateFiles: the
/// files whose hash changed) or one file <c>{"path": "...", "content": "..."}</c> (updateToDaytona).
/// </summary>
public sealed class SeedUpdateFilesRequest
{
    public List<FileInput>? Files { get; set; }

    public string? Path { get; set; }

    public string? Content { get; set; }

    public string? Encoding { get; set; }
}

/// <summary>
/// <c>PATCH /api/preview/daytona/partial?sandboxId=</c> (updatePartialToDaytona):
/// <c>{"path": "...", "operations": [{"type": "insert|delete|replace", "line": 1, "content": "...", "oldContent": "..."}]}</c>;
/// <c>patches</c> is accepted as another name for <c>operations</c>. Lines are 1-based and refer to the file before the
/// patch (see <see cref="Files.LineOperation"/>); a mismatching <c>oldContent</c> is a 409 and changes nothing.
/// </summary>
public sealed class SeedPartialRequest
{
    public string? Path { get; set; }

    public List<LineOperationInput>? Operations { get; set; }

    public List<LineOperationInput>? Patches { get; set; }

    /// <summary>Optional: hash ("sha256:…") of the file the operations were computed against.</summary>
    public string? BaseHash { get; set; }
}

/// <summary>
/// Reply to POST: what the hook stores (<c>sandboxId</c>, <c>url</c>, <c>token</c>; <c>previewUrl</c> repeats
/// <c>url</c>), plus which resource serves it. <c>token</c> is appended by the hook to the URL as the provider's auth
/// query parameter; it is absent when the provider needs none.
/// </summary>
public sealed record SeedStartResponse(
    bool Success,
    string SandboxId,
    string Url,
    string PreviewUrl,
    string? Token,
    string Status,
    string ProjectId,
    bool Reused,
    DateTimeOffset? ExpiresAt,
    string Namespace,
    string Name,
    string Message);

/// <summary>
/// Reply to PUT. <c>sandboxId</c> is the preview's CURRENT sandbox (after a recreation it differs from the one the
/// caller sent, which is then echoed as <c>previousSandboxId</c>; the front end should switch to the new one).
/// </summary>
public sealed record SeedUpdateFilesResponse(
    bool Success,
    string SandboxId,
    string? PreviousSandboxId,
    IReadOnlyList<string> UpdatedFiles,
    IReadOnlyList<string> Added,
    IReadOnlyList<string> Modified,
    IReadOnlyList<string> Unchanged,
    long Revision,
    bool Pushed,
    string? PushError,
    string Message);

/// <summary>Reply to PATCH /partial: the patched file's new hash (base for the next patch) and the working-copy revision.</summary>
public sealed record SeedPartialResponse(
    bool Success,
    string SandboxId,
    string? PreviousSandboxId,
    string Path,
    int OperationsApplied,
    string? Hash,
    long Revision,
    bool Pushed,
    string? PushError,
    string Message);

/// <summary>Reply to DELETE (stopPreview): the preview is suspended (resource, files and history kept).</summary>
public sealed record SeedStopResponse(bool Success, string SandboxId, string Status, string Message);

/// <summary>
/// Reply to GET (the 2-minute heartbeat): the status word the hooks read, the new idle deadline, and the current sandbox id and
/// URL (they change when the preview was recreated meanwhile).
/// </summary>
public sealed record SeedHeartbeatResponse(
    bool Success,
    string SandboxId,
    string? PreviousSandboxId,
    string Status,
    string? PreviewUrl,
    DateTimeOffset LastHeartbeat,
    DateTimeOffset IdleDeadline,
    DateTimeOffset? ExpiresAt,
    bool Waking,
    string Message);
