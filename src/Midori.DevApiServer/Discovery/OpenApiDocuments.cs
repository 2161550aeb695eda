using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Midori.DevApiServer.Discovery;

/// <summary>
/// OpenAPI v3 as kubectl uses it: <c>/openapi/v3</c> indexes one document per served group version, and each document has
/// the resource paths (with the <c>fieldValidation</c> query parameter kubectl checks for before <c>apply</c>) and the
/// schemas, tagged with <c>x-kubernetes-group-version-kind</c> (how <c>kubectl explain</c> finds a kind). Custom resources
/// carry their CRD schema; built-ins are described as open objects (this server stores them schemaless).
/// </summary>
public static class OpenApiDocuments
{
    private const string MetaPrefix = "io.k8s.apimachinery.pkg.apis.meta.v1.";

    private static readonly Lazy<JsonObject> MetaSchemas = new(() =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Midori.DevApiServer.OpenApi.meta-v1-schemas.json")!;
        return (JsonObject)JsonNode.Parse(stream)!;
    });

    /// <summary>Path of the group-version document, as listed in the index: <c>api/v1</c> or <c>apis/{group}/{version}</c>.</summary>
    public static string DocumentPath(string group, string version) => group.Length == 0 ? $"api/{version}" : $"apis/{group}/{version}";

    public static JsonObject Index(ResourceRegistry registry)
    {
        var paths = new JsonObject();
        foreach (var (group, version) in registry.All.Select(t => (t.Group, t.Version)).Distinct().OrderBy(p => DocumentPath(p.Group, p.Version), StringComparer.Ordinal))
        {
            var path = DocumentPath(group, version);
            paths[path] = new JsonObject { ["serverRelativeURL"] = $"/openapi/v3/{path}?hash={Hash(Document(registry, group, version)!)}" };
        }

        return new JsonObject { ["paths"] = paths };
    }

    /// <summary>The stable hash the index puts in each document's URL (clients cache hashed URLs forever).</summary>
    public static string Hash(JsonObject document) => Convert.ToHexString(SHA512.HashData(Encoding.UTF8.GetBytes(document.ToJsonString())));

    public static JsonObject? Document(ResourceRegistry registry, string group, string version)
    {
        var types = registry.All.Where(t => t.Group == group && t.Version == version).OrderBy(t => t.Plural, StringComparer.Ordinal).ToList();
        if (types.Count == 0)
        {
            return null;
        }

        var paths = new JsonObject();
        var schemas = new JsonObject();
        foreach (var type in types)
        {
            var schemaName = SchemaName(type);
            schemas[schemaName] = ObjectSchema(type);
            schemas[schemaName + "List"] = ListSchema(type, schemaName);
            var prefix = group.Length == 0 ? $"/api/{version}" : $"/apis/{group}/{version}";
            var collection = type.Namespaced ? $"{prefix}/namespaces/{{namespace}}/{type.Plural}" : $"{prefix}/{type.Plural}";
            var reference = new JsonObject { ["$ref"] = $"#/components/schemas/{schemaName}" };
            paths[collection] = new JsonObject
            {
                ["get"] = Operation($"list objects of kind {type.Kind}", $"list{type.Kind}", [], new JsonObject { ["$ref"] = $"#/components/schemas/{schemaName}List" }, type),
                ["post"] = Operation($"create a {type.Kind}", $"create{type.Kind}", WriteParameters(), reference, type, body: reference),
            };
            paths[$"{collection}/{{name}}"] = ItemPaths(type, reference, string.Empty);
            if (type.HasStatusSubresource)
            {
                paths[$"{collection}/{{name}}/status"] = ItemPaths(type, reference, "Status");
            }
        }

        foreach (var (name, schema) in MetaSchemas.Value)
        {
            schemas[name] = schema!.DeepClone();
        }

        return new JsonObject
        {
            ["openapi"] = "3.0.0",
            ["info"] = new JsonObject { ["title"] = "Kubernetes CRD Swagger", ["version"] = "v0.1.0" },
            ["paths"] = paths,
            ["components"] = new JsonObject { ["schemas"] = schemas },
        };
    }

    /// <summary>"dev.midori.preview.v1alpha1.PreviewSandbox" (reversed group), "io.k8s.api.core.v1.Secret" for built-ins.</summary>
    public static string SchemaName(ResourceType type)
    {
        if (!type.IsCustomResource)
        {
            var package = type.Group switch
            {
                "" => "io.k8s.api.core",
                ResourceRegistry.CrdGroup => "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
                var g => "io.k8s.api." + g.Split('.')[0],
            };
            return $"{package}.{type.Version}.{type.Kind}";
        }

        return $"{string.Join('.', type.Group.Split('.').Reverse())}.{type.Version}.{type.Kind}";
    }

    private static JsonObject ItemPaths(ResourceType type, JsonObject reference, string suffix)
    {
        var item = new JsonObject
        {
            ["get"] = Operation($"read the specified {type.Kind}", $"read{type.Kind}{suffix}", [], reference, type),
            ["put"] = Operation($"replace the specified {type.Kind}", $"replace{type.Kind}{suffix}", WriteParameters(), reference, type, body: reference),
            ["patch"] = Operation($"partially update the specified {type.Kind}", $"patch{type.Kind}{suffix}", [.. WriteParameters(), Parameter("force", "boolean")], reference, type,
                body: new JsonObject { ["$ref"] = $"#/components/schemas/{MetaPrefix}Patch" },
                bodyTypes: ["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"]),
        };
        if (suffix.Length == 0)
        {
            item["delete"] = Operation($"delete a {type.Kind}", $"delete{type.Kind}", [], new JsonObject { ["$ref"] = $"#/components/schemas/{MetaPrefix}Status" }, type,
                body: new JsonObject { ["$ref"] = $"#/components/schemas/{MetaPrefix}DeleteOptions" });
        }

        return item;
    }

    private static JsonNode[] WriteParameters() => [Parameter("dryRun", "string"), Parameter("fieldManager", "string"), Parameter("fieldValidation", "string")];

    private static JsonObject Parameter(string name, string type) => new()
    {
        ["name"] = name,
        ["in"] = "query",
        ["schema"] = new JsonObject { ["type"] = type, ["uniqueItems"] = true },
    };

    private static JsonObject Operation(string description, string operationId, JsonNode[] parameters, JsonObject response, ResourceType type,
        JsonObject? body = null, string[]? bodyTypes = null)
    {
        var operation = new JsonObject
        {
            ["description"] = description,
            ["operationId"] = operationId,
            ["parameters"] = new JsonArray(parameters),
        };
        if (body is not null)
        {
            var content = new JsonObject();
            foreach (var mediaType in bodyTypes ?? ["application/json"])
            {
                content[mediaType] = new JsonObject { ["schema"] = body.DeepClone() };
            }

            operation["requestBody"] = new JsonObject { ["content"] = content, ["required"] = true };
        }

        operation["responses"] = new JsonObject
        {
            ["200"] = new JsonObject
            {
                ["description"] = "OK",
                ["content"] = new JsonObject { ["application/json"] = new JsonObject { ["schema"] = response.DeepClone() } },
            },
        };
        operation["x-kubernetes-group-version-kind"] = new JsonObject { ["group"] = type.Group, ["version"] = type.Version, ["kind"] = type.Kind };
        return operation;
    }

    private static JsonObject ObjectSchema(ResourceType type)
    {
        var schema = type.OpenApiSchema?.DeepClone() as JsonObject ?? new JsonObject
        {
            ["description"] = $"{type.Kind} (stored schemaless by the development API server).",
            ["type"] = "object",
            ["x-kubernetes-preserve-unknown-fields"] = true,
        };
        var properties = schema["properties"] as JsonObject ?? [];
        schema["properties"] = properties;
        properties["apiVersion"] = new JsonObject
        {
            ["description"] = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
            ["type"] = "string",
        };
        properties["kind"] = new JsonObject
        {
            ["description"] = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            ["type"] = "string",
        };
        properties["metadata"] = new JsonObject
        {
            ["description"] = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
            ["allOf"] = new JsonArray(new JsonObject { ["$ref"] = $"#/components/schemas/{MetaPrefix}ObjectMeta" }),
        };
        schema["x-kubernetes-group-version-kind"] = new JsonArray(new JsonObject { ["group"] = type.Group, ["kind"] = type.Kind, ["version"] = type.Version });
        return schema;
    }

    private static JsonObject ListSchema(ResourceType type, string itemSchema) => new()
    {
        ["description"] = $"{type.ListKind} is a list of {type.Kind}",
        ["required"] = new JsonArray("items"),
        ["properties"] = new JsonObject
        {
            ["apiVersion"] = new JsonObject { ["type"] = "string" },
            ["items"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["$ref"] = $"#/components/schemas/{itemSchema}" } },
            ["kind"] = new JsonObject { ["type"] = "string" },
            ["metadata"] = new JsonObject { ["allOf"] = new JsonArray(new JsonObject { ["$ref"] = $"#/components/schemas/{MetaPrefix}ListMeta" }) },
        },
        ["x-kubernetes-group-version-kind"] = new JsonArray(new JsonObject { ["group"] = type.Group, ["kind"] = type.ListKind, ["version"] = type.Version }),
    };
}
