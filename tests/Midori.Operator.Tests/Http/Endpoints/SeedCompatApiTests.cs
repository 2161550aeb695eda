using Midori.Operator.Persistence;
using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Http.Services;
using Midori.Operator.Files;

namespace Midori.Operator.Tests.Http.Endpoints;

/// <summary>
/// Replays what seed 000's hooks do, in their order, on <c>/api/preview/daytona</c>: useDaytonaPreview.startPreview →
/// updateFiles (client-side hash filter) → useCodeEditor.updateToDaytona → updatePartialToDaytona → the 2-minute
/// heartbeat (FakeTimeProvider) across the 5-minute idle timeout → stopPreview; every reply's shape is checked.
/// </summary>
public sealed class SeedCompatApiTests : IAsyncLifetime
{
    private const string Prefix = "/api/preview/daytona";
    private ApiTestHost _host = null!;

    public async Task InitializeAsync() => _host = await ApiTestHost.StartAsync(startAt: new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero),
        configureServices: services => services.AddSingleton<IActivityStore>(sp => sp.GetRequiredService<IPreviewStore>()));

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task SeedHooks_FullSequence_WorksWithTheSeedShapes()
    {
        using var client = _host.Client(ApiTestHost.TokenA); // a token for one namespace: the seed routes use it
        var files = new Dictionary<string, string>
        {
            ["index.html"] = "<h1>shop</h1>",
            ["src/app.js"] = "const a = 1;\nconst b = 2;\nconsole.log(a + b);",
        };

        // startPreview(): POST {projectId, files} → {sandboxId, url, token}
        using var start = await client.PostAsJsonAsync(Prefix, new { projectId = "shop", files = files.Select(f => new { path = f.Key, content = f.Value }) });
        var started = await Json(start, HttpStatusCode.OK);
        var sandboxId = (string)started["sandboxId"]!;
        Assert.True((bool)started["success"]!);
        Assert.StartsWith("local-", sandboxId);
        // url: a signed link to the stable previewUrl (the iframe opens it); token: that link's token, not the provider's
        Assert.Equal($"{started["previewUrl"]}?token={started["token"]}", (string)started["url"]!);
        Assert.DoesNotContain(sandboxId, (string)started["previewUrl"]!, StringComparison.Ordinal);
        Assert.DoesNotContain("token-", (string)started["token"]!, StringComparison.Ordinal);
        Assert.Equal(("running", "shop", ApiTestHost.TeamA, false), ((string)started["status"]!, (string)started["projectId"]!, (string)started["namespace"]!, (bool)started["reused"]!));
        Assert.NotNull(started["expiresAt"]);
        var hashes = files.ToDictionary(f => f.Key, f => Hash(f.Value)); // the hook's "initial state Map"

        // updateFiles(files): only files whose hash changed are sent (PUT ?sandboxId=, {files})
        var edited = new Dictionary<string, string>(files) { ["src/app.js"] = "const a = 10;\nconst b = 2;\nconsole.log(a + b);", ["style.css"] = "h1 { color: red }" };
        var changed = edited.Where(f => !hashes.TryGetValue(f.Key, out var h) || h != Hash(f.Value)).Select(f => new { path = f.Key, content = f.Value }).ToList();
        Assert.Equal(2, changed.Count);
        using var update = await client.PutAsJsonAsync($"{Prefix}?sandboxId={sandboxId}", new { files = changed });
        var updated = await Json(update, HttpStatusCode.OK);
        Assert.True((bool)updated["success"]!);
        Assert.Equal(sandboxId, (string)updated["sandboxId"]!);
        Assert.Null(updated["previousSandboxId"]);
        Assert.Equal(["style.css"], Strings(updated["added"]));
        Assert.Equal(["src/app.js"], Strings(updated["modified"]));
        Assert.Equal(["src/app.js", "style.css"], Strings(updated["updatedFiles"]).Order());
        Assert.True((bool)updated["pushed"]!);
        Assert.Equal("const a = 10;\nconst b = 2;\nconsole.log(a + b);", SandboxFile(sandboxId, "src/app.js"));

        // updateToDaytona(path): one whole file (PUT ?sandboxId=, {path, content}); the same content again is "unchanged"
        using var whole = await client.PutAsJsonAsync($"{Prefix}?sandboxId={sandboxId}", new { path = "index.html", content = "<h1>shop v2</h1>" });
        Assert.Equal(["index.html"], Strings((await Json(whole, HttpStatusCode.OK))["modified"]));
        using var same = await client.PutAsJsonAsync($"{Prefix}?sandboxId={sandboxId}", new { path = "index.html", content = "<h1>shop v2</h1>" });
        var sameJson = await Json(same, HttpStatusCode.OK);
        Assert.Equal(["index.html"], Strings(sameJson["unchanged"]));
        Assert.Empty(Strings(sameJson["updatedFiles"]));

        // updatePartialToDaytona(path): generatePatchOperations → PATCH /partial?sandboxId= {path, operations:[{type, line, content, oldContent}]}
        using var patch = await client.PatchAsJsonAsync($"{Prefix}/partial?sandboxId={sandboxId}", new
        {
            path = "src/app.js",
            operations = new object[]
            {
                new { type = "replace", line = 2, content = "const b = 20;", oldContent = "const b = 2;" },
                new { type = "insert", line = 4, content = "export { a, b };" },
            },
        });
        var patched = await Json(patch, HttpStatusCode.OK);
        Assert.Equal(("src/app.js", 2, true), ((string)patched["path"]!, (int)patched["operationsApplied"]!, (bool)patched["pushed"]!));
        var expected = "const a = 10;\nconst b = 20;\nconsole.log(a + b);\nexport { a, b };";
        Assert.Equal(Hash256(expected), (string)patched["hash"]!);
        Assert.Equal(expected, SandboxFile(sandboxId, "src/app.js"));

        // a stale patch (oldContent no longer matches) is a 409 in the seed error shape and changes nothing
        using var stale = await client.PatchAsJsonAsync($"{Prefix}/partial?sandboxId={sandboxId}", new
        {
            path = "src/app.js",
            patches = new object[] { new { type = "replace", line = 2, content = "x", oldContent = "const b = 2;" } },
        });
        var staleJson = await Json(stale, HttpStatusCode.Conflict);
        Assert.False((bool)staleJson["success"]!);
        Assert.Contains("line 2", (string)staleJson["error"]!, StringComparison.Ordinal);
        Assert.Equal(expected, SandboxFile(sandboxId, "src/app.js"));

        // heartbeat: GET ?sandboxId= every 2 minutes, 4 times (8 minutes > the 5-minute idle timeout)
        for (var i = 1; i <= 4; i++)
        {
            _host.Time.Advance(TimeSpan.FromMinutes(2));
            using var beat = await client.GetAsync($"{Prefix}?sandboxId={sandboxId}");
            var beatJson = await Json(beat, HttpStatusCode.OK);
            Assert.True((bool)beatJson["success"]!);
            Assert.Equal((sandboxId, "running", false), ((string)beatJson["sandboxId"]!, (string)beatJson["status"]!, (bool)beatJson["waking"]!));
            Assert.Equal(_host.Time.GetUtcNow(), (DateTimeOffset)beatJson["lastHeartbeat"]!);
            Assert.Equal(_host.Time.GetUtcNow().AddMinutes(5), (DateTimeOffset)beatJson["idleDeadline"]!);
            var name = (string)started["name"]!;
            await _host.WaitForAsync(ApiTestHost.TeamA, name, r => r?.Metadata.Annotations?[GroupVersion.HeartbeatAnnotation] == Heartbeat.Format(_host.Time.GetUtcNow()));
        }

        var alive = await _host.WaitForAsync(ApiTestHost.TeamA, (string)started["name"]!, r => r?.Status?.LastActivityTime is not null);
        Assert.Equal(Phases.Running, alive!.Status!.Phase);
        Assert.Equal(sandboxId, alive.Status.SandboxId);

        // stopPreview(): DELETE ?sandboxId= → stopped
        using var stop = await client.DeleteAsync($"{Prefix}?sandboxId={sandboxId}");
        var stopped = await Json(stop, HttpStatusCode.OK);
        Assert.Equal((true, sandboxId, "stopped"), ((bool)stopped["success"]!, (string)stopped["sandboxId"]!, (string)stopped["status"]!));
        await _host.WaitForAsync(ApiTestHost.TeamA, (string)started["name"]!, r => r?.Status?.Phase == Phases.Stopped);
        Assert.Null(_host.Provider.Find(sandboxId));
    }

    [Fact]
    public async Task SeedRoutes_AfterARecreation_TheOldSandboxIdKeepsWorking()
    {
        // arrange
        using var client = _host.Client(ApiTestHost.TokenA);
        using var start = await client.PostAsJsonAsync(Prefix, new { projectId = "recreated", files = new[] { new { path = "a.txt", content = "a" } } });
        var started = await Json(start, HttpStatusCode.OK);
        var (oldId, name) = ((string)started["sandboxId"]!, (string)started["name"]!);
        await _host.AnnotateAsync(ApiTestHost.TeamA, name, GroupVersion.RecreateAnnotation, "again");
        var recreated = await _host.WaitForAsync(ApiTestHost.TeamA, name, r => r?.Status is { Phase: Phases.Running, SandboxId: { } id } && id != oldId);
        var newId = recreated!.Status!.SandboxId!;

        // act: the front end still holds the old id
        using var beat = await client.GetAsync($"{Prefix}?sandboxId={oldId}");
        using var put = await client.PutAsJsonAsync($"{Prefix}?sandboxId={oldId}", new { path = "a.txt", content = "b" });

        // assert: served by the same preview; the reply names the new sandbox and URL
        var beatJson = await Json(beat, HttpStatusCode.OK);
        Assert.Equal((newId, oldId), ((string)beatJson["sandboxId"]!, (string)beatJson["previousSandboxId"]!));
        Assert.Equal(recreated.Status.PreviewUrl, (string)beatJson["previewUrl"]!);
        Assert.DoesNotContain(newId, (string)beatJson["previewUrl"]!, StringComparison.Ordinal); // stable across sandboxes
        var putJson = await Json(put, HttpStatusCode.OK);
        Assert.Equal(newId, (string)putJson["sandboxId"]!);
        Assert.Equal("b", SandboxFile(newId, "a.txt"));
    }

    [Fact]
    public async Task SeedRoutes_Errors_AreProblemsWithTheSeedSuccessAndErrorMembers()
    {
        // arrange
        using var teamA = _host.Client(ApiTestHost.TokenA);
        using var teamB = _host.Client(ApiTestHost.TokenB);
        using var admin = _host.Client(ApiTestHost.AdminToken);
        using var start = await teamA.PostAsJsonAsync(Prefix, new { projectId = "mine", files = new[] { new { path = "a.txt", content = "a" } } });
        var sandboxId = (string)(await Json(start, HttpStatusCode.OK))["sandboxId"]!;

        // act
        using var noId = await teamA.GetAsync(Prefix);
        using var unknown = await teamA.GetAsync($"{Prefix}?sandboxId=local-999999");
        using var otherNamespace = await teamB.GetAsync($"{Prefix}?sandboxId={sandboxId}");
        using var wildcard = await admin.GetAsync($"{Prefix}?sandboxId={sandboxId}");
        using var anonymous = await _host.Client(token: null).GetAsync($"{Prefix}?sandboxId={sandboxId}");
        using var badPath = await teamA.PutAsJsonAsync($"{Prefix}?sandboxId={sandboxId}", new { path = "../etc/passwd", content = "x" });
        using var unknownMember = await teamA.PostAsJsonAsync(Prefix, new { projectId = "mine", files = Array.Empty<object>(), extra = 1 });
        using var noFiles = await teamA.PostAsJsonAsync(Prefix, new { projectId = "mine" });

        // assert
        foreach (var (response, status) in new[]
        {
            (noId, HttpStatusCode.BadRequest), (unknown, HttpStatusCode.NotFound), (otherNamespace, HttpStatusCode.NotFound),
            (wildcard, HttpStatusCode.BadRequest), (badPath, HttpStatusCode.BadRequest), (unknownMember, HttpStatusCode.BadRequest),
            (noFiles, HttpStatusCode.BadRequest),
        })
        {
            var json = await Json(response, status);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.False((bool)json["success"]!);
            Assert.False(string.IsNullOrEmpty((string?)json["error"]));
        }

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    [Fact]
    public async Task SeedRoutes_WildcardToken_UsesTheConfiguredDefaultNamespace()
    {
        // arrange
        await using var host = await ApiTestHost.StartAsync(new Dictionary<string, string?> { ["Api:SeedCompat:DefaultNamespace"] = "editor" });
        using var admin = host.Client(ApiTestHost.AdminToken);
        using var teamA = host.Client(ApiTestHost.TokenA);

        // act
        using var start = await admin.PostAsJsonAsync(Prefix, new { projectId = "p", files = new[] { new { path = "a.txt", content = "a" } } });
        var started = await Json(start, HttpStatusCode.OK);
        using var fromTeamA = await teamA.GetAsync($"{Prefix}?sandboxId={(string)started["sandboxId"]!}");

        // assert: created in the default namespace; a team-a token still works in team-a only
        Assert.Equal("editor", (string)started["namespace"]!);
        Assert.Equal(HttpStatusCode.NotFound, fromTeamA.StatusCode);
    }

    private string SandboxFile(string sandboxId, string path) =>
        Encoding.UTF8.GetString(_host.Provider.Find(sandboxId)?.Files[path] ?? throw new InvalidOperationException($"sandbox {sandboxId} is gone"));

    private static async Task<JsonObject> Json(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {expected}, got {response.StatusCode}: {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    private static List<string> Strings(JsonNode? array) => array?.AsArray().Select(n => (string)n!).ToList() ?? [];

    /// <summary>The hook's light client-side hash (any stable hash will do for change detection).</summary>
    private static string Hash(string content) => Convert.ToHexString(MD5.HashData(Encoding.UTF8.GetBytes(content)));

    private static string Hash256(string content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(content)));
}
