using Microsoft.AspNetCore.Http.HttpResults;
using Midori.Operator.Http.Problems;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;
using Midori.Operator.Runtime;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Http.Endpoints;

/// <summary>Signed links to a preview's stable URL, minted by the gateway (<see cref="IPreviewLinks"/>).</summary>
public static class PreviewLinkEndpoints
{
    /// <summary><c>GET /api/v1/namespaces/{ns}/previews/{name}/link</c>: a fresh signed link (same auth and namespace rules as the API).</summary>
    public static RouteHandlerBuilder MapPreviewLink(this RouteGroupBuilder previews) =>
        previews.MapGet("/{name}/link", GetLinkAsync)
            .WithMetadata(ApiVerb.Get)
            .WithName("GetPreviewLink");

    internal static async Task<Results<Ok<PreviewLinkResponse>, ApiProblem<Status.BadRequest, Status.NotFound, Status.Unavailable>>> GetLinkAsync(
        string ns, string name, HttpContext http, PreviewSandboxCache cache, IServiceProvider services, CancellationToken cancellationToken)
    {
        if (MidoriApiEndpoints.ValidateName(name) is { } invalid)
        {
            return new ApiProblem<Status.BadRequest, Status.NotFound, Status.Unavailable>(invalid);
        }

        if (services.GetService<IPreviewLinks>() is not { } links)
        {
            return new ApiProblem<Status.BadRequest, Status.NotFound, Status.Unavailable>(ServiceError.NotFound("the preview gateway is off (Gateway:Enabled=false)"));
        }

        var resource = await cache.GetAsync(new PreviewKey(ns, name), cancellationToken);
        if (resource is null)
        {
            return new ApiProblem<Status.BadRequest, Status.NotFound, Status.Unavailable>(ServiceError.NotFound($"preview {ns}/{name} does not exist"));
        }

        var link = await links.CreateAsync(resource, cancellationToken);
        if (link is null)
        {
            return new ApiProblem<Status.BadRequest, Status.NotFound, Status.Unavailable>(
                ServiceError.Unavailable("Preview address unknown", "the gateway has no public address yet"));
        }

        http.Response.Headers.CacheControl = "no-store";
        return TypedResults.Ok(new PreviewLinkResponse(link.Url, link.Token, link.ExpiresAt, link.PreviewUrl));
    }
}

/// <summary>A signed link: open <see cref="Url"/> (it sets the preview cookie and redirects to <see cref="PreviewUrl"/>).</summary>
public sealed record PreviewLinkResponse(string Url, string Token, DateTimeOffset ExpiresAt, string PreviewUrl);
