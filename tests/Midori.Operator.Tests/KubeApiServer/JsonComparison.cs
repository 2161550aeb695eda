using System.Text.Json.Nodes;

namespace Midori.Operator.Tests.KubeApiServer;

/// <summary>
/// Structural JSON comparison for transcript replay: key order is ignored, array order is not, and server-assigned
/// volatile metadata (uid, timestamps, resourceVersion values, managedFields) is skipped.
/// </summary>
internal static class JsonComparison
{
    private static readonly HashSet<string> VolatileMetadata = ["uid", "creationTimestamp", "resourceVersion", "managedFields", "deletionTimestamp"];

    /// <summary>Returns the first difference as "path: expected X, actual Y", or null when equivalent.</summary>
    public static string? FindDifference(JsonNode? expected, JsonNode? actual, string path = "$")
    {
        switch (expected, actual)
        {
            case (JsonObject e, JsonObject a):
                var inMetadata = path.EndsWith(".metadata", StringComparison.Ordinal);
                foreach (var key in e.Select(p => p.Key).Union(a.Select(p => p.Key)))
                {
                    if (inMetadata && VolatileMetadata.Contains(key))
                    {
                        continue;
                    }

                    if (!e.ContainsKey(key) || !a.ContainsKey(key))
                    {
                        return $"{path}.{key}: expected {(e.ContainsKey(key) ? Show(e[key]) : "<absent>")}, actual {(a.ContainsKey(key) ? Show(a[key]) : "<absent>")}";
                    }

                    if (FindDifference(e[key], a[key], $"{path}.{key}") is { } difference)
                    {
                        return difference;
                    }
                }

                return null;
            case (JsonArray e, JsonArray a):
                if (e.Count != a.Count)
                {
                    return $"{path}: expected {e.Count} items, actual {a.Count}: {Show(a)}";
                }

                for (var i = 0; i < e.Count; i++)
                {
                    if (FindDifference(e[i], a[i], $"{path}[{i}]") is { } difference)
                    {
                        return difference;
                    }
                }

                return null;
            default:
                return JsonNode.DeepEquals(expected, actual) ? null : $"{path}: expected {Show(expected)}, actual {Show(actual)}";
        }
    }

    private static string Show(JsonNode? node) => node?.ToJsonString() ?? "null";
}
