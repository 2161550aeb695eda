using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Midori.DevApiServer.Discovery;

namespace Midori.DevApiServer.Http;

/// <summary>
/// The non-resource paths kubectl needs: <c>/version</c>, discovery (legacy and aggregated, chosen by the Accept header as the
/// real server does), <c>/openapi/v3</c> and health. <c>/openapi/v2</c> is a 404: kubectl tolerates it when v3 is served.
/// </summary>
public static class DiscoveryRoutes
{
    private static readonly DateTimeOffset Started = DateTimeOffset.FromUnixTimeSeconds(1_764_547_200);

    public static bool IsPublic(string path) => path is "/version" or "/healthz" or "/livez" or "/readyz";

    public static async Task<bool> TryServeAsync(HttpContext context, ResourceRegistry registry, DevKubeApiServerOptions options)
    {
        var request = context.Request;
        if (request.Method != HttpMethods.Get)
        {
            return false;
        }

        var path = (request.Path.Value ?? "/").TrimEnd('/');
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var accept = request.Headers.Accept.ToString();
        switch (segments)
        {
            case ["version"]:
                await Routes.WriteJsonAsync(context, 200, DiscoveryDocuments.Version(), []);
                return true;
            case ["healthz" or "livez" or "readyz"]:
                context.Response.ContentType = "text/plain; charset=utf-8";
                await context.Response.WriteAsync("ok", context.RequestAborted);
                return true;
            case ["api"] or ["apis"]:
                var core = segments[0] == "api";
                if (AggregatedVersion(accept, options) is { } discoveryVersion)
                {
                    context.Response.Headers.Vary = "Accept";
                    await WriteAsync(context, DiscoveryDocuments.Aggregated(registry, core, discoveryVersion),
                        $"application/json;g=apidiscovery.k8s.io;v={discoveryVersion};as=APIGroupDiscoveryList");
                    return true;
                }

                var serverAddress = $"{request.Host.Host}:{request.Host.Port ?? (request.IsHttps ? 443 : 80)}";
                await Routes.WriteJsonAsync(context, 200, core ? DiscoveryDocuments.ApiVersions(serverAddress) : DiscoveryDocuments.ApiGroupList(registry), []);
                return true;
            case ["api", var coreVersion]:
                return await WriteResourceListAsync(context, DiscoveryDocuments.ResourceList(registry, string.Empty, coreVersion));
            case ["apis", var group]:
                var groups = (JsonArray)DiscoveryDocuments.ApiGroupList(registry)["groups"]!;
                if (groups.FirstOrDefault(g => (string?)g!["name"] == group) is not { } found)
                {
                    return false;
                }

                var apiGroup = (JsonObject)found.DeepClone();
                apiGroup["kind"] = "APIGroup";
                apiGroup["apiVersion"] = "v1";
                await Routes.WriteJsonAsync(context, 200, apiGroup, []);
                return true;
            case ["apis", var group, var version]:
                return await WriteResourceListAsync(context, DiscoveryDocuments.ResourceList(registry, group, version));
            case ["openapi", "v3"]:
                context.Response.Headers.CacheControl = "no-cache, private";
                context.Response.Headers.LastModified = Started.ToString("R", CultureInfo.InvariantCulture);
                await WriteAsync(context, OpenApiDocuments.Index(registry), "application/json");
                return true;
            case ["openapi", "v3", "api", var coreVersion]:
                return await WriteOpenApiAsync(context, OpenApiDocuments.Document(registry, string.Empty, coreVersion));
            case ["openapi", "v3", "apis", var group, var version]:
                return await WriteOpenApiAsync(context, OpenApiDocuments.Document(registry, group, version));
            default:
                return false;
        }
    }

    /// <summary>Which aggregated discovery version the client accepts first, among those this server is configured to answer.</summary>
    internal static string? AggregatedVersion(string accept, DevKubeApiServerOptions options)
    {
        foreach (var part in accept.Split(','))
        {
            var parameters = part.Split(';').Select(p => p.Trim()).ToList();
            if (!parameters.Contains("as=APIGroupDiscoveryList") || !parameters.Contains("g=apidiscovery.k8s.io"))
            {
                continue;
            }

            var version = parameters.FirstOrDefault(p => p.StartsWith("v=", StringComparison.Ordinal))?[2..];
            if (version is not null && options.AggregatedDiscoveryVersions.Contains(version))
            {
                return version;
            }
        }

        return null;
    }

    private static async Task<bool> WriteResourceListAsync(HttpContext context, JsonObject? list)
    {
        if (list is null)
        {
            return false;
        }

        await Routes.WriteJsonAsync(context, 200, list, []);
        return true;
    }

    private static async Task<bool> WriteOpenApiAsync(HttpContext context, JsonObject? document)
    {
        if (document is null)
        {
            return false;
        }

        // Hashed URLs are immutable: a new CRD schema gets a new hash in the index.
        var hash = OpenApiDocuments.Hash(document);
        if (context.Request.Query["hash"] == hash)
        {
            context.Response.Headers.CacheControl = "public, immutable";
            context.Response.Headers.ETag = $"\"{hash}\"";
            context.Response.Headers.Expires = (DateTimeOffset.UnixEpoch + TimeSpan.FromDays(365 * 100)).ToString("R", CultureInfo.InvariantCulture);
        }
        else
        {
            context.Response.Headers.CacheControl = "no-cache, private";
        }

        await WriteAsync(context, document, "application/json");
        return true;
    }

    private static async Task WriteAsync(HttpContext context, JsonObject body, string contentType)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = contentType;
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }
}
