using System.Globalization;
using System.Text.Json.Nodes;

namespace Midori.DevApiServer.Storage;

/// <summary>Small accessors for <c>metadata</c> on untyped objects.</summary>
public static class ObjectMeta
{
    public static JsonObject Of(JsonObject obj)
    {
        if (obj["metadata"] is JsonObject meta)
        {
            return meta;
        }

        meta = [];
        obj["metadata"] = meta;
        return meta;
    }

    public static string? Name(JsonObject obj) => (string?)obj["metadata"]?["name"];

    public static string? Namespace(JsonObject obj) => (string?)obj["metadata"]?["namespace"];

    public static string? Uid(JsonObject obj) => (string?)obj["metadata"]?["uid"];

    public static string? ResourceVersion(JsonObject obj) => (string?)obj["metadata"]?["resourceVersion"];

    public static long Generation(JsonObject obj)
        => obj["metadata"]?["generation"] is JsonValue value ? long.Parse(value.ToJsonString(), CultureInfo.InvariantCulture) : 0;

    public static bool IsBeingDeleted(JsonObject obj) => obj["metadata"]?["deletionTimestamp"] is not null;

    public static IReadOnlyList<string> Finalizers(JsonObject obj)
        => obj["metadata"]?["finalizers"] is JsonArray f ? [.. f.Select(x => (string?)x ?? string.Empty)] : [];

    public static IReadOnlyDictionary<string, string> Labels(JsonObject obj)
        => obj["metadata"]?["labels"] is JsonObject labels
            ? labels.ToDictionary(p => p.Key, p => (string?)p.Value ?? string.Empty, StringComparer.Ordinal)
            : new Dictionary<string, string>();

    public static IEnumerable<string> OwnerUids(JsonObject obj)
        => obj["metadata"]?["ownerReferences"] is JsonArray refs ? refs.Select(r => (string?)r?["uid"]).OfType<string>() : [];

    /// <summary>RFC 3339 with second precision, like metav1.Time.</summary>
    public static string FormatTime(DateTimeOffset time)
        => time.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'Z'", CultureInfo.InvariantCulture);
}
