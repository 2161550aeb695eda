using System.Text.Json;
using System.Text.Json.Nodes;
using Midori.DevApiServer.Schema;

namespace Midori.DevApiServer.Storage;

/// <summary>
/// A CRD version's <c>subresources.scale</c>: where the custom resource keeps the replicas an autoscaler (or
/// <c>kubectl scale</c>) reads and writes as an <c>autoscaling/v1</c> Scale. Paths are the CRD's simple dotted form
/// (<c>.spec.replicas</c>).
/// </summary>
public sealed record ScaleSubresource(string SpecReplicasPath, string StatusReplicasPath, string? LabelSelectorPath)
{
    /// <summary>The autoscaling/v1 Scale: what discovery names as the subresource's kind and how 422 answers name it ("Scale.autoscaling").</summary>
    public static readonly ResourceType ScaleType = new()
    {
        Group = "autoscaling",
        Version = "v1",
        Plural = "scales",
        Kind = "Scale",
        Namespaced = true,
    };

    /// <summary>The scale subresource of a CRD version, or null when it has none.</summary>
    public static ScaleSubresource? FromCrdVersion(JsonObject version) =>
        version["subresources"]?["scale"] is JsonObject scale
            ? new ScaleSubresource(
                (string?)scale["specReplicasPath"] ?? ".spec.replicas",
                (string?)scale["statusReplicasPath"] ?? ".status.replicas",
                (string?)scale["labelSelectorPath"])
            : null;

    /// <summary>The Scale object the real server answers for a custom resource (replicas absent read as 0).</summary>
    public JsonObject ScaleOf(JsonObject resource)
    {
        var meta = ObjectMeta.Of(resource);
        var metadata = new JsonObject { ["name"] = meta["name"]?.DeepClone() };
        foreach (var field in new[] { "namespace", "uid", "resourceVersion", "creationTimestamp" })
        {
            if (meta[field] is { } value)
            {
                metadata[field] = value.DeepClone();
            }
        }

        // autoscaling/v1 ScaleSpec.replicas is omitempty; ScaleStatus.replicas is not.
        var spec = new JsonObject();
        if (Integer(Read(resource, SpecReplicasPath)) is { } wanted and not 0)
        {
            spec["replicas"] = wanted;
        }

        var status = new JsonObject { ["replicas"] = Integer(Read(resource, StatusReplicasPath)) ?? 0 };
        if (LabelSelectorPath is not null && Read(resource, LabelSelectorPath) is JsonValue selector && selector.TryGetValue<string>(out var text) && text.Length > 0)
        {
            status["selector"] = text;
        }

        return new JsonObject
        {
            ["kind"] = ScaleType.Kind,
            ["apiVersion"] = ScaleType.ApiVersion,
            ["metadata"] = metadata,
            ["spec"] = spec,
            ["status"] = status,
        };
    }

    /// <summary>The replicas a written Scale asks for: a non-integer is a 400, a negative number the Scale's own 422.</summary>
    public static long WantedReplicas(JsonObject scale, string name)
    {
        var node = scale["spec"]?["replicas"];
        if (node is null)
        {
            return 0;
        }

        var replicas = Integer(node) ?? throw StatusErrors.BadRequest($"Scale in version \"v1\" cannot be handled as a Scale: spec.replicas: expected an integer, got {node.ToJsonString()}");
        if (replicas < 0)
        {
            throw StatusErrors.Invalid(ScaleType, name, [FieldError.Invalid("spec.replicas", replicas.ToString(System.Globalization.CultureInfo.InvariantCulture), "must be greater than or equal to 0")]);
        }

        return replicas;
    }

    /// <summary>A copy of the custom resource with the spec replicas set (the intermediate objects created as needed).</summary>
    public JsonObject WithSpecReplicas(JsonObject resource, long replicas)
    {
        var updated = (JsonObject)resource.DeepClone();
        var segments = Segments(SpecReplicasPath);
        var node = updated;
        foreach (var segment in segments[..^1])
        {
            if (node[segment] is not JsonObject child)
            {
                child = new JsonObject();
                node[segment] = child;
            }

            node = child;
        }

        node[segments[^1]] = replicas;
        return updated;
    }

    private static JsonNode? Read(JsonObject resource, string path)
    {
        JsonNode? node = resource;
        foreach (var segment in Segments(path))
        {
            node = (node as JsonObject)?[segment];
        }

        return node;
    }

    private static string[] Segments(string path) => path.TrimStart('.').Split('.', StringSplitOptions.RemoveEmptyEntries);

    private static long? Integer(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.Number
            ? value.TryGetValue<long>(out var number) ? number : value.TryGetValue<int>(out var small) ? small : null
            : null;
}
