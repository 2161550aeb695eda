using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Http.Auth;
using Midori.Operator.Http.Contracts;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;
using Midori.Operator.Runtime;

namespace Midori.Operator.Http.Endpoints;

/// <summary>
/// Seed 000's routes, so existing Midori front ends (hooks <c>useDaytonaPreview</c> and <c>useCodeEditor</c>) work
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

        group.MapPost(string.Empty, StartAsync).WithMetadata(ApiVerb.Create).WithName("SeedStartPreview")
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status502BadGateway).ProducesProblem(StatusCodes.Status504GatewayTimeout);
        group.MapPut(string.Empty, UpdateFilesAsync).WithMetadata(ApiVerb.Update).WithName("SeedUpdateFiles")
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        group.MapPatch("/partial", PatchAsync).WithMetadata(ApiVerb.Update).WithName("SeedPatchFile")
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
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

    internal static async Task<Ok<SeedStartResponse>> StartAsync(
        SeedStartRequest request, HttpContext http, PreviewService previews, IOptions<SeedCompatOptions> options, CancellationToken cancellationToken)
    {
        var ns = Namespace(http);
        var command = await previews.PrepareAsync(ns, new CreatePreviewRequest { ProjectId = request.ProjectId, Files = request.Files }, cancellationToken);
        var created = await previews.CreateOrReuseAsync(ns, command, http.User.Identity?.Name, cancellationToken);
        var readiness = await previews.WaitUntilReadyAsync(created.Preview, options.Value.StartTimeout, cancellationToken);
        var resource = readiness.Resource;
        if (!readiness.Ready || resource?.Status is not { SandboxId: { } sandboxId, PreviewUrl: { } url } status)
        {
            var where = new Dictionary<string, object?> { ["namespace"] = created.Preview.Namespace, ["name"] = created.Preview.Name, ["phase"] = resource?.Status?.Phase };
            throw resource?.Status?.Phase == Phases.Failed
                ? new ApiProblemException(StatusCodes.Status502BadGateway, "Preview failed",
                    resource.Status.Conditions?.FirstOrDefault(c => c.Type == PreviewSandboxConditions.Ready)?.Message ?? "the sandbox could not be created", where)
                : new ApiProblemException(StatusCodes.Status504GatewayTimeout, "Preview not ready",
                    $"the preview was not ready within {options.Value.StartTimeout.TotalSeconds:0} s; it keeps starting, retry the request", where);
        }

        // url: what the front end puts in its iframe (the signed link with the gateway); previewUrl: the stable URL.
        return TypedResults.Ok(new SeedStartResponse(true, sandboxId, readiness.Url ?? url, url, readiness.Token, PreviewStatusMapper.SeedStatus.Running, command.ProjectId,
            created.Reused, PreviewStatusMapper.ToOffset(status.ExpiresAt), created.Preview.Namespace, created.Preview.Name,
            created.Reused ? "Sandbox already running; files updated" : "Sandbox created"));
    }

    internal static async Task<Ok<SeedUpdateFilesResponse>> UpdateFilesAsync(
        string? sandboxId, SeedUpdateFilesRequest request, HttpContext http, SandboxIdIndex index, PreviewSandboxCache cache,
        WorkingCopyService workingCopies, IOptions<HttpApiOptions> options, CancellationToken cancellationToken)
    {
        var key = Resolve(http, index, sandboxId);
        List<FileInput> files;
        if (request.Files is not null)
        {
            if (request.Path is not null || request.Content is not null || request.Encoding is not null)
            {
                throw ApiProblemException.BadRequest("give either files or a single path/content, not both");
            }

            files = request.Files;
        }
        else
        {
            files = request.Path is null && request.Content is null
                ? []
                : [new FileInput { Path = request.Path, Content = request.Content, Encoding = request.Encoding }];
        }

        var decoded = FileInputs.Decode(files, options.Value);
        if (decoded.Count == 0)
        {
            throw ApiProblemException.BadRequest("nothing to update: give files or path and content");
        }

        var result = await workingCopies.PutFilesAsync(key, decoded, deleted: null, replaceAll: false, http.User.Identity?.Name, cancellationToken);
        var commit = result.Commit;
        var (current, previous) = Current(cache, key, sandboxId!);
        return TypedResults.Ok(new SeedUpdateFilesResponse(true, current, previous, [.. commit.Added, .. commit.Modified], commit.Added, commit.Modified,
            commit.Unchanged, commit.Revision, result.Push.Pushed, result.Push.Error,
            commit.Changed ? $"Updated {commit.Added.Count + commit.Modified.Count} file(s)" : "No changes"));
    }

    internal static async Task<Ok<SeedPartialResponse>> PatchAsync(
        string? sandboxId, SeedPartialRequest request, HttpContext http, SandboxIdIndex index, PreviewSandboxCache cache,
        WorkingCopyService workingCopies, CancellationToken cancellationToken)
    {
        var key = Resolve(http, index, sandboxId);
        if (request.Operations is not null && request.Patches is not null)
        {
            throw ApiProblemException.BadRequest("give operations or patches, not both");
        }

        var operations = request.Operations ?? request.Patches;
        var patches = workingCopies.ParsePatch(new PatchFilesRequest
        {
            Files = [new FilePatchInput { Path = request.Path, BaseHash = request.BaseHash, Operations = operations }],
        });
        var result = await workingCopies.PatchFilesAsync(key, patches, http.User.Identity?.Name, cancellationToken);
        var path = patches[0].Path;
        var (current, previous) = Current(cache, key, sandboxId!);
        return TypedResults.Ok(new SeedPartialResponse(true, current, previous, path, patches[0].Operations.Count, result.Hashes.GetValueOrDefault(path),
            result.Commit.Revision, result.Push.Pushed, result.Push.Error,
            result.Commit.Changed ? $"Applied {patches[0].Operations.Count} operation(s) to {path}" : "No changes"));
    }

    internal static async Task<Ok<SeedStopResponse>> StopAsync(
        string? sandboxId, HttpContext http, SandboxIdIndex index, PreviewService previews, CancellationToken cancellationToken)
    {
        var key = Resolve(http, index, sandboxId);
        await previews.StopAsync(key, purge: false, cancellationToken);
        return TypedResults.Ok(new SeedStopResponse(true, sandboxId!, "stopped", "Preview stopped"));
    }

    internal static async Task<Ok<SeedHeartbeatResponse>> HeartbeatAsync(
        string? sandboxId, HttpContext http, SandboxIdIndex index, PreviewSandboxCache cache, HeartbeatService heartbeats, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var key = Resolve(http, index, sandboxId);
        var beat = await heartbeats.RecordAsync(key, cancellationToken);
        var resource = cache.TryGet(key, out var cached) ? cached : null;
        var document = resource is null ? null : PreviewStatusMapper.Map(resource, time.GetUtcNow());
        var (current, previous) = Current(cache, key, sandboxId!);
        return TypedResults.Ok(new SeedHeartbeatResponse(true, current, previous, document?.Status ?? PreviewStatusMapper.SeedStatus.NotFound,
            resource?.Status?.PreviewUrl, beat.ReceivedAt, beat.IdleDeadline, PreviewStatusMapper.ToOffset(resource?.Status?.ExpiresAt), beat.Waking,
            beat.Waking ? "Heartbeat received; the expired preview is waking" : "Heartbeat received"));
    }

    // ---- plumbing ---------------------------------------------------------------------------------------------------

    private static PreviewKey Resolve(HttpContext http, SandboxIdIndex index, string? sandboxId)
    {
        if (string.IsNullOrWhiteSpace(sandboxId))
        {
            throw ApiProblemException.BadRequest("the sandboxId query parameter is required");
        }

        if (sandboxId.Length > 253 || sandboxId.Any(char.IsControl))
        {
            throw ApiProblemException.BadRequest("sandboxId must be at most 253 characters without control characters");
        }

        var ns = Namespace(http);
        var key = index.Find(ns, sandboxId) ?? throw ApiProblemException.NotFound($"no preview in namespace '{ns}' has sandbox '{sandboxId}'");
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
    private static async ValueTask<IResult?> ResolveNamespaceAsync(HttpContext http)
    {
        var user = http.User;
        var claimed = user.FindAll(ApiClaims.Namespace).Select(c => c.Value).Distinct(StringComparer.Ordinal).ToList();
        var ns = claimed is [var only] && only != "*"
            ? only
            : http.RequestServices.GetRequiredService<IOptionsMonitor<SeedCompatOptions>>().CurrentValue.DefaultNamespace;
        if (ns is null)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Namespace unknown",
                detail: "this caller may use several namespaces and the seed routes name none; configure Api:SeedCompat:DefaultNamespace or use a token for one namespace");
        }

        var verb = http.GetEndpoint()?.Metadata.GetMetadata<ApiVerb>()?.Verb ?? ApiVerb.Update.Verb;
        var access = http.RequestServices.GetRequiredService<NamespaceAccess>();
        if (!await access.IsAllowedAsync(user, ns, verb, http.RequestAborted))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
                detail: $"caller '{user.Identity?.Name}' may not {verb} previews in namespace '{ns}'");
        }

        http.Items[NamespaceItem] = ns;
        return null;
    }
}
