using Microsoft.AspNetCore.Mvc;
using Midori.Operator.Http.Services;

namespace Midori.Operator.Http.Problems;

/// <summary>
/// The one mapping from a <see cref="ServiceError"/> to an RFC 9457 problem: status, title and stable
/// <see cref="ProblemTypes"/> URI by kind, the error's members as extension members. Handlers use it through
/// <see cref="ApiProblem{T1}"/>, the exception handler for exceptions <see cref="ServiceError.FromException"/> knows.
/// </summary>
public static class ApiProblems
{
    /// <summary>Seconds a client should wait after a 503 (a PostgreSQL restart takes a few).</summary>
    public const string RetryAfterSeconds = "2";

    public static int StatusOf(ServiceErrorKind kind) => kind switch
    {
        ServiceErrorKind.Invalid => StatusCodes.Status400BadRequest,
        ServiceErrorKind.Unauthenticated => StatusCodes.Status401Unauthorized,
        ServiceErrorKind.Forbidden => StatusCodes.Status403Forbidden,
        ServiceErrorKind.NotFound => StatusCodes.Status404NotFound,
        ServiceErrorKind.Conflict => StatusCodes.Status409Conflict,
        ServiceErrorKind.TooLarge => StatusCodes.Status413PayloadTooLarge,
        ServiceErrorKind.Unprocessable => StatusCodes.Status422UnprocessableEntity,
        ServiceErrorKind.RateLimited => StatusCodes.Status429TooManyRequests,
        ServiceErrorKind.PreviewFailed => StatusCodes.Status502BadGateway,
        ServiceErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        ServiceErrorKind.NotReady => StatusCodes.Status504GatewayTimeout,
        _ => StatusCodes.Status500InternalServerError,
    };

    private static string DefaultTitle(ServiceErrorKind kind) => kind switch
    {
        ServiceErrorKind.Invalid => "Invalid request",
        ServiceErrorKind.Unauthenticated => "Unauthorized",
        ServiceErrorKind.Forbidden => "Forbidden",
        ServiceErrorKind.NotFound => "Not found",
        ServiceErrorKind.Conflict => "Conflict",
        ServiceErrorKind.TooLarge => "Payload too large",
        ServiceErrorKind.Unprocessable => "Unprocessable request",
        ServiceErrorKind.RateLimited => "Too many requests",
        ServiceErrorKind.PreviewFailed => "Preview failed",
        ServiceErrorKind.Unavailable => "Unavailable",
        ServiceErrorKind.NotReady => "Preview not ready",
        _ => "Internal error",
    };

    public static ProblemDetails ToProblemDetails(ServiceError error)
    {
        var status = StatusOf(error.Kind);
        var problem = new ProblemDetails { Status = status, Type = ProblemTypes.For(status), Title = error.Title ?? DefaultTitle(error.Kind), Detail = error.Detail };
        foreach (var (key, value) in error.Members ?? new Dictionary<string, object?>())
        {
            problem.Extensions[key] = value;
        }

        return problem;
    }

    /// <summary>
    /// Writes <paramref name="problem"/> through the problem details service (type, the seed-compatible routes' members,
    /// trace id); 503 adds Retry-After. Other headers of the answer (a 401's WWW-Authenticate, a 429's own Retry-After)
    /// are the caller's to set first.
    /// </summary>
    public static async Task WriteAsync(HttpContext http, ProblemDetails problem)
    {
        http.Response.StatusCode = problem.Status ?? StatusCodes.Status500InternalServerError;
        if (problem.Status == StatusCodes.Status503ServiceUnavailable)
        {
            http.Response.Headers.RetryAfter = RetryAfterSeconds;
        }

        await TypedResults.Problem(problem).ExecuteAsync(http).ConfigureAwait(false);
    }
}
