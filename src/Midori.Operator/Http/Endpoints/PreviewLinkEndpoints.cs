using Microsoft.AspNetCore.Http.HttpResults;
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
            .WithName("GetPreviewLink")
            .ProducesProblem(StatusCodes.Status404NotFound);

    internal static async Task<Results<Ok<PreviewLinkResponse>, ProblemHttpResult>> GetLinkAsync(
        string ns, string name, HttpContext http, PreviewSandboxCache cache, IServiceProvider services, CancellationToken cancellationToken)
    {
        MidoriApiEndpoints.ValidateName(name);
        if (services.GetService<IPreviewLinks>() is not { } links)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not found", detail: "the preview gateway is off (Gateway:Enabled=false)");
        }

        var resource = await cache.GetAsync(new PreviewKey(ns, name), cancellationToken);
        if (resource is null)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not found", detail: $"preview {ns}/{name} does not exist");
        }

        var link = await links.CreateAsync(resource, cancellationToken);
        if (link is null)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Preview address unknown", detail: "the gateway has no public address yet");
        }

        http.Response.Headers.CacheControl = "no-store";
        return TypedResults.Ok(new PreviewLinkResponse(link.Url, link.Token, link.ExpiresAt, link.PreviewUrl));
    }
}

/// <summary>A signed link: open <see cref="Url"/> (it sets the preview cookie and redirects to <see cref="PreviewUrl"/>).</summary>
public sealed record PreviewLinkResponse(string Url, string Token, DateTimeOffset ExpiresAt, string PreviewUrl);
