using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Files;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Tests.Persistence;

/// <summary>
/// The behaviour every <see cref="IPreviewStore"/> must show (PostgreSQL, the in-memory fake). A subclass returns a
/// fresh store from <see cref="CreateStoreAsync"/> that uses <see cref="Time"/> as its clock and <see cref="Limits"/>
/// as its limits. Every test works in its own namespace, so a subclass may share one database across tests.
/// </summary>
public abstract class PreviewStoreContractTests
{
    protected static readonly DateTimeOffset T0 = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);

    private readonly string _namespace = "ns-" + Guid.NewGuid().ToString("N")[..12];

    protected FakeTimeProvider Time { get; } = new(T0);

    /// <summary>Small limits, so the limit tests stay small.</summary>
    protected StoreOptions Limits { get; } = new() { MaxFilesPerProject = 20, MaxFileBytes = 64 * 1024, MaxProjectBytes = 256 * 1024 };

    protected abstract Task<IPreviewStore> CreateStoreAsync();

    private PreviewKey Preview(string name = "demo") => new(_namespace, name);

    private static SandboxFile File(string path, string content) => new(path, Encoding.UTF8.GetBytes(content));

    private static FileWrite Put(string path, string content, string? expected = null) => new(path, Encoding.UTF8.GetBytes(content), expected);

    private static string Hash(string content) => ContentHash.Compute(Encoding.UTF8.GetBytes(content));

    private static ChangeDescription Change(string kind = "put") => new(kind, new JsonObject { ["ops"] = 1 }, "test");

    private async Task<(IPreviewStore Store, SnapshotRecord Snapshot)> WithWorkingCopyAsync(params SandboxFile[] files)
    {
        var store = await CreateStoreAsync();
        var snapshot = await store.CreateSnapshotAsync(_namespace, "p1",
            files.Length > 0 ? files : [File("index.html", "<h1>hi</h1>"), File("app.js", "let a = 1;"), File("README.md", "readme")], "gen-1", default);
        await store.InitializeWorkingCopyAsync(Preview(), "p1", snapshot.SnapshotId, reset: false, default);
        return (store, snapshot);
    }

    private static async Task<Dictionary<string, string>> ReadAllAsync(IPreviewStore store, PreviewKey preview) =>
        (await store.ReadFilesAsync(preview, null, default))!.Files.ToDictionary(f => f.Path, f => Encoding.UTF8.GetString(f.Content));

    // ---- projects and snapshots --------------------------------------------------------------------------------------

    [StoreFact]
    public async Task UpsertProject_StoresSwitchesAndSettings_AndUpdatesInPlace()
    {
        // arrange
        var store = await CreateStoreAsync();
        var settings = new PreviewSettings { TtlSeconds = 600, Command = "npm run dev", Port = 5173, Env = new Dictionary<string, string> { ["A"] = "1" } };

        // act
        await store.UpsertProjectAsync(_namespace, "p1", previewEnabled: true, previewAutoBuild: false, settings, default);
        Time.Advance(TimeSpan.FromMinutes(1));
        var updated = await store.UpsertProjectAsync(_namespace, "p1", previewEnabled: false, previewAutoBuild: true, settings with { Port = 8080 }, default);
        var read = await store.GetProjectAsync(_namespace, "p1", default);

        // assert
        Assert.NotNull(read);
        Assert.False(read.PreviewEnabled);
        Assert.True(read.PreviewAutoBuild);
        Assert.Equal(8080, read.PreviewSettings!.Port);
        Assert.Equal("npm run dev", read.PreviewSettings.Command);
        Assert.Equal("1", read.PreviewSettings.Env!["A"]);
        Assert.Equal(T0, read.CreatedAt);
        Assert.Equal(T0.AddMinutes(1), read.UpdatedAt);
        Assert.Equal(updated, read with { PreviewSettings = updated.PreviewSettings });
        Assert.Null(await store.GetProjectAsync(_namespace, "other", default));
    }

    [StoreFact]
    public async Task CreateSnapshot_StoresManifestAndContent_AndCreatesTheProject()
    {
        // arrange
        var store = await CreateStoreAsync();
        SandboxFile[] files = [File("src/app.js", "console.log(1)"), File("index.html", "<h1>x</h1>")];

        // act
        var created = await store.CreateSnapshotAsync(_namespace, "p1", files, "gen-7", default);
        var read = await store.GetSnapshotAsync(_namespace, created.SnapshotId, default);
        var content = await store.ReadSnapshotFilesAsync(_namespace, created.SnapshotId, default);

        // assert
        Assert.NotNull(read);
        Assert.Equal("gen-7", read.FromGenerationId);
        Assert.Equal(FileSetHash.Compute(files), read.FilesHash);
        Assert.Equal(["index.html", "src/app.js"], read.Files.Select(f => f.Path));
        Assert.Equal(Hash("console.log(1)"), read.Files.Single(f => f.Path == "src/app.js").Hash);
        Assert.Equal(14, read.Files.Single(f => f.Path == "src/app.js").Size);
        Assert.Equal("console.log(1)", Encoding.UTF8.GetString(content!.Single(f => f.Path == "src/app.js").Content));
        var project = await store.GetProjectAsync(_namespace, "p1", default);
        Assert.True(project!.PreviewEnabled);
        Assert.False(project.PreviewAutoBuild);
        Assert.Null(await store.GetSnapshotAsync(_namespace, "missing", default));
        Assert.Null(await store.ReadSnapshotFilesAsync(_namespace, "missing", default));
        Assert.Null(await store.GetSnapshotAsync("other-namespace", created.SnapshotId, default));
    }

    [StoreFact]
    public async Task BinaryContent_RoundTripsByteForByte()
    {
        // arrange: every byte value, a NUL, and sequences that are not valid UTF-8
        var binary = Enumerable.Range(0, 256).Select(i => (byte)i).Concat(new byte[] { 0xC3, 0x28, 0xFF, 0xFE, 0x00 }).ToArray();
        var (store, snapshot) = await WithWorkingCopyAsync(new SandboxFile("img/logo.png", binary), File("a.txt", "a"));
        var changed = binary.Reverse().ToArray();

        // act
        var fromSnapshot = (await store.ReadSnapshotFilesAsync(_namespace, snapshot.SnapshotId, default))!.Single(f => f.Path == "img/logo.png");
        await store.CommitAsync(Preview(), [new FileWrite("img/logo.png", changed, ContentHash.Compute(binary))], Change(), default);
        var fromWorkingCopy = (await store.ReadFilesAsync(Preview(), ["img/logo.png"], default))!.Files.Single();
        var delta = await store.GetDeltaAsync(Preview(), 1, default);

        // assert
        Assert.Equal(binary, fromSnapshot.Content);
        Assert.Equal(changed, fromWorkingCopy.Content);
        Assert.Equal(changed, delta!.Written.Single().Content);
    }

    // ---- working copies ----------------------------------------------------------------------------------------------

    [StoreFact]
    public async Task InitializeWorkingCopy_StartsAtRevisionOne_AndIsIdempotent()
    {
        // arrange
        var (store, snapshot) = await WithWorkingCopyAsync();

        // act
        var again = await store.InitializeWorkingCopyAsync(Preview(), "p1", snapshot.SnapshotId, reset: false, default);
        var files = await store.ReadFilesAsync(Preview(), null, default);

        // assert
        Assert.Equal(1, again.Revision);
        Assert.Equal(snapshot.SnapshotId, again.SnapshotId);
        Assert.Equal(snapshot.FilesHash, again.FilesHash);
        Assert.Equal(snapshot.Files, again.Files);
        Assert.Null(again.PushedRevision);
        Assert.Equal(FileSetHash.Compute(files!.Files), files.FilesHash);
        Assert.Equal(snapshot.FilesHash, files.FilesHash);
        await Assert.ThrowsAsync<KeyNotFoundException>(() => store.InitializeWorkingCopyAsync(Preview("x"), "p1", "missing", reset: false, default));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => store.InitializeWorkingCopyAsync(Preview("y"), "another-project", snapshot.SnapshotId, reset: false, default));
    }

    [StoreFact]
    public async Task InitializeWorkingCopy_WithResetToANewSnapshot_CommitsItsFilesAsANewRevision()
    {
        // arrange
        var (store, _) = await WithWorkingCopyAsync(File("a.txt", "a"), File("b.txt", "b"));
        var next = await store.CreateSnapshotAsync(_namespace, "p1", [File("a.txt", "a2"), File("c.txt", "c")], null, default);

        // act
        var keep = await store.InitializeWorkingCopyAsync(Preview(), "p1", next.SnapshotId, reset: false, default);
        var reset = await store.InitializeWorkingCopyAsync(Preview(), "p1", next.SnapshotId, reset: true, default);
        var delta = await store.GetDeltaAsync(Preview(), 1, default);

        // assert
        Assert.Equal(1, keep.Revision);
        Assert.Equal(2, reset.Revision);
        Assert.Equal(next.SnapshotId, reset.SnapshotId);
        Assert.Equal(next.FilesHash, reset.FilesHash);
        Assert.Equal(new Dictionary<string, string> { ["a.txt"] = "a2", ["c.txt"] = "c" }, await ReadAllAsync(store, Preview()));
        Assert.Equal(["a.txt", "c.txt"], delta!.Written.Select(f => f.Path).Order(StringComparer.Ordinal));
        Assert.Equal(["b.txt"], delta.Deleted);
    }

    [StoreFact]
    public async Task Commit_ClassifiesChanges_AndMakesOneRevisionOnlyWhenSomethingChanged()
    {
        // arrange
        var (store, snapshot) = await WithWorkingCopyAsync();

        // act
        var commit = await store.CommitAsync(Preview(),
            [Put("app.js", "let a = 2;"), Put("new.css", "body{}"), new FileWrite("README.md", null), Put("index.html", "<h1>hi</h1>"), new FileWrite("gone.txt", null)],
            Change(), default);
        var noop = await store.CommitAsync(Preview(), [Put("app.js", "let a = 2;")], Change(), default);
        var copy = await store.GetWorkingCopyAsync(Preview(), default);

        // assert
        Assert.Equal(2, commit.Revision);
        Assert.True(commit.Changed);
        Assert.Equal(["new.css"], commit.Added);
        Assert.Equal(["app.js"], commit.Modified);
        Assert.Equal(["README.md"], commit.Deleted);
        Assert.Equal(["gone.txt", "index.html"], commit.Unchanged);
        Assert.False(noop.Changed);
        Assert.Equal(2, noop.Revision);
        Assert.Equal(commit.FilesHash, noop.FilesHash);
        Assert.Equal(2, copy!.Revision);
        Assert.Equal(commit.FilesHash, copy.FilesHash);
        Assert.Equal(snapshot.SnapshotId, copy.SnapshotId);
        Assert.Equal(["app.js", "index.html", "new.css"], copy.Files.Select(f => f.Path));
        var files = await store.ReadFilesAsync(Preview(), null, default);
        Assert.Equal(FileSetHash.Compute(files!.Files), commit.FilesHash);
        Assert.Equal(new Dictionary<string, string> { ["app.js"] = "let a = 2;", ["index.html"] = "<h1>hi</h1>", ["new.css"] = "body{}" },
            await ReadAllAsync(store, Preview()));
    }

    [StoreFact]
    public async Task Commit_WithStaleExpectedHash_ConflictsAndWritesNothing()
    {
        // arrange
        var (store, _) = await WithWorkingCopyAsync();
        var before = await store.GetWorkingCopyAsync(Preview(), default);

        // act
        var stale = await Assert.ThrowsAsync<WorkingCopyConflictException>(() => store.CommitAsync(Preview(),
            [Put("index.html", "<h1>new</h1>"), Put("app.js", "let a = 3;", expected: Hash("let a = 0;"))], Change(), default));
        var exists = await Assert.ThrowsAsync<WorkingCopyConflictException>(() =>
            store.CommitAsync(Preview(), [Put("app.js", "x", expected: FileWrite.Absent)], Change(), default));
        var missing = await Assert.ThrowsAsync<WorkingCopyConflictException>(() =>
            store.CommitAsync(Preview(), [Put("nope.js", "x", expected: Hash("x"))], Change(), default));

        // assert
        Assert.Equal(("app.js", Hash("let a = 0;"), Hash("let a = 1;")), (stale.Path, stale.ExpectedHash, stale.ActualHash));
        Assert.Equal(Hash("let a = 1;"), exists.ActualHash);
        Assert.Null(missing.ActualHash);
        var after = await store.GetWorkingCopyAsync(Preview(), default);
        Assert.NotNull(before);
        Assert.NotNull(after);
        Assert.Equal(before, after with { Files = before.Files });
        Assert.Equal(before.Files, after.Files);
        Assert.Equal("<h1>hi</h1>", (await ReadAllAsync(store, Preview()))["index.html"]);
    }

    [StoreFact]
    public async Task Commit_WithMatchingExpectations_Succeeds()
    {
        // arrange
        var (store, _) = await WithWorkingCopyAsync();

        // act
        var commit = await store.CommitAsync(Preview(),
            [Put("app.js", "let a = 2;", expected: Hash("let a = 1;")), Put("fresh.js", "1", expected: FileWrite.Absent), new FileWrite("README.md", null, Hash("readme"))],
            Change("patch"), default);

        // assert
        Assert.Equal(["fresh.js"], commit.Added);
        Assert.Equal(["app.js"], commit.Modified);
        Assert.Equal(["README.md"], commit.Deleted);
    }

    [StoreFact]
    public async Task Commit_RejectsBadPathsDuplicatesAndUnknownPreviews()
    {
        // arrange
        var (store, _) = await WithWorkingCopyAsync();

        // act + assert
        await Assert.ThrowsAsync<ArgumentException>(() => store.CommitAsync(Preview(), [Put("../etc/passwd", "x")], Change(), default));
        await Assert.ThrowsAsync<ArgumentException>(() => store.CommitAsync(Preview(), [Put("a.js", "1"), Put("./a.js", "2")], Change(), default));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => store.CommitAsync(Preview("nobody"), [Put("a.js", "1")], Change(), default));
        Assert.Equal(1, (await store.GetWorkingCopyAsync(Preview(), default))!.Revision);
    }

    [StoreFact]
    public async Task ConcurrentCommits_ToOneFileWithTheSameBase_ExactlyOneWins()
    {
        // arrange
        var (store, _) = await WithWorkingCopyAsync();
        var baseHash = Hash("let a = 1;");

        // act: eight editors patch the same base at once
        var attempts = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            try
            {
                await store.CommitAsync(Preview(), [Put("app.js", $"let a = {100 + i};", baseHash)], Change("patch"), default);
                return (Editor: i, Won: true);
            }
            catch (WorkingCopyConflictException)
            {
                return (Editor: i, Won: false);
            }
        }));

        // assert
        var winner = Assert.Single(attempts, a => a.Won);
        Assert.Equal($"let a = {100 + winner.Editor};", (await ReadAllAsync(store, Preview()))["app.js"]);
        Assert.Equal(2, (await store.GetWorkingCopyAsync(Preview(), default))!.Revision);
    }

    [StoreFact]
    public async Task ConcurrentEditors_RetryingOnConflict_LoseNoChange()
    {
        // arrange
        var (store, _) = await WithWorkingCopyAsync(File("log.txt", ""));

        // act: each editor appends its line with read → compare-and-swap → retry on conflict
        await Task.WhenAll(Enumerable.Range(0, 6).Select(i => Task.Run(async () =>
        {
            while (true)
            {
                var current = (await store.ReadFilesAsync(Preview(), ["log.txt"], default))!.Files.Single();
                try
                {
                    await store.CommitAsync(Preview(),
                        [new FileWrite("log.txt", [.. current.Content, .. Encoding.UTF8.GetBytes($"editor {i}\n")], ContentHash.Compute(current.Content))],
                        Change("patch"), default);
                    return;
                }
                catch (WorkingCopyConflictException)
                {
                    // someone else got there first: rebase on their version and try again
                }
            }
        })));

        // assert
        var lines = (await ReadAllAsync(store, Preview()))["log.txt"].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Enumerable.Range(0, 6).Select(i => $"editor {i}"), lines.Order(StringComparer.Ordinal));
        Assert.Equal(7, (await store.GetWorkingCopyAsync(Preview(), default))!.Revision);
    }

    [StoreFact]
    public async Task GetDelta_ReturnsLatestContentOfFilesWrittenAndFilesDeletedSinceARevision()
    {
        // arrange
        var (store, _) = await WithWorkingCopyAsync();
        await store.CommitAsync(Preview(), [Put("app.js", "v2"), Put("tmp.txt", "t")], Change(), default); // r2
        await store.CommitAsync(Preview(), [Put("app.js", "v3"), new FileWrite("README.md", null)], Change(), default); // r3
        await store.CommitAsync(Preview(), [new FileWrite("tmp.txt", null), Put("late.txt", "l")], Change(), default); // r4

        // act
        var fromOne = await store.GetDeltaAsync(Preview(), 1, default);
        var fromThree = await store.GetDeltaAsync(Preview(), 3, default);
        var current = await store.GetDeltaAsync(Preview(), 4, default);

        // assert
        Assert.Equal((1L, 4L), (fromOne!.FromRevision, fromOne.ToRevision));
        Assert.Equal(new Dictionary<string, string> { ["app.js"] = "v3", ["late.txt"] = "l" },
            fromOne.Written.ToDictionary(f => f.Path, f => Encoding.UTF8.GetString(f.Content)));
        Assert.Equal(["README.md", "tmp.txt"], fromOne.Deleted.Order(StringComparer.Ordinal));
        Assert.Equal(["late.txt"], fromThree!.Written.Select(f => f.Path));
        Assert.Equal(["tmp.txt"], fromThree.Deleted);
        Assert.Empty(current!.Written);
        Assert.Empty(current.Deleted);
        Assert.Null(await store.GetDeltaAsync(Preview(), 5, default));
        Assert.Null(await store.GetDeltaAsync(Preview("nobody"), 0, default));
    }

    [StoreFact]
    public async Task MarkPushed_NeverMovesBackwardsForTheSameSandbox()
    {
        // arrange
        var (store, _) = await WithWorkingCopyAsync();
        await store.CommitAsync(Preview(), [Put("app.js", "v2")], Change(), default);
        await store.CommitAsync(Preview(), [Put("app.js", "v3")], Change(), default);

        // act + assert
        await store.MarkPushedAsync(Preview(), "sb-1", 3, default);
        await store.MarkPushedAsync(Preview(), "sb-1", 2, default);
        var copy = await store.GetWorkingCopyAsync(Preview(), default);
        Assert.Equal((3L, "sb-1"), (copy!.PushedRevision, copy.PushedSandboxId));

        await store.MarkPushedAsync(Preview(), "sb-2", 1, default);
        var head = await store.GetWorkingCopyHeadAsync(Preview(), default);
        Assert.Equal((1L, "sb-2"), (head!.PushedRevision, head.PushedSandboxId));
        Assert.Equal(3, head.Revision);
    }

    [StoreFact]
    public async Task DeleteWorkingCopy_DropsItButKeepsTheSnapshot()
    {
        // arrange
        var (store, snapshot) = await WithWorkingCopyAsync();

        // act
        await store.DeleteWorkingCopyAsync(Preview(), default);

        // assert
        Assert.Null(await store.GetWorkingCopyAsync(Preview(), default));
        Assert.Null(await store.ReadFilesAsync(Preview(), null, default));
        Assert.NotNull(await store.GetSnapshotAsync(_namespace, snapshot.SnapshotId, default));
        Assert.Equal(1, (await store.InitializeWorkingCopyAsync(Preview(), "p1", snapshot.SnapshotId, reset: false, default)).Revision);
    }

    // ---- limits ------------------------------------------------------------------------------------------------------

    [StoreFact]
    public async Task Limits_AreEnforcedOnSnapshotsAndCommits_AndNothingIsWritten()
    {
        // arrange
        var (store, _) = await WithWorkingCopyAsync();
        var tooBig = new byte[Limits.MaxFileBytes + 1];
        var tooMany = Enumerable.Range(0, Limits.MaxFilesPerProject).Select(i => Put($"many/{i}.txt", i.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToList();

        // act + assert
        await Assert.ThrowsAsync<StoreLimitException>(() => store.CreateSnapshotAsync(_namespace, "p1", [new SandboxFile("big.bin", tooBig)], null, default));
        await Assert.ThrowsAsync<StoreLimitException>(() =>
            store.CreateSnapshotAsync(_namespace, "p1", [.. tooMany.Select(w => new SandboxFile(w.Path, w.Content!)), File("one-more", "x")], null, default));
        await Assert.ThrowsAsync<StoreLimitException>(() => store.CommitAsync(Preview(), [new FileWrite("big.bin", tooBig)], Change(), default));
        await Assert.ThrowsAsync<StoreLimitException>(() => store.CommitAsync(Preview(), tooMany, Change(), default));
        var total = Enumerable.Range(0, 5).Select(i => new FileWrite($"chunk{i}.bin", new byte[Limits.MaxFileBytes])).ToList();
        await Assert.ThrowsAsync<StoreLimitException>(() => store.CommitAsync(Preview(), total, Change(), default));
        var copy = await store.GetWorkingCopyAsync(Preview(), default);
        Assert.Equal(1, copy!.Revision);
        Assert.Equal(3, copy.Files.Count);
    }

    // ---- activity ----------------------------------------------------------------------------------------------------

    [StoreFact]
    public async Task RecordActivity_KeepsTheLatestTimePerPreview_AndTouchesTheOpenSession()
    {
        // arrange
        var store = await CreateStoreAsync();
        await store.RecordSessionAsync(new SessionUpdate(Preview("a"), "uid-a", "p1", SessionStates.Ready), default);

        // act
        await store.RecordActivityAsync([(Preview("a"), T0.AddSeconds(5)), (Preview("b"), T0.AddSeconds(3)), (Preview("a"), T0.AddSeconds(9)), (Preview("a"), T0.AddSeconds(7))], default);
        await store.RecordActivityAsync([(Preview("a"), T0.AddSeconds(1))], default);

        // assert
        Assert.Equal(T0.AddSeconds(9), await store.GetLastActivityAsync(Preview("a"), default));
        Assert.Equal(T0.AddSeconds(3), await store.GetLastActivityAsync(Preview("b"), default));
        Assert.Null(await store.GetLastActivityAsync(Preview("c"), default));
        Assert.Equal(T0.AddSeconds(9), (await store.GetOpenSessionAsync(Preview("a"), default))!.AccessedAt);
        await store.RecordActivityAsync([], default);
    }

    // ---- sessions and recreations ------------------------------------------------------------------------------------

    [StoreFact]
    public async Task Sessions_FollowTheLifecycle_AndAWakeOpensANewOne()
    {
        // arrange
        var store = await CreateStoreAsync();
        var info = new SandboxInfoDocument("sb-1", "https://3000-sb-1.example", T0, T0.AddMinutes(30));

        // act
        var building = await store.RecordSessionAsync(new SessionUpdate(Preview(), "uid-1", "p1", SessionStates.Building, SnapshotId: "s1",
            Meta: new JsonObject { ["provider"] = "local" }), default);
        Time.Advance(TimeSpan.FromSeconds(4));
        var ready = await store.RecordSessionAsync(new SessionUpdate(Preview(), "uid-1", "p1", SessionStates.Ready, Url: info.PreviewUrl,
            SandboxInfo: info, BuildTimeMs: 4000, Meta: new JsonObject { ["sandboxId"] = "sb-1" }), default);
        Time.Advance(TimeSpan.FromMinutes(10));
        var expired = await store.RecordSessionAsync(new SessionUpdate(Preview(), "uid-1", "p1", SessionStates.Expired), default);
        var repeated = await store.RecordSessionAsync(new SessionUpdate(Preview(), "uid-1", "p1", SessionStates.Cancelled), default);
        var woken = await store.RecordSessionAsync(new SessionUpdate(Preview(), "uid-1", "p1", SessionStates.Building), default);

        // assert
        Assert.Equal(building.Id, ready.Id);
        Assert.Equal((SessionStates.Ready, info.PreviewUrl, 4000L, "s1"), (ready.State, ready.Url, ready.BuildTimeMs, ready.SnapshotId));
        Assert.Equal(info, ready.SandboxInfo);
        Assert.Equal("local", ready.Meta!["provider"]!.GetValue<string>());
        Assert.Equal("sb-1", ready.Meta["sandboxId"]!.GetValue<string>());
        Assert.Equal((building.Id, SessionStates.Expired), (expired.Id, expired.State));
        Assert.Equal(expired with { Meta = null }, repeated with { Meta = null });
        Assert.Equal(expired.Meta?.ToJsonString(), repeated.Meta?.ToJsonString());
        Assert.NotEqual(building.Id, woken.Id);
        Assert.Equal(woken with { Meta = null }, (await store.GetOpenSessionAsync(Preview(), default))! with { Meta = null });
        var history = await store.ListSessionsAsync(Preview(), 10, default);
        Assert.Equal([woken.Id, building.Id], history.Select(s => s.Id));
        Assert.Equal(T0, history[1].CreatedAt);
        Assert.Equal(T0.AddSeconds(4).AddMinutes(10), history[1].UpdatedAt);
        Assert.Single(await store.ListSessionsAsync(Preview(), 1, default));
    }

    [StoreFact]
    public async Task Sessions_KeepTheirStartKind_ThroughLaterUpdates()
    {
        // arrange
        var store = await CreateStoreAsync();
        await store.RecordSessionAsync(new SessionUpdate(Preview(), "uid-1", "p1", SessionStates.Building), default);

        // act: Ready says how it started; the end does not repeat it
        var ready = await store.RecordSessionAsync(new SessionUpdate(Preview(), "uid-1", "p1", SessionStates.Ready, Kind: StartKinds.Claim), default);
        var expired = await store.RecordSessionAsync(new SessionUpdate(Preview(), "uid-1", "p1", SessionStates.Expired), default);
        var resumed = await store.RecordSessionAsync(new SessionUpdate(Preview(), "uid-1", "p1", SessionStates.Ready, Kind: StartKinds.Resume), default);

        // assert
        Assert.Equal((StartKinds.Claim, StartKinds.Claim, StartKinds.Resume), (ready.Kind, expired.Kind, resumed.Kind));
        var history = await store.ListSessionsAsync(Preview(), 10, default);
        Assert.Equal([StartKinds.Resume, StartKinds.Claim], history.Select(h => h.Kind));
    }

    [StoreFact]
    public async Task Sessions_FailureWithoutAnOpenSession_IsRecordedClosed_AndANewResourceUidClosesTheOldSession()
    {
        // arrange
        var store = await CreateStoreAsync();

        // act
        var failed = await store.RecordSessionAsync(new SessionUpdate(Preview(), "uid-1", "p1", SessionStates.Failed, ErrorMessage: "quota exceeded"), default);
        var open = await store.RecordSessionAsync(new SessionUpdate(Preview(), "uid-1", "p1", SessionStates.Queued), default);
        var replaced = await store.RecordSessionAsync(new SessionUpdate(Preview(), "uid-2", "p1", SessionStates.Building), default);

        // assert
        Assert.Equal((SessionStates.Failed, "quota exceeded"), (failed.State, failed.ErrorMessage));
        Assert.NotEqual(failed.Id, open.Id);
        Assert.NotEqual(open.Id, replaced.Id);
        var history = await store.ListSessionsAsync(Preview(), 10, default);
        Assert.Equal([SessionStates.Building, SessionStates.Cancelled, SessionStates.Failed], history.Select(s => s.State));
        Assert.Equal("uid-2", (await store.GetOpenSessionAsync(Preview(), default))!.ResourceUid);
        await Assert.ThrowsAsync<ArgumentException>(() => store.RecordSessionAsync(new SessionUpdate(Preview(), "uid-2", "p1", "sleeping"), default));
    }

    [StoreFact]
    public async Task Recreations_AreListedNewestFirst()
    {
        // arrange
        var store = await CreateStoreAsync();
        var first = new RecreationRow(Preview(), "uid-1", "expired", "sb-1", "sb-2", "https://old", "https://new", true, null, 1200, T0);
        var second = new RecreationRow(Preview(), "uid-1", "error", "sb-2", null, "https://new", null, false, "provider down", 300, T0.AddMinutes(1));

        // act
        await store.RecordRecreationAsync(first, default);
        await store.RecordRecreationAsync(second, default);
        await store.RecordRecreationAsync(first with { Preview = Preview("other") }, default);

        // assert
        Assert.Equal([second, first], await store.ListRecreationsAsync(Preview(), 10, default));
        Assert.Equal([second], await store.ListRecreationsAsync(Preview(), 1, default));
    }

    [StoreFact]
    public async Task PushLock_IsExclusivePerPreview_AndLeavesOtherPreviewsFree()
    {
        // arrange
        var store = await CreateStoreAsync();
        var first = await store.AcquirePushLockAsync(Preview(), default);

        // act
        var second = store.AcquirePushLockAsync(Preview(), default);
        var other = await store.AcquirePushLockAsync(Preview("other"), default); // not blocked by the first
        var waitedWhileHeld = !second.IsCompleted;
        await first.DisposeAsync();
        await using var acquired = await second;

        // assert
        Assert.True(waitedWhileHeld);
        await other.DisposeAsync();
    }

    [StoreFact]
    public async Task PushLock_ConcurrentHolders_NeverOverlap()
    {
        // arrange: two store instances stand for two replicas where the store allows it (PostgreSQL); one otherwise
        var replicaA = await CreateStoreAsync();
        var replicaB = SharesStateAcrossInstances ? await CreateStoreAsync() : replicaA;
        var inside = 0;
        var overlaps = 0;

        // act
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async i =>
        {
            await using var held = await (i % 2 == 0 ? replicaA : replicaB).AcquirePushLockAsync(Preview(), default);
            if (Interlocked.Increment(ref inside) > 1)
            {
                Interlocked.Increment(ref overlaps);
            }

            for (var step = 0; step < 5; step++)
            {
                await Task.Yield(); // let the others run while this one holds the lock
            }

            Interlocked.Decrement(ref inside);
        }));

        // assert
        Assert.Equal(0, overlaps);
    }

    /// <summary>True when two stores from <see cref="CreateStoreAsync"/> see the same data (one database); the in-memory store is one instance.</summary>
    protected virtual bool SharesStateAcrossInstances => false;
}
