using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Http.Auth;
using static Midori.Operator.Tests.Http.ApiTestHost;

namespace Midori.Operator.Tests.Http.Endpoints;

/// <summary>Authentication, namespace isolation, input validation and limits: every bad input is a clear 4xx problem, never a 500.</summary>
public sealed class ApiSafetyTests : IAsyncLifetime
{
    private ApiTestHost _host = null!;

    public async Task InitializeAsync() => _host = await StartAsync(new Dictionary<string, string?>
    {
        ["Api:MaxFileBytes"] = "2048",
        ["Api:MaxRequestBodyBytes"] = "16384",
        ["Api:MaxFilesPerProject"] = "4",
        ["Api:MaxPatchOperations"] = "3",
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static StringContent JsonBody(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task NoToken_Is401Problem_WithBearerChallenge()
    {
        using var client = _host.Client(token: null);
        var response = await client.GetAsync($"{Previews(TeamA)}/x");

        await PreviewApiTests.AssertProblemAsync(response, HttpStatusCode.Unauthorized, "bearer token is required");
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
    }

    [Fact]
    public async Task UnknownToken_Is401()
    {
        using var client = _host.Client(token: "not-a-known-token-at-all");
        await PreviewApiTests.AssertProblemAsync(await client.GetAsync($"{Previews(TeamA)}/x"), HttpStatusCode.Unauthorized, "unknown bearer token");
    }

    [Fact]
    public async Task Callers_ReachOnlyTheirNamespaces()
    {
        var created = await _host.CreateReadyAsync(TeamA, "iso", TextFile("index.html", "secret"));
        var name = (string)created["name"]!;
        using var teamA = _host.Client(TokenA);
        using var teamB = _host.Client(TokenB);

        Assert.Equal(HttpStatusCode.OK, (await teamA.GetAsync($"{Previews(TeamA)}/{name}")).StatusCode);
        await PreviewApiTests.AssertProblemAsync(await teamB.GetAsync($"{Previews(TeamA)}/{name}"), HttpStatusCode.Forbidden, "may not get previews in namespace 'team-a'");
        await PreviewApiTests.AssertProblemAsync(await teamB.PostAsync($"{Previews(TeamA)}/{name}/heartbeat", null), HttpStatusCode.Forbidden, "team-a");
        await PreviewApiTests.AssertProblemAsync(await teamB.PutAsJsonAsync($"{Previews(TeamA)}/{name}/files", new { files = new[] { TextFile("a", "b") } }), HttpStatusCode.Forbidden, "team-a");
        await PreviewApiTests.AssertProblemAsync(await teamB.DeleteAsync($"{Previews(TeamA)}/{name}"), HttpStatusCode.Forbidden, "team-a");
        await PreviewApiTests.AssertProblemAsync(await teamB.PostAsJsonAsync(Previews(TeamA), new { projectId = "iso", files = new[] { TextFile("a", "b") } }), HttpStatusCode.Forbidden, "team-a");
        await PreviewApiTests.AssertProblemAsync(await teamA.PutAsJsonAsync($"/api/v1/namespaces/{TeamB}/projects/p", new { previewEnabled = false }), HttpStatusCode.Forbidden, "team-b");
        Assert.False((await _host.GetResourceAsync(TeamA, name)).Spec.Suspend ?? false);
    }

    [Fact]
    public async Task InvalidNamespaceOrName_Is400()
    {
        using var client = _host.Client();
        await PreviewApiTests.AssertProblemAsync(await client.GetAsync("/api/v1/namespaces/Bad_NS/previews/x"), HttpStatusCode.BadRequest, "not a valid namespace");
        await PreviewApiTests.AssertProblemAsync(await client.GetAsync($"{Previews(TeamA)}/Bad_Name"), HttpStatusCode.BadRequest, "not a valid resource name");
    }

    [Fact]
    public async Task MalformedJson_AndUnknownFields_Are400Problems()
    {
        using var client = _host.Client();
        await PreviewApiTests.AssertProblemAsync(await client.PostAsync(Previews(TeamA), JsonBody("{\"projectId\": \"p\", \"files\": [")), HttpStatusCode.BadRequest, "invalid JSON");
        var unknown = await PreviewApiTests.AssertProblemAsync(await client.PostAsync(Previews(TeamA), JsonBody("{\"projectId\": \"p\", \"filez\": []}")), HttpStatusCode.BadRequest, "filez");
        Assert.Contains("could not be mapped", (string)unknown["detail"]!, StringComparison.Ordinal);
        await PreviewApiTests.AssertProblemAsync(await client.PostAsync(Previews(TeamA), JsonBody("{\"projectId\": 5}")), HttpStatusCode.BadRequest, "invalid JSON");
    }

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("src\\app.js")]
    [InlineData("evil\u202Etxt.js")]
    [InlineData("a//b")]
    [InlineData("~/x")]
    public async Task BadPaths_Are400NamingThePath(string path)
    {
        using var client = _host.Client();
        var response = await client.PostAsJsonAsync(Previews(TeamA), new { projectId = "paths", files = new[] { TextFile(path, "x") } });

        var problem = await PreviewApiTests.AssertProblemAsync(response, HttpStatusCode.BadRequest, "is not allowed");
        Assert.Equal(path, (string)problem["path"]!);
    }

    [Fact]
    public async Task InvalidSettings_Are400NamingTheField()
    {
        using var client = _host.Client();
        await PreviewApiTests.AssertProblemAsync(await client.PostAsJsonAsync(Previews(TeamA), new { projectId = "s", ttlSeconds = 30, files = new[] { TextFile("a", "b") } }), HttpStatusCode.BadRequest, "ttlSeconds");
        await PreviewApiTests.AssertProblemAsync(await client.PostAsJsonAsync(Previews(TeamA), new { projectId = "s", ttlSeconds = 600, idleTimeoutSeconds = 900, files = new[] { TextFile("a", "b") } }), HttpStatusCode.BadRequest, "idleTimeoutSeconds must not exceed");
        await PreviewApiTests.AssertProblemAsync(await client.PostAsJsonAsync(Previews(TeamA), new { projectId = "s", provider = "nope", files = new[] { TextFile("a", "b") } }), HttpStatusCode.BadRequest, "provider 'nope'");
        await PreviewApiTests.AssertProblemAsync(await client.PostAsJsonAsync(Previews(TeamA), new { files = new[] { TextFile("a", "b") } }), HttpStatusCode.BadRequest, "projectId is required");
        await PreviewApiTests.AssertProblemAsync(await client.PostAsJsonAsync(Previews(TeamA), new { projectId = "s", files = Array.Empty<object>() }), HttpStatusCode.BadRequest, "at least one file");
        await PreviewApiTests.AssertProblemAsync(await client.PostAsJsonAsync(Previews(TeamA), new { projectId = "s", files = new[] { new { path = "a.bin", content = "@@@", encoding = "base64" } } }), HttpStatusCode.BadRequest, "not valid base64");
        await PreviewApiTests.AssertProblemAsync(await client.PostAsync($"{Previews(TeamA)}?wait=maybe", JsonBody("{}")), HttpStatusCode.BadRequest, "wait");
    }

    [Fact]
    public async Task Limits_FileSize413_BodySize413_FileCount422_PatchOperations422()
    {
        using var client = _host.Client();
        var big = await client.PostAsJsonAsync(Previews(TeamA), new { projectId = "lim", files = new[] { TextFile("big.txt", new string('x', 3000)) } });
        var problem = await PreviewApiTests.AssertProblemAsync(big, HttpStatusCode.RequestEntityTooLarge, "the limit is 2048");
        Assert.Equal("big.txt", (string)problem["path"]!);

        var huge = await client.PostAsync(Previews(TeamA), JsonBody("{\"projectId\":\"lim\",\"files\":[{\"path\":\"a\",\"content\":\"" + new string('x', 20_000) + "\"}]}"));
        await PreviewApiTests.AssertProblemAsync(huge, HttpStatusCode.RequestEntityTooLarge, "the limit is 16384");

        var many = await client.PostAsJsonAsync(Previews(TeamA), new { projectId = "lim", files = Enumerable.Range(0, 5).Select(i => TextFile($"f{i}.txt", "x")).ToArray() });
        await PreviewApiTests.AssertProblemAsync(many, HttpStatusCode.UnprocessableEntity, "at most 4");

        var created = await _host.CreateReadyAsync(TeamA, "lim", TextFile("a.txt", "a"), TextFile("b.txt", "b"), TextFile("c.txt", "c"));
        var name = (string)created["name"]!;
        var grow = await client.PutAsJsonAsync($"{Previews(TeamA)}/{name}/files", new { files = new[] { TextFile("d.txt", "d"), TextFile("e.txt", "e") } });
        await PreviewApiTests.AssertProblemAsync(grow, HttpStatusCode.UnprocessableEntity, "the limit is 4");

        var ops = Enumerable.Range(1, 4).Select(i => new { type = "insert", line = 1, content = "x" }).ToArray();
        var patch = await client.PatchAsJsonAsync($"{Previews(TeamA)}/{name}/files", new { files = new[] { new { path = "a.txt", operations = ops } } });
        await PreviewApiTests.AssertProblemAsync(patch, HttpStatusCode.UnprocessableEntity, "more than 3 line operations");
    }

    [Fact]
    public async Task GarbageBodies_NeverCause500()
    {
        var created = await _host.CreateReadyAsync(TeamA, "garbage", TextFile("a.txt", "a"));
        var name = (string)created["name"]!;
        string[] bodies =
        [
            "", "null", "[]", "\"text\"", "42", "{", "{}", "{\"files\":5}", "{\"files\":[null]}", "{\"files\":[{}]}",
            "{\"files\":[{\"path\":null,\"content\":null}]}", "{\"projectId\":\"p\",\"files\":[{\"path\":\"a\",\"content\":\"x\",\"encoding\":\"rot13\"}]}",
            "{\"ttlSeconds\":1e99}", "{\"port\":-1,\"projectId\":\"p\",\"files\":[{\"path\":\"a\",\"content\":\"x\"}]}",
            "{\"files\":[{\"path\":\"a.txt\",\"operations\":[{\"type\":\"replace\",\"line\":-3}]}]}",
            "{\"files\":[{\"path\":\"a.txt\",\"operations\":[{\"type\":\"delete\"}]}]}", "{\"files\":[{\"path\":\"a.txt\",\"operations\":null}]}",
            "{\"previewSettings\":{\"port\":99999}}", "{\"previewEnabled\":\"yes\"}", "{\"deleted\":[\"../x\"]}", "{\"replaceAll\":true,\"files\":[]}",
            "{\"env\":[{\"name\":null}],\"projectId\":\"p\",\"files\":[{\"path\":\"a\",\"content\":\"x\"}]}",
            new string('[', 2000) + new string(']', 2000),
        ];
        (HttpMethod Method, string Url)[] routes =
        [
            (HttpMethod.Post, Previews(TeamA)),
            (HttpMethod.Put, $"{Previews(TeamA)}/{name}/files"),
            (HttpMethod.Patch, $"{Previews(TeamA)}/{name}/files"),
            (HttpMethod.Put, $"/api/v1/namespaces/{TeamA}/projects/garbage-project"),
        ];
        using var client = _host.Client();
        foreach (var (method, url) in routes)
        {
            foreach (var body in bodies)
            {
                using var request = new HttpRequestMessage(method, url) { Content = JsonBody(body) };
                var response = await client.SendAsync(request);
                var status = (int)response.StatusCode;
                Assert.True(status is >= 200 and < 500, $"{method} {url} with {body[..Math.Min(body.Length, 60)]} → {status}: {await response.Content.ReadAsStringAsync()}");
                if (status >= 400)
                {
                    Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                }
            }
        }
    }
}
