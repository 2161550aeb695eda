using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Midori.Operator.Http.Auth;
using Midori.Operator.Http.Contracts;
using Midori.Operator.Http.OpenApi;
using Midori.Operator.Http.Problems;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Http.Endpoints;

// The problems each handler can answer, as types: Results<…> puts exactly these on the endpoint (and so in the OpenAPI
// document). The route group adds those of its middleware (400, 401, 403, 413, 429, 503).
using CreateProblem = Problems.ApiProblem<Problems.Status.BadRequest, Problems.Status.Forbidden, Problems.Status.Conflict, Problems.Status.TooLarge,
    Problems.Status.Unprocessable, Problems.Status.Unavailable>;
using FilesProblem = Problems.ApiProblem<Problems.Status.BadRequest, Problems.Status.NotFound, Problems.Status.Conflict, Problems.Status.TooLarge,
    Problems.Status.Unprocessable, Problems.Status.Unavailable>;
using HeartbeatProblem = Problems.ApiProblem<Problems.Status.BadRequest, Problems.Status.NotFound, Problems.Status.Unavailable>;
using LookupProblem = Problems.ApiProblem<Problems.Status.BadRequest, Problems.Status.NotFound>;
using ProjectProblem = Problems.ApiProblem<Problems.Status.BadRequest, Problems.Status.NotFound, Problems.Status.Unavailable>;
using ProjectWriteProblem = Problems.ApiProblem<Problems.Status.BadRequest, Problems.Status.Forbidden, Problems.Status.Unprocessable, Problems.Status.Unavailable>;
using StopProblem = Problems.ApiProblem<Problems.Status.BadRequest, Problems.Status.NotFound, Problems.Status.Conflict>;

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
public sealed record NamespaceScope(Func<HttpContext, ValueTask<ServiceError?>> AuthorizeAsync);

/// <summary>
/// The editor's HTTP API (a public contract: clients depend on its routes and shapes): thin adapters over <see cref="PreviewService"/>,
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

        // Each handler's return type names the problems it answers (ApiProblem<…>), so the OpenAPI document
        // (openapi/midori-api.json) says what the routes really return.
        var previews = api.MapGroup("/previews").WithTags("Previews");
        previews.MapPost("/", CreatePreviewAsync).WithMetadata(ApiVerb.Create).WithName("CreatePreview");
        previews.MapGet("/{name}", GetPreviewAsync).WithMetadata(ApiVerb.Get).WithName("GetPreview");
        previews.MapDelete("/{name}", StopPreviewAsync).WithMetadata(ApiVerb.Delete).WithName("StopPreview");
        previews.MapPost("/{name}/heartbeat", HeartbeatAsync).WithMetadata(ApiVerb.Update).WithName("Heartbeat");
        previews.MapPut("/{name}/files", PutFilesAsync).WithMetadata(ApiVerb.Update).WithName("PutFiles");
        previews.MapPatch("/{name}/files", PatchFilesAsync).WithMetadata(ApiVerb.Update).WithName("PatchFiles");
        previews.MapPreviewLink();
        previews.MapPreviewEvents();

        var projects = api.MapGroup("/projects").WithTags("Projects");
        projects.MapGet("/{projectId}", GetProjectAsync).WithMetadata(ApiVerb.Get).WithName("GetProject");
        projects.MapPut("/{projectId}", PutProjectAsync).WithMetadata(ApiVerb.Update).WithName("PutProject");
        projects.MapProjectSnapshots();

        if (app.Services.GetRequiredService<IOptions<SeedCompatOptions>>().Value.Enabled)
        {
            app.MapSeedCompat();
        }

        return app;
    }

    public static string PreviewLocation(PreviewKey key) => $"/api/v1/namespaces/{key.Namespace}/previews/{key.Name}";

    // ---- previews ---------------------------------------------------------------------------------------------------

    internal static async Task<Results<Ok<CreatePreviewResponse>, Created<CreatePreviewResponse>, Accepted<CreatePreviewResponse>, CreateProblem>> CreatePreviewAsync(
        string ns, CreatePreviewRequest request, bool? wait, int? timeoutSeconds, HttpContext http,
        PreviewService previews, IOptions<HttpApiOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        var limits = options.Value;
        if (timeoutSeconds is { } seconds && (seconds < 1 || seconds > limits.MaxWait.TotalSeconds))
        {
            return new CreateProblem(ServiceError.Invalid($"timeoutSeconds must be between 1 and {(int)limits.MaxWait.TotalSeconds}"));
        }

        if (!(await previews.PrepareAsync(ns, request, cancellationToken)).TryGetValue(out var command, out var invalid))
        {
            return new CreateProblem(invalid);
        }

        if (!(await previews.CreateOrReuseAsync(ns, command, http.User.Identity?.Name, cancellationToken)).TryGetValue(out var result, out var refused))
        {
            return new CreateProblem(refused);
        }

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

    internal static async Task<Results<Ok<PreviewStatusResponse>, LookupProblem>> GetPreviewAsync(
        string ns, string name, PreviewService previews, CancellationToken cancellationToken)
    {
        if (ValidateName(name) is { } invalid)
        {
            return new LookupProblem(invalid);
        }

        var status = await previews.GetStatusAsync(new PreviewKey(ns, name), cancellationToken);
        return status is null ? new LookupProblem(PreviewNotFound(ns, name)) : TypedResults.Ok(status);
    }

    internal static async Task<Results<Accepted<PreviewStatusResponse>, NoContent, StopProblem>> StopPreviewAsync(
        string ns, string name, bool? purge, PreviewService previews, TimeProvider time, CancellationToken cancellationToken)
    {
        if (ValidateName(name) is { } invalid)
        {
            return new StopProblem(invalid);
        }

        var key = new PreviewKey(ns, name);
        if (!(await previews.StopAsync(key, purge == true, cancellationToken)).TryGetValue(out var stopped, out var refused))
        {
            return new StopProblem(refused);
        }

        return stopped.Suspended is not { } suspended
            ? TypedResults.NoContent()
            : TypedResults.Accepted(PreviewLocation(key), PreviewStatusMapper.Map(suspended, time.GetUtcNow()));
    }

    internal static async Task<Results<Ok<HeartbeatResponse>, HeartbeatProblem>> HeartbeatAsync(
        string ns, string name, HeartbeatService heartbeats, CancellationToken cancellationToken)
    {
        if (ValidateName(name) is { } invalid)
        {
            return new HeartbeatProblem(invalid);
        }

        if (!(await heartbeats.RecordAsync(new PreviewKey(ns, name), cancellationToken)).TryGetValue(out var result, out var refused))
        {
            return new HeartbeatProblem(refused);
        }

        return TypedResults.Ok(new HeartbeatResponse(result.ReceivedAt, result.IdleDeadline, result.IdleTimeoutSeconds, result.AnnotationWritten, result.Waking, result.Phase));
    }

    internal static async Task<Results<Ok<FilesChangeResponse>, FilesProblem>> PutFilesAsync(
        string ns, string name, PutFilesRequest request, HttpContext http, WorkingCopyService workingCopies, IOptions<HttpApiOptions> options,
        CancellationToken cancellationToken)
    {
        if (ValidateName(name) is { } invalid)
        {
            return new FilesProblem(invalid);
        }

        if (!FileInputs.Decode(request.Files, options.Value).TryGetValue(out var files, out var undecodable))
        {
            return new FilesProblem(undecodable);
        }

        if (files.Count == 0 && request.Deleted is not { Count: > 0 } && request.ReplaceAll != true)
        {
            return new FilesProblem(ServiceError.Invalid("nothing to do: give files, deleted or replaceAll"));
        }

        var result = await workingCopies.PutFilesAsync(new PreviewKey(ns, name), files, request.Deleted, request.ReplaceAll == true,
            http.User.Identity?.Name, cancellationToken);
        return result.TryGetValue(out var change, out var refused) ? TypedResults.Ok(ToResponse(change)) : new FilesProblem(refused);
    }

    internal static async Task<Results<Ok<FilesChangeResponse>, FilesProblem>> PatchFilesAsync(
        string ns, string name, PatchFilesRequest request, HttpContext http, WorkingCopyService workingCopies, CancellationToken cancellationToken)
    {
        if (ValidateName(name) is { } invalid)
        {
            return new FilesProblem(invalid);
        }

        if (!workingCopies.ParsePatch(request).TryGetValue(out var patches, out var malformed))
        {
            return new FilesProblem(malformed);
        }

        var result = await workingCopies.PatchFilesAsync(new PreviewKey(ns, name), patches, http.User.Identity?.Name, cancellationToken);
        return result.TryGetValue(out var change, out var refused) ? TypedResults.Ok(ToResponse(change)) : new FilesProblem(refused);
    }

    // ---- projects ---------------------------------------------------------------------------------------------------

    internal static async Task<Results<Ok<ProjectResponse>, ProjectProblem>> GetProjectAsync(
        string ns, string projectId, PreviewService previews, CancellationToken cancellationToken)
    {
        var project = await previews.GetProjectAsync(ns, projectId, cancellationToken);
        return project.TryGetValue(out var found, out var refused) ? TypedResults.Ok(ToResponse(found)) : new ProjectProblem(refused);
    }

    internal static async Task<Results<Ok<ProjectResponse>, ProjectWriteProblem>> PutProjectAsync(
        string ns, string projectId, ProjectRequest request, PreviewService previews, CancellationToken cancellationToken)
    {
        var project = await previews.UpsertProjectAsync(ns, projectId, request, cancellationToken);
        return project.TryGetValue(out var stored, out var refused) ? TypedResults.Ok(ToResponse(stored)) : new ProjectWriteProblem(refused);
    }

    // ---- plumbing ---------------------------------------------------------------------------------------------------

    /// <summary>
    /// The existing front ends expect a missing preview as status <c>not_found</c>. Here it is a 404 problem; its <c>status</c>
    /// member is the HTTP status (RFC 9457), so that value travels as <c>sandbox_status</c> next to the
    /// <c>success</c>, <c>action_required</c> and <c>message</c> they read.
    /// </summary>
    private static ServiceError PreviewNotFound(string ns, string name) => ServiceError.NotFound(
        $"preview {ns}/{name} does not exist",
        members: new Dictionary<string, object?>
        {
            ["success"] = false,
            ["sandbox_status"] = PreviewStatusMapper.SeedStatus.NotFound,
            ["action_required"] = "sync_needed",
            ["message"] = "No preview; create one with POST /previews",
        });

    /// <summary>400 unless <paramref name="name"/> is a valid resource name (DNS subdomain); null when it is.</summary>
    internal static ServiceError? ValidateName(string name) =>
        name.Length > 253 || !DnsSubdomain().IsMatch(name) ? ServiceError.Invalid($"'{name}' is not a valid resource name") : null;

    /// <summary>
    /// Middleware for endpoints carrying <see cref="NamespaceScope"/>: route and query values must be storeable text,
    /// then the scope's check runs; a refusal is written at once and the endpoint (which would bind the body) never runs.
    /// </summary>
    private static async Task AuthorizeScopeAsync(HttpContext context, RequestDelegate next)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<NamespaceScope>() is { } scope && context.User.Identity?.IsAuthenticated == true)
        {
            var refusal = RequestText.FindInvalid(context) is { } invalid
                ? ServiceError.InvalidField(invalid.Parameter, $"{invalid.Parameter}: the value {invalid.Problem}")
                : await scope.AuthorizeAsync(context);
            if (refusal is not null)
            {
                await ApiProblems.WriteAsync(context, ApiProblems.ToProblemDetails(refusal));
                return;
            }
        }

        await next(context);
    }

    /// <summary>Callers reach only their namespaces: static tokens by their list, Kubernetes users by SubjectAccessReview.</summary>
    private static async ValueTask<ServiceError?> AuthorizeNamespaceAsync(HttpContext http)
    {
        var ns = http.Request.RouteValues["ns"] as string ?? string.Empty;
        if (ns.Length > 63 || !DnsLabel().IsMatch(ns))
        {
            return ServiceError.Invalid($"'{ns}' is not a valid namespace name");
        }

        var verb = http.GetEndpoint()?.Metadata.GetMetadata<ApiVerb>()?.Verb ?? ApiVerb.Update.Verb;
        var access = http.RequestServices.GetRequiredService<NamespaceAccess>();
        if (!await access.IsAllowedAsync(http.User, ns, verb, http.RequestAborted))
        {
            return ServiceError.Forbidden($"caller '{http.User.Identity?.Name}' may not {verb} previews in namespace '{ns}'");
        }

        return null;
    }

    /// <summary>413 before a byte of an oversized body is read; the server-side limit catches bodies without Content-Length.</summary>
    private static async Task LimitRequestBodyAsync(HttpContext context, RequestDelegate next)
    {
        var limit = context.RequestServices.GetRequiredService<IOptionsMonitor<HttpApiOptions>>().CurrentValue.MaxRequestBodyBytes;
        if (context.Request.ContentLength > limit)
        {
            await ApiProblems.WriteAsync(context,
                ApiProblems.ToProblemDetails(ServiceError.TooLarge($"the request body is {context.Request.ContentLength} bytes; the limit is {limit}")));
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
