using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Http;
using Midori.Operator.Http.OpenApi;
using Midori.Operator.Http.Problems;
using Midori.Operator.Testing;

namespace Midori.Operator.Tests.Http.OpenApi;

/// <summary>
/// The checked-in OpenAPI document (openapi/midori-api.json) is what the app serves. When it drifts, regenerate:
/// <c>MIDORI_UPDATE_OPENAPI=1 dotnet test tests/Midori.Operator.Tests --filter OpenApiDocumentTests</c>.
/// </summary>
public sealed class OpenApiDocumentTests
{
    public static string CheckedInPath => Path.Combine(RepositoryPaths.Root, "openapi", "midori-api.json");

    private static async Task<(string Json, IReadOnlyList<RouteEndpoint> Endpoints)> ServedAsync()
    {
        await using var host = await ApiTestHost.StartAsync();
        using var client = host.Client(token: null); // the contract is public
        var response = await client.GetAsync(MidoriOpenApi.DocumentPath);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var endpoints = host.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();
        return (body, endpoints);
    }

    [Fact]
    public async Task Checked_in_document_is_what_the_app_serves()
    {
        var (served, _) = await ServedAsync();
        var normalized = JsonNode.Parse(served)!.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }).ReplaceLineEndings("\n") + "\n";
        if (Environment.GetEnvironmentVariable("MIDORI_UPDATE_OPENAPI") == "1")
        {
            await File.WriteAllTextAsync(CheckedInPath, normalized);
        }

        Assert.True(File.Exists(CheckedInPath), $"{CheckedInPath} is missing; generate it with MIDORI_UPDATE_OPENAPI=1 dotnet test tests/Midori.Operator.Tests --filter OpenApiDocumentTests");
        var checkedIn = (await File.ReadAllTextAsync(CheckedInPath)).ReplaceLineEndings("\n");
        Assert.True(checkedIn == normalized,
            "openapi/midori-api.json differs from what the app serves at /openapi/v1.json; regenerate it with " +
            "MIDORI_UPDATE_OPENAPI=1 dotnet test tests/Midori.Operator.Tests --filter OpenApiDocumentTests (and regenerate clients/typescript: npm run generate)");
    }

    [Fact]
    public async Task Document_is_OpenAPI_3_1_and_covers_every_API_route_with_auth_and_problem_types()
    {
        var (served, endpoints) = await ServedAsync();
        var document = JsonNode.Parse(served)!.AsObject();
        Assert.StartsWith("3.1", (string)document["openapi"]!, StringComparison.Ordinal);
        Assert.Equal("bearer", (string)document["components"]!["securitySchemes"]![MidoriOpenApi.BearerScheme]!["scheme"]!);
        var paths = document["paths"]!.AsObject();

        var apiRoutes = endpoints
            .Where(e => e.RoutePattern.RawText?.StartsWith("/api/", StringComparison.Ordinal) == true)
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? []).Select(m => (Path: Normalize(e.RoutePattern.RawText!), Method: m.ToLowerInvariant())))
            .Distinct()
            .ToList();
        Assert.True(apiRoutes.Count >= 16, $"only {apiRoutes.Count} API routes found");
        foreach (var (path, method) in apiRoutes)
        {
            var operation = paths[path]?[method];
            Assert.True(operation is not null, $"{method.ToUpperInvariant()} {path} is not in the OpenAPI document");
            Assert.NotNull(operation["operationId"]);
            Assert.Contains(MidoriOpenApi.BearerScheme, operation["security"]![0]!.AsObject().Select(p => p.Key));
            var responses = operation["responses"]!.AsObject();
            Assert.Contains(responses, r => r.Key.StartsWith('2'));
            foreach (var code in new[] { "401", "403", "429" })
            {
                Assert.True(responses.ContainsKey(code), $"{method} {path} does not declare {code}");
            }

            foreach (var (code, response) in responses.Where(r => int.Parse(r.Key, System.Globalization.CultureInfo.InvariantCulture) >= 400))
            {
                Assert.Contains(ProblemTypes.For(int.Parse(code, System.Globalization.CultureInfo.InvariantCulture)), (string)response!["description"]!, StringComparison.Ordinal);
                Assert.NotNull(response["content"]?["application/problem+json"]);
            }
        }
    }

    [Fact]
    public async Task Problems_carry_their_stable_type()
    {
        await using var host = await ApiTestHost.StartAsync();
        using var client = host.Client();
        var missing = await client.GetAsync($"{ApiTestHost.Previews(ApiTestHost.TeamA)}/nope");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(ProblemTypes.For(404), (string)JsonNode.Parse(await missing.Content.ReadAsStringAsync())!["type"]!);

        using var anonymous = host.Client(token: null);
        var unauthenticated = await anonymous.GetAsync($"{ApiTestHost.Previews(ApiTestHost.TeamA)}/nope");
        Assert.Equal(HttpStatusCode.Unauthorized, unauthenticated.StatusCode);

        var badName = await client.GetAsync($"{ApiTestHost.Previews(ApiTestHost.TeamA)}/Not_A_Name");
        Assert.Equal(HttpStatusCode.BadRequest, badName.StatusCode);
        Assert.Equal(ProblemTypes.For(400), (string)JsonNode.Parse(await badName.Content.ReadAsStringAsync())!["type"]!);
    }

    /// <summary><c>/api/v1/namespaces/{ns}/previews/</c> → the document's spelling (no trailing slash, no route constraints).</summary>
    private static string Normalize(string pattern)
    {
        var path = System.Text.RegularExpressions.Regex.Replace(pattern, @"\{([^}:?=]+)[^}]*\}", "{$1}");
        return path.Length > 1 ? path.TrimEnd('/') : path;
    }
}
