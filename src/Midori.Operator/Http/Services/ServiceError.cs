using System.Net;
using System.Text.Json;
using Midori.Operator.Files;
using Midori.Operator.Kubernetes;
using Midori.Operator.Persistence;

namespace Midori.Operator.Http.Services;

/// <summary>What kind of refusal a service answers; the HTTP layer maps each to one status (<see cref="ApiProblems"/>).</summary>
public enum ServiceErrorKind
{
    /// <summary>The request is malformed: a name, path, parameter or member is not acceptable (400).</summary>
    Invalid,

    /// <summary>No bearer token, or one the operator does not accept (401).</summary>
    Unauthenticated,

    /// <summary>The caller may not do this here: previews disabled, a namespace policy refuses the shape (403).</summary>
    Forbidden,

    /// <summary>The preview, project, snapshot, file or sandbox does not exist (404).</summary>
    NotFound,

    /// <summary>A stale base, a concurrent change, or an operation the resource refuses in its current state (409).</summary>
    Conflict,

    /// <summary>A file is over its size limit (413).</summary>
    TooLarge,

    /// <summary>Well-formed but refused: a limit of the store, a file set no file system holds, a value the cluster rejects (422).</summary>
    Unprocessable,

    /// <summary>The caller is over its request rate (429).</summary>
    RateLimited,

    /// <summary>The sandbox could not be created (502).</summary>
    PreviewFailed,

    /// <summary>A dependency (store, policies, Kubernetes API, this replica while stopping) cannot serve now; retry (503).</summary>
    Unavailable,

    /// <summary>The preview was not ready in time; it keeps starting (504).</summary>
    NotReady,

    /// <summary>An exception nothing translates: a bug, logged, answered without internals (500). No service returns it.</summary>
    Internal,
}

/// <summary>
/// A refusal the caller can act on, as services return it: its kind, a sentence saying what is wrong, an optional
/// title more precise than the kind's, and members naming what it is about (<c>path</c>, <c>field</c>, <c>limit</c>…).
/// </summary>
public sealed record ServiceError(ServiceErrorKind Kind, string Detail, string? Title = null, IReadOnlyDictionary<string, object?>? Members = null)
{
    public static ServiceError Invalid(string detail, IReadOnlyDictionary<string, object?>? members = null) => new(ServiceErrorKind.Invalid, detail, null, members);

    /// <summary>400 naming the offending member (<c>field</c>, a query parameter or a JSON path).</summary>
    public static ServiceError InvalidField(string field, string detail) => new(ServiceErrorKind.Invalid, detail, null, new Dictionary<string, object?> { ["field"] = field });

    public static ServiceError InvalidPath(string? path, string error) =>
        new(ServiceErrorKind.Invalid, $"path '{path}' is not allowed: {error}", "Invalid file path", new Dictionary<string, object?> { ["path"] = path });

    public static ServiceError NotFound(string detail, string? title = null, IReadOnlyDictionary<string, object?>? members = null) =>
        new(ServiceErrorKind.NotFound, detail, title, members);

    public static ServiceError Unauthenticated(string detail) => new(ServiceErrorKind.Unauthenticated, detail);

    public static ServiceError RateLimited(string detail) => new(ServiceErrorKind.RateLimited, detail);

    public static ServiceError Conflict(string detail, IReadOnlyDictionary<string, object?>? members = null) => new(ServiceErrorKind.Conflict, detail, null, members);

    public static ServiceError TooLarge(string detail, IReadOnlyDictionary<string, object?>? members = null) => new(ServiceErrorKind.TooLarge, detail, null, members);

    public static ServiceError Unprocessable(string detail, IReadOnlyDictionary<string, object?>? members = null) =>
        new(ServiceErrorKind.Unprocessable, detail, null, members);

    public static ServiceError Forbidden(string detail, string? title = null, IReadOnlyDictionary<string, object?>? members = null) =>
        new(ServiceErrorKind.Forbidden, detail, title, members);

    public static ServiceError Unavailable(string title, string detail) => new(ServiceErrorKind.Unavailable, detail, title);

    /// <summary>The route needs the PostgreSQL store and none is configured.</summary>
    public static readonly ServiceError StoreNotConfigured = Unavailable("Store unavailable",
        "this operation needs the PostgreSQL store (ConnectionStrings:Midori), which is not configured");

    /// <summary>422 naming both paths of a set no file system can hold.</summary>
    public static ServiceError FileSetConflict(FileSetConflictException conflict) =>
        Unprocessable(conflict.Message, new Dictionary<string, object?> { ["paths"] = new[] { conflict.First, conflict.Second } });

    /// <summary>A working-copy compare-and-swap that lost: nothing was changed.</summary>
    public static ServiceError StaleWrite(WorkingCopyConflictException conflict) =>
        Conflict($"{conflict.Message}; nothing was changed",
            new Dictionary<string, object?> { ["path"] = conflict.Path, ["expectedHash"] = conflict.ExpectedHash, ["currentHash"] = conflict.ActualHash });

    /// <summary>
    /// What an exception from a dependency means to the caller, or null when it means nothing the caller can act on
    /// (then it is a bug: a logged 500). The one translation of store, file-set and Kubernetes exceptions; services
    /// use it where they catch, the exception handler for what escapes binding or a dependency.
    /// </summary>
    public static ServiceError? FromException(Exception exception) => exception switch
    {
        BadHttpRequestException { InnerException: JsonException json } => InvalidJson(json),
        BadHttpRequestException bad => new ServiceError(
            bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? ServiceErrorKind.TooLarge : ServiceErrorKind.Invalid,
            Describe(bad), bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? null : "Bad request"),
        JsonException json => InvalidJson(json),
        WorkingCopyConflictException conflict => StaleWrite(conflict),
        FileSetConflictException conflict => FileSetConflict(conflict),
        StoreLimitException limit => Unprocessable(limit.Message),
        KubernetesConflictException conflict => Conflict(conflict.Message),
        k8s.Autorest.HttpOperationException { Response.StatusCode: HttpStatusCode.UnprocessableEntity or HttpStatusCode.BadRequest } invalid =>
            new ServiceError(ServiceErrorKind.Unprocessable, invalid.Response.Content ?? invalid.Message, "Rejected by the Kubernetes API"),
        k8s.Autorest.HttpOperationException { Response.StatusCode: HttpStatusCode.Forbidden } =>
            Unavailable("Operator not permitted", "the operator's service account may not do this in the namespace"),
        _ => StoreFailures.Classify(exception) switch
        {
            StoreFailureKind.Outage => Unavailable("Store unavailable",
                "the PostgreSQL store is unreachable or restarting; nothing was changed unless an earlier reply said so; retry shortly"),
            StoreFailureKind.InvalidValue => Unprocessable("the store refused a value of this request (invalid text or number)"),
            StoreFailureKind.Conflict => Conflict("a concurrent change conflicts with this one; retry"),
            _ => null,
        },
    };

    /// <summary>400 naming the offending member (<c>field</c>, a JSON path such as <c>$.files[0].path</c>).</summary>
    private static ServiceError InvalidJson(JsonException json)
    {
        var field = string.IsNullOrEmpty(json.Path) ? null : json.Path;
        var detail = json is InvalidTextException
            ? $"{field ?? "a value"}: {json.Message}"
            : $"invalid JSON: {json.Message}";
        return new ServiceError(ServiceErrorKind.Invalid, detail, "Bad request", field is null ? null : new Dictionary<string, object?> { ["field"] = field });
    }

    private static string Describe(BadHttpRequestException bad) => bad.InnerException switch
    {
        JsonException json => $"invalid JSON: {json.Message}",
        { } inner => $"{bad.Message} ({inner.Message})",
        null => bad.Message,
    };
}
