using System.Text.Json.Nodes;

namespace Midori.DevApiServer.Schema;

/// <summary>
/// Removes fields the structural schema does not declare (CRD pruning). Returns the dotted paths it removed,
/// which become <c>Warning</c> headers (fieldValidation=Warn) or a 400 (fieldValidation=Strict).
/// </summary>
public static class Pruner
{
    // apiVersion/kind/metadata are always kept at the root (and at embedded resources); metadata is validated separately.
    private static readonly HashSet<string> RootFields = ["apiVersion", "kind", "metadata"];

    public static IReadOnlyList<string> Prune(JsonObject root, SchemaNode schema)
    {
        var removed = new List<string>();
        PruneObject(root, schema, string.Empty, isRoot: true, removed);
        return removed;
    }

    private static void Prune(JsonNode? node, SchemaNode schema, string path, List<string> removed)
    {
        switch (node)
        {
            case JsonObject obj:
                PruneObject(obj, schema, path, isRoot: schema.EmbeddedResource, removed);
                break;
            case JsonArray array when schema.Items is not null:
                for (var i = 0; i < array.Count; i++)
                {
                    Prune(array[i], schema.Items, $"{path}[{i}]", removed);
                }

                break;
        }
    }

    private static void PruneObject(JsonObject obj, SchemaNode schema, string path, bool isRoot, List<string> removed)
    {
        foreach (var key in obj.Select(p => p.Key).ToList())
        {
            var childPath = path.Length == 0 ? key : $"{path}.{key}";
            if (isRoot && RootFields.Contains(key))
            {
                continue;
            }

            var childSchema = schema.PropertySchema(key);
            if (childSchema is null)
            {
                if (!schema.PreserveUnknownFields)
                {
                    obj.Remove(key);
                    removed.Add(childPath);
                }

                continue;
            }

            Prune(obj[key], childSchema, childPath, removed);
        }
    }
}
