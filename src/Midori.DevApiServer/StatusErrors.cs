using System.Text.Json.Nodes;
using Midori.DevApiServer.Schema;

namespace Midori.DevApiServer;

/// <summary>An API error carrying the <c>Status</c> body the server answers with.</summary>
public sealed class ApiException(int code, JsonObject status) : Exception((string?)status["message"])
{
    public int Code { get; } = code;

    public JsonObject Status { get; } = status;
}

/// <summary>
/// Builds <c>meta/v1 Status</c> failures shaped exactly like kube-apiserver's (see the recorded transcripts):
/// kind, apiVersion, metadata {}, status Failure, message, reason, details {name, group, kind, causes}, code;
/// empty detail fields are omitted as Go's omitempty does.
/// </summary>
public static class StatusErrors
{
    public static ApiException NotFound(ResourceType type, string name)
        => Error(404, "NotFound", $"{type.GroupResource} \"{name}\" not found", Details(name, type.Group, type.Plural));

    public static ApiException AlreadyExists(ResourceType type, string name)
        => Error(409, "AlreadyExists", $"{type.GroupResource} \"{name}\" already exists", Details(name, type.Group, type.Plural));

    public static ApiException Conflict(ResourceType type, string name, string detail = "the object has been modified; please apply your changes to the latest version and try again")
        => Error(409, "Conflict", $"Operation cannot be fulfilled on {type.GroupResource} \"{name}\": {detail}", Details(name, type.Group, type.Plural));

    public static ApiException Invalid(ResourceType type, string name, IReadOnlyList<FieldError> causes)
    {
        var summary = causes.Count == 1
            ? Describe(causes[0])
            : "[" + string.Join(", ", causes.Select(Describe)) + "]";
        var details = Details(name, type.Group, type.Kind);
        details["causes"] = new JsonArray([.. causes.Select(c => (JsonNode)new JsonObject { ["reason"] = c.Reason, ["message"] = c.Message, ["field"] = c.Field })]);
        return Error(422, "Invalid", $"{type.QualifiedKind} \"{name}\" is invalid: {summary}", details);
    }

    /// <summary>A JSON patch that cannot be applied: kube-apiserver answers with a generic, detail-free 422.</summary>
    public static ApiException PatchRejected()
        => Error(422, "Invalid", "the server rejected our request due to an error in our request", []);

    public static ApiException BadRequest(string message) => Error(400, "BadRequest", message, null);

    /// <summary>A server-side apply over fields other managers own: the causes name each field and its owner, no object details.</summary>
    public static ApiException ApplyConflict(string message, JsonArray causes) => Error(409, "Conflict", message, new JsonObject { ["causes"] = causes });

    public static ApiException Expired(string message) => Error(410, "Expired", message, null);

    public static ApiException Forbidden(string group, string resource, string verb, string? ns)
    {
        var groupResource = group.Length == 0 ? resource : $"{resource}.{group}";
        var scope = ns is null ? "at the cluster scope" : $"in the namespace \"{ns}\"";
        return Error(
            403,
            "Forbidden",
            $"{groupResource} is forbidden: User \"system:anonymous\" cannot {verb} resource \"{resource}\" in API group \"{group}\" {scope}",
            Details(null, group, resource));
    }

    public static ApiException UnsupportedMediaType()
        => Error(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml", null);

    public static ApiException MethodNotAllowed()
        => Error(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", []);

    public static ApiException PathNotFound() => Error(404, "NotFound", "the server could not find the requested resource", []);

    /// <summary>A generic server-side failure (injected faults, internal errors), shaped like the real server's for that code.</summary>
    public static ApiException Generic(int code, string reason, string message) => Error(code, reason, message, null);

    /// <summary>The Status an immediate DELETE answers with (Status Success naming the deleted object).</summary>
    public static JsonObject DeleteSuccess(ResourceType type, string name, string? uid) => new()
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = "Success",
        ["details"] = Details(name, type.Group, type.Plural, uid),
    };

    private static string Describe(FieldError error) => $"{error.Field}: {error.Message}";

    private static JsonObject Details(string? name, string? group, string? kind, string? uid = null)
    {
        var details = new JsonObject();
        if (!string.IsNullOrEmpty(name))
        {
            details["name"] = name;
        }

        if (!string.IsNullOrEmpty(group))
        {
            details["group"] = group;
        }

        if (!string.IsNullOrEmpty(kind))
        {
            details["kind"] = kind;
        }

        if (!string.IsNullOrEmpty(uid))
        {
            details["uid"] = uid;
        }

        return details;
    }

    private static ApiException Error(int code, string reason, string message, JsonObject? details)
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = message,
            ["reason"] = reason,
        };
        if (details is not null)
        {
            status["details"] = details;
        }

        status["code"] = code;
        return new ApiException(code, status);
    }
}
