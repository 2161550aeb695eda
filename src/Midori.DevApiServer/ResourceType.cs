using Midori.DevApiServer.Schema;

namespace Midori.DevApiServer;

/// <summary>Which server-side behaviours a resource has; built-ins differ from custom resources in a few of them.</summary>
public sealed class ResourceType
{
    private readonly string? _listKind;

    public required string Group { get; init; }

    public required string Version { get; init; }

    public required string Plural { get; init; }

    public required string Kind { get; init; }

    /// <summary>Defaults to Kind + "List", as CRD defaulting does for <c>spec.names.listKind</c>.</summary>
    public string ListKind
    {
        get => _listKind ?? Kind + "List";
        init => _listKind = value;
    }

    public required bool Namespaced { get; init; }

    /// <summary>Structural schema of a custom resource version; null for built-ins (stored schemaless).</summary>
    public SchemaNode? Schema { get; init; }

    public bool IsCustomResource => Schema is not null;

    /// <summary>With a status subresource, writes to the main resource keep the old status and /status writes keep the old spec.</summary>
    public bool HasStatusSubresource { get; init; }

    /// <summary>A CRD version's scale subresource (<c>/scale</c> reads and writes its replicas as an autoscaling/v1 Scale); null: none.</summary>
    public Storage.ScaleSubresource? Scale { get; init; }

    /// <summary>Custom resources and CRDs carry <c>metadata.generation</c>; Secrets, Leases, Events... do not.</summary>
    public bool TracksGeneration { get; init; }

    /// <summary>Built-ins accept PUT without <c>metadata.resourceVersion</c>; custom resources reject it.</summary>
    public bool AllowUnconditionalUpdate { get; init; }

    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    /// <summary>"widgets.demo.example.com" / "secrets": how error messages name the resource.</summary>
    public string GroupResource => Group.Length == 0 ? Plural : $"{Plural}.{Group}";

    /// <summary>"Widget.demo.example.com" / "Secret": how 422 messages name the kind.</summary>
    public string QualifiedKind => Group.Length == 0 ? Kind : $"{Kind}.{Group}";

    /// <summary>Discovery: <c>singularName</c> (empty for built-ins, as the real server reports them).</summary>
    public string SingularName { get; init; } = string.Empty;

    /// <summary>Discovery: short names kubectl resolves (<c>psb</c>).</summary>
    public IReadOnlyList<string> ShortNames { get; init; } = [];

    /// <summary>Discovery: categories (<c>kubectl get midori</c>).</summary>
    public IReadOnlyList<string> Categories { get; init; } = [];

    /// <summary>A CRD version's <c>additionalPrinterColumns</c>, rendered into Table responses.</summary>
    public IReadOnlyList<PrinterColumn> PrinterColumns { get; init; } = [];

    /// <summary>A CRD version's openAPIV3Schema as written, served through <c>/openapi/v3</c> (for <c>kubectl explain</c>).</summary>
    public System.Text.Json.Nodes.JsonObject? OpenApiSchema { get; init; }

    /// <summary>Objects are stored once per group and resource, whichever version they were written through.</summary>
    public string StorageKey => $"{Group}/{Plural}";
}

/// <summary>One <c>additionalPrinterColumns</c> entry of a CRD version.</summary>
public sealed record PrinterColumn(string Name, string Type, string Format, string Description, int Priority, string JsonPath);
