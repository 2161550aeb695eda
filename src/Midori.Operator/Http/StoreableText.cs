using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Midori.Operator.Http;

/// <summary>
/// Text the store (PostgreSQL <c>text</c> and <c>jsonb</c>) and every provider can hold: no NUL and no unpaired
/// UTF-16 surrogate. PostgreSQL refuses both, so letting them through would turn a caller's typo into a 500.
/// </summary>
public static class StoreableText
{
    /// <summary>Null when <paramref name="value"/> is fine, else why not (for a problem's detail).</summary>
    public static string? Problem(string? value)
    {
        if (value is null)
        {
            return null;
        }

        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '\0')
            {
                return $"contains a NUL character (U+0000) at index {i}";
            }

            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return $"contains an unpaired UTF-16 surrogate (U+{(int)c:X4}) at index {i}";
            }
        }

        return null;
    }
}

/// <summary>
/// Every JSON string the API reads goes through this converter, so a NUL or a lone surrogate in any field is a 400
/// naming the field (the exception handler reports <see cref="JsonException.Path"/>) before anything reaches a service.
/// </summary>
public sealed class StoreableStringConverter : JsonConverter<string>
{
    public override bool HandleNull => false;

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException($"expected a JSON string, found {Describe(reader.TokenType)}");
        }

        return Check(reader.GetString()!);
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);

    public override string ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => Check(reader.GetString()!);

    public override void WriteAsPropertyName(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WritePropertyName(value);

    private static string Check(string value) =>
        StoreableText.Problem(value) is { } problem ? throw new InvalidTextException($"the string {problem}") : value;

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        _ => token.ToString(),
    };
}

/// <summary>A JSON string the store could not hold; System.Text.Json fills in <see cref="JsonException.Path"/>.</summary>
public sealed class InvalidTextException(string message) : JsonException(message);

/// <summary>Invalid text in a route or query value (they are URL-decoded, so <c>%00</c> arrives as NUL).</summary>
public static class RequestText
{
    /// <summary>The first route or query value that is not storeable text, as (parameter, problem).</summary>
    public static (string Parameter, string Problem)? FindInvalid(HttpContext context)
    {
        foreach (var (key, value) in context.Request.RouteValues)
        {
            if (value is string text && StoreableText.Problem(text) is { } problem)
            {
                return (key, problem);
            }
        }

        foreach (var (key, values) in context.Request.Query)
        {
            if (StoreableText.Problem(key) is { } keyProblem)
            {
                return ("query parameter name", keyProblem);
            }

            foreach (var value in values)
            {
                if (StoreableText.Problem(value) is { } problem)
                {
                    return (key, problem);
                }
            }
        }

        return null;
    }

    internal static string Printable(string value)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var c in value)
        {
            builder.Append(c == '\0' || char.IsSurrogate(c) || char.IsControl(c) ? $"\\u{(int)c:X4}" : c);
        }

        return builder.ToString();
    }
}
