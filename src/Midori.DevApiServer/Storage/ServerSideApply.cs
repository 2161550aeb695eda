using System.Text.Json;
using System.Text.Json.Nodes;
using Midori.DevApiServer.Schema;

namespace Midori.DevApiServer.Storage;

/// <summary>
/// Server-side apply (<c>application/apply-patch+yaml</c>): the applied configuration is merged into the live object (maps field
/// by field, <c>x-kubernetes-list-type: map</c> lists item by key, other lists and scalars replaced). For custom resources,
/// <see cref="FieldManager"/> adds ownership, conflicts and the removal of fields the applier dropped; for built-ins (which keep
/// no managedFields here) fields this manager applied last time but no longer applies are removed, and conflicts are not modelled.
/// </summary>
public static class ServerSideApply
{
    public static bool IsApply(string? contentType)
        => contentType is not null && contentType.Split(';')[0].Trim().Equals("application/apply-patch+yaml", StringComparison.OrdinalIgnoreCase);

    /// <summary>kubectl sends JSON; YAML is accepted too (the media type says YAML, and JSON is YAML).</summary>
    public static JsonObject Parse(string body)
    {
        try
        {
            return JsonNode.Parse(body) as JsonObject ?? throw StatusErrors.BadRequest("the applied configuration must be an object");
        }
        catch (JsonException)
        {
            try
            {
                return YamlToJson.ConvertDocuments(body).SingleOrDefault() ?? throw StatusErrors.BadRequest("the applied configuration must be one object");
            }
            catch (Exception ex) when (ex is YamlDotNet.Core.YamlException or InvalidOperationException)
            {
                throw StatusErrors.BadRequest($"error decoding YAML: {ex.Message}");
            }
        }
    }

    /// <summary>The live object with <paramref name="applied"/> merged in and the fields only <paramref name="previous"/> had removed.</summary>
    public static JsonObject Merge(SchemaNode? schema, JsonObject live, JsonObject applied, JsonObject? previous)
    {
        var merged = (JsonObject)live.DeepClone();
        if (previous is not null)
        {
            RemoveDropped(schema, merged, previous, applied);
        }

        MergeObject(schema, merged, applied);
        return merged;
    }

    /// <summary>
    /// kubectl's server-side apply keeps a client-side apply annotation current, as the real server's last-applied updater does:
    /// when the live object has one, it becomes the applied configuration (Go's JSON: sorted keys, HTML characters escaped).
    /// </summary>
    public static void UpdateLastApplied(JsonObject merged, JsonObject live, JsonObject applied, string fieldManager)
    {
        const string Annotation = "kubectl.kubernetes.io/last-applied-configuration";
        if (!fieldManager.StartsWith("kubectl", StringComparison.Ordinal) || fieldManager == "kubectl-last-applied"
            || live["metadata"]?["annotations"]?[Annotation] is null || applied["metadata"]?["annotations"]?[Annotation] is not null)
        {
            return;
        }

        var configuration = (JsonObject)applied.DeepClone();
        if (configuration["metadata"]?["annotations"] is JsonObject annotations)
        {
            annotations.Remove(Annotation);
            if (annotations.Count == 0)
            {
                ((JsonObject)configuration["metadata"]!).Remove("annotations");
            }
        }

        var json = Sorted(configuration)!.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping })
            .Replace("<", "\\u003c", StringComparison.Ordinal).Replace(">", "\\u003e", StringComparison.Ordinal).Replace("&", "\\u0026", StringComparison.Ordinal);
        ((JsonObject)merged["metadata"]!["annotations"]!)[Annotation] = json + "\n";
    }

    private static JsonNode? Sorted(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, Sorted(p.Value)))),
        JsonArray a => new JsonArray([.. a.Select(Sorted)]),
        _ => node?.DeepClone(),
    };

    private static void MergeObject(SchemaNode? schema, JsonObject target, JsonObject applied)
    {
        foreach (var (key, value) in applied)
        {
            var child = Child(schema, key);
            if (value is JsonObject appliedChild && target[key] is JsonObject targetChild)
            {
                MergeObject(child, targetChild, appliedChild);
            }
            else if (value is JsonArray appliedList && target[key] is JsonArray targetList && child is { ListType: "map", ListMapKeys.Count: > 0 })
            {
                MergeListMap(child, targetList, appliedList);
            }
            else
            {
                target[key] = value?.DeepClone();
            }
        }
    }

    private static void MergeListMap(SchemaNode list, JsonArray target, JsonArray applied)
    {
        foreach (var item in applied.OfType<JsonObject>())
        {
            var key = Key(list, item);
            if (target.OfType<JsonObject>().FirstOrDefault(t => Key(list, t) == key) is { } existing)
            {
                MergeObject(list.Items, existing, item);
            }
            else
            {
                target.Add(item.DeepClone());
            }
        }
    }

    private static void RemoveDropped(SchemaNode? schema, JsonObject target, JsonObject previous, JsonObject applied)
    {
        foreach (var (key, before) in previous)
        {
            var child = Child(schema, key);
            var now = applied[key];
            if (!applied.ContainsKey(key))
            {
                // Identity fields stay; everything else this manager stopped applying goes.
                if (key is not ("apiVersion" or "kind" or "name" or "namespace"))
                {
                    target.Remove(key);
                }
            }
            else if (before is JsonObject beforeChild && now is JsonObject nowChild && target[key] is JsonObject targetChild)
            {
                RemoveDropped(child, targetChild, beforeChild, nowChild);
            }
            else if (before is JsonArray beforeList && now is JsonArray nowList && target[key] is JsonArray targetList && child is { ListType: "map", ListMapKeys.Count: > 0 })
            {
                var kept = nowList.OfType<JsonObject>().Select(i => Key(child, i)).ToHashSet(StringComparer.Ordinal);
                foreach (var dropped in beforeList.OfType<JsonObject>().Select(i => Key(child, i)).Where(k => !kept.Contains(k)).ToList())
                {
                    var index = targetList.Select((t, i) => (t, i)).FirstOrDefault(p => p.t is JsonObject o && Key(child, o) == dropped, (null!, -1)).Item2;
                    if (index >= 0)
                    {
                        targetList.RemoveAt(index);
                    }
                }
            }
        }
    }

    private static SchemaNode? Child(SchemaNode? schema, string key)
        => schema is null ? null : schema.Properties.TryGetValue(key, out var child) ? child : schema.AdditionalProperties;

    private static string Key(SchemaNode list, JsonObject item)
        => string.Join('\u0000', list.ListMapKeys.Select(k => item[k]?.ToJsonString() ?? "null"));
}
