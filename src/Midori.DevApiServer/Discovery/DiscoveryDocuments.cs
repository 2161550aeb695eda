using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Midori.DevApiServer.Storage;

namespace Midori.DevApiServer.Discovery;

/// <summary>
/// <c>/version</c>, <c>/api</c>, <c>/apis</c> and the group-version resource lists, built from what the registry serves at the
/// moment of the request (so a CRD's group appears as soon as it is created). Only served groups are listed: kubectl
/// fetches every listed group version.
/// </summary>
public static class DiscoveryDocuments
{
    /// <summary>The Kubernetes version reported: the recorded server's, so kubectl (and the gcloud dispatcher) behave as recorded.</summary>
    public static JsonObject Version() => new()
    {
        ["major"] = "1",
        ["minor"] = "26",
        ["gitVersion"] = "v1.26.0",
        ["gitCommit"] = "midori-dev-api-server",
        ["gitTreeState"] = "clean",
        ["buildDate"] = "2026-12-01T00:00:00Z",
        ["goVersion"] = "go1.19.8",
        ["compiler"] = "gc",
        ["platform"] = "linux/amd64",
    };

    public static JsonObject ApiVersions(string serverAddress) => new()
    {
        ["kind"] = "APIVersions",
        ["versions"] = new JsonArray("v1"),
        ["serverAddressByClientCIDRs"] = new JsonArray(new JsonObject { ["clientCIDR"] = "0.0.0.0/0", ["serverAddress"] = serverAddress }),
    };

    public static JsonObject ApiGroupList(ResourceRegistry registry)
    {
        var groups = new JsonArray();
        foreach (var group in Groups(registry).Where(g => g.Key.Length > 0))
        {
            var versions = group.Select(v => (JsonNode)new JsonObject { ["groupVersion"] = $"{group.Key}/{v}", ["version"] = v }).ToArray();
            groups.Add(new JsonObject
            {
                ["name"] = group.Key,
                ["versions"] = new JsonArray(versions),
                ["preferredVersion"] = versions[0].DeepClone(),
            });
        }

        return new JsonObject { ["kind"] = "APIGroupList", ["apiVersion"] = "v1", ["groups"] = groups };
    }

    /// <summary>The APIResourceList of one group version, or null when nothing is served there.</summary>
    public static JsonObject? ResourceList(ResourceRegistry registry, string group, string version)
    {
        var types = Served(registry).Where(t => t.Group == group && t.Version == version).ToList();
        if (types.Count == 0)
        {
            return null;
        }

        var resources = new JsonArray();
        foreach (var type in types)
        {
            var entry = new JsonObject
            {
                ["name"] = type.Plural,
                ["singularName"] = type.SingularName,
                ["namespaced"] = type.Namespaced,
                ["kind"] = type.Kind,
                ["verbs"] = Verbs(type),
            };
            if (type.ShortNames.Count > 0)
            {
                entry["shortNames"] = Strings(type.ShortNames);
            }

            if (type.Categories.Count > 0)
            {
                entry["categories"] = Strings(type.Categories);
            }

            entry["storageVersionHash"] = StorageVersionHash(type);
            resources.Add(entry);
            if (type.HasStatusSubresource)
            {
                resources.Add(new JsonObject
                {
                    ["name"] = $"{type.Plural}/status",
                    ["singularName"] = string.Empty,
                    ["namespaced"] = type.Namespaced,
                    ["kind"] = type.Kind,
                    ["verbs"] = new JsonArray("get", "patch", "update"),
                });
            }

            if (type.Scale is not null)
            {
                // The scale subresource answers in autoscaling/v1, which kubectl scale learns from this entry.
                resources.Add(new JsonObject
                {
                    ["name"] = $"{type.Plural}/scale",
                    ["singularName"] = string.Empty,
                    ["namespaced"] = type.Namespaced,
                    ["group"] = ScaleSubresource.ScaleType.Group,
                    ["version"] = ScaleSubresource.ScaleType.Version,
                    ["kind"] = ScaleSubresource.ScaleType.Kind,
                    ["verbs"] = new JsonArray("get", "patch", "update"),
                });
            }
        }

        return new JsonObject
        {
            ["kind"] = "APIResourceList",
            ["apiVersion"] = "v1",
            ["groupVersion"] = group.Length == 0 ? version : $"{group}/{version}",
            ["resources"] = resources,
        };
    }

    /// <summary>
    /// Aggregated discovery (<c>apidiscovery.k8s.io</c> v2 or v2beta1, same shape): <c>/api</c> lists the core group,
    /// <c>/apis</c> every other group, each with all its resources, so kubectl needs two requests instead of one per group version.
    /// </summary>
    public static JsonObject Aggregated(ResourceRegistry registry, bool legacyCore, string discoveryVersion)
    {
        var items = new JsonArray();
        foreach (var group in Groups(registry).Where(g => (g.Key.Length == 0) == legacyCore))
        {
            var metadata = new JsonObject();
            if (group.Key.Length > 0)
            {
                metadata["name"] = group.Key;
            }

            metadata["creationTimestamp"] = null;
            var versions = new JsonArray();
            foreach (var version in group)
            {
                var resources = new JsonArray();
                foreach (var type in Served(registry).Where(t => t.Group == group.Key && t.Version == version))
                {
                    // Built-ins answer with group and version left empty (meaning: the group version asked for), custom resources name theirs.
                    var responseKind = type.IsCustomResource
                        ? new JsonObject { ["group"] = type.Group, ["version"] = type.Version, ["kind"] = type.Kind }
                        : new JsonObject { ["group"] = string.Empty, ["version"] = string.Empty, ["kind"] = type.Kind };
                    var entry = new JsonObject
                    {
                        ["resource"] = type.Plural,
                        ["responseKind"] = responseKind,
                        ["scope"] = type.Namespaced ? "Namespaced" : "Cluster",
                        ["singularResource"] = type.SingularName,
                        ["verbs"] = Verbs(type),
                    };
                    if (type.ShortNames.Count > 0)
                    {
                        entry["shortNames"] = Strings(type.ShortNames);
                    }

                    if (type.Categories.Count > 0)
                    {
                        entry["categories"] = Strings(type.Categories);
                    }

                    var subresources = new JsonArray();
                    if (type.HasStatusSubresource)
                    {
                        subresources.Add(new JsonObject
                        {
                            ["subresource"] = "status",
                            ["responseKind"] = responseKind.DeepClone(),
                            ["verbs"] = new JsonArray("get", "patch", "update"),
                        });
                    }

                    if (type.Scale is not null)
                    {
                        subresources.Add(new JsonObject
                        {
                            ["subresource"] = "scale",
                            ["responseKind"] = new JsonObject { ["group"] = ScaleSubresource.ScaleType.Group, ["version"] = ScaleSubresource.ScaleType.Version, ["kind"] = ScaleSubresource.ScaleType.Kind },
                            ["verbs"] = new JsonArray("get", "patch", "update"),
                        });
                    }

                    if (subresources.Count > 0)
                    {
                        entry["subresources"] = subresources;
                    }

                    resources.Add(entry);
                }

                versions.Add(new JsonObject { ["version"] = version, ["resources"] = resources });
            }

            items.Add(new JsonObject { ["metadata"] = metadata, ["versions"] = versions });
        }

        return new JsonObject
        {
            ["kind"] = "APIGroupDiscoveryList",
            ["apiVersion"] = $"apidiscovery.k8s.io/{discoveryVersion}",
            ["metadata"] = new JsonObject(),
            ["items"] = items,
        };
    }

    private static IEnumerable<ResourceType> Served(ResourceRegistry registry)
        => registry.All.OrderBy(t => t.Group, StringComparer.Ordinal).ThenBy(t => t.Version, StringComparer.Ordinal).ThenBy(t => t.Plural, StringComparer.Ordinal);

    // Versions newest first (v1 before v1beta1, v1alpha1 before nothing), as preferredVersion is the first.
    private static IEnumerable<IGrouping<string, string>> Groups(ResourceRegistry registry)
        => Served(registry).Select(t => (t.Group, t.Version)).Distinct()
            .OrderBy(p => p.Group, StringComparer.Ordinal)
            .ThenBy(p => VersionPriority(p.Version))
            .GroupBy(p => p.Group, p => p.Version);

    private static int VersionPriority(string version)
    {
        var stable = System.Text.RegularExpressions.Regex.Match(version, @"^v(\d+)(alpha|beta)?(\d*)$");
        if (!stable.Success)
        {
            return int.MaxValue;
        }

        var major = int.Parse(stable.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var stage = stable.Groups[2].Value switch { "" => 0, "beta" => 1, _ => 2 };
        var minor = stable.Groups[3].Value.Length > 0 ? int.Parse(stable.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        return (stage * 1000 * 1000) - (major * 1000) - minor;
    }

    private static JsonArray Verbs(ResourceType type)
        => type.IsCustomResource
            ? new JsonArray("delete", "deletecollection", "get", "list", "patch", "create", "update", "watch")
            : type is { Group: "", Plural: "namespaces" }
                ? new JsonArray("create", "delete", "get", "list", "patch", "update", "watch")
                : new JsonArray("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch");

    private static JsonArray Strings(IEnumerable<string> values) => new([.. values.Select(v => (JsonNode)v)]);

    // The real server hashes the storage version; any stable value serves clients (it only detects storage changes).
    private static string StorageVersionHash(ResourceType type)
        => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes($"{type.Group}/{type.Version}/{type.Kind}"))[..8]);
}
