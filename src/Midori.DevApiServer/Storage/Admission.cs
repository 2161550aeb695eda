using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Midori.DevApiServer.Schema;

namespace Midori.DevApiServer.Storage;

/// <summary>How unknown fields are treated (<c>?fieldValidation=</c>); Warn is the server default.</summary>
public enum FieldValidation
{
    Warn,
    Ignore,
    Strict,
}

/// <summary>
/// Per-type defaulting and validation of an object about to be stored: for custom resources the CRD pipeline
/// (prune → default → OpenAPI validation → CEL rules), for built-ins the few server-side defaults clients see.
/// Returns the warnings to send back.
/// </summary>
public static partial class Admission
{
    private const string Dns1123SubdomainMessage =
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

    private const string CelSkippedMessage = "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

    public static IReadOnlyList<string> Admit(ResourceType type, JsonObject obj, JsonObject? old, FieldValidation fieldValidation)
    {
        if (type.Schema is { } schema)
        {
            return AdmitCustomResource(type, schema, obj, old, fieldValidation);
        }

        AdmitBuiltIn(type, obj);
        return [];
    }

    private static List<string> AdmitCustomResource(ResourceType type, SchemaNode schema, JsonObject obj, JsonObject? old, FieldValidation fieldValidation)
    {
        var unknown = Pruner.Prune(obj, schema).Select(p => $"unknown field \"{p}\"").ToList();
        if (fieldValidation == FieldValidation.Strict && unknown.Count > 0)
        {
            throw StatusErrors.BadRequest($"{type.Kind} in version \"{type.Version}\" cannot be handled as a {type.Kind}: strict decoding error: {string.Join(", ", unknown)}");
        }

        SchemaDefaulter.Apply(obj, schema);

        var name = ObjectMeta.Name(obj) ?? string.Empty;
        var errors = new List<FieldError>();
        if (!Dns1123Subdomain().IsMatch(name) || name.Length > 253)
        {
            errors.Add(FieldError.Invalid("metadata.name", FieldError.Quote(name), Dns1123SubdomainMessage));
        }

        errors.AddRange(SchemaValidator.Validate(obj, schema));
        if (errors.Any(e => e.BlocksCelValidation))
        {
            errors.Add(FieldError.Invalid(string.Empty, "\"null\"", CelSkippedMessage));
        }
        else
        {
            errors.AddRange(CelRuleValidator.Validate(obj, old, schema));
        }

        if (errors.Count > 0)
        {
            throw StatusErrors.Invalid(type, name, errors);
        }

        return fieldValidation == FieldValidation.Ignore ? [] : unknown;
    }

    private static void AdmitBuiltIn(ResourceType type, JsonObject obj)
    {
        switch (type.Group, type.Kind)
        {
            case ("", "Secret"):
                // stringData is a write-only convenience: merged into base64 data, never stored.
                if (obj["stringData"] is JsonObject stringData)
                {
                    var data = obj["data"] as JsonObject ?? [];
                    foreach (var (key, value) in stringData)
                    {
                        data[key] = Convert.ToBase64String(Encoding.UTF8.GetBytes((string?)value ?? string.Empty));
                    }

                    obj.Remove("data");
                    obj["data"] = data;
                }

                obj.Remove("stringData");
                obj["type"] ??= "Opaque";
                break;
            case ("", "Event"):
                if (!obj.ContainsKey("eventTime"))
                {
                    obj["eventTime"] = null;
                }

                obj["reportingComponent"] ??= string.Empty;
                obj["reportingInstance"] ??= string.Empty;
                break;
            case ("", "Namespace"):
                obj["spec"] ??= new JsonObject { ["finalizers"] = new JsonArray("kubernetes") };
                obj["status"] = new JsonObject { ["phase"] = ObjectMeta.IsBeingDeleted(obj) ? "Terminating" : "Active" };
                break;
        }
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Dns1123Subdomain();
}
