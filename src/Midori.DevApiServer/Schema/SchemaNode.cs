using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Midori.DevApiServer.Cel;

namespace Midori.DevApiServer.Schema;

/// <summary>A compiled <c>x-kubernetes-validations</c> entry.</summary>
public sealed record ValidationRule(CelProgram Program, string? Message, string? Reason, string? FieldPath);

/// <summary>
/// One node of a CRD's structural openAPIV3Schema, compiled once when the CRD is applied
/// (regexes and CEL rules parsed up front, like the real server does at CRD admission).
/// </summary>
public sealed class SchemaNode
{
    public string? Type { get; private init; }

    public string? Format { get; private init; }

    public bool Nullable { get; private init; }

    public bool PreserveUnknownFields { get; private init; }

    public bool IntOrString { get; private init; }

    public bool EmbeddedResource { get; private init; }

    public IReadOnlyDictionary<string, SchemaNode> Properties { get; private init; } = new Dictionary<string, SchemaNode>();

    public SchemaNode? AdditionalProperties { get; private init; }

    public SchemaNode? Items { get; private init; }

    public IReadOnlyList<string> Required { get; private init; } = [];

    public IReadOnlyList<JsonNode?>? Enum { get; private init; }

    public JsonNode? Default { get; private init; }

    public bool HasDefault { get; private init; }

    public decimal? Minimum { get; private init; }

    public decimal? Maximum { get; private init; }

    public bool ExclusiveMinimum { get; private init; }

    public bool ExclusiveMaximum { get; private init; }

    public long? MinLength { get; private init; }

    public long? MaxLength { get; private init; }

    public long? MinItems { get; private init; }

    public long? MaxItems { get; private init; }

    public long? MinProperties { get; private init; }

    public long? MaxProperties { get; private init; }

    public Regex? Pattern { get; private init; }

    public string? ListType { get; private init; }

    public IReadOnlyList<string> ListMapKeys { get; private init; } = [];

    public IReadOnlyList<ValidationRule> Rules { get; private init; } = [];

    /// <summary>Compiles a schema node; throws <see cref="SchemaCompileException"/> with the offending path on bad rules/patterns.</summary>
    public static SchemaNode Compile(JsonObject schema, string path = "openAPIV3Schema")
    {
        var properties = new Dictionary<string, SchemaNode>(StringComparer.Ordinal);
        if (schema["properties"] is JsonObject props)
        {
            foreach (var (name, child) in props)
            {
                properties[name] = Compile(child as JsonObject ?? [], $"{path}.properties[{name}]");
            }
        }

        return new SchemaNode
        {
            Type = (string?)schema["type"],
            Format = (string?)schema["format"],
            Nullable = (bool?)schema["nullable"] ?? false,
            PreserveUnknownFields = (bool?)schema["x-kubernetes-preserve-unknown-fields"] ?? false,
            IntOrString = (bool?)schema["x-kubernetes-int-or-string"] ?? false,
            EmbeddedResource = (bool?)schema["x-kubernetes-embedded-resource"] ?? false,
            Properties = properties,
            AdditionalProperties = schema["additionalProperties"] is JsonObject ap ? Compile(ap, $"{path}.additionalProperties") : null,
            Items = schema["items"] is JsonObject items ? Compile(items, $"{path}.items") : null,
            Required = schema["required"] is JsonArray req ? [.. req.Select(r => (string)r!)] : [],
            Enum = schema["enum"] is JsonArray e ? [.. e.Select(v => v?.DeepClone())] : null,
            HasDefault = schema.ContainsKey("default"),
            Default = schema["default"]?.DeepClone(),
            Minimum = (decimal?)schema["minimum"],
            Maximum = (decimal?)schema["maximum"],
            ExclusiveMinimum = (bool?)schema["exclusiveMinimum"] ?? false,
            ExclusiveMaximum = (bool?)schema["exclusiveMaximum"] ?? false,
            MinLength = (long?)schema["minLength"],
            MaxLength = (long?)schema["maxLength"],
            MinItems = (long?)schema["minItems"],
            MaxItems = (long?)schema["maxItems"],
            MinProperties = (long?)schema["minProperties"],
            MaxProperties = (long?)schema["maxProperties"],
            Pattern = CompilePattern((string?)schema["pattern"], path),
            ListType = (string?)schema["x-kubernetes-list-type"],
            ListMapKeys = schema["x-kubernetes-list-map-keys"] is JsonArray keys ? [.. keys.Select(k => (string)k!)] : [],
            Rules = CompileRules(schema["x-kubernetes-validations"] as JsonArray, path),
        };
    }

    /// <summary>The schema for a child value: a declared property, else additionalProperties.</summary>
    public SchemaNode? PropertySchema(string name)
        => Properties.TryGetValue(name, out var child) ? child : AdditionalProperties;

    private static Regex? CompilePattern(string? pattern, string path)
    {
        if (pattern is null)
        {
            return null;
        }

        try
        {
            return new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        }
        catch (ArgumentException ex)
        {
            throw new SchemaCompileException($"{path}.pattern", pattern, ex.Message);
        }
    }

    private static List<ValidationRule> CompileRules(JsonArray? rules, string path)
    {
        var compiled = new List<ValidationRule>();
        foreach (var (rule, index) in (rules ?? []).Select((r, i) => (r as JsonObject ?? [], i)))
        {
            var source = (string?)rule["rule"] ?? string.Empty;
            try
            {
                compiled.Add(new ValidationRule(CelProgram.Compile(source), (string?)rule["message"], (string?)rule["reason"], (string?)rule["fieldPath"]));
            }
            catch (CelException ex)
            {
                throw new SchemaCompileException($"{path}.x-kubernetes-validations[{index}].rule", source, $"compilation failed: ERROR: <input>: {ex.Message}");
            }
        }

        return compiled;
    }
}

/// <summary>A CRD schema that cannot be compiled; reported as a 422 on CRD create, like the real server.</summary>
public sealed class SchemaCompileException(string field, string value, string detail) : Exception(detail)
{
    public string Field { get; } = field;

    public string Value { get; } = value;
}
