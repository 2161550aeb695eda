namespace Midori.DevApiServer.Http;

/// <summary>
/// A parsed resource path: <c>/api/v1/...</c> (core group) or <c>/apis/{group}/{version}/...</c>, followed by
/// <c>[namespaces/{ns}/]{plural}[/{name}[/{subresource}]]</c>.
/// </summary>
public sealed record RequestTarget(string Group, string Version, string Plural, string? Namespace, string? Name, string? Subresource)
{
    public static RequestTarget? Parse(string path, ResourceRegistry registry)
    {
        var segments = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        string group, version;
        string[] rest;
        if (segments is ["api", var coreVersion, ..])
        {
            (group, version, rest) = (string.Empty, coreVersion, segments[2..]);
        }
        else if (segments is ["apis", var g, var v, ..])
        {
            (group, version, rest) = (g, v, segments[3..]);
        }
        else
        {
            return null;
        }

        // "namespaces/{ns}/{plural}" unless the path addresses a Namespace object itself ("namespaces/{name}[/status]").
        if (rest.Length >= 3 && rest[0] == "namespaces" && registry.Find(group, version, rest[2]) is { Namespaced: true })
        {
            return rest.Length <= 5
                ? new RequestTarget(group, version, rest[2], rest[1], rest.ElementAtOrDefault(3), rest.ElementAtOrDefault(4))
                : null;
        }

        return rest.Length is >= 1 and <= 3
            ? new RequestTarget(group, version, rest[0], null, rest.ElementAtOrDefault(1), rest.ElementAtOrDefault(2))
            : null;
    }

    /// <summary>The RBAC verb, for Forbidden messages.</summary>
    public string Verb(string method, bool watch) => method switch
    {
        "GET" when Name is not null => "get",
        "GET" => watch ? "watch" : "list",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => Name is null ? "deletecollection" : "delete",
        _ => method.ToLowerInvariant(),
    };
}
