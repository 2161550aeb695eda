namespace Midori.Operator.Http.Problems;

/// <summary>
/// The stable <c>type</c> URI of every problem the API answers (RFC 9457), one per status: clients switch on it
/// instead of parsing titles. The OpenAPI document names them on each response; Http/README.md lists them. These are
/// public contract: add new ones, never change or reuse one.
/// </summary>
public static class ProblemTypes
{
    public const string Base = "https://midori.dev/problems/";

    public const string InvalidRequest = Base + "invalid-request";
    public const string Unauthenticated = Base + "unauthenticated";
    public const string Forbidden = Base + "forbidden";
    public const string NotFound = Base + "not-found";
    public const string MethodNotAllowed = Base + "method-not-allowed";
    public const string Conflict = Base + "conflict";
    public const string PayloadTooLarge = Base + "payload-too-large";
    public const string UnsupportedMediaType = Base + "unsupported-media-type";
    public const string Unprocessable = Base + "unprocessable";
    public const string RateLimited = Base + "rate-limited";
    public const string Internal = Base + "internal";
    public const string PreviewFailed = Base + "preview-failed";
    public const string Unavailable = Base + "unavailable";
    public const string NotReady = Base + "not-ready";

    private static readonly Dictionary<int, (string Type, string Meaning)> Known = new()
    {
        [StatusCodes.Status400BadRequest] = (InvalidRequest, "the request is malformed: bad JSON, unknown member, invalid name, path or parameter"),
        [StatusCodes.Status401Unauthorized] = (Unauthenticated, "no bearer token, or one the operator does not accept"),
        [StatusCodes.Status403Forbidden] = (Forbidden, "the caller may not use this verb in this namespace, or previews or this shape of preview are not allowed there"),
        [StatusCodes.Status404NotFound] = (NotFound, "the preview, project, snapshot, file or sandbox does not exist"),
        [StatusCodes.Status405MethodNotAllowed] = (MethodNotAllowed, "the route does not take this method"),
        [StatusCodes.Status409Conflict] = (Conflict, "a stale baseHash or oldContent, a concurrent change, or an operation the resource refuses"),
        [StatusCodes.Status413PayloadTooLarge] = (PayloadTooLarge, "the body or a file is over its limit"),
        [StatusCodes.Status415UnsupportedMediaType] = (UnsupportedMediaType, "the body is not application/json"),
        [StatusCodes.Status422UnprocessableEntity] = (Unprocessable, "well-formed but refused: a limit of the store, a file set no file system can hold, a setting the cluster rejects"),
        [StatusCodes.Status429TooManyRequests] = (RateLimited, "the caller is over its request rate; retry after Retry-After seconds"),
        [StatusCodes.Status500InternalServerError] = (Internal, "an unexpected error, logged by the operator"),
        [StatusCodes.Status502BadGateway] = (PreviewFailed, "the sandbox could not be created"),
        [StatusCodes.Status503ServiceUnavailable] = (Unavailable, "a dependency (store, namespace policies, Kubernetes API, provider) is unavailable or the replica is stopping; retry after Retry-After seconds"),
        [StatusCodes.Status504GatewayTimeout] = (NotReady, "the preview was not ready in time; it keeps starting"),
    };

    /// <summary>Every known (status, type URI, meaning), for documentation and tests.</summary>
    public static IEnumerable<(int Status, string Type, string Meaning)> All => Known.OrderBy(e => e.Key).Select(e => (e.Key, e.Value.Type, e.Value.Meaning));

    /// <summary>The type URI for <paramref name="status"/>; unknown statuses get <c>about:blank</c> as RFC 9457 says.</summary>
    public static string For(int status) => Known.TryGetValue(status, out var known) ? known.Type : "about:blank";

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
