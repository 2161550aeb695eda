using System.Text.Json.Nodes;

namespace Midori.DevApiServer.Patching;

/// <summary>JSON Merge Patch (RFC 7386): objects merge recursively, <c>null</c> deletes, everything else replaces.</summary>
public static class MergePatch
{
    public static JsonNode? Apply(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target as JsonObject ?? [];
        foreach (var (name, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(name);
                continue;
            }

            var merged = Apply(result.TryGetPropertyValue(name, out var existing) ? existing : null, value);

            // Detach before re-adding: a JsonNode can only have one parent.
            result.Remove(name);
            result[name] = merged;
        }

        return result;
    }
}
