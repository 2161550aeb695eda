namespace Midori.Operator.Http.Services;

/// <summary>
/// A refusal the caller can act on, raised by the service layer and turned into an RFC 9457 problem (status, title,
/// detail, plus extension members such as the offending <c>path</c>) by the API's exception handler.
/// </summary>
public sealed class ApiProblemException(int status, string title, string detail, IReadOnlyDictionary<string, object?>? extensions = null)
    : Exception(detail)
{
    public int Status { get; } = status;

    public string Title { get; } = title;

    public IReadOnlyDictionary<string, object?> Extensions { get; } = extensions ?? new Dictionary<string, object?>();

    public static ApiProblemException BadRequest(string detail, IReadOnlyDictionary<string, object?>? extensions = null) =>
        new(StatusCodes.Status400BadRequest, "Invalid request", detail, extensions);

    public static ApiProblemException InvalidPath(string? path, string error) =>
        new(StatusCodes.Status400BadRequest, "Invalid file path", $"path '{path}' is not allowed: {error}", new Dictionary<string, object?> { ["path"] = path });

    public static ApiProblemException NotFound(string detail) => new(StatusCodes.Status404NotFound, "Not found", detail);

    public static ApiProblemException Conflict(string detail, IReadOnlyDictionary<string, object?>? extensions = null) =>
        new(StatusCodes.Status409Conflict, "Conflict", detail, extensions);

    public static ApiProblemException TooLarge(string detail, IReadOnlyDictionary<string, object?>? extensions = null) =>
        new(StatusCodes.Status413PayloadTooLarge, "Payload too large", detail, extensions);

    public static ApiProblemException Unprocessable(string detail, IReadOnlyDictionary<string, object?>? extensions = null) =>
        new(StatusCodes.Status422UnprocessableEntity, "Unprocessable request", detail, extensions);

    public static ApiProblemException Forbidden(string detail) => new(StatusCodes.Status403Forbidden, "Forbidden", detail);

    public static ApiProblemException StoreUnavailable() =>
        new(StatusCodes.Status503ServiceUnavailable, "Store unavailable", "this operation needs the PostgreSQL store (ConnectionStrings:Midori), which is not configured");
}
