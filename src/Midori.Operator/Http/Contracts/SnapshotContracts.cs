namespace Midori.Operator.Http.Contracts;

/// <summary><c>POST /api/v1/namespaces/{ns}/projects/{projectId}/snapshots</c>: a project's files frozen as a snapshot.</summary>
public sealed class CreateSnapshotRequest
{
    public List<FileInput>? Files { get; set; }

    /// <summary>The AI generation the files came from (the editor's <c>Snapshot.fromGenerationId</c>).</summary>
    public string? FromGenerationId { get; set; }
}

public sealed record SnapshotFileResponse(string Path, string Hash, long Size);

/// <summary>What the auto-build did: <c>started</c> with the preview it created or reused, else <c>reason</c>.</summary>
public sealed record AutoBuildResponse(bool Started, string? Reason, string? Namespace, string? Name, bool? Reused, string? Location);

public sealed record SnapshotResponse(
    string Namespace,
    string ProjectId,
    string SnapshotId,
    string? FromGenerationId,
    string FilesHash,
    IReadOnlyList<SnapshotFileResponse> Files,
    DateTimeOffset CreatedAt,
    AutoBuildResponse? AutoBuild);
