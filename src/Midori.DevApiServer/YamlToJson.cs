using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Midori.DevApiServer;

/// <summary>
/// Converts YAML manifests to JSON with YAML 1.2 core-schema typing (plain 1800 is a number, "1800" a string), so CRD
/// schemas keep their exact shape (e.g. <c>default: {}</c>, which typed model round-trips would lose).
/// </summary>
public static class YamlToJson
{
    public static IReadOnlyList<JsonObject> ConvertDocuments(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        // Re-parse so every value is JSON-backed, exactly like objects that arrive over HTTP.
        return [.. stream.Documents.Select(d => Convert(d.RootNode)).OfType<JsonObject>().Select(o => JsonNode.Parse(o.ToJsonString())!.AsObject())];
    }

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(p => KeyValuePair.Create(((YamlScalarNode)p.Key).Value ?? string.Empty, Convert(p.Value)))),
        YamlSequenceNode seq => new JsonArray([.. seq.Children.Select(Convert)]),
        YamlScalarNode scalar => ConvertScalar(scalar),
        _ => throw new InvalidOperationException($"Unsupported YAML node {node.NodeType}"),
    };

    private static JsonNode? ConvertScalar(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? string.Empty;
        if (scalar.Style != ScalarStyle.Plain)
        {
            return JsonValue.Create(text);
        }

        if (text is "" or "~" or "null" or "Null" or "NULL")
        {
            return null;
        }

        if (text is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            return JsonValue.Create(bool.Parse(text));
        }

        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            return JsonValue.Create(integer);
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var real) && text.Any(char.IsAsciiDigit))
        {
            return JsonValue.Create(real);
        }

        return JsonValue.Create(text);
    }
}
