using Microsoft.AspNetCore.Diagnostics;
using Midori.Operator.Http.Problems;
using Midori.Operator.Http.Services;

namespace Midori.Operator.Http;

/// <summary>
/// Turns what still arrives as an exception into an RFC 9457 problem: binding errors (malformed or unknown JSON,
/// oversized bodies) and dependency failures that escape a service (store outage, Kubernetes refusals), translated by
/// <see cref="ServiceError.FromException"/> and written like any service refusal (<see cref="ApiProblems"/>).
/// Anything else is a logged 500 without internals.
/// </summary>
internal sealed class ApiExceptionHandler(ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is OperationCanceledException && httpContext.RequestAborted.IsCancellationRequested)
        {
            return true; // the client left; nobody reads a reply
        }

        var error = ServiceError.FromException(exception);
        if (error is null)
        {
            if (httpContext.RequestAborted.IsCancellationRequested)
            {
                return true;
            }

            logger.UnhandledError(exception, httpContext.Request.Method, httpContext.Request.Path);
            error = new ServiceError(ServiceErrorKind.Internal, "an unexpected error occurred; it has been logged", "Internal error");
        }
        else if (error.Kind == ServiceErrorKind.Unavailable)
        {
            logger.StoreUnavailable(httpContext.Request.Method, httpContext.Request.Path, exception.GetType().Name, exception.Message);
        }

        if (httpContext.Response.HasStarted)
        {
            return true; // a stream already answered 200; the client sees the connection end
        }

        await ApiProblems.WriteAsync(httpContext, ApiProblems.ToProblemDetails(error)).ConfigureAwait(false);
        return true;
    }
}
