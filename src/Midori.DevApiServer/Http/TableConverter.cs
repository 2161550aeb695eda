using System.Globalization;
using System.Text.Json.Nodes;
using Midori.DevApiServer.Storage;

namespace Midori.DevApiServer.Http;

/// <summary>
/// The server-side printing kubectl asks for with <c>Accept: application/json;as=Table;v=v1;g=meta.k8s.io</c>: a Name column plus a
/// CRD's <c>additionalPrinterColumns</c> (or the built-in printer for Events, Name/Age for other built-ins). Cells are rendered
/// here, as by the real server: missing values are null, dates become ages, a future date is <c>&lt;invalid&gt;</c>.
/// </summary>
public static class TableConverter
{
    private const string NameDescription = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: http://kubernetes.io/docs/user-guide/identifiers#names";

    public static bool Wants(string? accept) => accept is not null && accept.Contains("as=Table", StringComparison.Ordinal);

    public static JsonObject Render(ResourceType type, IEnumerable<JsonObject> objects, string resourceVersion, DateTimeOffset now, bool withColumns = true)
    {
        var rows = new JsonArray();
        foreach (var obj in objects)
        {
            rows.Add(new JsonObject
            {
                ["cells"] = new JsonArray([.. Cells(type, obj, now)]),
                ["object"] = new JsonObject
                {
                    ["kind"] = "PartialObjectMetadata",
                    ["apiVersion"] = "meta.k8s.io/v1",
                    ["metadata"] = JsonOrdering.Canonicalize((JsonObject)ObjectMeta.Of((JsonObject)obj.DeepClone()).DeepClone()),
                },
            });
        }

        return new JsonObject
        {
            ["kind"] = "Table",
            ["apiVersion"] = "meta.k8s.io/v1",
            ["metadata"] = new JsonObject { ["resourceVersion"] = resourceVersion },
            ["columnDefinitions"] = withColumns ? Columns(type) : null,
            ["rows"] = rows,
        };
    }

    private static JsonArray Columns(ResourceType type)
    {
        if (IsEvent(type))
        {
            return new JsonArray(
                Column("Last Seen", "string", "", "The time at which the most recent occurrence of this event was recorded.", 0),
                Column("Type", "string", "", "Type of this event (Normal, Warning), new types could be added in the future", 0),
                Column("Reason", "string", "", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.", 0),
                Column("Object", "string", "", "The object that this event is about.", 0),
                Column("Subobject", "string", "", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.", 1),
                Column("Source", "string", "", "The component reporting this event. Should be a short machine understandable string.", 1),
                Column("Message", "string", "", "A human-readable description of the status of this operation.", 0),
                Column("First Seen", "string", "", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)", 1),
                Column("Count", "string", "", "The number of times this event has occurred.", 1),
                Column("Name", "string", "name", NameDescription, 1));
        }

        var columns = new JsonArray(Column("Name", "string", "name", NameDescription, 0));
        if (type.IsCustomResource)
        {
            foreach (var column in type.PrinterColumns)
            {
                columns.Add(Column(column.Name, column.Type, column.Format, column.Description, column.Priority));
            }

            // A CRD without printer columns gets an Age column, as on the real server.
            if (type.PrinterColumns.Count == 0)
            {
                columns.Add(Column("Age", "date", "", "Custom resource definition column (in JSONPath format): .metadata.creationTimestamp", 0));
            }
        }
        else
        {
            columns.Add(Column("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0));
        }

        return columns;
    }

    private static JsonObject Column(string name, string type, string format, string description, int priority) => new()
    {
        ["name"] = name,
        ["type"] = type,
        ["format"] = format,
        ["description"] = description,
        ["priority"] = priority,
    };

    private static IEnumerable<JsonNode?> Cells(ResourceType type, JsonObject obj, DateTimeOffset now)
    {
        var name = ObjectMeta.Name(obj);
        if (IsEvent(type))
        {
            var involved = obj["involvedObject"] as JsonObject;
            var first = (string?)obj["firstTimestamp"] ?? (string?)obj["eventTime"] ?? (string?)obj["metadata"]?["creationTimestamp"];
            var last = (string?)obj["lastTimestamp"] ?? (string?)obj["series"]?["lastObservedTime"] ?? first;
            var component = (string?)obj["source"]?["component"] is { Length: > 0 } c ? c : (string?)obj["reportingComponent"] ?? string.Empty;
            var host = (string?)obj["source"]?["host"] is { Length: > 0 } h ? h : (string?)obj["reportingInstance"] ?? string.Empty;
            return
            [
                Age(last, now),
                (string?)obj["type"] ?? string.Empty,
                (string?)obj["reason"] ?? string.Empty,
                $"{((string?)involved?["kind"] ?? string.Empty).ToLowerInvariant()}/{(string?)involved?["name"]}",
                (string?)involved?["fieldPath"] ?? string.Empty,
                host.Length > 0 ? $"{component}, {host}" : component,
                (string?)obj["message"] ?? string.Empty,
                Age(first, now),
                (long?)obj["count"] ?? 1,
                name,
            ];
        }

        if (!type.IsCustomResource || type.PrinterColumns.Count == 0)
        {
            return [name, Age((string?)obj["metadata"]?["creationTimestamp"], now)];
        }

        var cells = new List<JsonNode?> { name };
        foreach (var column in type.PrinterColumns)
        {
            var value = SimpleJsonPath.First(obj, column.JsonPath);
            cells.Add(value is null ? null : column.Type switch
            {
                "date" => Age((string?)value, now),
                "integer" or "number" or "boolean" => value.DeepClone(),
                _ => value is JsonValue v && v.TryGetValue<string>(out var s) ? s : value.ToJsonString(),
            });
        }

        return cells;
    }

    private static bool IsEvent(ResourceType type) => type.Kind == "Event" && !type.IsCustomResource;

    private static string? Age(string? timestamp, DateTimeOffset now)
        => timestamp is not null && DateTimeOffset.TryParse(timestamp, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? HumanDuration(now - at)
            : null;

    /// <summary>apimachinery's <c>duration.HumanDuration</c>: "28s", "5m3s", "3h", "2d5h", "<invalid>" for the future.</summary>
    public static string HumanDuration(TimeSpan d)
    {
        var seconds = (long)Math.Floor(d.TotalSeconds);
        if (seconds < -1)
        {
            return "<invalid>";
        }

        if (seconds < 0)
        {
            return "0s";
        }

        if (seconds < 60 * 2)
        {
            return $"{seconds}s";
        }

        var minutes = seconds / 60;
        if (minutes < 10)
        {
            var s = seconds % 60;
            return s == 0 ? $"{minutes}m" : $"{minutes}m{s}s";
        }

        if (minutes < 60 * 3)
        {
            return $"{minutes}m";
        }

        var hours = minutes / 60;
        if (hours < 8)
        {
            var m = minutes % 60;
            return m == 0 ? $"{hours}h" : $"{hours}h{m}m";
        }

        if (hours < 48)
        {
            return $"{hours}h";
        }

        if (hours < 24 * 8)
        {
            var h = hours % 24;
            return h == 0 ? $"{hours / 24}d" : $"{hours / 24}d{h}h";
        }

        if (hours < 24 * 365 * 2)
        {
            return $"{hours / 24}d";
        }

        if (hours < 24 * 365 * 8)
        {
            var dy = (hours / 24) % 365;
            return dy == 0 ? $"{hours / 24 / 365}y" : $"{hours / 24 / 365}y{dy}d";
        }

        return $"{hours / 24 / 365}y";
    }
}

/// <summary>
/// The JSONPath subset printer columns use: <c>.a.b</c>, <c>[n]</c>, <c>['key']</c> and filters
/// <c>[?(@.field=="value")]</c>; the first match, as the CRD table convertor takes.
/// </summary>
public static class SimpleJsonPath
{
    public static JsonNode? First(JsonNode? root, string path)
    {
        IEnumerable<JsonNode?> current = [root];
        var text = path.Trim().TrimStart('{').TrimEnd('}');
        var i = 0;
        while (i < text.Length)
        {
            if (text[i] == '.')
            {
                var end = i + 1;
                while (end < text.Length && text[end] != '.' && text[end] != '[')
                {
                    end++;
                }

                var field = text[(i + 1)..end];
                current = field.Length == 0 ? current : current.Select(n => (n as JsonObject)?[field]);
                i = end;
            }
            else if (text[i] == '[')
            {
                var end = text.IndexOf(']', i);
                if (end < 0)
                {
                    return null;
                }

                var inner = text[(i + 1)..end];
                if (inner.StartsWith("?(", StringComparison.Ordinal))
                {
                    // The filter may itself contain ']' inside quotes: find the closing ")]".
                    end = text.IndexOf(")]", i, StringComparison.Ordinal);
                    inner = text[(i + 3)..end];
                    var parts = inner.Split("==", 2);
                    var left = parts[0].Trim().TrimStart('@');
                    var expected = parts.Length > 1 ? parts[1].Trim().Trim('"', '\'') : null;
                    current = current.SelectMany(n => n as JsonArray ?? []).Where(item =>
                    {
                        var value = First(item, left);
                        return expected is null ? value is not null : value is JsonValue v && v.ToString() == expected;
                    }).ToList();
                    i = end + 2;
                    continue;
                }

                if (inner == "*")
                {
                    current = current.SelectMany(n => n as JsonArray ?? []);
                }
                else if (int.TryParse(inner, NumberStyles.Integer, CultureInfo.InvariantCulture, out var index))
                {
                    current = current.Select(n => n is JsonArray a && index >= 0 && index < a.Count ? a[index] : null);
                }
                else
                {
                    var key = inner.Trim('\'', '"');
                    current = current.Select(n => (n as JsonObject)?[key]);
                }

                i = end + 1;
            }
            else
            {
                return null;
            }
        }

        return current.FirstOrDefault(n => n is not null);
    }
}
