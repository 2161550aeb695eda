using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Midori.Operator.Http.Services;
using Midori.Operator.Kubernetes;
using Midori.Operator.Persistence;

namespace Midori.Operator.Http;

/// <summary>
/// Turns exceptions into RFC 9457 problems: the service layer's <see cref="ApiProblemException"/>, malformed or
/// unknown JSON and other bad requests (400/413/415), store conflicts and limits (409/422), API-server refusals.
/// Anything else is a logged 500 without internals.
/// </summary>
internal sealed class ApiExceptionHandler(IProblemDetailsService problems, ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var problem = exception switch
        {
            ApiProblemException api => Problem(api.Status, api.Title, api.Message, api.Extensions),
            BadHttpRequestException { InnerException: JsonException json } => InvalidJson(json),
            BadHttpRequestException bad => Problem(bad.StatusCode, bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? "Payload too large" : "Bad request",
                Describe(bad)),
            JsonException json => InvalidJson(json),
            WorkingCopyConflictException conflict => Problem(StatusCodes.Status409Conflict, "Conflict", conflict.Message,
                new Dictionary<string, object?> { ["path"] = conflict.Path }),
            Files.FileSetConflictException conflict => Problem(StatusCodes.Status422UnprocessableEntity, "Unprocessable request", conflict.Message,
                new Dictionary<string, object?> { ["paths"] = new[] { conflict.First, conflict.Second } }),
            StoreLimitException limit => Problem(StatusCodes.Status422UnprocessableEntity, "Unprocessable request", limit.Message),
            KubernetesConflictException conflict => Problem(StatusCodes.Status409Conflict, "Conflict", conflict.Message),
            k8s.Autorest.HttpOperationException { Response.StatusCode: HttpStatusCode.UnprocessableEntity or HttpStatusCode.BadRequest } invalid =>
                Problem(StatusCodes.Status422UnprocessableEntity, "Rejected by the Kubernetes API", invalid.Response.Content ?? invalid.Message),
            k8s.Autorest.HttpOperationException { Response.StatusCode: HttpStatusCode.Forbidden } =>
                Problem(StatusCodes.Status503ServiceUnavailable, "Operator not permitted", "the operator's service account may not do this in the namespace"),
            OperationCanceledException when httpContext.RequestAborted.IsCancellationRequested => null,
            _ => StoreFailures.Classify(exception) switch
            {
                StoreFailureKind.Outage => Problem(StatusCodes.Status503ServiceUnavailable, "Store unavailable",
                    "the PostgreSQL store is unreachable or restarting; nothing was changed unless an earlier reply said so; retry shortly"),
                StoreFailureKind.InvalidValue => Problem(StatusCodes.Status422UnprocessableEntity, "Unprocessable request",
                    "the store refused a value of this request (invalid text or number)"),
                StoreFailureKind.Conflict => Problem(StatusCodes.Status409Conflict, "Conflict", "a concurrent change conflicts with this one; retry"),
                _ => null,
            },
        };

        if (problem is null)
        {
            if (httpContext.RequestAborted.IsCancellationRequested)
            {
                return true; // the client left; nobody reads a reply
            }

            logger.UnhandledError(exception, httpContext.Request.Method, httpContext.Request.Path);
            problem = Problem(StatusCodes.Status500InternalServerError, "Internal error", "an unexpected error occurred; it has been logged");
        }

        if (problem.Status == StatusCodes.Status503ServiceUnavailable && exception is not ApiProblemException)
        {
            logger.StoreUnavailable(httpContext.Request.Method, httpContext.Request.Path, exception.GetType().Name, exception.Message);
        }

        if (httpContext.Response.HasStarted)
        {
            return true; // a stream already answered 200; the client sees the connection end
        }

        httpContext.Response.StatusCode = problem.Status ?? 500;
        if (problem.Status == StatusCodes.Status503ServiceUnavailable)
        {
            httpContext.Response.Headers.RetryAfter = RetryAfterSeconds;
        }

        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = problem, Exception = exception });
    }

    /// <summary>Seconds a client should wait after a 503 (a PostgreSQL restart takes a few).</summary>
    public const string RetryAfterSeconds = "2";

    /// <summary>400 naming the offending member (<c>field</c>, a JSON path such as <c>$.files[0].path</c>).</summary>
    private static ProblemDetails InvalidJson(JsonException json)
    {
        var field = string.IsNullOrEmpty(json.Path) ? null : json.Path;
        var detail = json is InvalidTextException
            ? $"{field ?? "a value"}: {json.Message}"
            : $"invalid JSON: {json.Message}";
        return Problem(StatusCodes.Status400BadRequest, "Bad request", detail,
            field is null ? null : new Dictionary<string, object?> { ["field"] = field });
    }

    private static string Describe(BadHttpRequestException bad) => bad.InnerException switch
    {
        JsonException json => $"invalid JSON: {json.Message}",
        { } inner => $"{bad.Message} ({inner.Message})",
        null => bad.Message,
    };

    private static ProblemDetails Problem(int status, string title, string detail, IReadOnlyDictionary<string, object?>? extensions = null)
    {
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail };
        foreach (var (key, value) in extensions ?? new Dictionary<string, object?>())
        {
            problem.Extensions[key] = value;
        }

        return problem;
    }
}
