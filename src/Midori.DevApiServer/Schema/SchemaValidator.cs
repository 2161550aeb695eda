using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Midori.DevApiServer.Schema;

/// <summary>
/// OpenAPI v3 value validation of a custom resource (type, required, enum, bounds, lengths, item counts, pattern,
/// format) plus the <c>x-kubernetes-list-type</c> map/set invariants, with messages worded like kube-openapi.
/// </summary>
public static class SchemaValidator
{
    public static List<FieldError> Validate(JsonObject root, SchemaNode schema)
    {
        var errors = new List<FieldError>();
        var listErrors = new List<FieldError>();

        // Root-level apiVersion/kind/metadata are handled by the API machinery, not the schema.
        foreach (var (name, value) in root)
        {
            if (name is "apiVersion" or "kind" or "metadata")
            {
                continue;
            }

            if (schema.PropertySchema(name) is { } child)
            {
                ValidateNode(value, child, name, errors, listErrors);
            }
        }

        foreach (var required in schema.Required.Where(r => !root.ContainsKey(r)))
        {
            errors.Add(FieldError.Required(required));
        }

        errors.AddRange(listErrors);
        return errors;
    }

    private static void ValidateNode(JsonNode? value, SchemaNode schema, string path, List<FieldError> errors, List<FieldError> listErrors)
    {
        if (value is null)
        {
            if (!schema.Nullable && schema.Type is not null)
            {
                errors.Add(FieldError.TypeInvalid(path, "\"null\"", $"{path} in body must be of type {schema.Type}: \"null\""));
            }

            return;
        }

        if (!HasValidType(value, schema, out var actualType))
        {
            errors.Add(FieldError.TypeInvalid(path, FieldError.Quote(actualType), $"{path} in body must be of type {schema.Type}: {FieldError.Quote(actualType)}"));
            return;
        }

        if (schema.Enum is { } allowed && !allowed.Any(a => JsonNode.DeepEquals(a, value)))
        {
            errors.Add(FieldError.NotSupported(path, value, allowed.Select(a => a is JsonValue v && v.TryGetValue<string>(out var s) ? s : a?.ToJsonString() ?? "null")));
        }

        switch (value)
        {
            case JsonObject obj:
                ValidateObject(obj, schema, path, errors, listErrors);
                break;
            case JsonArray array:
                ValidateArray(array, schema, path, errors, listErrors);
                break;
            case JsonValue scalar when scalar.GetValueKind() == JsonValueKind.String:
                ValidateString(scalar.GetValue<string>(), schema, path, errors);
                break;
            case JsonValue scalar when scalar.GetValueKind() == JsonValueKind.Number:
                ValidateNumber(scalar, schema, path, errors);
                break;
        }
    }

    private static void ValidateObject(JsonObject obj, SchemaNode schema, string path, List<FieldError> errors, List<FieldError> listErrors)
    {
        foreach (var required in schema.Required.Where(r => !obj.ContainsKey(r)))
        {
            errors.Add(FieldError.Required($"{path}.{required}"));
        }

        if (schema.MaxProperties is { } maxProps && obj.Count > maxProps)
        {
            errors.Add(FieldError.TooMany(path, obj.Count, maxProps));
        }

        if (schema.MinProperties is { } minProps && obj.Count < minProps)
        {
            errors.Add(FieldError.Invalid(path, obj.Count.ToString(CultureInfo.InvariantCulture), $"{path} in body should have at least {minProps} properties"));
        }

        foreach (var (name, child) in obj)
        {
            if (schema.PropertySchema(name) is { } childSchema)
            {
                ValidateNode(child, childSchema, $"{path}.{name}", errors, listErrors);
            }
        }
    }

    private static void ValidateArray(JsonArray array, SchemaNode schema, string path, List<FieldError> errors, List<FieldError> listErrors)
    {
        if (schema.MaxItems is { } max && array.Count > max)
        {
            errors.Add(FieldError.TooMany(path, array.Count, max));
        }

        if (schema.MinItems is { } min && array.Count < min)
        {
            errors.Add(FieldError.Invalid(path, array.Count.ToString(CultureInfo.InvariantCulture), $"{path} in body should have at least {min} items"));
        }

        if (schema.Items is { } itemSchema)
        {
            for (var i = 0; i < array.Count; i++)
            {
                ValidateNode(array[i], itemSchema, $"{path}[{i}]", errors, listErrors);
            }
        }

        ValidateListType(array, schema, path, listErrors);
    }

    private static void ValidateListType(JsonArray array, SchemaNode schema, string path, List<FieldError> listErrors)
    {
        if (schema.ListType == "map" && schema.ListMapKeys.Count > 0)
        {
            var seen = new List<JsonObject>();
            for (var i = 0; i < array.Count; i++)
            {
                if (array[i] is not JsonObject item)
                {
                    continue;
                }

                var key = new JsonObject(schema.ListMapKeys.Where(item.ContainsKey).Select(k => KeyValuePair.Create(k, item[k]?.DeepClone())));
                if (seen.Any(s => JsonNode.DeepEquals(s, key)))
                {
                    listErrors.Add(FieldError.Duplicate($"{path}[{i}]", FieldError.FormatValue(key)));
                }
                else
                {
                    seen.Add(key);
                }
            }
        }
        else if (schema.ListType == "set")
        {
            for (var i = 0; i < array.Count; i++)
            {
                if (array.Take(i).Any(prev => JsonNode.DeepEquals(prev, array[i])))
                {
                    listErrors.Add(FieldError.Duplicate($"{path}[{i}]", FieldError.FormatValue(array[i])));
                }
            }
        }
    }

    private static void ValidateString(string value, SchemaNode schema, string path, List<FieldError> errors)
    {
        var length = value.EnumerateRunes().Count();
        if (schema.MaxLength is { } max && length > max)
        {
            errors.Add(FieldError.TooLong(path, max));
        }

        if (schema.MinLength is { } min && length < min)
        {
            errors.Add(FieldError.Invalid(path, FieldError.Quote(value), $"{path} in body should be at least {min} chars long"));
        }

        if (schema.Pattern is { } pattern && !pattern.IsMatch(value))
        {
            errors.Add(FieldError.Invalid(path, FieldError.Quote(value), $"{path} in body should match '{pattern}'"));
        }

        // date-time is checked leniently: anything .NET can read as an ISO-8601 instant passes.
        if (schema.Format == "date-time" && !DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _))
        {
            errors.Add(FieldError.Invalid(path, FieldError.Quote(value), $"{path} in body must be of type date-time: {FieldError.Quote(value)}"));
        }
    }

    private static void ValidateNumber(JsonValue value, SchemaNode schema, string path, List<FieldError> errors)
    {
        // As double, like the real server's JSON decoding: 1e300 is a number to compare, not an overflow (a 500).
        var number = double.Parse(value.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture);
        var formatted = value.ToJsonString();
        if (schema.Maximum is { } max && (schema.ExclusiveMaximum ? number >= (double)max : number > (double)max))
        {
            var op = schema.ExclusiveMaximum ? "less than" : "less than or equal to";
            errors.Add(FieldError.Invalid(path, formatted, $"{path} in body should be {op} {max.ToString(CultureInfo.InvariantCulture)}"));
        }

        if (schema.Minimum is { } min && (schema.ExclusiveMinimum ? number <= (double)min : number < (double)min))
        {
            var op = schema.ExclusiveMinimum ? "greater than" : "greater than or equal to";
            errors.Add(FieldError.Invalid(path, formatted, $"{path} in body should be {op} {min.ToString(CultureInfo.InvariantCulture)}"));
        }
    }

    /// <summary>
    /// An integer is what fits int64 once written out (1e2 does, 1.5 and 1e300 do not): the real server decodes an
    /// integer field into int64 and refuses the rest as a number, a 422, never a 500.
    /// </summary>
    private static bool IsInteger(string text) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)
        || (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d % 1 == 0 && d >= long.MinValue && d < 9.2233720368547758E+18);

    private static bool HasValidType(JsonNode value, SchemaNode schema, out string actualType)
    {
        actualType = value switch
        {
            JsonObject => "object",
            JsonArray => "array",
            JsonValue v => v.GetValueKind() switch
            {
                JsonValueKind.String => "string",
                JsonValueKind.True or JsonValueKind.False => "boolean",
                JsonValueKind.Number when IsInteger(v.ToJsonString()) => "integer",
                JsonValueKind.Number => "number",
                _ => "null",
            },
            _ => "null",
        };

        if (schema.IntOrString)
        {
            return actualType is "integer" or "string";
        }

        return schema.Type switch
        {
            null => true,
            "number" => actualType is "number" or "integer",
            _ => schema.Type == actualType,
        };
    }
}
