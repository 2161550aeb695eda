using System.Collections.Concurrent;

namespace Midori.DevApiServer;

/// <summary>The resources the server serves: a fixed set of built-ins plus whatever applied CRDs register.</summary>
public sealed class ResourceRegistry
{
    public const string CrdGroup = "apiextensions.k8s.io";

    private readonly ConcurrentDictionary<(string Group, string Version, string Plural), ResourceType> _types = new();

    public ResourceRegistry()
    {
        Add(BuiltIn(string.Empty, "v1", "namespaces", "Namespace", namespaced: false, shortNames: ["ns"]));
        Add(BuiltIn(string.Empty, "v1", "secrets", "Secret"));
        Add(BuiltIn(string.Empty, "v1", "configmaps", "ConfigMap", shortNames: ["cm"]));
        Add(BuiltIn(string.Empty, "v1", "events", "Event", shortNames: ["ev"]));
        Add(BuiltIn("events.k8s.io", "v1", "events", "Event", shortNames: ["ev"]));
        Add(BuiltIn("coordination.k8s.io", "v1", "leases", "Lease"));
        Add(new ResourceType
        {
            Group = CrdGroup,
            Version = "v1",
            Plural = "customresourcedefinitions",
            Kind = "CustomResourceDefinition",
            Namespaced = false,
            TracksGeneration = true,
            HasStatusSubresource = true,
            ShortNames = ["crd", "crds"],
            Categories = ["api-extensions"],
        });
    }

    public ResourceType? Find(string group, string version, string plural)
        => _types.TryGetValue((group, version, plural), out var type) ? type : null;

    public IEnumerable<ResourceType> All => _types.Values;

    public void Add(ResourceType type) => _types[(type.Group, type.Version, type.Plural)] = type;

    public void Remove(ResourceType type) => _types.TryRemove((type.Group, type.Version, type.Plural), out _);

    private static ResourceType BuiltIn(string group, string version, string plural, string kind, bool namespaced = true, string[]? shortNames = null) => new()
    {
        Group = group,
        Version = version,
        Plural = plural,
        Kind = kind,
        Namespaced = namespaced,
        AllowUnconditionalUpdate = true,
        ShortNames = shortNames ?? [],
    };
}
