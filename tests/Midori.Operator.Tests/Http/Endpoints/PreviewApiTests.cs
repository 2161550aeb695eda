using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;
using static Midori.Operator.Tests.Http.ApiTestHost;

namespace Midori.Operator.Tests.Http.Endpoints;

/// <summary>Create, reuse, status and stop through the HTTP API (real host, test API server, reconciler with a fake provider).</summary>
public sealed class PreviewApiTests : IAsyncLifetime
{
    private ApiTestHost _host = null!;

    public async Task InitializeAsync() => _host = await StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Create_WithoutWait_Returns202WithLocation_AndAResourceBackedByASnapshot()
    {
        using var client = _host.Client();
        var response = await client.PostAsJsonAsync(Previews(TeamA), new { projectId = "p-202", files = new[] { TextFile("index.html", "<h1>hi</h1>") } });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        var name = (string)body["name"]!;
        Assert.Equal($"/api/v1/namespaces/{TeamA}/previews/{name}", response.Headers.Location!.ToString());
        Assert.False((bool)body["reused"]!);
        Assert.Equal(1, (long)body["revision"]!);

        var resource = await _host.GetResourceAsync(TeamA, name);
        Assert.Equal("p-202", resource.Spec.ProjectId);
        Assert.Equal((string)body["snapshotId"]!, resource.Spec.Source.SnapshotId);
        Assert.Equal(SandboxLabels.CreatedByApi, resource.Metadata.Labels[SandboxLabels.CreatedBy]);
        var snapshot = await _host.Store.ReadSnapshotFilesAsync(TeamA, resource.Spec.Source.SnapshotId!, CancellationToken.None);
        Assert.Equal("<h1>hi</h1>", Encoding.UTF8.GetString(Assert.Single(snapshot!).Content));
    }

    [Fact]
    public async Task Create_WithWait_CarriesTheFinalizer_SoTheReconcilerWritesNoMetadata()
    {
        var body = await _host.CreateReadyAsync(TeamA, "p-finalizer", TextFile("index.html", "hello"));

        var name = (string)body["name"]!;
        var resource = await _host.GetResourceAsync(TeamA, name);
        Assert.Equal([GroupVersion.FinalizerName], resource.Metadata.Finalizers);
        var path = $"/apis/{GroupVersion.Group}/{GroupVersion.Version}/namespaces/{TeamA}/previewsandboxes/{name}";
        Assert.DoesNotContain(_host.Server.Requests.Entries, r => r.Method == "PATCH" && r.Path == path);
        Assert.Contains(_host.Server.Requests.Entries, r => r.Method == "PATCH" && r.Path == path + "/status");
    }

    [Fact]
    public async Task Create_WithWait_ReturnsReadySandboxUrlTokenAndExpiry()
    {
        var body = await _host.CreateReadyAsync(TeamA, "p-wait", TextFile("index.html", "hello"));

        var sandboxId = (string)body["sandboxId"]!;
        var sandbox = _host.Provider.Find(sandboxId)!;
        Assert.Equal("hello", Encoding.UTF8.GetString(sandbox.Files["index.html"]));
        // url: a signed link to the stable gateway URL; token: that link's token, never the provider's
        var stable = (string)body["status"]!["sandbox_info"]!["preview_url"]!;
        Assert.Equal($"{stable}?token={body["token"]}", (string)body["url"]!);
        Assert.NotEqual(sandbox.Token, (string)body["token"]!);
        Assert.DoesNotContain(sandbox.Token!, body.ToJsonString(), StringComparison.Ordinal);
        Assert.True(DateTimeOffset.Parse((string)body["expiresAt"]!, System.Globalization.CultureInfo.InvariantCulture) > _host.Time.GetUtcNow());
        Assert.Equal("running", (string)body["status"]!["status"]!);
    }

    [Fact]
    public async Task Create_WithWait_WhenNotReadyInTime_Returns202WithTheCurrentStatus()
    {
        for (var i = 0; i < 10; i++)
        {
            _host.Provider.FailNextCreate();
        }

        using var client = _host.Client();
        var request = client.PostAsJsonAsync($"{Previews(TeamA)}?wait=true&timeoutSeconds=7", new { projectId = "p-slow", files = new[] { TextFile("a.txt", "a") } });

        // The wait runs on the host's (fake) clock: once its 7 s timer is armed, move the clock past it.
        using var giveUp = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await foreach (var dueTime in _host.Time.CreatedTimers.ReadAllAsync(giveUp.Token))
        {
            if (dueTime == TimeSpan.FromSeconds(7))
            {
                break;
            }
        }

        _host.Time.Advance(TimeSpan.FromSeconds(7));
        var response = await request.WaitAsync(TimeSpan.FromSeconds(30));
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.False((bool)body["ready"]!);
        Assert.Null(body["sandboxId"]);
        Assert.Contains("?token=", (string)body["url"]!, StringComparison.Ordinal); // the stable URL holds or shows "starting" until ready
        Assert.NotNull(response.Headers.Location);
        Assert.NotEqual("running", (string)body["status"]!["status"]!);
    }

    [Fact]
    public async Task Create_SameProjectAgain_ReusesThePreview_AndPushesOnlyTheChanges()
    {
        var first = await _host.CreateReadyAsync(TeamA, "p-reuse", TextFile("index.html", "v1"), TextFile("keep.txt", "same"), TextFile("gone.txt", "x"));
        var name = (string)first["name"]!;

        using var client = _host.Client();
        var response = await client.PostAsJsonAsync(Previews(TeamA),
            new { projectId = "p-reuse", files = new[] { TextFile("index.html", "v2"), TextFile("keep.txt", "same"), TextFile("new.txt", "n") } });
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.True((bool)body["reused"]!);
        Assert.Equal(name, (string)body["name"]!);
        Assert.Equal(2, (long)body["revision"]!);
        Assert.True((bool)body["pushed"]!);
        var sandbox = _host.Provider.Find((string)first["sandboxId"]!)!;
        Assert.Equal("v2", Encoding.UTF8.GetString(sandbox.Files["index.html"]));
        Assert.Equal("n", Encoding.UTF8.GetString(sandbox.Files["new.txt"]));
        Assert.False(sandbox.Files.ContainsKey("gone.txt"));
        Assert.Single(_host.Provider.Sandboxes);
        var workingCopy = await _host.Store.GetWorkingCopyAsync(new PreviewKey(TeamA, name), CancellationToken.None);
        Assert.Equal((2, sandbox.Id), (workingCopy!.PushedRevision, workingCopy.PushedSandboxId));
    }

    [Fact]
    public async Task Create_WhenProjectHasPreviewsDisabled_Is403()
    {
        using var client = _host.Client();
        (await client.PutAsJsonAsync($"/api/v1/namespaces/{TeamA}/projects/p-off", new { previewEnabled = false })).EnsureSuccessStatusCode();

        var response = await client.PostAsJsonAsync(Previews(TeamA), new { projectId = "p-off", files = new[] { TextFile("a.txt", "a") } });

        await AssertProblemAsync(response, HttpStatusCode.Forbidden, "previewEnabled=false");
    }

    [Fact]
    public async Task Create_TakesDefaultsFromProjectSettings_AndRequestOverridesThem()
    {
        using var client = _host.Client();
        var put = await client.PutAsJsonAsync($"/api/v1/namespaces/{TeamA}/projects/p-settings", new
        {
            previewEnabled = true,
            previewSettings = new { ttlSeconds = 900, idleTimeoutSeconds = 120, command = "npm run dev", port = 5173, env = new Dictionary<string, string> { ["A"] = "1" } },
        });
        put.EnsureSuccessStatusCode();

        var response = await client.PostAsJsonAsync(Previews(TeamA), new { projectId = "p-settings", port = 8080, files = new[] { TextFile("a.txt", "a") } });
        var name = (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["name"]!;
        var spec = (await _host.GetResourceAsync(TeamA, name)).Spec;

        Assert.Equal((900, 120, "npm run dev", 8080), (spec.TtlSeconds, spec.IdleTimeoutSeconds, spec.Command, spec.Port));
        Assert.Equal("1", Assert.Single(spec.Env!).Value);
    }

    [Fact]
    public async Task Get_ReturnsSeedStatusDocument_FromTheCache()
    {
        var created = await _host.CreateReadyAsync(TeamA, "p-status", TextFile("index.html", "x"));
        using var client = _host.Client();

        var body = JsonNode.Parse(await client.GetStringAsync($"{Previews(TeamA)}/{created["name"]}"))!;

        Assert.True((bool)body["success"]!);
        Assert.Equal("running", (string)body["status"]!);
        Assert.Equal("none", (string)body["action_required"]!);
        Assert.Equal((string)created["sandboxId"]!, (string)body["sandbox_info"]!["sandbox_id"]!);
        Assert.StartsWith((string)body["sandbox_info"]!["preview_url"]! + "?token=", (string)created["url"]!, StringComparison.Ordinal);
        Assert.InRange((int)body["sandbox_info"]!["remaining_time_minutes"]!, 29, 30); // end_time has whole seconds
        Assert.NotNull(body["sandbox_info"]!["start_time"]);
        Assert.NotNull(body["sandbox_info"]!["end_time"]);
        Assert.Equal(Phases.Running, (string)body["phase"]!);
        Assert.True((bool)body["ready"]!);
        Assert.Equal(1, (long)body["filesRevision"]!);
        Assert.Contains(body["conditions"]!.AsArray(), c => (string)c!["type"]! == "Ready" && (string)c["status"]! == "True");
    }

    [Fact]
    public async Task Get_Missing_Is404ProblemCarryingTheSeedNotFoundStatus()
    {
        using var client = _host.Client();
        var response = await client.GetAsync($"{Previews(TeamA)}/nope");

        var problem = await AssertProblemAsync(response, HttpStatusCode.NotFound, "does not exist");
        Assert.Equal("not_found", (string)problem["sandbox_status"]!);
        Assert.False((bool)problem["success"]!);
        Assert.Equal("sync_needed", (string)problem["action_required"]!);
    }

    [Fact]
    public async Task Delete_SuspendsThePreview_AndCreateResumesIt()
    {
        var created = await _host.CreateReadyAsync(TeamA, "p-stop", TextFile("index.html", "x"));
        var name = (string)created["name"]!;
        using var client = _host.Client();

        var response = await client.DeleteAsync($"{Previews(TeamA)}/{name}");

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.True((await _host.GetResourceAsync(TeamA, name)).Spec.Suspend);
        await _host.WaitForAsync(TeamA, name, r => r?.Status?.Phase == Phases.Stopped);
        Assert.Empty(_host.Provider.Sandboxes);

        var again = await _host.CreateReadyAsync(TeamA, "p-stop", TextFile("index.html", "y"));
        Assert.True((bool)again["reused"]!);
        Assert.False((await _host.GetResourceAsync(TeamA, name)).Spec.Suspend);
        Assert.Equal("y", Encoding.UTF8.GetString(_host.Provider.Find((string)again["sandboxId"]!)!.Files["index.html"]));
    }

    [Fact]
    public async Task DeleteWithPurge_DeletesApiCreatedPreviews_ButNotHandMadeOnes()
    {
        var created = await _host.CreateReadyAsync(TeamA, "p-purge", TextFile("index.html", "x"));
        var name = (string)created["name"]!;
        using var client = _host.Client();

        var purged = await client.DeleteAsync($"{Previews(TeamA)}/{name}?purge=true");

        Assert.Equal(HttpStatusCode.NoContent, purged.StatusCode);
        await _host.WaitForAsync(TeamA, name, r => r is null);
        Assert.Null(await _host.Store.GetWorkingCopyAsync(new PreviewKey(TeamA, name), CancellationToken.None));

        var handMade = new Midori.Operator.Testing.Builders.PreviewSandboxBuilder().Named("hand-made", TeamA).WithFile("about.html", "x").Build();
        await _host.Kubernetes.CustomObjects.CreateNamespacedCustomObjectAsync(handMade, GroupVersion.Group, GroupVersion.Version, TeamA, GroupVersion.Plural);
        await _host.WaitForAsync(TeamA, "hand-made", r => r is not null);
        await AssertProblemAsync(await client.DeleteAsync($"{Previews(TeamA)}/hand-made?purge=true"), HttpStatusCode.Conflict, "not created through the API");
        Assert.Equal(HttpStatusCode.Accepted, (await client.DeleteAsync($"{Previews(TeamA)}/hand-made")).StatusCode);
        Assert.True((await _host.GetResourceAsync(TeamA, "hand-made")).Spec.Suspend);
    }

    internal static async Task<JsonObject> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string detailContains)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(text)!.AsObject();
        Assert.Equal((int)status, (int)problem["status"]!);
        Assert.Contains(detailContains, (string?)problem["detail"] ?? string.Empty, StringComparison.Ordinal);
        return problem;
    }
}
