using System.Text.Json;
using System.Text.Json.Nodes;

namespace Midori.DevApiServer.Storage;

/// <summary>
/// A set of field paths in the <c>FieldsV1</c> shape managedFields use: each node is one path element (<c>f:name</c>, a list
/// item <c>k:{"key":value}</c>, a set value <c>v:value</c>), <see cref="Member"/> says the path itself is in the set (written
/// as <c>".": {}</c> when the node also has children, as <c>{}</c> when it is a leaf).
/// </summary>
public sealed class FieldSet
{
    private readonly SortedDictionary<string, FieldSet> _children = new(StringComparer.Ordinal);

    public bool Member { get; set; }

    public IReadOnlyDictionary<string, FieldSet> Children => _children;

    public bool IsEmpty => !Member && _children.Count == 0;

    public FieldSet Child(string element)
    {
        if (!_children.TryGetValue(element, out var child))
        {
            _children[element] = child = new FieldSet();
        }

        return child;
    }

    public FieldSet? Find(string element) => _children.GetValueOrDefault(element);

    public void Remove(string element) => _children.Remove(element);

    public static FieldSet FromFieldsV1(JsonObject? fields)
    {
        var set = new FieldSet();
        foreach (var (element, value) in fields ?? [])
        {
            if (element == ".")
            {
                set.Member = true;
                continue;
            }

            var child = FromFieldsV1(value as JsonObject);
            if (child._children.Count == 0)
            {
                child.Member = true;
            }

            set._children[element] = child;
        }

        return set;
    }

    public JsonObject ToFieldsV1()
    {
        var json = new JsonObject();
        if (Member && _children.Count > 0)
        {
            json["."] = new JsonObject();
        }

        foreach (var (element, child) in _children)
        {
            json[element] = child.ToFieldsV1();
        }

        return json;
    }

    public FieldSet Clone() => Union(new FieldSet());

    public FieldSet Union(FieldSet other)
    {
        var result = new FieldSet { Member = Member || other.Member };
        foreach (var element in _children.Keys.Union(other._children.Keys))
        {
            var (mine, theirs) = (Find(element), other.Find(element));
            result._children[element] = mine is null ? theirs!.Clone() : theirs is null ? mine.Clone() : mine.Union(theirs);
        }

        return result;
    }

    public FieldSet Difference(FieldSet other)
    {
        var result = new FieldSet { Member = Member && !other.Member };
        foreach (var (element, child) in _children)
        {
            var rest = other.Find(element) is { } theirs ? child.Difference(theirs) : child.Clone();
            if (!rest.IsEmpty)
            {
                result._children[element] = rest;
            }
        }

        return result;
    }

    public FieldSet Intersection(FieldSet other)
    {
        var result = new FieldSet { Member = Member && other.Member };
        foreach (var (element, child) in _children)
        {
            if (other.Find(element) is { } theirs && child.Intersection(theirs) is { IsEmpty: false } both)
            {
                result._children[element] = both;
            }
        }

        return result;
    }

    /// <summary>Every member path, in the real server's notation (<c>.spec.source.inline[path="index.html"].content</c>).</summary>
    public IEnumerable<string> MemberPaths(string prefix = "")
    {
        if (Member && prefix.Length > 0)
        {
            yield return prefix;
        }

        foreach (var (element, child) in _children)
        {
            foreach (var path in child.MemberPaths(prefix + Describe(element)))
            {
                yield return path;
            }
        }
    }

    public static string FieldElement(string name) => "f:" + name;

    /// <summary>A list-map item's element: its key fields in key order, as compact JSON.</summary>
    public static string KeyElement(JsonObject item, IReadOnlyList<string> keys)
        => "k:" + new JsonObject(keys.OrderBy(k => k, StringComparer.Ordinal).Select(k => KeyValuePair.Create(k, item[k]?.DeepClone()))).ToJsonString();

    public static string ValueElement(JsonNode? value) => "v:" + (value?.ToJsonString() ?? "null");

    private static string Describe(string element)
    {
        var body = element[2..];
        switch (element[0])
        {
            case 'f':
                return "." + body;
            case 'k':
                var key = JsonNode.Parse(body) as JsonObject ?? [];
                return "[" + string.Join(',', key.Select(p => $"{p.Key}={Scalar(p.Value)}")) + "]";
            case 'v':
                return $"[={Scalar(JsonNode.Parse(body))}]";
            default:
                return $"[{body}]";
        }
    }

    // Go's value.ToString: strings quoted, everything else as JSON.
    private static string Scalar(JsonNode? value)
        => value is JsonValue v && v.GetValueKind() == JsonValueKind.String ? JsonSerializer.Serialize((string)v!) : value?.ToJsonString() ?? "null";
}
