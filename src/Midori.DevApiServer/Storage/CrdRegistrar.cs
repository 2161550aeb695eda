using System.Text.Json.Nodes;
using Midori.DevApiServer.Schema;

namespace Midori.DevApiServer.Storage;

/// <summary>
/// The part of apiextensions-apiserver the tests need: CRD defaulting and validation on create, and turning a stored
/// CRD into served <see cref="ResourceType"/>s (one per served version, sharing storage).
/// </summary>
public static class CrdRegistrar
{
    /// <summary>Fills what the real server fills on create (listKind, singular, conversion, initial status) and compiles the schemas.</summary>
    public static IReadOnlyList<ResourceType> Prepare(ResourceType crdType, JsonObject crd)
    {
        var name = ObjectMeta.Name(crd) ?? string.Empty;
        var spec = crd["spec"] as JsonObject ?? throw Invalid(crdType, name, FieldError.Required("spec"));
        var group = (string?)spec["group"] ?? string.Empty;
        var names = spec["names"] as JsonObject ?? throw Invalid(crdType, name, FieldError.Required("spec.names"));
        var plural = (string?)names["plural"] ?? string.Empty;
        var kind = (string?)names["kind"] ?? throw Invalid(crdType, name, FieldError.Required("spec.names.kind"));
        if (name != $"{plural}.{group}")
        {
            throw Invalid(crdType, name, FieldError.Invalid("metadata.name", FieldError.Quote(name), "must be spec.names.plural+\".\"+spec.group"));
        }

        names["singular"] ??= kind.ToLowerInvariant();
        names["listKind"] ??= kind + "List";
        spec["conversion"] ??= new JsonObject { ["strategy"] = "None" };

        var versions = spec["versions"] as JsonArray ?? [];
        crd["status"] = new JsonObject
        {
            ["conditions"] = null,
            ["acceptedNames"] = new JsonObject { ["plural"] = string.Empty, ["kind"] = string.Empty },
            ["storedVersions"] = new JsonArray([.. versions.Where(v => (bool?)v?["storage"] == true).Select(v => (JsonNode?)(string?)v!["name"])]),
        };

        var types = new List<ResourceType>();
        foreach (var (version, index) in versions.OfType<JsonObject>().Select((v, i) => (v, i)).Where(p => (bool?)p.v["served"] != false))
        {
            var schemaJson = version["schema"]?["openAPIV3Schema"] as JsonObject ?? [];
            SchemaNode schema;
            try
            {
                schema = SchemaNode.Compile(schemaJson, $"spec.versions[{index}].schema.openAPIV3Schema");
            }
            catch (SchemaCompileException ex)
            {
                throw Invalid(crdType, name, FieldError.Invalid(ex.Field, FieldError.Quote(ex.Value), ex.Message));
            }

            types.Add(new ResourceType
            {
                Group = group,
                Version = (string?)version["name"] ?? string.Empty,
                Plural = plural,
                Kind = kind,
                ListKind = (string)names["listKind"]!,
                Namespaced = (string?)spec["scope"] != "Cluster",
                Schema = schema,
                HasStatusSubresource = version["subresources"]?["status"] is not null,
                Scale = ScaleSubresource.FromCrdVersion(version),
                TracksGeneration = true,
                SingularName = (string?)names["singular"] ?? string.Empty,
                ShortNames = Strings(names["shortNames"]),
                Categories = Strings(names["categories"]),
                PrinterColumns = PrinterColumns(version["additionalPrinterColumns"] as JsonArray),
                OpenApiSchema = (JsonObject)schemaJson.DeepClone(),
            });
        }

        return types;
    }

    /// <summary>The CRD as its controllers leave it once names are accepted: acceptedNames filled, NamesAccepted and Established true.</summary>
    public static JsonObject Established(JsonObject crd, DateTimeOffset now)
    {
        var established = (JsonObject)crd.DeepClone();
        var names = (JsonObject)established["spec"]!["names"]!.DeepClone();
        var at = ObjectMeta.FormatTime(now);
        var status = (JsonObject)established["status"]!;
        status["conditions"] = new JsonArray(
            new JsonObject { ["type"] = "NamesAccepted", ["status"] = "True", ["lastTransitionTime"] = at, ["reason"] = "NoConflicts", ["message"] = "no conflicts found" },
            new JsonObject { ["type"] = "Established", ["status"] = "True", ["lastTransitionTime"] = at, ["reason"] = "InitialNamesAccepted", ["message"] = "the initial names have been accepted" });
        status["acceptedNames"] = names;
        return established;
    }

    private static string[] Strings(JsonNode? node) => node is JsonArray array ? [.. array.Select(n => (string?)n).OfType<string>()] : [];

    private static PrinterColumn[] PrinterColumns(JsonArray? columns) =>
        columns is null ? [] :
        [.. columns.OfType<JsonObject>().Select(c => new PrinterColumn(
            (string?)c["name"] ?? string.Empty,
            (string?)c["type"] ?? "string",
            (string?)c["format"] ?? string.Empty,
            (string?)c["description"] ?? $"Custom resource definition column (in JSONPath format): {(string?)c["jsonPath"]}",
            (int?)c["priority"] ?? 0,
            (string?)c["jsonPath"] ?? string.Empty))];

    private static ApiException Invalid(ResourceType crdType, string name, FieldError error) => StatusErrors.Invalid(crdType, name, [error]);
}
