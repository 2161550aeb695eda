using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;
using Midori.Operator.Testing.Fakes;
using MsOptions = Microsoft.Extensions.Options.Options;
using Midori.Operator.Files;

namespace Midori.Operator.Tests.Persistence;

/// <summary>The real reconciler with the PostgreSQL store behind spec.source.snapshotId, activity and history.</summary>
public sealed class StoreBackedReconcilerTests(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly string _name = "demo-" + Guid.NewGuid().ToString("N")[..8];
    private PostgresPreviewStore _store = null!;
    private StoreHistoryQueue _queue = null!;
    private StoreHistoryWriter _writer = null!;

    private PreviewKey Key => new("default", _name);

    private async Task<ReconcilerHarness> HarnessAsync()
    {
        var time = new FakeTimeProvider(ReconcilerHarness.T0);
        var options = MsOptions.Create(new StoreOptions());
        _store = await database.CreateStoreAsync(time: time);
        _queue = new StoreHistoryQueue(options);
        _writer = new StoreHistoryWriter(_queue, _store, time, options, NullLogger<StoreHistoryWriter>.Instance);
        var seams = new HarnessStore(new StoreSnapshotFileSource(_store, NullLogger<StoreSnapshotFileSource>.Instance), _store,
            [new StoreLifecycleObserver(_queue, time, NullLogger<StoreLifecycleObserver>.Instance)]);
        return new ReconcilerHarness(new Options.OperatorOptions { HealthCheckInterval = TimeSpan.FromSeconds(30) }, seams, time);
    }

    private async Task<(ReconcilerHarness Harness, SnapshotRecord Snapshot)> RunningPreviewAsync(int idleTimeoutSeconds = 300)
    {
        var h = await HarnessAsync();
        var snapshot = await _store.CreateSnapshotAsync("default", "project-1",
            [File("index.html", "<h1>v1</h1>"), File("app.js", "let a = 1;"), File("README.md", "readme")], null, default);
        var resource = new PreviewSandboxBuilder().Named(_name).WithIdleTimeout(idleTimeoutSeconds).Build();
        resource.Spec.Source = new PreviewSandboxSource { SnapshotId = snapshot.SnapshotId };
        h.Client.Create(resource);
        await h.ReconcileAsync(_name);
        return (h, snapshot);
    }

    private static SandboxFile File(string path, string content) => new(path, Encoding.UTF8.GetBytes(content));

    private static string Text(FakeSandbox sandbox, string path) => Encoding.UTF8.GetString(sandbox.Files[path]);

    [PostgresFact]
    public async Task SnapshotSource_NewPreview_GetsTheWorkingCopyAndRecordsThePush()
    {
        // act
        var (h, snapshot) = await RunningPreviewAsync();

        // assert
        var status = h.Get(_name).Status!;
        Assert.True(Phases.Running == status.Phase, status.Conditions?.FirstOrDefault()?.Message);
        var sandbox = h.Provider.Find(status.SandboxId!)!;
        Assert.Equal("<h1>v1</h1>", Text(sandbox, "index.html"));
        Assert.Equal(3, sandbox.Files.Count);
        Assert.Equal((1L, snapshot.FilesHash), (status.FilesRevision, status.FilesHash));
        var copy = await _store.GetWorkingCopyHeadAsync(Key, default);
        Assert.Equal((1L, status.SandboxId), (copy!.PushedRevision, copy.PushedSandboxId));
    }

    [PostgresFact]
    public async Task KeepRunning_AfterACommit_PushesOnlyTheDeltaIncludingDeletes()
    {
        // arrange
        var (h, _) = await RunningPreviewAsync();
        var sandbox = h.Provider.Find(h.Get(_name).Status!.SandboxId!)!;
        var commit = await _store.CommitAsync(Key, [new FileWrite("app.js", Encoding.UTF8.GetBytes("let a = 2;")), new FileWrite("index.html", null)],
            new ChangeDescription("put"), default);
        sandbox.Files["README.md"] = Encoding.UTF8.GetBytes("changed in the sandbox"); // an unchanged file must not be rewritten

        // act
        h.Time.Advance(TimeSpan.FromSeconds(30));
        await h.ReconcileAsync(_name);

        // assert
        var status = h.Get(_name).Status!;
        Assert.Equal("let a = 2;", Text(sandbox, "app.js"));
        Assert.False(sandbox.Files.ContainsKey("index.html"));
        Assert.Equal("changed in the sandbox", Text(sandbox, "README.md"));
        Assert.Equal((2L, commit.FilesHash), (status.FilesRevision, status.FilesHash));
        Assert.Equal("True", status.Conditions!.Single(c => c.Type == PreviewSandboxConditions.FilesInSync).Status);
        Assert.Equal(2, (await _store.GetWorkingCopyHeadAsync(Key, default))!.PushedRevision);
    }

    [PostgresFact]
    public async Task KeepRunning_WhenTheApiAlreadyPushed_OnlyRecordsTheRevision()
    {
        // arrange
        var (h, _) = await RunningPreviewAsync();
        var sandboxId = h.Get(_name).Status!.SandboxId!;
        var sandbox = h.Provider.Find(sandboxId)!;
        var commit = await _store.CommitAsync(Key, [new FileWrite("app.js", Encoding.UTF8.GetBytes("let a = 2;"))], new ChangeDescription("put"), default);
        await _store.MarkPushedAsync(Key, sandboxId, commit.Revision, default); // as the HTTP API does after its own push

        // act
        h.Time.Advance(TimeSpan.FromSeconds(30));
        await h.ReconcileAsync(_name);

        // assert
        Assert.Equal("let a = 1;", Text(sandbox, "app.js")); // the reconciler did not push again
        Assert.Equal(2, h.Get(_name).Status!.FilesRevision);
    }

    [PostgresFact]
    public async Task KeepRunning_WhenThePushFails_ReportsOutOfSyncAndConvergesLater()
    {
        // arrange
        var (h, _) = await RunningPreviewAsync();
        var sandbox = h.Provider.Find(h.Get(_name).Status!.SandboxId!)!;
        await _store.CommitAsync(Key, [new FileWrite("app.js", Encoding.UTF8.GetBytes("let a = 2;"))], new ChangeDescription("put"), default);
        h.Provider.FailNextUpload();

        // act
        h.Time.Advance(TimeSpan.FromSeconds(30));
        var failed = await h.ReconcileAsync(_name);
        var behind = h.Get(_name).Status!;
        h.Time.Advance(failed.RequeueAfter!.Value);
        await h.ReconcileAsync(_name);

        // assert
        Assert.Equal(TimeSpan.FromSeconds(5), failed.RequeueAfter);
        Assert.Equal(("False", 1L), (behind.Conditions!.Single(c => c.Type == PreviewSandboxConditions.FilesInSync).Status, behind.FilesRevision));
        var status = h.Get(_name).Status!;
        Assert.Equal(("True", 2L), (status.Conditions!.Single(c => c.Type == PreviewSandboxConditions.FilesInSync).Status, status.FilesRevision));
        Assert.Equal("let a = 2;", Text(sandbox, "app.js"));
    }

    [PostgresFact]
    public async Task SandboxDiesBeforeANewRevisionIsPushed_TheNextSandboxHasTheChange()
    {
        // arrange
        var (h, _) = await RunningPreviewAsync();
        var old = h.Get(_name).Status!.SandboxId!;
        await _store.CommitAsync(Key, [new FileWrite("app.js", Encoding.UTF8.GetBytes("let a = 2;")), new FileWrite("new.css", Encoding.UTF8.GetBytes("b{}"))],
            new ChangeDescription("batch"), default);
        h.Provider.Vanish(old);

        // act
        h.Time.Advance(TimeSpan.FromSeconds(30));
        await h.ReconcileAsync(_name);

        // assert
        var status = h.Get(_name).Status!;
        Assert.NotEqual(old, status.SandboxId);
        var replacement = h.Provider.Find(status.SandboxId!)!;
        Assert.Equal("let a = 2;", Text(replacement, "app.js"));
        Assert.Equal("b{}", Text(replacement, "new.css"));
        Assert.Equal(2, status.FilesRevision);
        var copy = await _store.GetWorkingCopyHeadAsync(Key, default);
        Assert.Equal((2L, status.SandboxId), (copy!.PushedRevision, copy.PushedSandboxId));
    }

    [PostgresFact]
    public async Task ActivityRecordedOnlyInTheStore_KeepsThePreviewFromIdleExpiry()
    {
        // arrange
        var (h, _) = await RunningPreviewAsync(idleTimeoutSeconds: 300);
        h.Time.Advance(TimeSpan.FromSeconds(290));
        await _store.RecordActivityAsync([(Key, h.Time.GetUtcNow())], default); // heartbeat without an annotation write

        // act
        h.Time.Advance(TimeSpan.FromSeconds(20));
        await h.ReconcileAsync(_name);

        // assert
        var status = h.Get(_name).Status!;
        Assert.Equal(Phases.Running, status.Phase);
        Assert.Equal(ReconcilerHarness.T0.AddSeconds(590).UtcDateTime, status.IdleDeadline);
    }

    [PostgresFact]
    public async Task Lifecycle_WritesSessionTransitionsAndRecreationRows()
    {
        // arrange: created, then lost and recreated, then idle-expired, then woken by a heartbeat seen only in the store
        var (h, snapshot) = await RunningPreviewAsync(idleTimeoutSeconds: 300);
        var first = h.Get(_name).Status!;
        h.Provider.Vanish(first.SandboxId!);
        h.Time.Advance(TimeSpan.FromSeconds(30));
        await h.ReconcileAsync(_name);
        var second = h.Get(_name).Status!;
        h.Time.Advance(TimeSpan.FromMinutes(6));
        await h.ReconcileAsync(_name);
        Assert.Equal(Phases.Expired, h.Get(_name).Status!.Phase);
        await _writer.WritePendingAsync(default);
        var afterExpiry = await _store.ListSessionsAsync(Key, 10, default);

        // act
        h.Time.Advance(TimeSpan.FromMinutes(1));
        await _store.RecordActivityAsync([(Key, h.Time.GetUtcNow())], default);
        await h.ReconcileAsync(_name);
        await _writer.WritePendingAsync(default);

        // assert
        var expired = Assert.Single(afterExpiry);
        Assert.Equal(SessionStates.Expired, expired.State);
        Assert.Equal((second.SandboxUrl, snapshot.SnapshotId, "project-1"), (expired.Url, expired.SnapshotId, expired.ProjectId));
        Assert.Equal(second.SandboxId, expired.SandboxInfo!.SandboxId);
        Assert.Equal(second.ExpiresAt, expired.SandboxInfo.EndTime.UtcDateTime);
        Assert.Equal(second.SandboxId, expired.Meta!["sandboxId"]!.GetValue<string>());
        Assert.Equal("IdleExpired", expired.Meta["endReason"]!.GetValue<string>());
        Assert.NotNull(expired.BuildTimeMs);

        var sessions = await _store.ListSessionsAsync(Key, 10, default);
        Assert.Equal([SessionStates.Ready, SessionStates.Expired], sessions.Select(s => s.State));
        Assert.Equal(h.Get(_name).Status!.SandboxUrl, sessions[0].Url);
        // the lost sandbox's replacement and the wake's new sandbox were both recreations (every file transferred)
        Assert.Equal([StartKinds.Recreate, StartKinds.Recreate], sessions.Select(s => s.Kind));

        var recreations = await _store.ListRecreationsAsync(Key, 10, default);
        Assert.Equal([RecreationReasons.IdleWake, RecreationReasons.Error], recreations.Select(r => r.Reason));
        var lost = recreations[1];
        Assert.Equal((first.SandboxId, second.SandboxId, first.SandboxUrl, second.SandboxUrl, true),
            (lost.OldSandboxId, lost.NewSandboxId, lost.OldUrl, lost.NewUrl, lost.Success));
        Assert.Equal(h.Get(_name).Metadata.Uid, lost.ResourceUid);
        Assert.Null(recreations[0].OldUrl); // an expired preview has no URL to replace
    }
}
