using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Midori.DevStack.Store;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Files;
using Midori.Operator.Options;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Midori.Operator.Tests.Controllers;

/// <summary>
/// A store-backed preview (spec.source.snapshotId, in-memory store) paused and resumed through the real reconciler:
/// what changed in the working copy while it was paused — deletions included — reaches the resumed sandbox, and the
/// history rows say which kind of start each session was.
/// </summary>
public sealed class SandboxResumeStoreTests
{
    private const string Name = "demo";
    private static readonly PreviewKey Key = new("default", Name);

    private readonly FakeTimeProvider _time = new(ReconcilerHarness.T0);
    private readonly IPreviewStore _store;
    private readonly StoreHistoryQueue _queue;
    private readonly StoreHistoryWriter _writer;
    private readonly ReconcilerHarness _h;

    public SandboxResumeStoreTests()
    {
        var options = MsOptions.Create(new StoreOptions());
        _store = new InMemoryPreviewStore(_time);
        _queue = new StoreHistoryQueue(options);
        _writer = new StoreHistoryWriter(_queue, _store, _time, options, NullLogger<StoreHistoryWriter>.Instance);
        var seams = new HarnessStore(new StoreSnapshotFileSource(_store, NullLogger<StoreSnapshotFileSource>.Instance), _store,
            [new StoreLifecycleObserver(_queue, _time, NullLogger<StoreLifecycleObserver>.Instance)]);
        _h = new ReconcilerHarness(new OperatorOptions { HealthCheckInterval = TimeSpan.FromSeconds(30) }, seams, _time);
    }

    private static SandboxFile File(string path, string content) => new(path, Encoding.UTF8.GetBytes(content));

    private async Task<string> RunThenPauseAsync()
    {
        var snapshot = await _store.CreateSnapshotAsync("default", "project-1",
            [File("index.html", "<h1>v1</h1>"), File("app.js", "let a = 1;"), File("old.css", "body {}")], null, default);
        var resource = new PreviewSandboxBuilder().Named(Name).WithIdleTimeout(300).Build();
        resource.Spec.Source = new PreviewSandboxSource { SnapshotId = snapshot.SnapshotId };
        resource.Spec.Lifecycle = new PreviewSandboxLifecycle { OnIdle = LifecycleActions.Pause };
        _h.Client.Create(resource);
        await _h.ReconcileAsync(Name);
        var id = _h.Get(Name).Status!.SandboxId!;
        _time.Advance(TimeSpan.FromSeconds(300));
        await _h.ReconcileAsync(Name);
        Assert.Equal(Phases.Paused, _h.Get(Name).Status!.Phase);
        return id;
    }

    private async Task WakeAsync()
    {
        _time.Advance(TimeSpan.FromMinutes(5));
        await _store.RecordActivityAsync([(Key, _time.GetUtcNow())], default);
        await _h.ReconcileAsync(Name);
    }

    [Fact]
    public async Task FilesDeletedWhilePaused_AreGoneAfterTheResume_AndChangedOnesUpdated()
    {
        // arrange: paused; then the editor deletes one file, changes one and adds one
        var id = await RunThenPauseAsync();
        await _store.CommitAsync(Key,
            [new FileWrite("old.css", null), new FileWrite("app.js", Encoding.UTF8.GetBytes("let a = 2;")), new FileWrite("new.js", Encoding.UTF8.GetBytes("new"))],
            new ChangeDescription("put"), default);

        // act
        await WakeAsync();

        // assert: the same sandbox holds exactly the working copy
        var status = _h.Get(Name).Status!;
        Assert.True(Phases.Running == status.Phase, k8s.KubernetesJson.Serialize(status));
        Assert.Equal(id, status.SandboxId);
        var files = _h.Provider.Find(id)!.Files;
        Assert.Equal(["app.js", "index.html", "new.js"], files.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("let a = 2;", Encoding.UTF8.GetString(files["app.js"]));
        var head = await _store.GetWorkingCopyHeadAsync(Key, default);
        Assert.Equal((head!.Revision, head.FilesHash), (status.FilesRevision!.Value, status.FilesHash));
        Assert.Equal((head.Revision, id), (head.PushedRevision, head.PushedSandboxId));
        Assert.Equal("True", status.Conditions!.Single(c => c.Type == PreviewSandboxConditions.FilesInSync).Status);
    }

    [Fact]
    public async Task HistoryRows_SayCreateThenResume_AndAResumeIsNoRecreation()
    {
        // arrange: created, paused, resumed
        await RunThenPauseAsync();
        await WakeAsync();

        // act
        await _writer.WritePendingAsync(default);

        // assert: newest first
        var sessions = await _store.ListSessionsAsync(Key, 10, default);
        Assert.Equal([(SessionStates.Ready, StartKinds.Resume), (SessionStates.Expired, StartKinds.Create)], sessions.Select(s => (s.State, s.Kind)));
        Assert.Empty(await _store.ListRecreationsAsync(Key, 10, default));
    }

    [Fact]
    public async Task HistoryRows_WhenThePausedSandboxIsGone_SayRecreate()
    {
        // arrange
        var id = await RunThenPauseAsync();
        _h.Provider.Vanish(id);

        // act
        await WakeAsync();
        await _writer.WritePendingAsync(default);

        // assert
        var sessions = await _store.ListSessionsAsync(Key, 10, default);
        Assert.Equal(StartKinds.Recreate, sessions[0].Kind);
        Assert.Equal(SessionStates.Ready, sessions[0].State);
        var recreation = Assert.Single(await _store.ListRecreationsAsync(Key, 10, default));
        Assert.Equal((RecreationReasons.IdleWake, id), (recreation.Reason, recreation.OldSandboxId));
    }
}
