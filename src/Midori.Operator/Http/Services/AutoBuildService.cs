using Microsoft.Extensions.Options;
using Midori.Operator.Http.Contracts;
using Midori.Operator.Persistence;

namespace Midori.Operator.Http.Services;

/// <summary>What storing a snapshot did, including the auto-build it may have started.</summary>
public sealed record SnapshotStoreResult(SnapshotRecord Snapshot, ProjectRecord? Project, AutoBuildOutcome AutoBuild);

/// <summary>
/// <see cref="Started"/>: a preview was created or the project's existing one (one preview per project) reused with the snapshot's
/// files pushed to it. Otherwise <see cref="Reason"/> says why not (switched off, previews disabled, or the error).
/// </summary>
public sealed record AutoBuildOutcome(bool Started, string? Reason = null, CreatePreviewResult? Preview = null);

/// <summary>
/// Stores project snapshots and runs a project's <c>previewAutoBuild</c>: when a new snapshot of a project with
/// <c>previewAutoBuild=true</c> (and previews enabled) is stored through the API, a preview starts by itself from it —
/// the project's running preview is reused (its working copy becomes the snapshot's files) instead of a second one
/// (one preview per project), and the project's <c>previewSettings</c> apply as for any create. The snapshot is durable before the
/// auto-build runs, so an auto-build that fails is reported, never a lost snapshot.
/// </summary>
public sealed class AutoBuildService
{
    private readonly PreviewService _previews;
    private readonly HttpApiOptions _options;
    private readonly ILogger<AutoBuildService> _logger;
    private readonly IPreviewStore? _store;

    public AutoBuildService(PreviewService previews, IOptions<HttpApiOptions> options, ILogger<AutoBuildService> logger, IPreviewStore? store = null)
    {
        _previews = previews;
        _options = options.Value;
        _logger = logger;
        _store = store;
    }

    public async Task<ServiceResult<SnapshotStoreResult>> StoreSnapshotAsync(string @namespace, string projectId, CreateSnapshotRequest request, string? actor,
        CancellationToken cancellationToken)
    {
        if (PreviewService.ValidateProjectId(projectId) is { } invalid)
        {
            return invalid;
        }

        if (!FileInputs.Decode(request.Files, _options).TryGetValue(out var files, out var refused))
        {
            return refused;
        }

        if (files.Count == 0)
        {
            return ServiceError.Invalid("files must list at least one file");
        }

        if (request.FromGenerationId is { Length: > 253 })
        {
            return ServiceError.Invalid("fromGenerationId must be at most 253 characters");
        }

        if (_store is not { } store)
        {
            return ServiceError.StoreNotConfigured;
        }

        var snapshot = await store.CreateSnapshotAsync(@namespace, projectId, [.. files.Select(f => f.ToSandboxFile())], request.FromGenerationId,
            cancellationToken).ConfigureAwait(false);
        _logger.SnapshotStored(@namespace, projectId, snapshot.SnapshotId, snapshot.Files.Count);
        var project = await store.GetProjectAsync(@namespace, projectId, cancellationToken).ConfigureAwait(false);
        var outcome = project switch
        {
            null or { PreviewAutoBuild: false } => new AutoBuildOutcome(false, "previewAutoBuild is off for this project"),
            { PreviewEnabled: false } => new AutoBuildOutcome(false, "previews are disabled for this project (previewEnabled=false)"),
            _ => await BuildAsync(@namespace, projectId, request, snapshot, actor, cancellationToken).ConfigureAwait(false),
        };
        return new SnapshotStoreResult(snapshot, project, outcome);
    }

    /// <summary>The project's snapshot; 404 when it has none of that id.</summary>
    public async Task<ServiceResult<SnapshotRecord>> GetSnapshotAsync(string @namespace, string projectId, string snapshotId, CancellationToken cancellationToken)
    {
        if (PreviewService.ValidateProjectId(projectId) is { } invalid)
        {
            return invalid;
        }

        if (_store is not { } store)
        {
            return ServiceError.StoreNotConfigured;
        }

        var snapshot = await store.GetSnapshotAsync(@namespace, snapshotId, cancellationToken).ConfigureAwait(false);
        return snapshot?.ProjectId == projectId ? snapshot : ServiceError.NotFound($"project '{projectId}' has no snapshot '{snapshotId}' in {@namespace}");
    }

    private async Task<AutoBuildOutcome> BuildAsync(string @namespace, string projectId, CreateSnapshotRequest request, SnapshotRecord snapshot, string? actor,
        CancellationToken cancellationToken)
    {
        var prepared = await _previews.PrepareAsync(@namespace,
            new CreatePreviewRequest { ProjectId = projectId, Files = request.Files, FromGenerationId = request.FromGenerationId }, cancellationToken).ConfigureAwait(false);
        var started = prepared.TryGetValue(out var command, out var refused)
            ? await _previews.CreateOrReuseAsync(@namespace, command, actor, cancellationToken, storedSnapshot: snapshot).ConfigureAwait(false)
            : refused;
        if (!started.TryGetValue(out var preview, out var notStarted))
        {
            // The snapshot is stored; say why no preview started instead of failing the request.
            _logger.AutoBuildFailed(@namespace, projectId, notStarted.Detail);
            return new AutoBuildOutcome(false, notStarted.Detail);
        }

        _logger.AutoBuildStarted(@namespace, projectId, preview.Preview.Name, preview.Reused);
        return new AutoBuildOutcome(true, null, preview);
    }
}
