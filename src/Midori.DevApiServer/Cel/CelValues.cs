using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Midori.DevApiServer.Cel;

/// <summary>
/// CEL runtime values are plain CLR values: <see cref="long"/>, <see cref="ulong"/>, <see cref="double"/>, <see cref="string"/>,
/// <see cref="bool"/>, <c>null</c>, <see cref="IReadOnlyList{T}"/> of values and <see cref="IReadOnlyDictionary{TKey,TValue}"/> keyed by string.
/// </summary>
internal static class CelValues
{
    public static object? FromJson(JsonNode? node) => node switch
    {
        null => null,
        JsonObject obj => obj.ToDictionary(p => p.Key, p => FromJson(p.Value)),
        JsonArray array => array.Select(FromJson).ToList(),
        JsonValue value => FromJsonValue(value),
        _ => throw new CelException("unsupported JSON value"),
    };

    public static string TypeName(object? value) => value switch
    {
        null => "null_type",
        long => "int",
        ulong => "uint",
        double => "double",
        string => "string",
        bool => "bool",
        IReadOnlyList<object?> => "list",
        IReadOnlyDictionary<string, object?> => "map",
        _ => value.GetType().Name,
    };

    public static bool ValueEquals(object? left, object? right)
    {
        if (IsNumber(left) && IsNumber(right))
        {
            return CompareNumbers(left!, right!) == 0;
        }

        return (left, right) switch
        {
            (null, null) => true,
            (IReadOnlyList<object?> a, IReadOnlyList<object?> b) => a.Count == b.Count && a.Zip(b).All(p => ValueEquals(p.First, p.Second)),
            (IReadOnlyDictionary<string, object?> a, IReadOnlyDictionary<string, object?> b) =>
                a.Count == b.Count && a.All(p => b.TryGetValue(p.Key, out var v) && ValueEquals(p.Value, v)),
            _ => Equals(left, right),
        };
    }

    public static bool IsNumber(object? value) => value is long or ulong or double;

    public static int CompareNumbers(object left, object right) => (left, right) switch
    {
        (long a, long b) => a.CompareTo(b),
        (ulong a, ulong b) => a.CompareTo(b),
        (long a, ulong b) => a < 0 ? -1 : ((ulong)a).CompareTo(b),
        (ulong a, long b) => b < 0 ? 1 : a.CompareTo((ulong)b),
        _ => ToDouble(left).CompareTo(ToDouble(right)),
    };

    public static double ToDouble(object value) => value switch
    {
        long l => l,
        ulong u => u,
        double d => d,
        _ => throw new CelException($"no such overload: double({TypeName(value)})"),
    };

    private static object? FromJsonValue(JsonValue value) => value.GetValueKind() switch
    {
        JsonValueKind.String => value.GetValue<string>(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null => null,
        JsonValueKind.Number when long.TryParse(value.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => l,
        JsonValueKind.Number => double.Parse(value.ToJsonString(), CultureInfo.InvariantCulture),
        _ => throw new CelException("unsupported JSON value"),
    };
}
