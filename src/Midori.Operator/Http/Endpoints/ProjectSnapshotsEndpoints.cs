using Microsoft.AspNetCore.Http.HttpResults;
using Midori.Operator.Http.Contracts;
using Midori.Operator.Http.Problems;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;

namespace Midori.Operator.Http.Endpoints;

/// <summary>
/// <c>POST /api/v1/namespaces/{ns}/projects/{projectId}/snapshots</c> stores a snapshot without starting a preview —
/// unless the project has <c>previewAutoBuild=true</c>, in which case its preview starts (or the running one is reused
/// and updated) by itself; the reply's <c>autoBuild</c> says which. <c>GET …/snapshots/{snapshotId}</c> lists its files.
/// </summary>
public static class ProjectSnapshotsEndpoints
{
    public static void MapProjectSnapshots(this RouteGroupBuilder projects)
    {
        projects.MapPost("/{projectId}/snapshots", CreateAsync).WithMetadata(ApiVerb.Create).WithName("CreateSnapshot");
        projects.MapGet("/{projectId}/snapshots/{snapshotId}", GetAsync).WithMetadata(ApiVerb.Get).WithName("GetSnapshot");
    }

    public static string Location(string ns, string projectId, string snapshotId) =>
        $"/api/v1/namespaces/{ns}/projects/{Uri.EscapeDataString(projectId)}/snapshots/{Uri.EscapeDataString(snapshotId)}";

    internal static async Task<Results<Created<SnapshotResponse>, ApiProblem<Status.BadRequest, Status.Conflict, Status.TooLarge, Status.Unprocessable, Status.Unavailable>>> CreateAsync(
        string ns, string projectId, CreateSnapshotRequest request, HttpContext http, AutoBuildService autoBuild, CancellationToken cancellationToken)
    {
        if (!(await autoBuild.StoreSnapshotAsync(ns, projectId, request, http.User.Identity?.Name, cancellationToken)).TryGetValue(out var result, out var refused))
        {
            return new ApiProblem<Status.BadRequest, Status.Conflict, Status.TooLarge, Status.Unprocessable, Status.Unavailable>(refused);
        }
        var build = result.AutoBuild;
        var preview = build.Preview?.Preview;
        var autoBuildResponse = new AutoBuildResponse(build.Started, build.Reason, preview?.Namespace, preview?.Name, build.Preview?.Reused,
            preview is { } key ? MidoriApiEndpoints.PreviewLocation(key) : null);
        var snapshot = result.Snapshot;
        return TypedResults.Created(Location(ns, projectId, snapshot.SnapshotId), ToResponse(snapshot, autoBuildResponse));
    }

    internal static async Task<Results<Ok<SnapshotResponse>, ApiProblem<Status.BadRequest, Status.NotFound, Status.Unavailable>>> GetAsync(
        string ns, string projectId, string snapshotId, AutoBuildService autoBuild, CancellationToken cancellationToken)
    {
        var snapshot = await autoBuild.GetSnapshotAsync(ns, projectId, snapshotId, cancellationToken);
        return snapshot.TryGetValue(out var found, out var refused)
            ? TypedResults.Ok(ToResponse(found, null))
            : new ApiProblem<Status.BadRequest, Status.NotFound, Status.Unavailable>(refused);
    }

    private static SnapshotResponse ToResponse(SnapshotRecord snapshot, AutoBuildResponse? autoBuild) => new(
        snapshot.Namespace, snapshot.ProjectId, snapshot.SnapshotId, snapshot.FromGenerationId, snapshot.FilesHash,
        [.. snapshot.Files.Select(f => new SnapshotFileResponse(f.Path, f.Hash, f.Size))], snapshot.CreatedAt, autoBuild);
}
