using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Midori.Operator.Tests.KubeApiServer;

/// <summary>
/// Discovery and OpenAPI answers compared with a real server's: this server serves fewer groups, so what it lists must be a
/// subset of what the real one listed, with the same attributes for each entry kubectl reads.
/// </summary>
internal static class DiscoveryComparison
{
    public static string? Subset(JsonNode expected, JsonNode? actual)
    {
        switch ((string?)expected["kind"])
        {
            case "APIVersions":
                return JsonNode.DeepEquals(expected["versions"], actual?["versions"]) ? null : $"versions: expected {expected["versions"]}, actual {actual?["versions"]}";
            case "APIGroupList":
                foreach (var group in Array(actual?["groups"]))
                {
                    var real = Array(expected["groups"]).FirstOrDefault(g => (string?)g["name"] == (string?)group["name"]);
                    if (real is null)
                    {
                        return $"group {group["name"]} is not served by the real server";
                    }

                    if (!JsonNode.DeepEquals(real["preferredVersion"], group["preferredVersion"]))
                    {
                        return $"group {group["name"]}: preferredVersion expected {real["preferredVersion"]}, actual {group["preferredVersion"]}";
                    }
                }

                return Array(actual?["groups"]).Any(g => (string?)g["name"] == "preview.midori.dev") || !Array(expected["groups"]).Any(g => (string?)g["name"] == "preview.midori.dev")
                    ? null
                    : "preview.midori.dev is not listed";
            case "APIResourceList":
                foreach (var resource in Array(actual?["resources"]))
                {
                    var real = Array(expected["resources"]).FirstOrDefault(r => (string?)r["name"] == (string?)resource["name"]);
                    if (real is null)
                    {
                        return $"resource {resource["name"]} is not served by the real server";
                    }

                    foreach (var field in new[] { "kind", "namespaced", "singularName", "shortNames", "categories" })
                    {
                        if (!JsonNode.DeepEquals(real[field], resource[field]))
                        {
                            return $"{resource["name"]}.{field}: expected {real[field]?.ToJsonString() ?? "<absent>"}, actual {resource[field]?.ToJsonString() ?? "<absent>"}";
                        }
                    }

                    if (!Strings(real["verbs"]).SetEquals(Strings(resource["verbs"])))
                    {
                        return $"{resource["name"]}.verbs: expected {real["verbs"]?.ToJsonString()}, actual {resource["verbs"]?.ToJsonString()}";
                    }
                }

                return Array(actual?["resources"]).Count == 0 ? "no resources" : null;
            case "APIGroupDiscoveryList":
                foreach (var group in Array(actual?["items"]))
                {
                    var real = Array(expected["items"]).FirstOrDefault(g => (string?)g["metadata"]?["name"] == (string?)group["metadata"]?["name"]);
                    if (real is null)
                    {
                        return $"group {group["metadata"]?["name"]} is not served by the real server";
                    }

                    foreach (var resource in Array(group["versions"]?[0]?["resources"]))
                    {
                        var realResource = Array(real["versions"]?[0]?["resources"]).FirstOrDefault(r => (string?)r["resource"] == (string?)resource["resource"]);
                        if (realResource is null)
                        {
                            return $"resource {resource["resource"]} is not served by the real server";
                        }

                        foreach (var field in new[] { "responseKind", "scope", "singularResource", "shortNames", "categories", "subresources" })
                        {
                            // Built-in subresources (namespaces/finalize, namespaces/status) are not served here: not listed.
                            if (field == "subresources" && resource[field] is null && (string?)resource["responseKind"]?["group"] == string.Empty)
                            {
                                continue;
                            }

                            if (!JsonNode.DeepEquals(Normalize(realResource[field]), Normalize(resource[field])))
                            {
                                return $"{resource["resource"]}.{field}: expected {realResource[field]?.ToJsonString() ?? "<absent>"}, actual {resource[field]?.ToJsonString() ?? "<absent>"}";
                            }
                        }
                    }
                }

                return null;
            default:
                return $"unexpected discovery kind {expected["kind"]}";
        }
    }

    public static string? IndexSubset(JsonNode expected, JsonNode? actual)
    {
        var paths = (actual?["paths"] as JsonObject)?.Select(p => p.Key).ToList() ?? [];
        var missing = paths.Where(p => expected["paths"]?[p] is null).ToList();
        return missing.Count > 0 ? $"not in the real index: {string.Join(", ", missing)}" : paths.Count == 0 ? "empty index" : null;
    }

    public static string? OpenApiDocument(JsonNode expected, JsonNode? actual)
    {
        var schemas = actual?["components"]?["schemas"] as JsonObject ?? [];
        foreach (var (name, schema) in schemas)
        {
            var real = expected["components"]?["schemas"]?[name];
            // The CRD's own schemas and the shared meta types must be the real ones; built-ins are open objects here.
            if (name.StartsWith("dev.midori.", StringComparison.Ordinal) && !name.EndsWith("List", StringComparison.Ordinal) || (real is not null && name.StartsWith("io.k8s.apimachinery.", StringComparison.Ordinal)))
            {
                // Shared meta types list every group that uses them; each document lists its own.
                var realSchema = real?.DeepClone() as JsonObject;
                var ourSchema = schema?.DeepClone() as JsonObject;
                if (name.StartsWith("io.k8s.apimachinery.", StringComparison.Ordinal))
                {
                    realSchema?.Remove("x-kubernetes-group-version-kind");
                    ourSchema?.Remove("x-kubernetes-group-version-kind");
                }

                if (JsonComparison.FindDifference(realSchema, ourSchema, $"schemas.{name}") is { } difference)
                {
                    return difference;
                }
            }
        }

        foreach (var (path, item) in actual?["paths"] as JsonObject ?? [])
        {
            if (expected["paths"]?[path] is null)
            {
                return $"path {path} is not in the real document";
            }

            if (item?["patch"] is { } patch && !Array(patch["parameters"]).Any(p => (string?)p["name"] == "fieldValidation"))
            {
                return $"{path} PATCH lacks the fieldValidation parameter kubectl checks for";
            }
        }

        return schemas.Count == 0 ? "no schemas" : null;
    }

    private static List<JsonNode> Array(JsonNode? node) => node is JsonArray a ? [.. a.OfType<JsonNode>()] : [];

    private static HashSet<string> Strings(JsonNode? node) => [.. Array(node).Select(n => n.ToString())];

    // Verbs are a set; everything else compares as is.
    private static JsonNode? Normalize(JsonNode? node)
    {
        if (node is not JsonArray subresources)
        {
            return node?.DeepClone();
        }

        var copy = (JsonArray)subresources.DeepClone();
        foreach (var entry in copy.OfType<JsonObject>())
        {
            if (entry["verbs"] is JsonArray verbs)
            {
                entry["verbs"] = new JsonArray([.. verbs.Select(v => v!.ToString()).Order(StringComparer.Ordinal).Select(v => (JsonNode)v)]);
            }
        }

        return copy;
    }
}

/// <summary>Ages in Table cells ("28s", "5m3s") depend on when the request ran: masked on both sides; "&lt;invalid&gt;" is kept.</summary>
internal static partial class TableMask
{
    public static JsonNode? Mask(JsonNode? node)
    {
        var copy = node?.DeepClone();
        foreach (var row in (copy?["rows"] ?? copy?["object"]?["rows"]) as JsonArray ?? [])
        {
            if (row?["cells"] is JsonArray cells)
            {
                for (var i = 0; i < cells.Count; i++)
                {
                    if (cells[i] is JsonValue v && v.TryGetValue<string>(out var s) && Age().IsMatch(s))
                    {
                        cells[i] = "<age>";
                    }
                }
            }
        }

        return copy;
    }

    /// <summary>Condition transition times are set by the server when it runs; masked.</summary>
    public static JsonNode? MaskTransitionTimes(JsonNode? node)
    {
        var copy = node?.DeepClone();
        Walk(copy);
        return copy;

        static void Walk(JsonNode? n)
        {
            if (n is JsonObject o)
            {
                if (o.ContainsKey("lastTransitionTime"))
                {
                    o["lastTransitionTime"] = "<time>";
                }

                foreach (var child in o.Select(p => p.Value).ToList())
                {
                    Walk(child);
                }
            }
            else if (n is JsonArray a)
            {
                foreach (var child in a)
                {
                    Walk(child);
                }
            }
        }
    }

    [GeneratedRegex(@"^(\d+[smhdy])+$")]
    private static partial Regex Age();
}
