using k8s;
using Microsoft.Extensions.Logging.Abstractions;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Kubernetes;
using Midori.Operator.Runtime;
using Midori.Operator.Testing.Fakes;
using static Midori.Operator.Testing.Fakes.ScriptedPreviewSandboxClient;

namespace Midori.Operator.Tests.Runtime;

public sealed class PreviewSandboxInformerTests : IAsyncDisposable
{
    private static readonly PreviewKey KeyA = new("default", "a");
    private static readonly PreviewKey KeyB = new("team", "b");

    private readonly ObservableTimeProvider _time = new();
    private readonly ScriptedPreviewSandboxClient _client = new();
    private readonly ReconcileQueue _queue;
    private readonly PreviewSandboxInformer _informer;
    private readonly IDisposable _intake;
    private readonly CancellationTokenSource _cts = new();
    private Task? _run;

    public PreviewSandboxInformerTests()
    {
        _queue = new ReconcileQueue(_time);
        _informer = new PreviewSandboxInformer(_client, new PreviewSandboxCache(_client, _time), TestSupport.Options(), _time, NullLogger<PreviewSandboxInformer>.Instance, TestSupport.NoJitterWatchBackoff());
        _intake = _informer.AttachQueue(_queue);
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        if (_run is not null)
        {
            await _run.WithTimeout();
        }

        _intake.Dispose();
        _queue.Dispose();
        _cts.Dispose();
    }

    [Fact]
    public async Task RunAsync_InitialListOfSeveralPages_EnqueuesEveryKeyAndWatchesFromListResourceVersion()
    {
        // arrange
        _client.EnqueueList("10", [Sandbox("a")], [Sandbox("b", "team")]);

        // act
        Start();
        await _client.WaitForWatchCallsAsync(1).WithTimeout();

        // assert
        Assert.True(_informer.HasSynced);
        Assert.Equal(2, _queue.Count);
        Assert.Equal([(null, null), (null, "page-1")], _client.ListCalls);
        Assert.Equal("10", _client.Watches[0].ResourceVersion);
        Assert.Equal(TimeSpan.FromMinutes(5), _client.Watches[0].Timeout);
    }

    [Fact]
    public async Task RunAsync_StatusOnlyModified_Skipped()
    {
        // arrange
        var watch = await StartWithAAsync();
        var statusOnly = Sandbox("a", resourceVersion: "11");
        statusOnly.Status = new PreviewSandboxStatus { Phase = Phases.Running };

        // act
        watch.Send(WatchEventType.Modified, statusOnly);
        await watch.WaitHandledAsync(1).WithTimeout();

        // assert
        Assert.Equal(0, _queue.Count);
        Assert.Equal("11", _informer.LastResourceVersion);
    }

    [Fact]
    public async Task RunAsync_OnlyOwnFinalizerAdded_Skipped()
    {
        // arrange: the reconcile that added it goes on with the object it wrote; a second run would only re-read it
        var watch = await StartWithAAsync();

        // act
        watch.Send(WatchEventType.Modified, Sandbox("a", resourceVersion: "11", finalizers: [GroupVersion.FinalizerName]));
        await watch.WaitHandledAsync(1).WithTimeout();

        // assert
        Assert.Equal(0, _queue.Count);
        Assert.Equal("11", _informer.LastResourceVersion);
    }

    public static TheoryData<string> SignificantChanges => ["generation", "heartbeat", "recreate", "retention", "finalizers", "deletionTimestamp"];

    [Theory]
    [MemberData(nameof(SignificantChanges))]
    public async Task RunAsync_SignificantModified_Enqueued(string change)
    {
        // arrange
        var watch = await StartWithAAsync();
        var changed = change switch
        {
            "generation" => Sandbox("a", generation: 2, resourceVersion: "11"),
            "heartbeat" => Sandbox("a", resourceVersion: "11", annotations: new Dictionary<string, string> { [GroupVersion.HeartbeatAnnotation] = "2026-01-01T00:00:00Z" }),
            "recreate" => Sandbox("a", resourceVersion: "11", annotations: new Dictionary<string, string> { [GroupVersion.RecreateAnnotation] = "1" }),
            "retention" => Sandbox("a", resourceVersion: "11", annotations: new Dictionary<string, string> { [GroupVersion.RetentionAnnotation] = "delete" }),
            "finalizers" => Sandbox("a", resourceVersion: "11", finalizers: ["example.com/backup"]),
            _ => Sandbox("a", resourceVersion: "11", deletionTimestamp: new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc)),
        };

        // act
        watch.Send(WatchEventType.Modified, changed);
        await watch.WaitHandledAsync(1).WithTimeout();

        // assert
        Assert.Equal(1, _queue.Count);
        Assert.Equal(KeyA, await _queue.DequeueAsync(CancellationToken.None).WithTimeout());
    }

    [Fact]
    public async Task RunAsync_UnrelatedAnnotationChange_Skipped()
    {
        // arrange
        var watch = await StartWithAAsync();

        // act
        watch.Send(WatchEventType.Modified, Sandbox("a", resourceVersion: "11", annotations: new Dictionary<string, string> { ["other"] = "x" }));
        await watch.WaitHandledAsync(1).WithTimeout();

        // assert
        Assert.Equal(0, _queue.Count);
    }

    [Fact]
    public async Task RunAsync_Added_Enqueued()
    {
        // arrange
        var watch = await StartWithAAsync();

        // act
        watch.Send(WatchEventType.Added, Sandbox("b", "team", resourceVersion: "12"));
        await watch.WaitHandledAsync(1).WithTimeout();

        // assert
        Assert.Equal(KeyB, await _queue.DequeueAsync(CancellationToken.None).WithTimeout());
    }

    [Fact]
    public async Task RunAsync_Deleted_ForgetsPendingKey()
    {
        // arrange
        var watch = await StartWithAAsync();
        _queue.AddAfter(KeyA, TimeSpan.FromMinutes(1));

        // act
        watch.Send(WatchEventType.Deleted, Sandbox("a", resourceVersion: "13"));
        await watch.WaitHandledAsync(1).WithTimeout();

        // assert
        Assert.Equal(0, _queue.Count);
        Assert.Equal("13", _informer.LastResourceVersion);
    }

    [Fact]
    public async Task RunAsync_BookmarkThenServerClose_NextWatchStartsFromBookmarkResourceVersion()
    {
        // arrange
        var watch = await StartWithAAsync();

        // act
        watch.Bookmark("42").Close();
        await _client.WaitForWatchCallsAsync(2).WithTimeout();

        // assert
        Assert.Equal("42", _client.Watches[1].ResourceVersion);
        Assert.Single(_client.ListCalls);
        Assert.Equal(0, _queue.Count);
    }

    [Fact]
    public async Task RunAsync_StreamEndsAfterEvents_RewatchesFromLastEventResourceVersion()
    {
        // arrange
        var watch = await StartWithAAsync();

        // act
        watch.Send(WatchEventType.Modified, Sandbox("a", resourceVersion: "15")).Close();
        await _client.WaitForWatchCallsAsync(2).WithTimeout();

        // assert
        Assert.Equal("15", _client.Watches[1].ResourceVersion);
        Assert.Single(_client.ListCalls);
    }

    [Fact]
    public async Task RunAsync_ResourceVersionExpired_RelistsAndEnqueuesListedAndVanishedKeys()
    {
        // arrange
        _client.EnqueueList("10", [Sandbox("a"), Sandbox("b", "team")]);
        _client.EnqueueList("20", [Sandbox("a", resourceVersion: "19")]);
        var first = _client.ScriptWatch();
        Start();
        await _client.WaitForWatchCallsAsync(1).WithTimeout();
        _queue.Clear();

        // act
        first.Fail(new ResourceVersionExpiredException("too old"));
        await _client.WaitForWatchCallsAsync(2).WithTimeout();

        // assert
        Assert.Equal(2, _client.ListCalls.Count);
        Assert.Equal("20", _client.Watches[1].ResourceVersion);
        var keys = new[] { await _queue.DequeueAsync(CancellationToken.None).WithTimeout(), await _queue.DequeueAsync(CancellationToken.None).WithTimeout() };
        Assert.Equal([KeyA, KeyB], keys.OrderBy(k => k.ToString(), StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public async Task RunAsync_WatchError_BacksOffThroughTimeProviderThenRewatchesFromSameResourceVersion()
    {
        // arrange
        var watch = await StartWithAAsync();

        // act
        watch.Fail(new HttpRequestException("connection reset"));
        var delay = await _time.CreatedTimers.ReadAsync().WithTimeout();
        var watchesDuringBackoff = _client.Watches.Count;
        _time.Advance(delay);
        await _client.WaitForWatchCallsAsync(2).WithTimeout();

        // assert
        Assert.Equal(TimeSpan.FromSeconds(2), delay);
        Assert.Equal(1, watchesDuringBackoff);
        Assert.Equal("10", _client.Watches[1].ResourceVersion);
        Assert.Single(_client.ListCalls);
    }

    [Fact]
    public async Task RunAsync_RepeatedErrors_BackoffGrowsAndResetsAfterSuccessfulEvent()
    {
        // arrange
        var watch = await StartWithAAsync();

        // act
        watch.Fail(new HttpRequestException("1"));
        var first = await _time.CreatedTimers.ReadAsync().WithTimeout();
        var second = _client.ScriptWatch();
        _time.Advance(first);
        second.Fail(new HttpRequestException("2"));
        var secondDelay = await _time.CreatedTimers.ReadAsync().WithTimeout();
        var third = _client.ScriptWatch();
        _time.Advance(secondDelay);
        third.Send(WatchEventType.Modified, Sandbox("a", resourceVersion: "30")).Fail(new HttpRequestException("3"));
        var thirdDelay = await _time.CreatedTimers.ReadAsync().WithTimeout();

        // assert
        Assert.Equal(TimeSpan.FromSeconds(2), first);
        Assert.Equal(TimeSpan.FromSeconds(4), secondDelay);
        Assert.Equal(TimeSpan.FromSeconds(2), thirdDelay);
    }

    [Fact]
    public async Task RunAsync_ListFails_BacksOffAndRetriesList()
    {
        // arrange
        _client.EnqueueListFailure(new HttpRequestException("apiserver down"));
        _client.EnqueueList("10", [Sandbox("a")]);

        // act
        Start();
        var delay = await _time.CreatedTimers.ReadAsync().WithTimeout();
        var syncedDuringBackoff = _informer.HasSynced;
        _time.Advance(delay);
        await _client.WaitForWatchCallsAsync(1).WithTimeout();

        // assert
        Assert.False(syncedDuringBackoff);
        Assert.True(_informer.HasSynced);
        Assert.Equal(2, _client.ListCalls.Count);
    }

    [Fact]
    public async Task RunAsync_Cancelled_StopsWatchingAndResetsHasSynced()
    {
        // arrange
        var watch = await StartWithAAsync();

        // act
        await _cts.CancelAsync();
        await _run!.WithTimeout();
        await watch.Ended.WithTimeout();

        // assert
        Assert.False(_informer.HasSynced);
    }

    private void Start() => _run = Task.Run(() => _informer.RunAsync(_cts.Token));

    private async Task<ScriptedWatch> StartWithAAsync()
    {
        _client.EnqueueList("10", [Sandbox("a", resourceVersion: "10")]);
        var watch = _client.ScriptWatch();
        Start();
        await _client.WaitForWatchCallsAsync(1).WithTimeout();
        Assert.Equal(KeyA, await _queue.DequeueAsync(CancellationToken.None).WithTimeout());
        _queue.Done(KeyA);
        return watch;
    }
}
