using System.Text;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Files;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using Midori.Operator.Testing.Fakes;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Tests.Persistence;

/// <summary>The fake store keeps the contract the API relies on (the PostgreSQL store must pass the same checks).</summary>
public sealed class InMemoryPreviewStoreTests
{
    private static readonly PreviewKey Key = new("ns", "p");
    private readonly InMemoryPreviewStore _store = new(new FakeTimeProvider(), maxFilesPerProject: 3);

    private static SandboxFile File(string path, string content) => new(path, Encoding.UTF8.GetBytes(content));

    private static FileWrite Write(string path, string? content, string? expected = null) =>
        new(path, content is null ? null : Encoding.UTF8.GetBytes(content), expected);

    private async Task<WorkingCopy> StartAsync(params SandboxFile[] files)
    {
        var snapshot = await _store.CreateSnapshotAsync("ns", "project", files, null, CancellationToken.None);
        return await _store.InitializeWorkingCopyAsync(Key, "project", snapshot.SnapshotId, reset: false, CancellationToken.None);
    }

    [Fact]
    public async Task Commit_ClassifiesFiles_AndOnlyChangesBumpTheRevision()
    {
        var initial = await StartAsync(File("a", "1"), File("b", "2"));
        Assert.Equal(1, initial.Revision);
        Assert.Equal(ContentHash.Compute("1"u8), initial.Files.Single(f => f.Path == "a").Hash);

        var commit = await _store.CommitAsync(Key, [Write("a", "1"), Write("b", "changed"), Write("c", "new"), Write("zzz", null)], new ChangeDescription("put"), CancellationToken.None);

        Assert.Equal(2, commit.Revision);
        Assert.Equal(["c"], commit.Added);
        Assert.Equal(["b"], commit.Modified);
        Assert.Equal(["a", "zzz"], commit.Unchanged);
        Assert.Empty(commit.Deleted);
        var unchanged = await _store.CommitAsync(Key, [Write("a", "1")], new ChangeDescription("put"), CancellationToken.None);
        Assert.Equal(2, unchanged.Revision);
        Assert.False(unchanged.Changed);
    }

    [Fact]
    public async Task CompareAndSwap_Mismatch_FailsTheWholeCommit_AndChangesNothing()
    {
        await StartAsync(File("a", "1"), File("b", "2"));

        var ex = await Assert.ThrowsAsync<WorkingCopyConflictException>(() => _store.CommitAsync(Key,
            [Write("a", "new a", ContentHash.Compute("1"u8)), Write("b", "new b", ContentHash.Compute("stale"u8))], new ChangeDescription("patch"), CancellationToken.None));
        await Assert.ThrowsAsync<WorkingCopyConflictException>(() => _store.CommitAsync(Key, [Write("a", "x", FileWrite.Absent)], new ChangeDescription("patch"), CancellationToken.None));

        Assert.Equal("b", ex.Path);
        var files = await _store.ReadFilesAsync(Key, null, CancellationToken.None);
        Assert.Equal((1L, "1"), (files!.Revision, Encoding.UTF8.GetString(files.Files.Single(f => f.Path == "a").Content)));
    }

    [Fact]
    public async Task Delta_HasEveryPathChangedSinceARevision_WithItsLatestContent()
    {
        await StartAsync(File("a", "1"), File("b", "2"));
        await _store.CommitAsync(Key, [Write("a", "1b")], new ChangeDescription("put"), CancellationToken.None);
        await _store.CommitAsync(Key, [Write("a", "1c"), Write("b", null), Write("c", "3")], new ChangeDescription("put"), CancellationToken.None);

        var delta = await _store.GetDeltaAsync(Key, 1, CancellationToken.None);

        Assert.Equal((1L, 3L), (delta!.FromRevision, delta.ToRevision));
        Assert.Equal(["a:1c", "c:3"], delta.Written.Select(f => $"{f.Path}:{Encoding.UTF8.GetString(f.Content)}").Order().ToArray());
        Assert.Equal(["b"], delta.Deleted);
        Assert.Empty((await _store.GetDeltaAsync(Key, 3, CancellationToken.None))!.Written);
    }

    [Fact]
    public async Task MarkPushed_NeverMovesBackwardsForOneSandbox_ButResetsForANewOne()
    {
        await StartAsync(File("a", "1"));
        await _store.MarkPushedAsync(Key, "s1", 5, CancellationToken.None);
        await _store.MarkPushedAsync(Key, "s1", 3, CancellationToken.None);
        Assert.Equal((5L, "s1"), ((await _store.GetWorkingCopyAsync(Key, CancellationToken.None))!.PushedRevision!.Value, "s1"));

        await _store.MarkPushedAsync(Key, "s2", 2, CancellationToken.None);
        var copy = await _store.GetWorkingCopyAsync(Key, CancellationToken.None);
        Assert.Equal((2L, "s2"), (copy!.PushedRevision!.Value, copy.PushedSandboxId!));
    }

    [Fact]
    public async Task Limits_AreStoreLimitExceptions()
    {
        await StartAsync(File("a", "1"));
        await Assert.ThrowsAsync<StoreLimitException>(() => _store.CommitAsync(Key, [Write("b", "x"), Write("c", "x"), Write("d", "x")], new ChangeDescription("put"), CancellationToken.None));
        await Assert.ThrowsAsync<StoreLimitException>(() => _store.CreateSnapshotAsync("ns", "project", [File("1", ""), File("2", ""), File("3", ""), File("4", "")], null, CancellationToken.None));
    }

    [Fact]
    public async Task Activity_KeepsTheLatestTime_AndBatchesCountRoundTrips()
    {
        var t = DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        await _store.RecordActivityAsync([(Key, t.AddSeconds(5)), (new PreviewKey("ns", "q"), t)], CancellationToken.None);
        await _store.RecordActivityAsync([(Key, t)], CancellationToken.None);

        Assert.Equal(t.AddSeconds(5), await _store.GetLastActivityAsync(Key, CancellationToken.None));
        Assert.Equal(2, _store.ActivityBatches);
    }

    [Fact]
    public async Task InitializeWithReset_CommitsTheNewSnapshotAsANewRevision()
    {
        await StartAsync(File("a", "1"), File("b", "2"));
        var next = await _store.CreateSnapshotAsync("ns", "project", [File("a", "1"), File("c", "3")], null, CancellationToken.None);

        var copy = await _store.InitializeWorkingCopyAsync(Key, "project", next.SnapshotId, reset: true, CancellationToken.None);

        Assert.Equal((2L, next.SnapshotId), (copy.Revision, copy.SnapshotId));
        Assert.Equal(["a", "c"], copy.Files.Select(f => f.Path).ToArray());
        var latest = await _store.ReadFilesAsync(Key, null, CancellationToken.None);
        Assert.Equal(2, latest!.Revision);
    }
}
