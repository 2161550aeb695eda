using System.Text.Json.Nodes;

namespace Midori.DevApiServer.Storage;

/// <summary>Orders keys the way people expect to read Kubernetes objects: apiVersion, kind, metadata, spec, ..., status.</summary>
public static class JsonOrdering
{
    private static readonly string[] TopLevel = ["apiVersion", "kind", "metadata", "spec"];

    private static readonly string[] Metadata =
    [
        "name", "generateName", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
        "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
    ];

    public static JsonObject Canonicalize(JsonObject obj)
    {
        var result = Reorder(obj, TopLevel, last: "status");
        if (result["metadata"] is JsonObject meta)
        {
            result["metadata"] = Reorder(meta, Metadata, last: null);
        }

        return result;
    }

    private static JsonObject Reorder(JsonObject source, string[] first, string? last)
    {
        var entries = source.Select(p => (p.Key, Value: p.Value?.DeepClone())).ToList();
        var ordered = entries.Where(e => first.Contains(e.Key)).OrderBy(e => Array.IndexOf(first, e.Key))
            .Concat(entries.Where(e => !first.Contains(e.Key) && e.Key != last))
            .Concat(entries.Where(e => e.Key == last));
        return new JsonObject(ordered.Select(e => KeyValuePair.Create(e.Key, e.Value)));
    }
}
