using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Midori.DevApiServer.Schema;

/// <summary>
/// One entry of a 422 <c>details.causes[]</c>, worded like k8s.io/apimachinery's <c>field.Error</c>:
/// <see cref="Message"/> is the error body (e.g. <c>Invalid value: "object": size must be &lt;= 10</c>).
/// </summary>
public sealed record FieldError(string Reason, string Field, string Message)
{
    /// <summary>Field path of root-level errors, printed by Go as a nil path.</summary>
    public const string NilField = "<nil>";

    public const string RequiredReason = "FieldValueRequired";
    public const string InvalidReason = "FieldValueInvalid";
    public const string NotSupportedReason = "FieldValueNotSupported";
    public const string TooLongReason = "FieldValueTooLong";
    public const string TooManyReason = "FieldValueTooMany";
    public const string DuplicateReason = "FieldValueDuplicate";
    public const string TypeInvalidReason = "FieldValueTypeInvalid";
    public const string ForbiddenReason = "FieldValueForbidden";

    /// <summary>Errors that make the API server skip CEL rules (they would only produce noise on a malformed object).</summary>
    public bool BlocksCelValidation => Reason is RequiredReason or TypeInvalidReason or NotSupportedReason or TooLongReason or TooManyReason;

    public static FieldError Required(string field) => new(RequiredReason, PathOrNil(field), "Required value");

    public static FieldError Invalid(string field, string formattedValue, string detail)
        => new(InvalidReason, PathOrNil(field), $"Invalid value: {formattedValue}: {detail}");

    public static FieldError TypeInvalid(string field, string formattedValue, string detail)
        => new(TypeInvalidReason, PathOrNil(field), $"Invalid value: {formattedValue}: {detail}");

    public static FieldError NotSupported(string field, JsonNode? value, IEnumerable<string> supported)
        => new(NotSupportedReason, PathOrNil(field), $"Unsupported value: {FormatValue(value)}: supported values: {string.Join(", ", supported.Select(Quote))}");

    public static FieldError TooLong(string field, long max) => new(TooLongReason, PathOrNil(field), $"Too long: may not be longer than {max}");

    public static FieldError TooMany(string field, int actual, long max) => new(TooManyReason, PathOrNil(field), $"Too many: {actual}: must have at most {max} items");

    public static FieldError Duplicate(string field, string formattedValue) => new(DuplicateReason, PathOrNil(field), $"Duplicate value: {formattedValue}");

    public static FieldError Forbidden(string field, string detail) => new(ForbiddenReason, PathOrNil(field), $"Forbidden: {detail}");

    /// <summary>Formats a JSON value the way Go's field errors print unstructured values (%q strings, %v scalars, %#v maps).</summary>
    public static string FormatValue(JsonNode? value) => value switch
    {
        null => "\"null\"",
        JsonValue v when v.TryGetValue<string>(out var s) => Quote(s),
        JsonValue v => v.ToJsonString(),
        JsonObject o => "map[string]interface {}{" + string.Join(", ", o.Select(p => $"{Quote(p.Key)}:{GoLiteral(p.Value)}")) + "}",
        JsonArray a => "[]interface {}{" + string.Join(", ", a.Select(GoLiteral)) + "}",
        _ => value.ToJsonString(),
    };

    /// <summary>Go's %q for ASCII-ish strings: backslash-escapes quotes, backslashes and control characters.</summary>
    public static string Quote(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in s)
        {
            sb.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\t' => "\\t",
                '\r' => "\\r",
                < ' ' => $"\\x{(int)c:x2}",
                _ => c.ToString(),
            });
        }

        return sb.Append('"').ToString();
    }

    private static string GoLiteral(JsonNode? value) => value switch
    {
        null => "interface {}(nil)",
        JsonValue v when v.TryGetValue<string>(out var s) => Quote(s),
        JsonValue v when v.TryGetValue<long>(out var l) => "int64(" + l.ToString(CultureInfo.InvariantCulture) + ")",
        _ => FormatValue(value),
    };

    private static string PathOrNil(string path) => path.Length == 0 ? NilField : path;
}
