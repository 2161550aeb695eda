using System.Text;
using Midori.Operator.Files;
using Midori.Operator.Providers;
using Midori.Operator.Tests.Providers.Daytona;
using Midori.Operator.Tests.Providers.E2B;
using Midori.Operator.Tests.Providers.Local;
using Midori.Operator.Testing;

namespace Midori.Operator.Tests.Providers.Lifecycle;

/// <summary>
/// Pause, resume, archive and the file manifest on each provider against its loopback fake (or the real local
/// directory): a paused sandbox keeps its files, a resume brings it back without an upload, and the manifest is the
/// hash of what was uploaded.
/// </summary>
public sealed class PauseResumeTests
{
    private static readonly TimeSpan Bound = TestWaits.Bound;

    private static readonly SandboxFile[] Project =
    [
        new("index.html", Encoding.UTF8.GetBytes("<h1>hi</h1>")),
        new("src/app.js", Encoding.UTF8.GetBytes("console.log(1)")),
        new("src/with space.css", Encoding.UTF8.GetBytes("body{}")),
    ];

    private static Dictionary<string, string> ExpectedManifest(IEnumerable<SandboxFile> files) =>
        files.ToDictionary(f => f.Path, f => ContentHash.Compute(f.Content), StringComparer.Ordinal);

    [Fact]
    public async Task E2B_PauseKeepsFilesAndMemory_ConnectResumesIt_ManifestHashesTheProject()
    {
        // arrange
        await using var h = await E2BProviderHarness.StartAsync();
        var provider = h.Provider;
        var info = await provider.CreateAsync(E2BProviderHarness.CreateRequest(ttl: TimeSpan.FromMinutes(30)), CancellationToken.None).WaitAsync(Bound);
        await provider.UploadFilesAsync(info.Id, Project, CancellationToken.None).WaitAsync(Bound);
        await provider.StartAsync(info.Id, E2BProviderHarness.StartRequest(), CancellationToken.None).WaitAsync(Bound);

        // act: pause twice (the second answers 409, which counts as done), then wait past the old end time
        Assert.True(await provider.PauseAsync(info.Id, CancellationToken.None).WaitAsync(Bound));
        Assert.True(await provider.PauseAsync(info.Id, CancellationToken.None).WaitAsync(Bound));
        h.Time.Advance(TimeSpan.FromHours(1));
        var paused = await provider.GetAsync(info.Id, CancellationToken.None).WaitAsync(Bound);
        var resumed = await provider.ResumeAsync(info.Id, h.Time.GetUtcNow().AddMinutes(20), CancellationToken.None).WaitAsync(Bound);
        var manifest = await provider.GetFileManifestAsync(info.Id, CancellationToken.None).WaitAsync(Bound);

        // assert: paused is kept (not expired) and reads as stopped; resumed runs until the asked time, files untouched
        Assert.Equal(SandboxCapabilities.Pause | SandboxCapabilities.FileManifest, provider.Capabilities);
        Assert.Equal(SandboxState.Stopped, paused!.State);
        Assert.Equal(SandboxState.Running, resumed!.State);
        Assert.Equal(h.Time.GetUtcNow().AddMinutes(20), resumed.EndAt);
        Assert.Equal(1, h.Fake.Sandbox(info.Id)!.Resumes);
        Assert.Equal(1, h.Fake.CountRequests("POST", "/files")); // no second upload
        Assert.Equal(ExpectedManifest(Project), manifest);
        Assert.Empty(h.Fake.Violations);
        await Assert.ThrowsAsync<SandboxProviderException>(() => provider.ArchiveAsync(info.Id, CancellationToken.None));
    }

    [Fact]
    public async Task E2B_GoneSandbox_PauseFalse_ResumeNull_ManifestNull()
    {
        // arrange
        await using var h = await E2BProviderHarness.StartAsync();
        var provider = h.Provider;
        var info = await provider.CreateAsync(E2BProviderHarness.CreateRequest(), CancellationToken.None).WaitAsync(Bound);
        await provider.DeleteAsync(info.Id, CancellationToken.None).WaitAsync(Bound);

        // act + assert
        Assert.False(await provider.PauseAsync(info.Id, CancellationToken.None).WaitAsync(Bound));
        Assert.Null(await provider.ResumeAsync(info.Id, h.Time.GetUtcNow().AddMinutes(5), CancellationToken.None).WaitAsync(Bound));
        Assert.Null(await provider.GetFileManifestAsync(info.Id, CancellationToken.None).WaitAsync(Bound));
    }

    [Fact]
    public async Task Daytona_PauseStopsAndDisablesAutoDelete_ArchiveThenStartRestores_ManifestHashesTheProject()
    {
        // arrange: an ephemeral configuration (auto-delete 0), where a plain stop would delete the sandbox
        await using var h = await DaytonaHarness.StartAsync(new Dictionary<string, string?> { ["Providers:Daytona:AutoDeleteMinutes"] = "0" });
        var provider = h.Provider;
        var info = await provider.CreateAsync(DaytonaHarness.CreateRequest(), CancellationToken.None).WaitAsync(Bound);
        await provider.UploadFilesAsync(info.Id, Project, CancellationToken.None).WaitAsync(Bound);
        await provider.StartAsync(info.Id, DaytonaHarness.StartRequest(), CancellationToken.None).WaitAsync(Bound);
        var before = await provider.GetFileManifestAsync(info.Id, CancellationToken.None).WaitAsync(Bound);

        // act
        Assert.True(await provider.PauseAsync(info.Id, CancellationToken.None).WaitAsync(Bound));
        var stopped = h.Fake.Find(info.Id);
        Assert.True(await provider.ArchiveAsync(info.Id, CancellationToken.None).WaitAsync(Bound));
        var archived = h.Fake.Find(info.Id);
        var resumed = await provider.ResumeAsync(info.Id, DateTimeOffset.UtcNow.AddMinutes(30), CancellationToken.None).WaitAsync(Bound);
        var after = await provider.GetFileManifestAsync(info.Id, CancellationToken.None).WaitAsync(Bound);

        // assert: kept while stopped and archived, started again with the same disk, auto-delete back to the configured value
        Assert.Equal(("stopped", -1), (stopped!.State, stopped.AutoDeleteMinutes));
        Assert.Empty(stopped.Commands); // a stop clears memory: the dev server must be started again
        Assert.Equal("archived", archived!.State);
        Assert.Equal(SandboxState.Running, resumed!.State);
        Assert.Equal(("started", 0), (h.Fake.Find(info.Id)!.State, h.Fake.Find(info.Id)!.AutoDeleteMinutes));
        Assert.Equal(ExpectedManifest(Project), before);
        Assert.Equal(before, after);
        Assert.Equal(1, h.Fake.Count("upload"));
    }

    [Fact]
    public async Task Daytona_GoneSandbox_PauseFalse_ResumeNull_ManifestNull()
    {
        // arrange
        await using var h = await DaytonaHarness.StartAsync();
        var provider = h.Provider;
        var info = await provider.CreateAsync(DaytonaHarness.CreateRequest(), CancellationToken.None).WaitAsync(Bound);
        h.Fake.Destroy(info.Id);

        // act + assert
        Assert.False(await provider.PauseAsync(info.Id, CancellationToken.None).WaitAsync(Bound));
        Assert.Null(await provider.ResumeAsync(info.Id, DateTimeOffset.UtcNow.AddMinutes(5), CancellationToken.None).WaitAsync(Bound));
        Assert.Null(await provider.GetFileManifestAsync(info.Id, CancellationToken.None).WaitAsync(Bound));
        Assert.False(await provider.ArchiveAsync(info.Id, CancellationToken.None).WaitAsync(Bound));
    }

    [Fact]
    public async Task Local_PauseStopsTheServerKeepsTheDirectory_ResumeAndStartServeTheSameFiles()
    {
        // arrange
        await using var h = new LocalProviderHarness();
        var (id, preview) = await h.StartStaticAsync(Project);
        using var cts = LocalProviderHarness.Cancel();

        // act
        Assert.True(await h.Provider.PauseAsync(id, cts.Token));
        var paused = await h.Provider.GetAsync(id, cts.Token);
        var pausedManifest = await h.Provider.GetFileManifestAsync(id, cts.Token);
        h.FakeTime.Advance(TimeSpan.FromHours(2)); // past the old end time: a paused sandbox is kept
        var resumed = await h.Provider.ResumeAsync(id, h.Time.GetUtcNow().AddMinutes(30), cts.Token);
        await h.Provider.StartAsync(id, LocalProviderHarness.StaticStart(), cts.Token);
        var again = await h.Provider.GetPreviewAsync(id, 3000, cts.Token);
        using var page = await h.GetAsync(again.Url, "index.html", again.Token);

        // assert
        Assert.Equal(SandboxState.Stopped, paused!.State);
        Assert.Equal(ExpectedManifest(Project), pausedManifest);
        Assert.Equal(SandboxState.Pending, resumed!.State);
        Assert.Equal(h.Time.GetUtcNow().AddMinutes(30), resumed.EndAt);
        Assert.Equal("<h1>hi</h1>", await page.Content.ReadAsStringAsync(cts.Token));
        Assert.NotEqual(preview.Token, again.Token);
    }

    [Fact]
    public async Task Local_GoneSandbox_PauseFalse_ResumeNull_ManifestNull()
    {
        // arrange
        await using var h = new LocalProviderHarness();
        var (id, _) = await h.StartStaticAsync(Project);
        using var cts = LocalProviderHarness.Cancel();
        await h.Provider.DeleteAsync(id, cts.Token);

        // act + assert
        Assert.False(await h.Provider.PauseAsync(id, cts.Token));
        Assert.Null(await h.Provider.ResumeAsync(id, h.Time.GetUtcNow().AddMinutes(5), cts.Token));
        Assert.Null(await h.Provider.GetFileManifestAsync(id, cts.Token));
    }
}
