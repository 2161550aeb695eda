using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Midori.Operator.Http.Auth;
using Midori.Operator.Http.Contracts;
using Midori.Operator.Http.OpenApi;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Http.Endpoints;

/// <summary>The verb a route needs on previewsandboxes in its namespace (SubjectAccessReview verbs).</summary>
public sealed record ApiVerb(string Verb)
{
    public static readonly ApiVerb Get = new("get");
    public static readonly ApiVerb Create = new("create");
    public static readonly ApiVerb Update = new("update");
    public static readonly ApiVerb Delete = new("delete");
}

/// <summary>
/// Marks a route group whose callers must be allowed into a namespace; <see cref="AuthorizeAsync"/> answers null when
/// they are, else the refusal. Runs as middleware before the endpoint, so before its body is bound.
/// </summary>
public sealed record NamespaceScope(Func<HttpContext, ValueTask<IResult?>> AuthorizeAsync);

/// <summary>
/// The editor's HTTP API (public contract in ARCHITECTURE.md): thin adapters over <see cref="PreviewService"/>,
/// <see cref="WorkingCopyService"/> and <see cref="HeartbeatService"/>. Every route under
/// <c>/api/v1/namespaces/{ns}</c> needs a bearer token allowed into <c>{ns}</c> and counts against the caller's rate.
/// </summary>
public static partial class MidoriApiEndpoints
{
    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]
    private static partial Regex DnsSubdomain();

    /// <summary>Adds the API's middleware (problems, body limit, authentication, authorization, rate limiting) and maps its routes.</summary>
    public static WebApplication MapMidoriApi(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();

        // Who may touch which namespace is decided from the headers and the route alone: a caller refused here never
        // has a byte of its body read (nor does an oversized body, below).
        app.Use(AuthorizeScopeAsync);
        app.UseWhen(context => context.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal), branch => branch.Use(LimitRequestBodyAsync));
        app.UseRateLimiter();
        app.MapMidoriOpenApi(); // anonymous: the contract is public

        var api = app.MapGroup("/api/v1/namespaces/{ns}")
            .RequireAuthorization(HttpApiServiceCollectionExtensions.AuthorizationPolicy)
            .RequireRateLimiting(HttpApiServiceCollectionExtensions.RateLimitPolicy)
            .WithMetadata(new NamespaceScope(AuthorizeNamespaceAsync))
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        var previews = api.MapGroup("/previews").WithTags("Previews");
        // The problems each route can answer beyond the group's, so the OpenAPI document (openapi/midori-api.json) is true.
        previews.MapPost("/", CreatePreviewAsync).WithMetadata(ApiVerb.Create).WithName("CreatePreview")
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        previews.MapGet("/{name}", GetPreviewAsync).WithMetadata(ApiVerb.Get).WithName("GetPreview")
            .ProducesProblem(StatusCodes.Status404NotFound);
        previews.MapDelete("/{name}", StopPreviewAsync).WithMetadata(ApiVerb.Delete).WithName("StopPreview")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        previews.MapPost("/{name}/heartbeat", HeartbeatAsync).WithMetadata(ApiVerb.Update).WithName("Heartbeat")
            .ProducesProblem(StatusCodes.Status404NotFound);
        previews.MapPut("/{name}/files", PutFilesAsync).WithMetadata(ApiVerb.Update).WithName("PutFiles")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        previews.MapPatch("/{name}/files", PatchFilesAsync).WithMetadata(ApiVerb.Update).WithName("PatchFiles")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        previews.MapPreviewLink();

        var projects = api.MapGroup("/projects").WithTags("Projects");
        projects.MapGet("/{projectId}", GetProjectAsync).WithMetadata(ApiVerb.Get).WithName("GetProject")
            .ProducesProblem(StatusCodes.Status404NotFound);
        projects.MapPut("/{projectId}", PutProjectAsync).WithMetadata(ApiVerb.Update).WithName("PutProject")
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        app.MapMidoriApiExtensions(previews, projects); // events, snapshots, seed-compatible routes (MidoriApiExtensions.cs)
        return app;
    }

    public static string PreviewLocation(PreviewKey key) => $"/api/v1/namespaces/{key.Namespace}/previews/{key.Name}";

    // ---- previews ---------------------------------------------------------------------------------------------------

    internal static async Task<Results<Ok<CreatePreviewResponse>, Created<CreatePreviewResponse>, Accepted<CreatePreviewResponse>>> CreatePreviewAsync(
        string ns, CreatePreviewRequest request, bool? wait, int? timeoutSeconds, HttpContext http,
        PreviewService previews, IOptions<HttpApiOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        var limits = options.Value;
        if (timeoutSeconds is { } seconds && (seconds < 1 || seconds > limits.MaxWait.TotalSeconds))
        {
            throw ApiProblemException.BadRequest($"timeoutSeconds must be between 1 and {(int)limits.MaxWait.TotalSeconds}");
        }

        var command = await previews.PrepareAsync(ns, request, cancellationToken);
        var result = await previews.CreateOrReuseAsync(ns, command, http.User.Identity?.Name, cancellationToken);
        var location = PreviewLocation(result.Preview);
        if (wait != true)
        {
            // The stable URL works before the sandbox does (the gateway holds or shows "starting"): hand the link out now.
            var early = await previews.LinkAsync(result.Resource, cancellationToken);
            return TypedResults.Accepted(location, ToResponse(result, result.Resource, ready: false, early?.Token, time, early?.Url));
        }

        var timeout = timeoutSeconds is { } s ? TimeSpan.FromSeconds(s) : limits.DefaultWait;
        var readiness = await previews.WaitUntilReadyAsync(result.Preview, timeout, cancellationToken);
        // With the gateway the caller gets a signed link to the stable URL, never the provider's token; without it, the
        // provider's URL and token as before.
        var link = await previews.LinkAsync(readiness.Resource ?? result.Resource, cancellationToken);
        var response = ToResponse(result, readiness.Resource ?? result.Resource, readiness.Ready, link?.Token ?? readiness.Token, time, link?.Url ?? readiness.Url);
        if (!readiness.Ready)
        {
            return TypedResults.Accepted(location, response);
        }

        return result.Reused ? TypedResults.Ok(response) : TypedResults.Created(location, response);
    }

    internal static async Task<Results<Ok<PreviewStatusResponse>, ProblemHttpResult>> GetPreviewAsync(
        string ns, string name, PreviewService previews, CancellationToken cancellationToken)
    {
        ValidateName(name);
        var status = await previews.GetStatusAsync(new PreviewKey(ns, name), cancellationToken);
        return status is null ? PreviewNotFound(ns, name) : TypedResults.Ok(status);
    }

    internal static async Task<Results<Accepted<PreviewStatusResponse>, NoContent>> StopPreviewAsync(
        string ns, string name, bool? purge, PreviewService previews, TimeProvider time, CancellationToken cancellationToken)
    {
        ValidateName(name);
        var key = new PreviewKey(ns, name);
        var stopped = await previews.StopAsync(key, purge == true, cancellationToken);
        return stopped is null
            ? TypedResults.NoContent()
            : TypedResults.Accepted(PreviewLocation(key), PreviewStatusMapper.Map(stopped, time.GetUtcNow()));
    }

    internal static async Task<Ok<HeartbeatResponse>> HeartbeatAsync(string ns, string name, HeartbeatService heartbeats, CancellationToken cancellationToken)
    {
        ValidateName(name);
        var result = await heartbeats.RecordAsync(new PreviewKey(ns, name), cancellationToken);
        return TypedResults.Ok(new HeartbeatResponse(result.ReceivedAt, result.IdleDeadline, result.IdleTimeoutSeconds, result.AnnotationWritten, result.Waking, result.Phase));
    }

    internal static async Task<Ok<FilesChangeResponse>> PutFilesAsync(
        string ns, string name, PutFilesRequest request, HttpContext http, WorkingCopyService workingCopies, IOptions<HttpApiOptions> options,
        CancellationToken cancellationToken)
    {
        ValidateName(name);
        var files = FileInputs.Decode(request.Files, options.Value);
        if (files.Count == 0 && request.Deleted is not { Count: > 0 } && request.ReplaceAll != true)
        {
            throw ApiProblemException.BadRequest("nothing to do: give files, deleted or replaceAll");
        }

        var result = await workingCopies.PutFilesAsync(new PreviewKey(ns, name), files, request.Deleted, request.ReplaceAll == true,
            http.User.Identity?.Name, cancellationToken);
        return TypedResults.Ok(ToResponse(result));
    }

    internal static async Task<Ok<FilesChangeResponse>> PatchFilesAsync(
        string ns, string name, PatchFilesRequest request, HttpContext http, WorkingCopyService workingCopies, CancellationToken cancellationToken)
    {
        ValidateName(name);
        var patches = workingCopies.ParsePatch(request);
        var result = await workingCopies.PatchFilesAsync(new PreviewKey(ns, name), patches, http.User.Identity?.Name, cancellationToken);
        return TypedResults.Ok(ToResponse(result));
    }

    // ---- projects ---------------------------------------------------------------------------------------------------

    internal static async Task<Results<Ok<ProjectResponse>, ProblemHttpResult>> GetProjectAsync(
        string ns, string projectId, PreviewService previews, CancellationToken cancellationToken)
    {
        var project = await previews.GetProjectAsync(ns, projectId, cancellationToken);
        return project is null
            ? TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not found", detail: $"project '{projectId}' has no settings in {ns}")
            : TypedResults.Ok(ToResponse(project));
    }

    internal static async Task<Ok<ProjectResponse>> PutProjectAsync(
        string ns, string projectId, ProjectRequest request, PreviewService previews, CancellationToken cancellationToken) =>
        TypedResults.Ok(ToResponse(await previews.UpsertProjectAsync(ns, projectId, request, cancellationToken)));

    // ---- plumbing ---------------------------------------------------------------------------------------------------

    /// <summary>
    /// Seed 002 reports a missing preview as status <c>not_found</c>. Here it is a 404 problem; its <c>status</c>
    /// member is the HTTP status (RFC 9457), so the seed's value travels as <c>sandbox_status</c> next to the seed's
    /// <c>success</c>, <c>action_required</c> and <c>message</c>.
    /// </summary>
    private static ProblemHttpResult PreviewNotFound(string ns, string name) => TypedResults.Problem(
        statusCode: StatusCodes.Status404NotFound,
        title: "Not found",
        detail: $"preview {ns}/{name} does not exist",
        extensions: new Dictionary<string, object?>
        {
            ["success"] = false,
            ["sandbox_status"] = PreviewStatusMapper.SeedStatus.NotFound,
            ["action_required"] = "sync_needed",
            ["message"] = "No preview; create one with POST /previews",
        });

    internal static void ValidateName(string name)
    {
        if (name.Length > 253 || !DnsSubdomain().IsMatch(name))
        {
            throw ApiProblemException.BadRequest($"'{name}' is not a valid resource name");
        }
    }

    /// <summary>
    /// Middleware for endpoints carrying <see cref="NamespaceScope"/>: route and query values must be storeable text,
    /// then the scope's check runs; a refusal is written at once and the endpoint (which would bind the body) never runs.
    /// </summary>
    private static async Task AuthorizeScopeAsync(HttpContext context, RequestDelegate next)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<NamespaceScope>() is { } scope && context.User.Identity?.IsAuthenticated == true)
        {
            var refusal = RequestText.FindInvalid(context) is { } invalid
                ? TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid request", detail: $"{invalid.Parameter}: the value {invalid.Problem}",
                    extensions: new Dictionary<string, object?> { ["field"] = invalid.Parameter })
                : await scope.AuthorizeAsync(context);
            if (refusal is not null)
            {
                await refusal.ExecuteAsync(context);
                return;
            }
        }

        await next(context);
    }

    /// <summary>Callers reach only their namespaces: static tokens by their list, Kubernetes users by SubjectAccessReview.</summary>
    private static async ValueTask<IResult?> AuthorizeNamespaceAsync(HttpContext http)
    {
        var ns = http.Request.RouteValues["ns"] as string ?? string.Empty;
        if (ns.Length > 63 || !DnsLabel().IsMatch(ns))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid request", detail: $"'{ns}' is not a valid namespace name");
        }

        var verb = http.GetEndpoint()?.Metadata.GetMetadata<ApiVerb>()?.Verb ?? ApiVerb.Update.Verb;
        var access = http.RequestServices.GetRequiredService<NamespaceAccess>();
        if (!await access.IsAllowedAsync(http.User, ns, verb, http.RequestAborted))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
                detail: $"caller '{http.User.Identity?.Name}' may not {verb} previews in namespace '{ns}'");
        }

        return null;
    }

    /// <summary>413 before a byte of an oversized body is read; the server-side limit catches bodies without Content-Length.</summary>
    private static async Task LimitRequestBodyAsync(HttpContext context, RequestDelegate next)
    {
        var limit = context.RequestServices.GetRequiredService<IOptionsMonitor<HttpApiOptions>>().CurrentValue.MaxRequestBodyBytes;
        if (context.Request.ContentLength > limit)
        {
            context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails =
                {
                    Status = StatusCodes.Status413PayloadTooLarge,
                    Title = "Payload too large",
                    Detail = $"the request body is {context.Request.ContentLength} bytes; the limit is {limit}",
                },
            });
            return;
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
        {
            feature.MaxRequestBodySize = limit;
        }

        await next(context);
    }

    private static CreatePreviewResponse ToResponse(CreatePreviewResult result, Api.V1Alpha1.V1Alpha1PreviewSandbox resource, bool ready, string? token, TimeProvider time,
        string? url = null)
    {
        var status = PreviewStatusMapper.Map(resource, time.GetUtcNow());
        return new CreatePreviewResponse(
            result.Preview.Namespace, result.Preview.Name, resource.Spec.ProjectId, result.Reused, result.SnapshotId, result.Revision, result.FilesHash,
            result.Push.Pushed, result.Push.Error, ready,
            ready ? resource.Status?.SandboxId : null,
            url ?? (ready ? resource.Status?.PreviewUrl : null),
            token,
            ready ? PreviewStatusMapper.ToOffset(resource.Status?.ExpiresAt) : null,
            status);
    }

    private static FilesChangeResponse ToResponse(FilesChangeResult result) => new(
        result.Commit.Revision, result.Commit.FilesHash, result.Commit.Changed,
        result.Commit.Added, result.Commit.Modified, result.Commit.Deleted, result.Commit.Unchanged,
        result.Hashes, result.Push.Pushed, result.Push.Error,
        result.LineChanges?.ToDictionary(e => e.Key, e => new LineChangeResponse(e.Value.Added, e.Value.Removed), StringComparer.Ordinal));

    private static ProjectResponse ToResponse(ProjectRecord project) => new(
        project.Namespace, project.ProjectId, project.PreviewEnabled, project.PreviewAutoBuild,
        project.PreviewSettings is { } s
            ? new PreviewSettingsInput
            {
                TtlSeconds = s.TtlSeconds,
                IdleTimeoutSeconds = s.IdleTimeoutSeconds,
                Command = s.Command,
                Port = s.Port,
                Template = s.Template,
                Provider = s.Provider,
                Env = s.Env?.ToDictionary(e => e.Key, e => e.Value),
            }
            : null,
        project.CreatedAt, project.UpdatedAt);
}
