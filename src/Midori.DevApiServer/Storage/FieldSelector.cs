using System.Text.Json.Nodes;

namespace Midori.DevApiServer.Storage;

/// <summary>
/// <c>?fieldSelector=</c>: ANDed <c>field=value</c>, <c>field==value</c> and <c>field!=value</c> terms over the fields the real server
/// indexes: <c>metadata.name</c> and <c>metadata.namespace</c> for every resource, plus <c>involvedObject.*</c>, <c>reason</c>,
/// <c>type</c>, <c>source</c> and <c>reportingComponent</c> for Events. Other fields are a 400, as on the real server.
/// </summary>
public sealed class FieldSelector
{
    public static readonly FieldSelector Everything = new([]);

    private static readonly HashSet<string> EventFields = new(StringComparer.Ordinal)
    {
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
        "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
    };

    private readonly IReadOnlyList<(string Field, string Value, bool Equal)> _terms;

    private FieldSelector(IReadOnlyList<(string Field, string Value, bool Equal)> terms) => _terms = terms;

    public bool IsEverything => _terms.Count == 0;

    /// <exception cref="ApiException">400 for a malformed selector or an unsupported field.</exception>
    public static FieldSelector Parse(string? selector, ResourceType type)
    {
        if (string.IsNullOrWhiteSpace(selector))
        {
            return Everything;
        }

        var terms = new List<(string, string, bool)>();
        foreach (var term in selector.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var (field, value, equal) = term.IndexOf("!=", StringComparison.Ordinal) is var ne and >= 0
                ? (term[..ne], term[(ne + 2)..], false)
                : term.IndexOf("==", StringComparison.Ordinal) is var ee and >= 0
                    ? (term[..ee], term[(ee + 2)..], true)
                    : term.IndexOf('=') is var eq and >= 0
                        ? (term[..eq], term[(eq + 1)..], true)
                        : throw StatusErrors.BadRequest($"invalid selector: '{selector}'; can't understand '{term}'");
            field = field.Trim();
            var supported = field is "metadata.name" or "metadata.namespace" || (type.Kind == "Event" && !type.IsCustomResource && EventFields.Contains(field));
            if (!supported)
            {
                throw StatusErrors.BadRequest($"field label not supported: {field}");
            }

            terms.Add((field, value.Trim(), equal));
        }

        return new FieldSelector(terms);
    }

    public bool Matches(JsonObject obj)
    {
        foreach (var (field, value, equal) in _terms)
        {
            if ((Value(obj, field) == value) != equal)
            {
                return false;
            }
        }

        return true;
    }

    private static string Value(JsonObject obj, string field)
    {
        if (field == "source")
        {
            return (string?)obj["source"]?["component"] ?? string.Empty;
        }

        JsonNode? node = obj;
        foreach (var part in field.Split('.'))
        {
            node = (node as JsonObject)?[part];
        }

        return node is JsonValue v ? v.ToString() : string.Empty;
    }
}
