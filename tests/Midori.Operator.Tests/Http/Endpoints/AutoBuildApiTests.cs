using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;
using Midori.Operator.Runtime;

namespace Midori.Operator.Tests.Http.Endpoints;

/// <summary>POST /projects/{projectId}/snapshots and previewAutoBuild (seed 000), reusing the running preview (seed 002).</summary>
public sealed class AutoBuildApiTests : IAsyncLifetime
{
    private const string Ns = ApiTestHost.TeamA;
    private ApiTestHost _host = null!;

    public async Task InitializeAsync() => _host = await ApiTestHost.StartAsync(startAt: new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero),
        configureServices: services => services.AddSingleton<IActivityStore>(sp => sp.GetRequiredService<IPreviewStore>()));

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static string Projects(string projectId) => $"/api/v1/namespaces/{Ns}/projects/{projectId}";

    [Fact]
    public async Task Snapshot_WithoutAutoBuild_IsStoredAndStartsNothing()
    {
        // arrange
        using var client = _host.Client(ApiTestHost.TokenA);

        // act
        using var response = await client.PostAsJsonAsync($"{Projects("quiet")}/snapshots",
            new { files = new[] { new { path = "index.html", content = "<h1>1</h1>" } }, fromGenerationId = "gen-1" });

        // assert
        var json = await Json(response, HttpStatusCode.Created);
        var snapshotId = (string)json["snapshotId"]!;
        Assert.Equal(response.Headers.Location?.ToString(), $"{Projects("quiet")}/snapshots/{snapshotId}");
        Assert.Equal(("gen-1", false), ((string)json["fromGenerationId"]!, (bool)json["autoBuild"]!["started"]!));
        Assert.Contains("previewAutoBuild", (string)json["autoBuild"]!["reason"]!);
        Assert.Empty(_host.Services.GetRequiredService<PreviewSandboxCache>().All);
        using var read = await client.GetAsync($"{Projects("quiet")}/snapshots/{snapshotId}");
        var files = (await Json(read, HttpStatusCode.OK))["files"]!.AsArray();
        Assert.Equal("index.html", (string)Assert.Single(files)!["path"]!);
        using var missing = await client.GetAsync($"{Projects("quiet")}/snapshots/nope");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Snapshot_WithAutoBuild_StartsAPreviewThenReusesAndUpdatesIt()
    {
        // arrange
        using var client = _host.Client(ApiTestHost.TokenA);
        using var project = await client.PutAsJsonAsync(Projects("auto"), new { previewAutoBuild = true, previewSettings = new { idleTimeoutSeconds = 600 } });
        Assert.Equal(HttpStatusCode.OK, project.StatusCode);

        // act 1: first snapshot → a preview starts by itself
        using var first = await client.PostAsJsonAsync($"{Projects("auto")}/snapshots", new { files = new[] { new { path = "index.html", content = "<h1>1</h1>" } } });
        var firstJson = await Json(first, HttpStatusCode.Created);

        // assert 1
        var build = firstJson["autoBuild"]!;
        Assert.Equal((true, false), ((bool)build["started"]!, (bool)build["reused"]!));
        var name = (string)build["name"]!;
        Assert.Equal($"/api/v1/namespaces/{Ns}/previews/{name}", (string)build["location"]!);
        var running = await _host.WaitForAsync(Ns, name, r => r?.Status?.Phase == Phases.Running);
        Assert.Equal((string)firstJson["snapshotId"]!, running!.Spec.Source.SnapshotId);
        Assert.Equal(600, running.Spec.IdleTimeoutSeconds); // the project's previewSettings apply
        Assert.Equal("<h1>1</h1>", Encoding.UTF8.GetString(_host.Provider.Find(running.Status!.SandboxId!)!.Files["index.html"]));

        // act 2: a new snapshot → the running preview is reused and gets the new files
        using var second = await client.PostAsJsonAsync($"{Projects("auto")}/snapshots",
            new { files = new[] { new { path = "index.html", content = "<h1>2</h1>" }, new { path = "app.js", content = "go()" } } });
        var secondJson = await Json(second, HttpStatusCode.Created);

        // assert 2
        Assert.Equal((true, true, name), ((bool)secondJson["autoBuild"]!["started"]!, (bool)secondJson["autoBuild"]!["reused"]!, (string)secondJson["autoBuild"]!["name"]!));
        Assert.Single(_host.Services.GetRequiredService<PreviewSandboxCache>().All);
        var sandbox = _host.Provider.Find(running.Status.SandboxId!)!;
        Assert.Equal("<h1>2</h1>", Encoding.UTF8.GetString(sandbox.Files["index.html"]));
        Assert.Equal("go()", Encoding.UTF8.GetString(sandbox.Files["app.js"]));
        var workingCopy = await _host.Store.GetWorkingCopyAsync(new PreviewKey(Ns, name), CancellationToken.None);
        Assert.Equal(["app.js", "index.html"], workingCopy!.Files.Select(f => f.Path).Order());
    }

    [Fact]
    public async Task Snapshot_AutoBuildWithPreviewsDisabled_StoresButDoesNotStart()
    {
        // arrange
        using var client = _host.Client(ApiTestHost.TokenA);
        using var project = await client.PutAsJsonAsync(Projects("off"), new { previewAutoBuild = true, previewEnabled = false });
        Assert.Equal(HttpStatusCode.OK, project.StatusCode);

        // act
        using var response = await client.PostAsJsonAsync($"{Projects("off")}/snapshots", new { files = new[] { new { path = "a.txt", content = "a" } } });

        // assert
        var json = await Json(response, HttpStatusCode.Created);
        Assert.False((bool)json["autoBuild"]!["started"]!);
        Assert.Contains("previewEnabled=false", (string)json["autoBuild"]!["reason"]!);
        Assert.Empty(_host.Services.GetRequiredService<PreviewSandboxCache>().All);
    }

    [Fact]
    public async Task Snapshot_BadInput_IsA4xxProblem()
    {
        // arrange
        using var client = _host.Client(ApiTestHost.TokenA);
        using var otherTeam = _host.Client(ApiTestHost.TokenB);

        // act
        using var empty = await client.PostAsJsonAsync($"{Projects("p")}/snapshots", new { files = Array.Empty<object>() });
        using var escaping = await client.PostAsJsonAsync($"{Projects("p")}/snapshots", new { files = new[] { new { path = "/etc/passwd", content = "x" } } });
        using var unknown = await client.PostAsJsonAsync($"{Projects("p")}/snapshots", new { files = new[] { new { path = "a", content = "x" } }, bogus = true });
        using var forbidden = await otherTeam.PostAsJsonAsync($"{Projects("p")}/snapshots", new { files = new[] { new { path = "a", content = "x" } } });

        // assert
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, escaping.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
    }

    private static async Task<JsonObject> Json(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {expected}, got {response.StatusCode}: {body}");
        return JsonNode.Parse(body)!.AsObject();
    }
}
