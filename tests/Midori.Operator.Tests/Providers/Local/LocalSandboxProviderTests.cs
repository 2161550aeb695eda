using System.Net;
using System.Text.Json;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Local;

namespace Midori.Operator.Tests.Providers.Local;

public sealed class LocalSandboxProviderTests
{
    private static readonly SandboxFile Index = LocalProviderHarness.Text("index.html", "<h1>hello</h1>");

    [Fact]
    public async Task CreateAsync_NewRequest_WritesMetadataAndReportsPending()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        using var cts = LocalProviderHarness.Cancel();

        // act
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(ttl: TimeSpan.FromMinutes(10)), cts.Token);

        // assert
        Assert.Matches("^local-[0-9a-f]{12}$", info.Id);
        Assert.Equal(SandboxState.Pending, info.State);
        Assert.Equal("uid-1", info.OwnerUid);
        Assert.Equal(LocalProviderHarness.T0, info.CreatedAt);
        Assert.Equal(LocalProviderHarness.T0.AddMinutes(10), info.EndAt);
        Assert.Equal("uid-1", info.Labels![SandboxLabels.OwnerUid]);
        Assert.Equal("midori", info.Labels["app"]);
        Assert.True(Directory.Exists(Path.Combine(harness.Root, info.Id, "project")));
        using var json = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(harness.Root, info.Id, "sandbox.json"), cts.Token));
        Assert.Equal("uid-1", json.RootElement.GetProperty("ownerUid").GetString());
        Assert.Equal("default", json.RootElement.GetProperty("namespace").GetString());
        Assert.Equal("demo", json.RootElement.GetProperty("name").GetString());
    }

    [Fact]
    public async Task CreateAsync_TtlAboveMaxLifetime_CapsEndAt()
    {
        // arrange
        await using var harness = new LocalProviderHarness(configure: o => o.MaxLifetime = TimeSpan.FromHours(1));
        using var cts = LocalProviderHarness.Cancel();

        // act
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(ttl: TimeSpan.FromHours(5)), cts.Token);

        // assert
        Assert.Equal(LocalProviderHarness.T0.AddHours(1), info.EndAt);
    }

    [Fact]
    public async Task StartAsync_StaticMode_ServesFilesWithContentTypes()
    {
        // arrange
        await using var harness = new LocalProviderHarness();

        // act
        var (id, preview) = await harness.StartStaticAsync(
            Index,
            LocalProviderHarness.Text("app.js", "console.log(1)"),
            LocalProviderHarness.Text("css/site.css", "body{}"),
            LocalProviderHarness.Text("docs/index.html", "<p>docs</p>"));
        using var root = await harness.GetAsync(preview.Url, "/", preview.Token);
        using var script = await harness.GetAsync(preview.Url, "app.js", preview.Token);
        using var css = await harness.GetAsync(preview.Url, "css/site.css", preview.Token);
        using var docs = await harness.GetAsync(preview.Url, "docs/", preview.Token);
        using var docsRedirect = await harness.GetAsync(preview.Url, "docs", preview.Token);
        using var missing = await harness.GetAsync(preview.Url, "nope.html", preview.Token);
        using var listing = await harness.GetAsync(preview.Url, "css/", preview.Token);
        using var cts = LocalProviderHarness.Cancel();
        var info = await harness.Provider.GetAsync(id, cts.Token);

        // assert
        Assert.Equal(SandboxState.Running, info!.State);
        Assert.Equal("127.0.0.1", preview.Url.Host);
        Assert.NotEqual(3000, preview.Url.Port);
        Assert.False(string.IsNullOrEmpty(preview.Token));
        Assert.Equal(HttpStatusCode.OK, root.StatusCode);
        Assert.Equal("text/html", root.Content.Headers.ContentType?.MediaType);
        Assert.Equal("<h1>hello</h1>", await root.Content.ReadAsStringAsync(cts.Token));
        Assert.Equal("console.log(1)", await script.Content.ReadAsStringAsync(cts.Token));
        Assert.Contains("javascript", script.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        Assert.Equal("text/css", css.Content.Headers.ContentType?.MediaType);
        Assert.Equal("<p>docs</p>", await docs.Content.ReadAsStringAsync(cts.Token));
        Assert.Equal(HttpStatusCode.MovedPermanently, docsRedirect.StatusCode);
        Assert.Equal("/docs/", docsRedirect.Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, listing.StatusCode);
    }

    [Theory]
    [InlineData("/../sandbox.json")]
    [InlineData("/%2e%2e/sandbox.json")]
    [InlineData("/..%2fsandbox.json")]
    [InlineData("/%2e%2e%2fsandbox.json")]
    [InlineData("/..%5csandbox.json")]
    [InlineData("/project/../../sandbox.json")]
    [InlineData("//etc/passwd")]
    [InlineData("/%00")]
    public async Task StaticServer_PathOutsideProject_Returns404(string rawPath)
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        var (_, preview) = await harness.StartStaticAsync(Index);

        // act
        var (status, text) = await LocalProviderHarness.RawGetAsync(preview.Url, rawPath, preview.Token);

        // assert
        Assert.True(status is 400 or 404, $"status {status}");
        Assert.DoesNotContain("ownerUid", text, StringComparison.Ordinal);
        Assert.DoesNotContain("root:", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StaticServer_PostRequest_Returns405()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        var (_, preview) = await harness.StartStaticAsync(Index);
        using var cts = LocalProviderHarness.Cancel();

        // act
        using var post = new HttpRequestMessage(HttpMethod.Post, preview.Url) { Content = new StringContent("x") };
        post.Headers.Add(LocalHttpFront.TokenHeader, preview.Token);
        using var response = await harness.Http.SendAsync(post, cts.Token);

        // assert
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
    }

    [Fact]
    public async Task StartAsync_SameRequestTwice_LeavesServerAlone()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        var (id, first) = await harness.StartStaticAsync(Index);
        using var cts = LocalProviderHarness.Cancel();

        // act
        await harness.Provider.StartAsync(id, LocalProviderHarness.StaticStart(), cts.Token);
        var second = await harness.Provider.GetPreviewAsync(id, 3000, cts.Token);

        // assert
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task StartAsync_DifferentRequest_RestartsWithNewPortAndToken()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        var (id, first) = await harness.StartStaticAsync(Index);
        using var cts = LocalProviderHarness.Cancel();

        // act
        await harness.Provider.StartAsync(id, LocalProviderHarness.StaticStart(environment: new Dictionary<string, string> { ["A"] = "1" }), cts.Token);
        var second = await harness.Provider.GetPreviewAsync(id, 3000, cts.Token);
        using var response = await harness.GetAsync(second.Url, "/", second.Token);

        // assert
        Assert.NotEqual(first.Token, second.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(await harness.StopsAnsweringAsync(first.Url));
    }

    [Fact]
    public async Task GetPreviewAsync_NotStarted_ThrowsTransient()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        using var cts = LocalProviderHarness.Cancel();
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);

        // act
        var error = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.GetPreviewAsync(info.Id, 3000, cts.Token));

        // assert
        Assert.True(error.IsTransient);
    }

    [Fact]
    public async Task GetPreviewAsync_PublicHostSet_UsesItInUrl()
    {
        // arrange
        await using var harness = new LocalProviderHarness(configure: o => o.PublicHost = "preview.localtest.me");

        // act
        var (_, preview) = await harness.StartStaticAsync(Index);

        // assert
        Assert.Equal("preview.localtest.me", preview.Url.Host);
        Assert.Equal("/", preview.Url.AbsolutePath);
    }

    [Fact]
    public async Task Advance_PastEndTime_StopsServingAndReportsStopped()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        var (id, preview) = await harness.StartStaticAsync(Index);
        using var cts = LocalProviderHarness.Cancel();
        using (var before = await harness.GetAsync(preview.Url, "/", preview.Token))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        // act
        harness.FakeTime.Advance(TimeSpan.FromMinutes(30));
        var info = await harness.Provider.GetAsync(id, cts.Token);

        // assert
        Assert.Equal(SandboxState.Stopped, info!.State);
        Assert.True(await harness.StopsAnsweringAsync(preview.Url));
        var start = await Assert.ThrowsAsync<SandboxProviderException>(
            () => harness.Provider.StartAsync(id, LocalProviderHarness.StaticStart(), cts.Token));
        Assert.False(start.IsTransient);
        Assert.Equal(SandboxState.Stopped, (await harness.Provider.GetAsync(id, cts.Token))!.State);
    }

    [Fact]
    public async Task ExtendAsync_LaterUntil_MovesEndAndKeepsServing()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        var (id, preview) = await harness.StartStaticAsync(Index);
        using var cts = LocalProviderHarness.Cancel();

        // act
        var newEnd = await harness.Provider.ExtendAsync(id, LocalProviderHarness.T0.AddHours(2), cts.Token);
        harness.FakeTime.Advance(TimeSpan.FromMinutes(45));
        using var response = await harness.GetAsync(preview.Url, "/", preview.Token);
        var info = await harness.Provider.GetAsync(id, cts.Token);

        // assert
        Assert.Equal(LocalProviderHarness.T0.AddHours(2), newEnd);
        Assert.Equal(newEnd, info!.EndAt);
        Assert.Equal(SandboxState.Running, info.State);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task ExtendAsync_EarlierUntil_NeverMovesBackward()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        using var cts = LocalProviderHarness.Cancel();
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(ttl: TimeSpan.FromMinutes(30)), cts.Token);

        // act
        var newEnd = await harness.Provider.ExtendAsync(info.Id, LocalProviderHarness.T0.AddMinutes(5), cts.Token);

        // assert
        Assert.Equal(LocalProviderHarness.T0.AddMinutes(30), newEnd);
    }

    [Fact]
    public async Task ExtendAsync_BeyondMaxLifetime_CapsAtCreatedPlusMax()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        using var cts = LocalProviderHarness.Cancel();
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);

        // act
        var newEnd = await harness.Provider.ExtendAsync(info.Id, LocalProviderHarness.T0.AddDays(3), cts.Token);

        // assert
        Assert.Equal(LocalProviderHarness.T0.AddHours(24), newEnd);
        using var json = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(harness.Root, info.Id, "sandbox.json"), cts.Token));
        Assert.Equal(LocalProviderHarness.T0.AddHours(24), json.RootElement.GetProperty("endAt").GetDateTimeOffset());
    }

    [Fact]
    public async Task ExtendAsync_AfterEndTime_AllowsStartAgain()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        var (id, _) = await harness.StartStaticAsync(Index);
        using var cts = LocalProviderHarness.Cancel();
        harness.FakeTime.Advance(TimeSpan.FromMinutes(31));

        // act
        await harness.Provider.ExtendAsync(id, harness.FakeTime.GetUtcNow().AddMinutes(10), cts.Token);
        await harness.Provider.StartAsync(id, LocalProviderHarness.StaticStart(), cts.Token);
        var preview = await harness.Provider.GetPreviewAsync(id, 3000, cts.Token);
        using var response = await harness.GetAsync(preview.Url, "/", preview.Token);

        // assert
        Assert.Equal(SandboxState.Running, (await harness.Provider.GetAsync(id, cts.Token))!.State);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task DeleteAsync_RunningSandbox_StopsServerRemovesDirectoryAndIsIdempotent()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        var (id, preview) = await harness.StartStaticAsync(Index);
        using var cts = LocalProviderHarness.Cancel();

        // act
        await harness.Provider.DeleteAsync(id, cts.Token);
        await harness.Provider.DeleteAsync(id, cts.Token);
        await harness.Provider.DeleteAsync("local-000000000000", cts.Token);
        await harness.Provider.DeleteAsync("../../tmp", cts.Token);

        // assert
        Assert.False(Directory.Exists(Path.Combine(harness.Root, id)));
        Assert.Null(await harness.Provider.GetAsync(id, cts.Token));
        Assert.Empty(await harness.Provider.ListAsync(null, cts.Token));
        Assert.True(await harness.StopsAnsweringAsync(preview.Url));
        var upload = await Assert.ThrowsAsync<SandboxProviderException>(
            () => harness.Provider.UploadFilesAsync(id, [Index], cts.Token));
        Assert.Contains("not found", upload.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListAsync_ByOwner_FindsExactlyThatOwnersSandboxesAcrossInstances()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        using var cts = LocalProviderHarness.Cancel();
        var a1 = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest("owner-a"), cts.Token);
        var a2 = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest("owner-a"), cts.Token);
        var b = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest("owner-b"), cts.Token);
        await harness.Provider.UploadFilesAsync(a1.Id, [Index], cts.Token);
        await harness.Provider.StartAsync(a1.Id, LocalProviderHarness.StaticStart(), cts.Token);
        await harness.Provider.DisposeAsync(); // operator restart

        // act
        var restarted = harness.NewProvider();
        var ownerA = await restarted.ListAsync("owner-a", cts.Token);
        var all = await restarted.ListAsync(null, cts.Token);
        var none = await restarted.ListAsync("owner-c", cts.Token);

        // assert
        Assert.Equal(new[] { a1.Id, a2.Id }.Order(), ownerA.Select(i => i.Id).Order());
        Assert.All(ownerA, i => Assert.Equal(SandboxState.Stopped, i.State));
        Assert.All(ownerA, i => Assert.Equal("owner-a", i.Labels![SandboxLabels.OwnerUid]));
        Assert.Equal(3, all.Count);
        Assert.Contains(all, i => i.Id == b.Id && i.OwnerUid == "owner-b");
        Assert.Empty(none);
        Assert.Equal(a1.EndAt, ownerA.Single(i => i.Id == a1.Id).EndAt);

        await restarted.DeleteAsync(a1.Id, cts.Token);
        Assert.False(Directory.Exists(Path.Combine(harness.Root, a1.Id)));
        Assert.Single(await restarted.ListAsync("owner-a", cts.Token));
    }

    [Fact]
    public async Task StartAsync_AfterRestart_ServesAgain()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        var (id, _) = await harness.StartStaticAsync(Index);
        await harness.Provider.DisposeAsync();
        var restarted = harness.NewProvider();
        using var cts = LocalProviderHarness.Cancel();

        // act
        await restarted.StartAsync(id, LocalProviderHarness.StaticStart(), cts.Token);
        var preview = await restarted.GetPreviewAsync(id, 3000, cts.Token);
        using var response = await harness.GetAsync(preview.Url, "/", preview.Token);

        // assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(SandboxState.Running, (await restarted.GetAsync(id, cts.Token))!.State);
    }

    [Fact]
    public async Task Restart_SandboxPastEndTime_ReportsStopped()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        using var cts = LocalProviderHarness.Cancel();
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(ttl: TimeSpan.FromMinutes(5)), cts.Token);
        await harness.Provider.DisposeAsync();
        harness.FakeTime.Advance(TimeSpan.FromMinutes(10));

        // act
        var restarted = harness.NewProvider();
        var loaded = await restarted.GetAsync(info.Id, cts.Token);

        // assert
        Assert.Equal(SandboxState.Stopped, loaded!.State);
    }

    [Fact]
    public async Task RequireToken_StaticMode_RejectsMissingOrWrongTokenAndAcceptsHeaderQueryCookie()
    {
        // arrange
        await using var harness = new LocalProviderHarness(configure: o => o.RequireToken = true);
        var (_, preview) = await harness.StartStaticAsync(Index, LocalProviderHarness.Text("app.js", "1"));
        using var cts = LocalProviderHarness.Cancel();

        // act
        using var missing = await harness.GetAsync(preview.Url, "/");
        using var wrong = await harness.GetAsync(preview.Url, "/", token: "nope");
        using var header = await harness.GetAsync(preview.Url, "/", token: preview.Token);
        using var query = await harness.GetAsync(preview.Url, "/?token=" + preview.Token);
        var cookie = query.Headers.GetValues("Set-Cookie").Single().Split(';')[0];
        using var withCookie = new HttpRequestMessage(HttpMethod.Get, new Uri(preview.Url, "app.js"));
        withCookie.Headers.Add("Cookie", cookie);
        using var cookieResponse = await harness.Http.SendAsync(withCookie, cts.Token);

        // assert
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.OK, header.StatusCode);
        Assert.Equal(HttpStatusCode.OK, query.StatusCode);
        Assert.Equal(HttpStatusCode.OK, cookieResponse.StatusCode);
    }

    [Fact]
    public async Task ManySandboxes_InParallel_EachServesItsOwnFiles()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        using var cts = LocalProviderHarness.Cancel();

        // act
        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(async i =>
        {
            var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest($"owner-{i}"), cts.Token);
            await harness.Provider.UploadFilesAsync(info.Id, [LocalProviderHarness.Text("index.html", $"sandbox {i}")], cts.Token);
            await Task.WhenAll(
                harness.Provider.StartAsync(info.Id, LocalProviderHarness.StaticStart(), cts.Token),
                harness.Provider.StartAsync(info.Id, LocalProviderHarness.StaticStart(), cts.Token));
            var preview = await harness.Provider.GetPreviewAsync(info.Id, 3000, cts.Token);
            using var response = await harness.GetAsync(preview.Url, "/", preview.Token);
            return (i, Body: await response.Content.ReadAsStringAsync(cts.Token));
        }));

        // assert
        Assert.All(results, r => Assert.Equal($"sandbox {r.i}", r.Body));
        Assert.Equal(16, (await harness.Provider.ListAsync(null, cts.Token)).Count);
    }

    [Fact]
    public async Task DisposeAsync_RunningSandboxes_StopsServingButKeepsDirectories()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        var (id, preview) = await harness.StartStaticAsync(Index);

        // act
        await harness.Provider.DisposeAsync();

        // assert
        Assert.True(await harness.StopsAnsweringAsync(preview.Url));
        Assert.True(File.Exists(Path.Combine(harness.Root, id, "sandbox.json")));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => harness.Provider.GetAsync(id, CancellationToken.None));
    }
}
