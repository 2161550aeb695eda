using System.Text.Json.Nodes;

namespace Midori.DevApiServer.Schema;

/// <summary>
/// Structural-schema defaulting: missing properties get their <c>default</c>, then defaulting recurses into the
/// (possibly just defaulted) value, so <c>default: {}</c> objects receive their children's defaults.
/// Non-nullable nulls are replaced by the default, or dropped when there is none (apiextensions behaviour).
/// </summary>
public static class SchemaDefaulter
{
    public static void Apply(JsonNode? node, SchemaNode schema)
    {
        switch (node)
        {
            case JsonObject obj:
                ApplyToObject(obj, schema);
                break;
            case JsonArray array when schema.Items is not null:
                foreach (var item in array)
                {
                    Apply(item, schema.Items);
                }

                break;
        }
    }

    private static void ApplyToObject(JsonObject obj, SchemaNode schema)
    {
        foreach (var (name, child) in schema.Properties)
        {
            var present = obj.TryGetPropertyValue(name, out var value);
            if (present && value is null && !child.Nullable)
            {
                obj.Remove(name);
                present = false;
            }

            if (!present && child.HasDefault)
            {
                obj[name] = child.Default?.DeepClone();
            }
        }

        foreach (var (name, value) in obj.ToList())
        {
            if (schema.PropertySchema(name) is { } childSchema)
            {
                Apply(value, childSchema);
            }
        }
    }
}
