using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers;
using Midori.Operator.Providers.E2B;
using Midori.Operator.Testing.Fakes.E2B;
using Midori.Operator.Testing;
using Midori.Operator.Files;

namespace Midori.Operator.Tests.Providers.E2B;

/// <summary>Behaviour of the E2B provider against the loopback fake: state, expiry, processes, tokens, faults, credentials.</summary>
public sealed class E2BSandboxProviderTests
{
    private static readonly TimeSpan Bound = TestWaits.Bound;

    private static IReadOnlyList<SandboxFile> Files(params (string Path, string Content)[] files) =>
        files.Select(f => new SandboxFile(f.Path, Encoding.UTF8.GetBytes(f.Content))).ToList();

    [Fact]
    public async Task Lifecycle_CreateUploadStartPreviewExtendDeleteFilesKill_BehavesLikeE2B()
    {
        // arrange
        await using var h = await E2BProviderHarness.StartAsync();
        var provider = h.Provider;

        // act: create
        var info = await provider.CreateAsync(E2BProviderHarness.CreateRequest(ttl: TimeSpan.FromMinutes(30)), CancellationToken.None).WaitAsync(Bound);

        // assert: E2B's own endAt is read back, the owner UID and marker travel as metadata
        var sandbox = h.Fake.Sandbox(info.Id)!;
        Assert.Equal(SandboxState.Running, info.State);
        Assert.Equal(sandbox.EndAt, info.EndAt);
        Assert.Equal(h.Time.GetUtcNow().AddMinutes(30), sandbox.EndAt);
        Assert.Equal("base", sandbox.TemplateId);
        Assert.Equal("uid-1", sandbox.Metadata[SandboxLabels.OwnerUid]);
        Assert.Equal(SandboxLabels.ManagedByOperator, sandbox.Metadata[SandboxLabels.ProviderManagedBy]);
        Assert.True(sandbox.Secure);
        Assert.Equal("uid-1", Assert.Single(await provider.ListAsync("uid-1", CancellationToken.None)).OwnerUid);

        // upload: one request for the whole set, into the project directory
        await provider.UploadFilesAsync(info.Id, Files(("index.html", "<h1>hi</h1>"), ("about/index.html", "<p>about</p>"), ("src/app.js", "1"), ("src/ünï \"q\".css", "u")), CancellationToken.None);
        Assert.Equal(1, h.Fake.CountRequests("POST", "/files"));
        Assert.Empty(h.Fake.Violations);
        Assert.Equal("u", Encoding.UTF8.GetString(sandbox.Files["/home/user/project/src/ünï \"q\".css"]));
        Assert.Equal("<p>about</p>", Encoding.UTF8.GetString(sandbox.Files["/home/user/project/about/index.html"]));

        // start + preview: the page serves through the preview host
        await provider.StartAsync(info.Id, E2BProviderHarness.StartRequest(), CancellationToken.None).WaitAsync(Bound);
        var preview = await provider.GetPreviewAsync(info.Id, 3000, CancellationToken.None);
        Assert.Null(preview.Token); // public traffic by default
        using var http = new HttpClient();
        Assert.Equal("<h1>hi</h1>", await http.GetStringAsync(preview.Url));
        Assert.Equal("<p>about</p>", await http.GetStringAsync(new Uri(preview.Url, "about/")));

        // extend: further than the current end → refreshed and read back
        var extended = await provider.ExtendAsync(info.Id, h.Time.GetUtcNow().AddMinutes(45), CancellationToken.None);
        Assert.Equal(h.Time.GetUtcNow().AddMinutes(45), extended);
        Assert.Equal(sandbox.EndAt, extended);

        // delete files through the filesystem RPC; a missing one counts as removed
        await provider.DeleteFilesAsync(info.Id, ["src/app.js", "never/existed.txt"], CancellationToken.None);
        Assert.False(sandbox.Files.ContainsKey("/home/user/project/src/app.js"));
        Assert.True(sandbox.Files.ContainsKey("/home/user/project/index.html"));

        // kill: gone, and a second kill is a no-op
        await provider.DeleteAsync(info.Id, CancellationToken.None);
        Assert.Null(await provider.GetAsync(info.Id, CancellationToken.None));
        await provider.DeleteAsync(info.Id, CancellationToken.None);
        Assert.Empty(await provider.ListAsync("uid-1", CancellationToken.None));
        Assert.Empty(h.Fake.Violations);
    }

    [Fact]
    public async Task GetAsync_AfterEndAt_ReturnsNullAndPreviewHostAnswers502()
    {
        // arrange
        await using var h = await E2BProviderHarness.StartAsync();
        var info = await h.Provider.CreateAsync(E2BProviderHarness.CreateRequest(ttl: TimeSpan.FromMinutes(10)), CancellationToken.None);
        await h.Provider.UploadFilesAsync(info.Id, Files(("index.html", "x")), CancellationToken.None);
        await h.Provider.StartAsync(info.Id, E2BProviderHarness.StartRequest(), CancellationToken.None).WaitAsync(Bound);
        var preview = await h.Provider.GetPreviewAsync(info.Id, 3000, CancellationToken.None);

        // act
        h.Time.Advance(TimeSpan.FromMinutes(10));

        // assert
        Assert.Null(await h.Provider.GetAsync(info.Id, CancellationToken.None));
        Assert.Empty(await h.Provider.ListAsync(null, CancellationToken.None));
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.BadGateway, (await http.GetAsync(preview.Url)).StatusCode);
        var ex = await Assert.ThrowsAsync<SandboxProviderException>(() => h.Provider.ExtendAsync(info.Id, h.Time.GetUtcNow().AddMinutes(5), CancellationToken.None));
        Assert.False(ex.IsTransient);
        Assert.Contains("not found", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListAsync_PagesThroughAllSandboxes_AndKeepsOnlyTheOwnersOnes()
    {
        // arrange: one sandbox per page, three sandboxes of two owners, one foreign sandbox without our marker
        await using var h = await E2BProviderHarness.StartAsync(fake: o => o.MaxPageSize = 1);
        var a1 = await h.Provider.CreateAsync(E2BProviderHarness.CreateRequest("uid-a"), CancellationToken.None);
        h.Time.Advance(TimeSpan.FromSeconds(1));
        var a2 = await h.Provider.CreateAsync(E2BProviderHarness.CreateRequest("uid-a"), CancellationToken.None);
        var b = await h.Provider.CreateAsync(E2BProviderHarness.CreateRequest("uid-b"), CancellationToken.None);
        using (var foreign = new HttpRequestMessage(HttpMethod.Post, new Uri(h.Fake.BaseUri, "sandboxes")))
        {
            foreign.Headers.Add("X-API-Key", h.Fake.ApiKey);
            foreign.Content = new StringContent("""{"templateID":"base","timeout":600,"metadata":{"preview.midori.dev/owner-uid":"uid-a"}}""", Encoding.UTF8, "application/json");
            using var http = new HttpClient();
            (await http.SendAsync(foreign)).EnsureSuccessStatusCode();
        }

        h.Fake.ClearRequests();

        // act
        var owned = await h.Provider.ListAsync("uid-a", CancellationToken.None);
        var all = await h.Provider.ListAsync(null, CancellationToken.None);

        // assert: paging followed X-Next-Token; oldest first; the foreign sandbox (no managed-by marker) is never ours
        Assert.Equal([a1.Id, a2.Id], owned.Select(i => i.Id));
        Assert.Equal(new[] { a1.Id, a2.Id, b.Id }.Order(), all.Select(i => i.Id).Order());
        Assert.Equal(2 + 3, h.Fake.CountRequests("GET", "/v2/sandboxes"));
    }

    [Fact]
    public async Task UploadFilesAsync_BatchesBySizeAndCount_AndRefusesPathsOutsideTheProject()
    {
        // arrange
        await using var h = await E2BProviderHarness.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:E2B:UploadBatchBytes"] = "100",
            ["Providers:E2B:UploadBatchFiles"] = "3",
        });
        var info = await h.Provider.CreateAsync(E2BProviderHarness.CreateRequest(), CancellationToken.None);
        var files = Enumerable.Range(0, 7).Select(i => new SandboxFile($"f{i}.txt", new byte[40])).ToList(); // 2 per 100 bytes

        // act
        await h.Provider.UploadFilesAsync(info.Id, files, CancellationToken.None);
        var refused = await Assert.ThrowsAsync<SandboxProviderException>(() => h.Provider.UploadFilesAsync(info.Id, Files(("../etc/passwd", "x")), CancellationToken.None));

        // assert
        Assert.Equal(4, h.Fake.CountRequests("POST", "/files"));
        Assert.Equal(7, h.Fake.Sandbox(info.Id)!.Files.Count);
        Assert.False(refused.IsTransient);
        Assert.Equal(4, h.Fake.CountRequests("POST", "/files")); // nothing sent for the refused set
    }

    [Fact]
    public async Task StartAsync_ProcessOutlivesTheStartCall_BecauseNoDeadlineIsSent()
    {
        // arrange
        await using var h = await E2BProviderHarness.StartAsync();
        var info = await h.Provider.CreateAsync(E2BProviderHarness.CreateRequest(ttl: TimeSpan.FromHours(2)), CancellationToken.None);
        await h.Provider.UploadFilesAsync(info.Id, Files(("index.html", "alive")), CancellationToken.None);

        // act: start returns, then far more time passes than any SDK default deadline (60 s)
        await h.Provider.StartAsync(info.Id, E2BProviderHarness.StartRequest(), CancellationToken.None).WaitAsync(Bound);
        h.Time.Advance(TimeSpan.FromHours(1));

        // assert
        var start = Assert.Single(h.Fake.Requests, r => r.Path == "/process.Process/Start");
        Assert.True(start.ConnectTimeoutMs is null or "0", $"Connect-Timeout-Ms was {start.ConnectTimeoutMs}");
        var process = Assert.Single(h.Fake.Sandbox(info.Id)!.Processes);
        Assert.True(process.IsRunning(h.Time.GetUtcNow()));
        Assert.Equal(E2BSandboxProvider.DevServerTag, process.Tag);
        Assert.Equal(["/bin/bash"], new[] { process.Cmd });
        Assert.Equal(["-l", "-c", "python3 -m http.server \"$PORT\" --bind 0.0.0.0"], process.Args);
        Assert.Equal("3000", process.Envs["PORT"]);
        Assert.Equal("/home/user/project", process.Cwd);
        using var http = new HttpClient();
        Assert.Equal("alive", await http.GetStringAsync((await h.Provider.GetPreviewAsync(info.Id, 3000, CancellationToken.None)).Url));
        Assert.Empty(h.Fake.Violations);
    }

    [Fact]
    public async Task FakeEnvd_KillsAProcessWhoseStartCarriedADeadline_LikeEnvd()
    {
        // arrange: the emulation the test above relies on, shown with a raw Start carrying the SDK's default deadline
        await using var h = await E2BProviderHarness.StartAsync(new Dictionary<string, string?> { ["Providers:E2B:Secure"] = "false" });
        var info = await h.Provider.CreateAsync(E2BProviderHarness.CreateRequest(), CancellationToken.None);
        var body = ConnectEnvelope.Frame(Encoding.UTF8.GetBytes("""{"process":{"cmd":"/bin/bash","args":["-l","-c","npm run dev"],"envs":{"PORT":"3000"}}}"""));
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(h.Fake.BaseUri, "process.Process/Start")) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new("application/connect+json");
        request.Headers.Add("E2b-Sandbox-Id", info.Id);
        request.Headers.Add("E2b-Sandbox-Port", "49983");
        request.Headers.Add("Connect-Timeout-Ms", "60000");
        using var http = new HttpClient();

        // act
        using (var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var process = Assert.Single(h.Fake.Sandbox(info.Id)!.Processes);
        var runningBefore = process.IsRunning(h.Time.GetUtcNow());
        h.Time.Advance(TimeSpan.FromSeconds(61));

        // assert
        Assert.True(runningBefore);
        Assert.False(process.IsRunning(h.Time.GetUtcNow()));
    }

    [Fact]
    public async Task StartAsync_IsIdempotent_AndReplacesTheServerWhenTheRequestChanges()
    {
        // arrange
        await using var h = await E2BProviderHarness.StartAsync();
        var info = await h.Provider.CreateAsync(E2BProviderHarness.CreateRequest(), CancellationToken.None);
        await h.Provider.UploadFilesAsync(info.Id, Files(("index.html", "x")), CancellationToken.None);

        // act
        await h.Provider.StartAsync(info.Id, E2BProviderHarness.StartRequest(), CancellationToken.None).WaitAsync(Bound);
        await h.Provider.StartAsync(info.Id, E2BProviderHarness.StartRequest(), CancellationToken.None).WaitAsync(Bound);
        var afterSame = h.Fake.CountRequests("POST", "/process.Process/Start");
        await h.Restarted().StartAsync(info.Id, E2BProviderHarness.StartRequest(), CancellationToken.None).WaitAsync(Bound); // found by tag after a restart
        await h.Provider.StartAsync(info.Id, E2BProviderHarness.StartRequest("npm run dev"), CancellationToken.None).WaitAsync(Bound);

        // assert
        Assert.Equal(1, afterSame);
        Assert.Equal(2, h.Fake.CountRequests("POST", "/process.Process/Start"));
        Assert.Equal(1, h.Fake.CountRequests("POST", "/process.Process/SendSignal"));
        var running = Assert.Single(h.Fake.Sandbox(info.Id)!.Processes, p => p.IsRunning(h.Time.GetUtcNow()));
        Assert.Equal("npm run dev", running.Args[^1]);
        Assert.Empty(h.Fake.Violations);
    }

    [Fact]
    public async Task StartAsync_WhenTheDevServerExits_FailsPermanentlyWithExitCodeAndOutput()
    {
        // arrange
        await using var h = await E2BProviderHarness.StartAsync();
        h.Fake.ExitingCommands["npm run broken"] = (127, "sh: vite: command not found");
        var info = await h.Provider.CreateAsync(E2BProviderHarness.CreateRequest(), CancellationToken.None);

        // act
        var ex = await Assert.ThrowsAsync<SandboxProviderException>(() => h.Provider.StartAsync(info.Id, E2BProviderHarness.StartRequest("npm run broken"), CancellationToken.None).WaitAsync(Bound));

        // assert
        Assert.False(ex.IsTransient);
        Assert.Contains("exited with code 127", ex.Message, StringComparison.Ordinal);
        Assert.Contains("vite: command not found", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetPreviewAsync_WithPublicTrafficOff_ReturnsTheTrafficToken_EvenAfterARestart()
    {
        // arrange
        var settings = new Dictionary<string, string?> { ["Providers:E2B:AllowPublicTraffic"] = "false" };
        await using var h = await E2BProviderHarness.StartAsync(settings);
        var info = await h.Provider.CreateAsync(E2BProviderHarness.CreateRequest(), CancellationToken.None);
        await h.Provider.UploadFilesAsync(info.Id, Files(("index.html", "private")), CancellationToken.None);
        await h.Provider.StartAsync(info.Id, E2BProviderHarness.StartRequest(), CancellationToken.None).WaitAsync(Bound);
        var endBefore = h.Fake.Sandbox(info.Id)!.EndAt;

        // act
        var preview = await h.Provider.GetPreviewAsync(info.Id, 3000, CancellationToken.None);
        var afterRestart = await h.Restarted(settings).GetPreviewAsync(info.Id, 3000, CancellationToken.None); // token only via /connect

        // assert
        Assert.Equal(h.Fake.Sandbox(info.Id)!.TrafficAccessToken, preview.Token);
        Assert.Equal(preview.Token, afterRestart.Token);
        Assert.Equal(1, h.Fake.CountRequests("POST", $"/sandboxes/{info.Id}/connect"));
        Assert.Equal(endBefore, h.Fake.Sandbox(info.Id)!.EndAt); // connect did not move the end time
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync(preview.Url)).StatusCode);
        using var withToken = new HttpRequestMessage(HttpMethod.Get, preview.Url);
        withToken.Headers.Add("e2b-traffic-access-token", preview.Token);
        Assert.Equal("private", await (await http.SendAsync(withToken)).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ExtendAsync_NeverShortens_RefreshesWithinAnHour_SetsTimeoutBeyond()
    {
        // arrange
        await using var h = await E2BProviderHarness.StartAsync();
        var info = await h.Provider.CreateAsync(E2BProviderHarness.CreateRequest(ttl: TimeSpan.FromMinutes(30)), CancellationToken.None);
        var now = h.Time.GetUtcNow();

        // act + assert: earlier than the current end → nothing sent, end unchanged
        Assert.Equal(now.AddMinutes(30), await h.Provider.ExtendAsync(info.Id, now.AddMinutes(10), CancellationToken.None));
        Assert.Equal(0, h.Fake.CountRequests("POST", $"/sandboxes/{info.Id}/refreshes") + h.Fake.CountRequests("POST", $"/sandboxes/{info.Id}/timeout"));

        // within the hour → /refreshes
        Assert.Equal(now.AddMinutes(50), await h.Provider.ExtendAsync(info.Id, now.AddMinutes(50), CancellationToken.None));
        Assert.Equal(1, h.Fake.CountRequests("POST", $"/sandboxes/{info.Id}/refreshes"));

        // beyond an hour → /timeout
        Assert.Equal(now.AddHours(3), await h.Provider.ExtendAsync(info.Id, now.AddHours(3), CancellationToken.None));
        Assert.Equal(1, h.Fake.CountRequests("POST", $"/sandboxes/{info.Id}/timeout"));
    }

    [Fact]
    public async Task ExtendAsync_PastTheTeamsMaximumLength_ReturnsTheCappedEnd()
    {
        // arrange: a Hobby-like team (1 h)
        await using var h = await E2BProviderHarness.StartAsync(fake: o => o.MaxLifetime = TimeSpan.FromHours(1));
        var info = await h.Provider.CreateAsync(E2BProviderHarness.CreateRequest(ttl: TimeSpan.FromMinutes(30)), CancellationToken.None);

        // act
        var end = await h.Provider.ExtendAsync(info.Id, h.Time.GetUtcNow().AddHours(5), CancellationToken.None);

        // assert: E2B capped it at startedAt + 1 h, and we report what E2B says
        Assert.Equal(info.CreatedAt!.Value.AddHours(1), end);
    }

    [Fact]
    public async Task CreateAsync_On429WithRetryAfter_WaitsThatLongThenSucceeds()
    {
        // arrange
        await using var h = await E2BProviderHarness.StartAsync();
        h.Fake.AddFault(new FakeE2BFault { Method = "POST", PathPrefix = "/sandboxes", Status = 429, RetryAfter = TimeSpan.FromSeconds(7) });

        // act
        var create = h.Provider.CreateAsync(E2BProviderHarness.CreateRequest(), CancellationToken.None);
        await WaitForTimerAsync(h, TimeSpan.FromSeconds(7));
        h.Time.Advance(TimeSpan.FromSeconds(7));
        var info = await create.WaitAsync(Bound);

        // assert
        var attempts = h.Fake.Requests.Where(r => r.Method == "POST" && r.Path == "/sandboxes").ToList();
        Assert.Equal([429, 201], attempts.Select(r => r.Status));
        Assert.Equal(TimeSpan.FromSeconds(7), attempts[1].At - attempts[0].At);
        Assert.NotNull(h.Fake.Sandbox(info.Id));
    }

    [Fact]
    public async Task ServerErrors_AreRetriedForIdempotentCalls_ButNotForCreate()
    {
        // arrange
        await using var h = await E2BProviderHarness.StartAsync();
        var info = await h.Provider.CreateAsync(E2BProviderHarness.CreateRequest(), CancellationToken.None);
        h.Fake.ClearRequests();
        h.Fake.AddFault(new FakeE2BFault { Method = "GET", PathPrefix = "/sandboxes/", Status = 503, Count = 2 });
        h.Fake.AddFault(new FakeE2BFault { Method = "POST", PathPrefix = "/sandboxes", Status = 502 });

        // act
        var got = await h.Provider.GetAsync(info.Id, CancellationToken.None).WaitAsync(Bound);
        var ex = await Assert.ThrowsAsync<SandboxProviderException>(() => h.Provider.CreateAsync(E2BProviderHarness.CreateRequest("uid-2"), CancellationToken.None).WaitAsync(Bound));

        // assert
        Assert.Equal(info.Id, got!.Id);
        Assert.Equal(3, h.Fake.CountRequests("GET", "/sandboxes/"));
        Assert.Equal(1, h.Fake.CountRequests("POST", "/sandboxes"));
        Assert.True(ex.IsTransient);
        Assert.Contains("HTTP 502", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UploadFilesAsync_WhenAnAttemptHangs_TimesOutAndRetries()
    {
        // arrange
        await using var h = await E2BProviderHarness.StartAsync(new Dictionary<string, string?> { ["Providers:E2B:Http:AttemptTimeout"] = "00:00:05" });
        var info = await h.Provider.CreateAsync(E2BProviderHarness.CreateRequest(), CancellationToken.None);
        var slow = h.Fake.AddFault(new FakeE2BFault { Method = "POST", PathPrefix = "/files", Hold = true });

        // act
        var upload = h.Provider.UploadFilesAsync(info.Id, Files(("index.html", "late but complete")), CancellationToken.None);
        await slow.Held.Task.WaitAsync(Bound);
        h.Time.Advance(TimeSpan.FromSeconds(5));
        await upload.WaitAsync(Bound);

        // assert
        Assert.Equal(2, h.Fake.CountRequests("POST", "/files"));
        Assert.Equal("late but complete", Encoding.UTF8.GetString(h.Fake.Sandbox(info.Id)!.Files["/home/user/project/index.html"]));
    }

    [Fact]
    public async Task EveryCall_WithoutApiKey_FailsPermanentlyWithAClearMessage_AndSendsNothing()
    {
        // arrange
        await using var fake = await FakeE2BServer.StartAsync();
        var settings = fake.ProviderSettings();
        settings["Providers:E2B:ApiKey"] = null;
        await using var services = E2BProviderHarness.BuildServices(settings, TimeProvider.System);
        var provider = services.GetRequiredService<E2BSandboxProvider>();
        var calls = new Func<Task>[]
        {
            () => provider.CreateAsync(E2BProviderHarness.CreateRequest(), CancellationToken.None),
            () => provider.GetAsync("x", CancellationToken.None),
            () => provider.ListAsync(null, CancellationToken.None),
            () => provider.UploadFilesAsync("x", Files(("a", "b")), CancellationToken.None),
            () => provider.DeleteFilesAsync("x", ["a"], CancellationToken.None),
            () => provider.StartAsync("x", E2BProviderHarness.StartRequest(), CancellationToken.None),
            () => provider.GetPreviewAsync("x", 3000, CancellationToken.None),
            () => provider.ExtendAsync("x", DateTimeOffset.MaxValue, CancellationToken.None),
            () => provider.DeleteAsync("x", CancellationToken.None),
        };

        // act + assert
        foreach (var call in calls)
        {
            var ex = await Assert.ThrowsAsync<SandboxProviderException>(call);
            Assert.False(ex.IsTransient);
            Assert.Contains("E2B_API_KEY", ex.Message, StringComparison.Ordinal);
        }

        Assert.Empty(fake.Requests);
        var health = services.GetRequiredService<IProviderHealth>().Get(ProviderNames.E2B);
        Assert.Equal((false, "CredentialsMissing"), (health.Available, health.Reason));
    }

    [Fact]
    public async Task Calls_WithAWrongApiKey_FailPermanently_ReportCredentialsRejected_AndNeverEchoTheKey()
    {
        // arrange
        const string wrongKey = "e2b_wrong_0123456789";
        await using var h = await E2BProviderHarness.StartAsync(new Dictionary<string, string?> { ["Providers:E2B:ApiKey"] = wrongKey });

        // act
        var ex = await Assert.ThrowsAsync<SandboxProviderException>(() => h.Provider.CreateAsync(E2BProviderHarness.CreateRequest(), CancellationToken.None));

        // assert
        Assert.False(ex.IsTransient);
        Assert.Contains("rejected the credentials", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrongKey, ex.Message, StringComparison.Ordinal);
        Assert.Equal(1, h.Fake.CountRequests("POST", "/sandboxes")); // 401 is not retried
        var health = h.Health.Get(ProviderNames.E2B);
        Assert.Equal((false, "CredentialsRejected"), (health.Available, health.Reason));
    }

    /// <summary>Waits until the pipeline arms a delay of <paramref name="due"/> (e.g. a Retry-After), so advancing time releases it.</summary>
    private static async Task WaitForTimerAsync(E2BProviderHarness h, TimeSpan due)
    {
        using var timeout = new CancellationTokenSource(Bound);
        await foreach (var created in h.Time.CreatedTimers.ReadAllAsync(timeout.Token))
        {
            if (created == due)
            {
                return;
            }
        }
    }
}
