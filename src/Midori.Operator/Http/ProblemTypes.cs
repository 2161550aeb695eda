namespace Midori.Operator.Http;

/// <summary>
/// The stable <c>type</c> URI of every problem the API answers (RFC 9457), one per status: clients switch on it
/// instead of parsing titles. The OpenAPI document names them on each response.
/// </summary>
public static class ProblemTypes
{
    public const string Base = "https://midori.dev/problems/";

    private static readonly Dictionary<int, (string Slug, string Meaning)> Known = new()
    {
        [StatusCodes.Status400BadRequest] = ("invalid-request", "the request is malformed: bad JSON, unknown member, invalid name, path or parameter"),
        [StatusCodes.Status401Unauthorized] = ("unauthenticated", "no bearer token, or one the operator does not accept"),
        [StatusCodes.Status403Forbidden] = ("forbidden", "the caller may not use this verb in this namespace"),
        [StatusCodes.Status404NotFound] = ("not-found", "the preview, project, snapshot or sandbox does not exist"),
        [StatusCodes.Status405MethodNotAllowed] = ("method-not-allowed", "the route does not take this method"),
        [StatusCodes.Status409Conflict] = ("conflict", "a stale baseHash or oldContent, a concurrent change, or an operation the resource refuses"),
        [StatusCodes.Status413PayloadTooLarge] = ("payload-too-large", "the body or a file is over its limit"),
        [StatusCodes.Status415UnsupportedMediaType] = ("unsupported-media-type", "the body is not application/json"),
        [StatusCodes.Status422UnprocessableEntity] = ("unprocessable", "well-formed but refused: a limit of the store, a setting the cluster rejects, previews disabled"),
        [StatusCodes.Status429TooManyRequests] = ("rate-limited", "the caller is over its request rate; retry after Retry-After seconds"),
        [StatusCodes.Status500InternalServerError] = ("internal", "an unexpected error, logged by the operator"),
        [StatusCodes.Status502BadGateway] = ("preview-failed", "the sandbox could not be created"),
        [StatusCodes.Status503ServiceUnavailable] = ("unavailable", "a dependency (store, Kubernetes API, provider) is unavailable; retry after Retry-After seconds"),
        [StatusCodes.Status504GatewayTimeout] = ("not-ready", "the preview was not ready in time; it keeps starting"),
    };

    /// <summary>The type URI for <paramref name="status"/>; unknown statuses get <c>about:blank</c> as RFC 9457 says.</summary>
    public static string For(int status) => Known.TryGetValue(status, out var known) ? Base + known.Slug : "about:blank";

    /// <summary>What a problem of <paramref name="status"/> means, for the OpenAPI document.</summary>
    public static string? Describe(int status) => Known.TryGetValue(status, out var known) ? known.Meaning : null;

    /// <summary>Sets the stable type on problems that have none (or only ASP.NET Core's per-status RFC link).</summary>
    public static void Apply(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        var status = problem.Status ?? context.HttpContext.Response.StatusCode;
        if (problem.Type is null || !problem.Type.StartsWith(Base, StringComparison.Ordinal))
        {
            problem.Type = For(status);
        }
    }
}
