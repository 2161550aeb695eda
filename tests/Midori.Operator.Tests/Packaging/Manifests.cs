using System.Text.Json.Nodes;
using Midori.Operator.Testing;
using Midori.DevApiServer;

namespace Midori.Operator.Tests.Packaging;

/// <summary>Rendered manifests as JSON objects, with lookups by kind.</summary>
internal sealed class Manifests(IReadOnlyList<JsonObject> objects)
{
    public IReadOnlyList<JsonObject> Objects { get; } = objects;

    public static Manifests Parse(string yaml) => new([.. YamlToJson.ConvertDocuments(yaml)]);

    public static Manifests Load(params string[] relativePath) =>
        Parse(File.ReadAllText(Path.Combine([RepositoryPaths.Root, .. relativePath])));

    public IEnumerable<JsonObject> OfKind(string kind) => Objects.Where(o => (string?)o["kind"] == kind);

    public JsonObject Single(string kind) => Assert.Single(OfKind(kind));

    public JsonObject Single(string kind, string name) => Assert.Single(OfKind(kind), o => (string?)At(o, "metadata.name") == name);

    public IEnumerable<string> Kinds => Objects.Select(o => (string)o["kind"]!);

    public static JsonNode? At(JsonNode? node, string path)
    {
        foreach (var part in path.Split('.'))
        {
            node = node switch
            {
                JsonObject o => o[part],
                JsonArray a when int.TryParse(part, out var i) => i < a.Count ? a[i] : null,
                _ => null,
            };
        }

        return node;
    }
}
