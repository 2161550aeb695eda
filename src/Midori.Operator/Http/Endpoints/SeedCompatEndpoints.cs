using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Http.Auth;
using Midori.Operator.Http.Contracts;
using Midori.Operator.Http.Problems;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;
using Midori.Operator.Runtime;

namespace Midori.Operator.Http.Endpoints;

// The problems each seed handler answers beyond the group's (400, 401, 403, 404, 413, 429, 503), as types (see MidoriApiEndpoints).
using SeedStartProblem = Problems.ApiProblem<Problems.Status.Forbidden, Problems.Status.Conflict, Problems.Status.TooLarge, Problems.Status.Unprocessable,
    Problems.Status.BadGateway, Problems.Status.GatewayTimeout>;
using SeedFilesProblem = Problems.ApiProblem<Problems.Status.BadRequest, Problems.Status.NotFound, Problems.Status.Conflict, Problems.Status.TooLarge,
    Problems.Status.Unprocessable, Problems.Status.Unavailable>;
using SeedStopProblem = Problems.ApiProblem<Problems.Status.BadRequest, Problems.Status.NotFound, Problems.Status.Conflict>;
using SeedHeartbeatProblem = Problems.ApiProblem<Problems.Status.BadRequest, Problems.Status.NotFound, Problems.Status.Unavailable>;

/// <summary>
/// The routes existing Midori front ends call (hooks <c>useDaytonaPreview</c> and <c>useCodeEditor</c>), so they work
/// unchanged: thin adapters over <see cref="PreviewService"/>, <see cref="WorkingCopyService"/> and
/// <see cref="HeartbeatService"/>, addressing a preview by <c>sandboxId</c> (current, or one it had before a
/// recreation — <see cref="SandboxIdIndex"/>).
/// <list type="table">
/// <item><term><c>POST /api/preview/daytona</c></term><description><see cref="SeedStartRequest"/> → create (or reuse the
/// project's preview), wait until Ready → <see cref="SeedStartResponse"/> <c>{success, sandboxId, url, previewUrl, token, …}</c>.</description></item>
/// <item><term><c>PUT ?sandboxId=</c></term><description><see cref="SeedUpdateFilesRequest"/> → whole files (only changed ones are stored and pushed) → <see cref="SeedUpdateFilesResponse"/>.</description></item>
/// <item><term><c>PATCH /partial?sandboxId=</c></term><description><see cref="SeedPartialRequest"/> → line patch → <see cref="SeedPartialResponse"/>.</description></item>
/// <item><term><c>DELETE ?sandboxId=</c></term><description>stop (suspend) → <see cref="SeedStopResponse"/>.</description></item>
/// <item><term><c>GET ?sandboxId=</c></term><description>heartbeat → <see cref="SeedHeartbeatResponse"/>.</description></item>
/// </list>
/// Same bearer tokens and rate limit as <c>/api/v1</c>. The namespace is the caller's only allowed namespace, else
/// <see cref="SeedCompatOptions.DefaultNamespace"/> (the caller must be allowed into it); a sandbox id of another
/// namespace is simply not found.
/// </summary>
public static class SeedCompatEndpoints
{
    public const string Prefix = "/api/preview/daytona";
    private const string NamespaceItem = "midori:seed-namespace";

    public static void MapSeedCompat(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup(Prefix)
            .WithTags("Seed compatibility")
            .RequireAuthorization(HttpApiServiceCollectionExtensions.AuthorizationPolicy)
            .RequireRateLimiting(HttpApiServiceCollectionExtensions.RateLimitPolicy)
            .WithMetadata(new NamespaceScope(ResolveNamespaceAsync))
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        group.MapPost(string.Empty, StartAsync).WithMetadata(ApiVerb.Create).WithName("SeedStartPreview");
        group.MapPut(string.Empty, UpdateFilesAsync).WithMetadata(ApiVerb.Update).WithName("SeedUpdateFiles");
        group.MapPatch("/partial", PatchAsync).WithMetadata(ApiVerb.Update).WithName("SeedPatchFile");
        group.MapDelete(string.Empty, StopAsync).WithMetadata(ApiVerb.Delete).WithName("SeedStopPreview");
        group.MapGet(string.Empty, HeartbeatAsync).WithMetadata(ApiVerb.Update).WithName("SeedHeartbeat");
    }

    /// <summary>Seed errors carry <c>success: false</c> and <c>error</c> (what the hooks show) next to the problem members.</summary>
    public static void AddSeedErrorMembers(ProblemDetailsContext context)
    {
        if (context.HttpContext.Request.Path.StartsWithSegments(Prefix, StringComparison.Ordinal))
        {
            context.ProblemDetails.Extensions["success"] = false;
            context.ProblemDetails.Extensions["error"] = context.ProblemDetails.Detail ?? context.ProblemDetails.Title;
        }
    }

    internal static async Task<Results<Ok<SeedStartResponse>, SeedStartProblem>> StartAsync(
        SeedStartRequest request, HttpContext http, PreviewService previews, IOptions<SeedCompatOptions> options, CancellationToken cancellationToken)
    {
        var ns = Namespace(http);
        if (!(await previews.PrepareAsync(ns, new CreatePreviewRequest { ProjectId = request.ProjectId, Files = request.Files }, cancellationToken))
            .TryGetValue(out var command, out var invalid))
        {
            return new SeedStartProblem(invalid);
        }

        if (!(await previews.CreateOrReuseAsync(ns, command, http.User.Identity?.Name, cancellationToken)).TryGetValue(out var created, out var refused))
        {
            return new SeedStartProblem(refused);
        }

        var readiness = await previews.WaitUntilReadyAsync(created.Preview, options.Value.StartTimeout, cancellationToken);
        var resource = readiness.Resource;
        if (!readiness.Ready || resource?.Status is not { SandboxId: { } sandboxId, PreviewUrl: { } url } status)
        {
            var where = new Dictionary<string, object?> { ["namespace"] = created.Preview.Namespace, ["name"] = created.Preview.Name, ["phase"] = resource?.Status?.Phase };
            return new SeedStartProblem(resource?.Status?.Phase == Phases.Failed
                ? new ServiceError(ServiceErrorKind.PreviewFailed,
                    resource.Status.Conditions?.FirstOrDefault(c => c.Type == PreviewSandboxConditions.Ready)?.Message ?? "the sandbox could not be created", null, where)
                : new ServiceError(ServiceErrorKind.NotReady,
                    $"the preview was not ready within {options.Value.StartTimeout.TotalSeconds:0} s; it keeps starting, retry the request", null, where));
        }

        // url: what the front end puts in its iframe (the signed link with the gateway); previewUrl: the stable URL.
        return TypedResults.Ok(new SeedStartResponse(true, sandboxId, readiness.Url ?? url, url, readiness.Token, PreviewStatusMapper.SeedStatus.Running, command.ProjectId,
            created.Reused, PreviewStatusMapper.ToOffset(status.ExpiresAt), created.Preview.Namespace, created.Preview.Name,
            created.Reused ? "Sandbox already running; files updated" : "Sandbox created"));
    }

    internal static async Task<Results<Ok<SeedUpdateFilesResponse>, SeedFilesProblem>> UpdateFilesAsync(
        string? sandboxId, SeedUpdateFilesRequest request, HttpContext http, SandboxIdIndex index, PreviewSandboxCache cache,
        WorkingCopyService workingCopies, IOptions<HttpApiOptions> options, CancellationToken cancellationToken)
    {
        if (!Resolve(http, index, sandboxId).TryGetValue(out var key, out var unknown))
        {
            return new SeedFilesProblem(unknown);
        }

        List<FileInput> files;
        if (request.Files is not null)
        {
            if (request.Path is not null || request.Content is not null || request.Encoding is not null)
            {
                return new SeedFilesProblem(ServiceError.Invalid("give either files or a single path/content, not both"));
            }

            files = request.Files;
        }
        else
        {
            files = request.Path is null && request.Content is null
                ? []
                : [new FileInput { Path = request.Path, Content = request.Content, Encoding = request.Encoding }];
        }

        if (!FileInputs.Decode(files, options.Value).TryGetValue(out var decoded, out var undecodable))
        {
            return new SeedFilesProblem(undecodable);
        }

        if (decoded.Count == 0)
        {
            return new SeedFilesProblem(ServiceError.Invalid("nothing to update: give files or path and content"));
        }

        if (!(await workingCopies.PutFilesAsync(key, decoded, deleted: null, replaceAll: false, http.User.Identity?.Name, cancellationToken))
            .TryGetValue(out var result, out var refused))
        {
            return new SeedFilesProblem(refused);
        }

        var commit = result.Commit;
        var (current, previous) = Current(cache, key, sandboxId!);
        return TypedResults.Ok(new SeedUpdateFilesResponse(true, current, previous, [.. commit.Added, .. commit.Modified], commit.Added, commit.Modified,
            commit.Unchanged, commit.Revision, result.Push.Pushed, result.Push.Error,
            commit.Changed ? $"Updated {commit.Added.Count + commit.Modified.Count} file(s)" : "No changes"));
    }

    internal static async Task<Results<Ok<SeedPartialResponse>, SeedFilesProblem>> PatchAsync(
        string? sandboxId, SeedPartialRequest request, HttpContext http, SandboxIdIndex index, PreviewSandboxCache cache,
        WorkingCopyService workingCopies, CancellationToken cancellationToken)
    {
        if (!Resolve(http, index, sandboxId).TryGetValue(out var key, out var unknown))
        {
            return new SeedFilesProblem(unknown);
        }

        if (request.Operations is not null && request.Patches is not null)
        {
            return new SeedFilesProblem(ServiceError.Invalid("give operations or patches, not both"));
        }

        var operations = request.Operations ?? request.Patches;
        if (!workingCopies.ParsePatch(new PatchFilesRequest
            {
                Files = [new FilePatchInput { Path = request.Path, BaseHash = request.BaseHash, Operations = operations }],
            }).TryGetValue(out var patches, out var malformed))
        {
            return new SeedFilesProblem(malformed);
        }

        if (!(await workingCopies.PatchFilesAsync(key, patches, http.User.Identity?.Name, cancellationToken)).TryGetValue(out var result, out var refused))
        {
            return new SeedFilesProblem(refused);
        }

        var path = patches[0].Path;
        var (current, previous) = Current(cache, key, sandboxId!);
        return TypedResults.Ok(new SeedPartialResponse(true, current, previous, path, patches[0].Operations.Count, result.Hashes.GetValueOrDefault(path),
            result.Commit.Revision, result.Push.Pushed, result.Push.Error,
            result.Commit.Changed ? $"Applied {patches[0].Operations.Count} operation(s) to {path}" : "No changes"));
    }

    internal static async Task<Results<Ok<SeedStopResponse>, SeedStopProblem>> StopAsync(
        string? sandboxId, HttpContext http, SandboxIdIndex index, PreviewService previews, CancellationToken cancellationToken)
    {
        if (!Resolve(http, index, sandboxId).TryGetValue(out var key, out var unknown))
        {
            return new SeedStopProblem(unknown);
        }

        if ((await previews.StopAsync(key, purge: false, cancellationToken)).Error is { } refused)
        {
            return new SeedStopProblem(refused);
        }

        return TypedResults.Ok(new SeedStopResponse(true, sandboxId!, "stopped", "Preview stopped"));
    }

    internal static async Task<Results<Ok<SeedHeartbeatResponse>, SeedHeartbeatProblem>> HeartbeatAsync(
        string? sandboxId, HttpContext http, SandboxIdIndex index, PreviewSandboxCache cache, HeartbeatService heartbeats, TimeProvider time,
        CancellationToken cancellationToken)
    {
        if (!Resolve(http, index, sandboxId).TryGetValue(out var key, out var unknown))
        {
            return new SeedHeartbeatProblem(unknown);
        }

        if (!(await heartbeats.RecordAsync(key, cancellationToken)).TryGetValue(out var beat, out var refused))
        {
            return new SeedHeartbeatProblem(refused);
        }
        var resource = cache.TryGet(key, out var cached) ? cached : null;
        var document = resource is null ? null : PreviewStatusMapper.Map(resource, time.GetUtcNow());
        var (current, previous) = Current(cache, key, sandboxId!);
        return TypedResults.Ok(new SeedHeartbeatResponse(true, current, previous, document?.Status ?? PreviewStatusMapper.SeedStatus.NotFound,
            resource?.Status?.PreviewUrl, beat.ReceivedAt, beat.IdleDeadline, PreviewStatusMapper.ToOffset(resource?.Status?.ExpiresAt), beat.Waking,
            beat.Waking ? "Heartbeat received; the expired preview is waking" : "Heartbeat received"));
    }

    // ---- plumbing ---------------------------------------------------------------------------------------------------

    private static ServiceResult<PreviewKey> Resolve(HttpContext http, SandboxIdIndex index, string? sandboxId)
    {
        if (string.IsNullOrWhiteSpace(sandboxId))
        {
            return ServiceError.Invalid("the sandboxId query parameter is required");
        }

        if (sandboxId.Length > 253 || sandboxId.Any(char.IsControl))
        {
            return ServiceError.Invalid("sandboxId must be at most 253 characters without control characters");
        }

        var ns = Namespace(http);
        if (index.Find(ns, sandboxId) is not { } key)
        {
            return ServiceError.NotFound($"no preview in namespace '{ns}' has sandbox '{sandboxId}'");
        }

        http.RequestServices.GetRequiredService<ILogger<SandboxIdIndex>>().SeedSandboxResolved(sandboxId, key.Namespace, key.Name, null);
        return key;
    }

    /// <summary>The preview's current sandbox id, and the caller's id when it is an older one.</summary>
    private static (string Current, string? Previous) Current(PreviewSandboxCache cache, PreviewKey key, string requested)
    {
        var current = cache.TryGet(key, out var resource) ? resource.Status?.SandboxId : null;
        return current is null || current == requested ? (requested, null) : (current, requested);
    }

    private static string Namespace(HttpContext http) =>
        http.Items[NamespaceItem] as string ?? throw new InvalidOperationException("the seed namespace filter did not run");

    /// <summary>The caller's single namespace, else the configured default; the caller must be allowed into it for the route's verb.</summary>
    private static async ValueTask<ServiceError?> ResolveNamespaceAsync(HttpContext http)
    {
        var user = http.User;
        var claimed = user.FindAll(ApiClaims.Namespace).Select(c => c.Value).Distinct(StringComparer.Ordinal).ToList();
        var ns = claimed is [var only] && only != "*"
            ? only
            : http.RequestServices.GetRequiredService<IOptionsMonitor<SeedCompatOptions>>().CurrentValue.DefaultNamespace;
        if (ns is null)
        {
            return new ServiceError(ServiceErrorKind.Invalid,
                "this caller may use several namespaces and the seed routes name none; configure Api:SeedCompat:DefaultNamespace or use a token for one namespace",
                "Namespace unknown");
        }

        var verb = http.GetEndpoint()?.Metadata.GetMetadata<ApiVerb>()?.Verb ?? ApiVerb.Update.Verb;
        var access = http.RequestServices.GetRequiredService<NamespaceAccess>();
        if (!await access.IsAllowedAsync(user, ns, verb, http.RequestAborted))
        {
            return ServiceError.Forbidden($"caller '{user.Identity?.Name}' may not {verb} previews in namespace '{ns}'");
        }

        http.Items[NamespaceItem] = ns;
        return null;
    }
}
