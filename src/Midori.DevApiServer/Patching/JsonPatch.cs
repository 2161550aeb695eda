using System.Globalization;
using System.Text.Json.Nodes;

namespace Midori.DevApiServer.Patching;

/// <summary>A JSON Patch document that could not be applied; the API server answers it with a bare 422.</summary>
public sealed class JsonPatchException(string message) : Exception(message);

/// <summary>JSON Patch (RFC 6902): add, remove, replace, move, copy, test, applied in order to a copy of the document.</summary>
public static class JsonPatch
{
    public static JsonNode Apply(JsonNode document, JsonArray operations)
    {
        var root = new JsonObject { ["doc"] = document.DeepClone() };
        foreach (var operation in operations)
        {
            if (operation is not JsonObject op)
            {
                throw new JsonPatchException("patch operation must be an object");
            }

            var path = (string?)op["path"] ?? throw new JsonPatchException("operation is missing 'path'");
            switch ((string?)op["op"])
            {
                case "add":
                    Add(root, path, RequireValue(op));
                    break;
                case "remove":
                    Remove(root, path);
                    break;
                case "replace":
                    Remove(root, path);
                    Add(root, path, RequireValue(op));
                    break;
                case "move":
                    var moved = Remove(root, From(op));
                    Add(root, path, moved);
                    break;
                case "copy":
                    Add(root, path, Get(root, From(op))?.DeepClone());
                    break;
                case "test":
                    if (!JsonNode.DeepEquals(Get(root, path), RequireValue(op)))
                    {
                        throw new JsonPatchException($"testing value {path} failed");
                    }

                    break;
                default:
                    throw new JsonPatchException($"unexpected operation '{op["op"]}'");
            }
        }

        return root["doc"] ?? throw new JsonPatchException("patch removed the whole document");
    }

    private static JsonNode? RequireValue(JsonObject op)
        => op.TryGetPropertyValue("value", out var value) ? value?.DeepClone() : throw new JsonPatchException("operation is missing 'value'");

    private static string From(JsonObject op) => (string?)op["from"] ?? throw new JsonPatchException("operation is missing 'from'");

    // Tokens are relative to a wrapper object so that the empty pointer ("" = whole document) needs no special case.
    private static List<string> Tokens(string pointer)
    {
        if (pointer.Length > 0 && pointer[0] != '/')
        {
            throw new JsonPatchException($"invalid JSON pointer {pointer}");
        }

        var tokens = new List<string> { "doc" };
        if (pointer.Length > 0)
        {
            tokens.AddRange(pointer[1..].Split('/').Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)));
        }

        return tokens;
    }

    private static (JsonNode Parent, string Token) Resolve(JsonObject root, string pointer)
    {
        var tokens = Tokens(pointer);
        JsonNode parent = root;
        foreach (var token in tokens.Take(tokens.Count - 1))
        {
            parent = Child(parent, token) ?? throw new JsonPatchException($"path {pointer} does not exist");
        }

        return (parent, tokens[^1]);
    }

    private static JsonNode? Child(JsonNode parent, string token) => parent switch
    {
        JsonObject obj => obj.TryGetPropertyValue(token, out var v) ? v : throw new JsonPatchException($"missing key {token}"),
        JsonArray array => array[ArrayIndex(array, token, allowEnd: false)],
        _ => throw new JsonPatchException($"cannot traverse into a scalar at {token}"),
    };

    private static JsonNode? Get(JsonObject root, string pointer)
    {
        var (parent, token) = Resolve(root, pointer);
        return Child(parent, token);
    }

    private static void Add(JsonObject root, string pointer, JsonNode? value)
    {
        var (parent, token) = Resolve(root, pointer);
        switch (parent)
        {
            case JsonObject obj:
                obj.Remove(token);
                obj[token] = value;
                break;
            case JsonArray array:
                array.Insert(token == "-" ? array.Count : ArrayIndex(array, token, allowEnd: true), value);
                break;
            default:
                throw new JsonPatchException($"cannot add to a scalar at {pointer}");
        }
    }

    private static JsonNode? Remove(JsonObject root, string pointer)
    {
        var (parent, token) = Resolve(root, pointer);
        switch (parent)
        {
            case JsonObject obj:
                if (!obj.TryGetPropertyValue(token, out var value))
                {
                    throw new JsonPatchException($"unable to remove nonexistent key: {token}");
                }

                obj.Remove(token);
                return value;
            case JsonArray array:
                var index = ArrayIndex(array, token, allowEnd: false);
                var item = array[index];
                array.RemoveAt(index);
                return item;
            default:
                throw new JsonPatchException($"cannot remove from a scalar at {pointer}");
        }
    }

    private static int ArrayIndex(JsonArray array, string token, bool allowEnd)
    {
        if (!int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var index) || index > array.Count || (!allowEnd && index == array.Count))
        {
            throw new JsonPatchException($"invalid array index {token}");
        }

        return index;
    }
}
