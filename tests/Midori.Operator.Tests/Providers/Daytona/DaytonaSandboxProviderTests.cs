using Midori.Operator.Api.V1Alpha1;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Daytona;
using Midori.Operator.Testing.Fakes;
using Midori.Operator.Testing;

namespace Midori.Operator.Tests.Providers.Daytona;

/// <summary>The Daytona provider against the loopback fake: the lifecycle and what a spec mock cannot show.</summary>
public sealed class DaytonaSandboxProviderTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Create_SendsSnapshotOwnerLabelsAutoStopJustPastIdleAndEphemeralAutoDelete()
    {
        await using var harness = await DaytonaHarness.StartAsync();
        var uid = Guid.NewGuid().ToString();

        var info = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(uid, template: "midori-node-20", idleSeconds: 300), None);

        var sandbox = harness.Fake.Find(info.Id)!;
        Assert.Equal(("midori-" + uid, "midori-node-20", 7, 0), (sandbox.Name, sandbox.Snapshot, sandbox.AutoStopMinutes, sandbox.AutoDeleteMinutes));
        Assert.Equal(uid, sandbox.Labels[SandboxLabels.OwnerUid]);
        Assert.Equal("test-install", sandbox.Labels[SandboxLabels.Installation]);
        Assert.Equal("demo", sandbox.Labels[SandboxLabels.Name]);
        Assert.Equal((uid, SandboxState.Running), (info.OwnerUid, info.State));
        Assert.Null(info.EndAt); // Daytona has no end time: the operator owns expiry
    }

    [Theory]
    [InlineData("image:node:20-slim", "FROM node:20-slim\n")]
    [InlineData("dockerfile:FROM node:20\nRUN npm i -g pnpm", "FROM node:20\nRUN npm i -g pnpm\n")]
    [InlineData("FROM python:3.12\nWORKDIR /app", "FROM python:3.12\nWORKDIR /app\n")]
    public async Task Create_BuildsFromDockerfileTemplates(string template, string dockerfile)
    {
        await using var harness = await DaytonaHarness.StartAsync();

        var info = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(template: template), None);

        var sandbox = harness.Fake.Find(info.Id)!;
        Assert.Equal((null, dockerfile), (sandbox.Snapshot, sandbox.Dockerfile));
    }

    [Fact]
    public async Task Create_WithoutTemplateUsesConfiguredDefaultSnapshot()
    {
        await using var harness = await DaytonaHarness.StartAsync(new Dictionary<string, string?> { ["Providers:Daytona:DefaultSnapshot"] = "team-default" });

        var info = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None);

        Assert.Equal("team-default", harness.Fake.Find(info.Id)!.Snapshot);
    }

    [Fact]
    public async Task Lifecycle_UploadStartPreviewKeepAliveDeleteFilesDelete()
    {
        await using var harness = await DaytonaHarness.StartAsync();
        var uid = Guid.NewGuid().ToString();
        var provider = harness.Provider;

        var info = await provider.CreateAsync(DaytonaHarness.CreateRequest(uid), None);
        Assert.Equal(info.Id, Assert.Single(await provider.ListAsync(uid, None)).Id);
        await provider.UploadFilesAsync(info.Id, [File("index.html", "<h1>hi</h1>"), File("src/app.js", "x"), File("old.txt", "bye")], None);
        await provider.StartAsync(info.Id, DaytonaHarness.StartRequest(env: new Dictionary<string, string> { ["NODE_ENV"] = "it's dev" }), None);
        var preview = await provider.GetPreviewAsync(info.Id, 3000, None);
        Assert.Null(await provider.ExtendAsync(info.Id, DateTimeOffset.MaxValue, None)); // keep-alive; no end time to report
        Assert.Equal(1, harness.Fake.Count("keep_alive"));
        await provider.DeleteFilesAsync(info.Id, ["old.txt", "missing.txt"], None);

        using var http = new HttpClient();
        Assert.Equal("<h1>hi</h1>", await http.GetStringAsync(WithToken(preview)));
        var sandbox = harness.Fake.Find(info.Id)!;
        Assert.Equal(["/home/daytona/project/index.html", "/home/daytona/project/src/app.js"], sandbox.Files.Keys.Order());
        var command = Assert.Single(sandbox.Commands);
        Assert.StartsWith(DaytonaSandboxProvider.SessionPrefix, command.SessionId);
        Assert.Contains("export NODE_ENV='it'\\''s dev'; export PORT='3000';", command.Command);
        Assert.EndsWith("cd '/home/daytona/project' && python3 -m http.server 3000 --bind 0.0.0.0", command.Command);
        Assert.Equal(SandboxState.Running, (await provider.GetAsync(info.Id, None))!.State);

        await provider.DeleteAsync(info.Id, None);
        Assert.Null(await provider.GetAsync(info.Id, None));
        Assert.Empty(await provider.ListAsync(uid, None));
        await provider.DeleteAsync(info.Id, None); // gone counts as done
        Assert.Null(await provider.ExtendAsync(info.Id, DateTimeOffset.MaxValue, None));
    }

    [Fact]
    public async Task Upload_SendsOneMultipartRequestPerBoundedBatch()
    {
        await using var harness = await DaytonaHarness.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:Daytona:UploadBatchFiles"] = "100",
            ["Providers:Daytona:UploadBatchBytes"] = "65536",
        });
        var info = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None);
        var small = Enumerable.Range(0, 250).Select(i => File($"f/{i}.txt", new string('a', 10))).ToList();
        var large = Enumerable.Range(0, 4).Select(i => new SandboxFile($"big/{i}.bin", new byte[40_000])).ToList();

        await harness.Provider.UploadFilesAsync(info.Id, small, None);
        Assert.Equal(3, harness.Fake.Count("upload")); // 100 + 100 + 50 by count
        await harness.Provider.UploadFilesAsync(info.Id, large, None);
        Assert.Equal(3 + 4, harness.Fake.Count("upload")); // 40 kB each: two never fit under 64 kB

        Assert.Equal(254, harness.Fake.Find(info.Id)!.Files.Count);
    }

    [Fact]
    public async Task Upload_RefusesPathsLeavingTheProject()
    {
        await using var harness = await DaytonaHarness.StartAsync();
        var info = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None);

        var error = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.UploadFilesAsync(info.Id, [File("../etc/passwd", "x")], None));

        Assert.False(error.IsTransient);
        Assert.Equal(0, harness.Fake.Count("upload"));
    }

    [Fact]
    public async Task Start_SameRequestRunsOnce_ChangedRequestReplacesTheSession()
    {
        await using var harness = await DaytonaHarness.StartAsync();
        var info = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None);
        await harness.Provider.UploadFilesAsync(info.Id, [File("index.html", "x")], None);

        await harness.Provider.StartAsync(info.Id, DaytonaHarness.StartRequest("npm run dev"), None);
        await harness.Provider.StartAsync(info.Id, DaytonaHarness.StartRequest("npm run dev"), None);
        Assert.Equal(1, harness.Fake.Count("exec"));

        await harness.Provider.StartAsync(info.Id, DaytonaHarness.StartRequest("npm run dev", env: new Dictionary<string, string> { ["A"] = "1" }), None);

        Assert.Equal((2, 1), (harness.Fake.Count("exec"), harness.Fake.Count("delete_session")));
        var command = Assert.Single(harness.Fake.Find(info.Id)!.Commands);
        Assert.Contains("export A='1'", command.Command);
    }

    [Fact]
    public async Task Start_DevServerThatExits_IsAPermanentErrorNamingTheExitCode()
    {
        await using var harness = await DaytonaHarness.StartAsync();
        harness.Fake.DevServerExitCode = 127;
        var info = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None);

        var error = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.StartAsync(info.Id, DaytonaHarness.StartRequest("npm run dev"), None));

        Assert.False(error.IsTransient);
        Assert.Contains("exited with code 127", error.Message);
    }

    [Fact]
    public async Task Start_RejectsEnvironmentNamesThatAreNotShellNames()
    {
        await using var harness = await DaytonaHarness.StartAsync();
        var info = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None);

        var error = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.StartAsync(info.Id,
            DaytonaHarness.StartRequest(env: new Dictionary<string, string> { ["A;rm -rf /"] = "1" }), None));

        Assert.False(error.IsTransient);
        Assert.Equal(0, harness.Fake.Count("exec"));
    }

    [Fact]
    public async Task Preview_TokenChangesOnRestart_AndIsFetchedAgainAfterTheNextStart()
    {
        await using var harness = await DaytonaHarness.StartAsync();
        var info = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None);
        await harness.Provider.UploadFilesAsync(info.Id, [File("index.html", "v1")], None);
        await harness.Provider.StartAsync(info.Id, DaytonaHarness.StartRequest(), None);
        var before = await harness.Provider.GetPreviewAsync(info.Id, 3000, None);

        harness.Fake.Restart(info.Id); // Daytona restarted it: memory (the dev server) is gone, the token is new
        await harness.Provider.StartAsync(info.Id, DaytonaHarness.StartRequest(), None);
        var after = await harness.Provider.GetPreviewAsync(info.Id, 3000, None);

        Assert.NotEqual(before.Token, after.Token);
        Assert.Equal(2, harness.Fake.Count("exec")); // the session died with the restart, so the server was started again
        using var http = new HttpClient();
        Assert.Equal("v1", await http.GetStringAsync(WithToken(after)));
        using var stale = await http.GetAsync(WithToken(before));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, stale.StatusCode);
    }

    [Fact]
    public async Task Expiry_WithoutKeepAliveAutoStopsAndIsGone_KeepAliveHoldsIt()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));
        await using var harness = await DaytonaHarness.StartAsync(time: time);
        var idle = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(idleSeconds: 60), None); // auto-stop 1 + 2 = 3 min
        var kept = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(idleSeconds: 60), None);

        for (var minute = 0; minute < 6; minute++)
        {
            time.Advance(TimeSpan.FromMinutes(1));
            await harness.Provider.ExtendAsync(kept.Id, time.GetUtcNow(), None);
        }

        Assert.Null(await harness.Provider.GetAsync(idle.Id, None)); // stopped at 3 min, ephemeral: destroyed → 404
        Assert.Equal(SandboxState.Running, (await harness.Provider.GetAsync(kept.Id, None))!.State);
    }

    [Fact]
    public async Task Upload_WaitsWhileTheSandboxIsStillStarting()
    {
        var time = new ObservableTimeProvider();
        await using var harness = await DaytonaHarness.StartAsync(time: time);
        harness.Fake.InitialState = "pulling_snapshot";
        harness.Fake.StartDelay = TimeSpan.FromSeconds(5);
        var info = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None);
        Assert.Equal(SandboxState.Pending, info.State);

        var upload = harness.Provider.UploadFilesAsync(info.Id, [File("index.html", "x")], None);
        while (!upload.IsCompleted)
        {
            var armed = time.CreatedTimers.ReadAsync().AsTask(); // a poll delay (or a pipeline timeout) was armed
            if (await Task.WhenAny(upload, armed).WaitAsync(TestWaits.Bound) == armed)
            {
                time.Advance(TimeSpan.FromSeconds(1));
            }
        }

        await upload;
        Assert.Single(harness.Fake.Find(info.Id)!.Files);
    }

    [Fact]
    public async Task Create_AfterACrashMidCreate_AdoptsTheSandboxTheLaggingListDoesNotShowYet()
    {
        await using var fake = await FakeDaytona.StartAsync();
        fake.ListDelay = TimeSpan.FromHours(1); // "eventually consistent": the new sandbox is missing from list results
        var uid = Guid.NewGuid().ToString();

        // Operator 1 sends the create; Daytona makes the sandbox; the operator dies before the answer arrives.
        await using (var first = await DaytonaHarness.StartAsync(fake: fake))
        {
            var created = fake.HoldNextCreateResponse();
            using var crash = new CancellationTokenSource();
            var attempt = first.Provider.CreateAsync(DaytonaHarness.CreateRequest(uid), crash.Token);
            await created.WaitAsync(TestWaits.Bound);
            await crash.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => attempt);
        }

        // Operator 2 (fresh process) does what the reconciler does: list by owner, then create.
        await using var second = await DaytonaHarness.StartAsync(fake: fake);
        Assert.Empty(await second.Provider.ListAsync(uid, None));
        var adopted = await second.Provider.CreateAsync(DaytonaHarness.CreateRequest(uid), None);

        var only = Assert.Single(fake.Sandboxes);
        Assert.Equal((only.Id, uid), (adopted.Id, adopted.OwnerUid));
        Assert.Equal(2, fake.Count("create")); // the second create hit the name (409) and adopted instead of duplicating
    }

    [Fact]
    public async Task Create_AReplacementGetsItsOwnName_SoItNeverWaitsForTheOneBeingDestroyed()
    {
        await using var harness = await DaytonaHarness.StartAsync();
        var uid = Guid.NewGuid().ToString();
        var first = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(uid), None);

        var replacement = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(uid) with { Recreations = 1 }, None);
        var again = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(uid) with { Recreations = 1 }, None); // restart mid-create

        Assert.Equal(($"midori-{uid}", $"midori-{uid}-r1"), (harness.Fake.Find(first.Id)!.Name, harness.Fake.Find(replacement.Id)!.Name));
        Assert.Equal(replacement.Id, again.Id);
        Assert.Equal(2, harness.Fake.Sandboxes.Count);
    }

    [Fact]
    public async Task Create_NameHeldByAnUnusableSandboxOfTheSameOwner_DeletesItAndTakesTheNextName()
    {
        await using var harness = await DaytonaHarness.StartAsync(new Dictionary<string, string?> { ["Providers:Daytona:AutoDeleteMinutes"] = "-1" });
        var uid = Guid.NewGuid().ToString();
        var first = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(uid), None);
        using (var http = new HttpClient { DefaultRequestHeaders = { Authorization = new("Bearer", harness.Fake.ApiKey) } })
        {
            (await http.PostAsync(new Uri(harness.Fake.ApiUrl + $"/sandbox/{first.Id}/stop"), null)).EnsureSuccessStatusCode();
        }

        var second = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(uid), None);

        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal($"midori-{uid}-2", harness.Fake.Find(second.Id)!.Name);
        Assert.Null(harness.Fake.Find(first.Id));
    }

    [Fact]
    public async Task List_WithoutOwnerFindsEveryInstallationSandbox_AndFollowsCursors()
    {
        await using var harness = await DaytonaHarness.StartAsync();
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None)).Id);
        }

        var all = await harness.Provider.ListAsync(null, None);

        Assert.Equal(ids.Order(), all.Select(s => s.Id).Order());
        Assert.All(all, s => Assert.Equal("test-install", s.Labels![SandboxLabels.Installation]));
    }

    [Fact]
    public async Task Preview_RejectsAUrlThatIsNotAbsoluteHttp()
    {
        await using var harness = await DaytonaHarness.StartAsync();
        var error = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.GetPreviewAsync("missing", 3000, None));
        Assert.False(error.IsTransient);
        Assert.Contains("no longer exists", error.Message);
    }

    private static SandboxFile File(string path, string content) => new(path, Encoding.UTF8.GetBytes(content));

    private static Uri WithToken(PreviewEndpoint preview) => new($"{preview.Url}?DAYTONA_SANDBOX_AUTH_KEY={Uri.EscapeDataString(preview.Token!)}");
}
