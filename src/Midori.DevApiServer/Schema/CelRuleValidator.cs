using System.Text.Json.Nodes;
using Midori.DevApiServer.Cel;

namespace Midori.DevApiServer.Schema;

/// <summary>
/// Evaluates <c>x-kubernetes-validations</c> at every schema node that has them. Transition rules (those that
/// mention <c>oldSelf</c>) run only on update and only where an old value exists at the same path; list items are
/// correlated with their old counterparts by map keys (<c>x-kubernetes-list-type: map</c>), as in the real server.
/// </summary>
public static class CelRuleValidator
{
    public static List<FieldError> Validate(JsonObject root, JsonObject? oldRoot, SchemaNode schema)
    {
        var errors = new List<FieldError>();
        ValidateNode(root, oldRoot, schema, string.Empty, errors);
        return errors;
    }

    private static void ValidateNode(JsonNode? value, JsonNode? oldValue, SchemaNode schema, string path, List<FieldError> errors)
    {
        if (value is null)
        {
            return;
        }

        EvaluateRules(value, oldValue, schema, path, errors);
        switch (value)
        {
            case JsonObject obj:
                foreach (var (name, child) in obj)
                {
                    if (schema.PropertySchema(name) is { } childSchema)
                    {
                        var oldChild = oldValue is JsonObject oldObj && oldObj.TryGetPropertyValue(name, out var o) ? o : null;
                        ValidateNode(child, oldChild, childSchema, path.Length == 0 ? name : $"{path}.{name}", errors);
                    }
                }

                break;
            case JsonArray array when schema.Items is { } itemSchema:
                for (var i = 0; i < array.Count; i++)
                {
                    ValidateNode(array[i], CorrelateOldItem(array[i], oldValue as JsonArray, schema), itemSchema, $"{path}[{i}]", errors);
                }

                break;
        }
    }

    private static void EvaluateRules(JsonNode value, JsonNode? oldValue, SchemaNode schema, string path, List<FieldError> errors)
    {
        if (schema.Rules.Count == 0)
        {
            return;
        }

        var self = CelValues.FromJson(value);
        var oldSelf = oldValue is null ? null : CelValues.FromJson(oldValue);
        foreach (var rule in schema.Rules)
        {
            if (rule.Program.ReferencesOldSelf && oldValue is null)
            {
                continue;
            }

            var variables = new Dictionary<string, object?> { ["self"] = self };
            if (oldValue is not null)
            {
                variables["oldSelf"] = oldSelf;
            }

            var field = rule.FieldPath is { Length: > 0 } fp ? path + fp : path;
            var typeName = FieldError.Quote(TypeName(value, schema));
            try
            {
                if (rule.Program.Evaluate(variables) is not true)
                {
                    errors.Add(FieldError.Invalid(field, typeName, rule.Message ?? $"failed rule: {rule.Program.Source}"));
                }
            }
            catch (CelException ex)
            {
                errors.Add(FieldError.Invalid(field, typeName, $"{ex.Message} evaluating rule: {rule.Message ?? rule.Program.Source}"));
            }
        }
    }

    private static JsonNode? CorrelateOldItem(JsonNode? item, JsonArray? oldArray, SchemaNode listSchema)
    {
        if (oldArray is null || item is not JsonObject obj || listSchema.ListType != "map" || listSchema.ListMapKeys.Count == 0)
        {
            return null;
        }

        return oldArray.FirstOrDefault(old => old is JsonObject o && listSchema.ListMapKeys.All(k => JsonNode.DeepEquals(o[k], obj[k])));
    }

    // The API server reports the schema type of the node that failed ("object", "string", "integer", ...).
    private static string TypeName(JsonNode value, SchemaNode schema) => schema.Type ?? value switch
    {
        JsonObject => "object",
        JsonArray => "array",
        _ => value.GetValueKind().ToString().ToLowerInvariant(),
    };
}
