using k8s;
using Microsoft.Extensions.Logging.Abstractions;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Kubernetes;
using Midori.Operator.Persistence;
using Midori.Operator.Runtime;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Fakes;

namespace Midori.Operator.Tests.Runtime;

/// <summary>The informer's object store: full objects, indexes by project and sandbox id, subscriptions, write-through.</summary>
public sealed class PreviewSandboxCacheTests : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TestWaits.Bound;

    private readonly ScriptedPreviewSandboxClient _client = new();
    private readonly PreviewSandboxCache _cache;
    private readonly PreviewSandboxInformer _informer;
    private readonly CancellationTokenSource _stop = new();
    private Task? _run;

    public PreviewSandboxCacheTests()
    {
        _cache = new PreviewSandboxCache(_client, TimeProvider.System);
        _informer = new PreviewSandboxInformer(_client, _cache, TestSupport.Options(), TimeProvider.System, NullLogger<PreviewSandboxInformer>.Instance, TestSupport.NoJitterWatchBackoff());
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_run is not null)
        {
            await _run.WaitAsync(Timeout);
        }

        _stop.Dispose();
    }

    [Fact]
    public async Task ListThenWatch_KeepsFullObjects_AndNotifiesSubscribers()
    {
        var a = ScriptedPreviewSandboxClient.Sandbox("a", resourceVersion: "10");
        _client.EnqueueList("10", [a]);
        var watch = _client.ScriptWatch();
        Start();
        await _cache.Synced.WaitAsync(Timeout);
        Assert.True(_cache.TryGet(new PreviewKey("default", "a"), out var cached));
        Assert.Same(a, cached);

        using var subscription = _cache.Subscribe(new PreviewKey("default", "a"));
        var modified = ScriptedPreviewSandboxClient.Sandbox("a", resourceVersion: "11", annotations: new Dictionary<string, string> { ["x"] = "y" });
        watch.Send(WatchEventType.Modified, modified).Send(WatchEventType.Added, ScriptedPreviewSandboxClient.Sandbox("b", resourceVersion: "12"));
        watch.Send(WatchEventType.Deleted, modified);

        var first = await subscription.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
        var second = await subscription.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Same(modified, first.Object);
        Assert.Equal((WatchEventType.Deleted, null), (second.Type, second.Object));
        await watch.WaitHandledAsync(3).WaitAsync(Timeout);
        Assert.False(_cache.TryGet(new PreviewKey("default", "a"), out _));
        Assert.True(_cache.TryGet(new PreviewKey("default", "b"), out _));
    }

    [Fact]
    public async Task ExpiredResourceVersion_Relists_AndDropsObjectsThatVanished()
    {
        _client.EnqueueList("10", [ScriptedPreviewSandboxClient.Sandbox("gone"), ScriptedPreviewSandboxClient.Sandbox("stays")]);
        _client.ScriptWatch().Fail(new ResourceVersionExpiredException("too old"));
        _client.EnqueueList("20", [ScriptedPreviewSandboxClient.Sandbox("stays", resourceVersion: "20")]);
        using var subscription = _cache.Subscribe();

        Start();
        await _client.WaitForWatchCallsAsync(2).WaitAsync(Timeout);

        Assert.False(_cache.TryGet(new PreviewKey("default", "gone"), out _));
        Assert.Equal("20", _cache.TryGet(new PreviewKey("default", "stays"), out var stays) ? stays.Metadata.ResourceVersion : null);
        Assert.Equal("20", _client.Watches[1].ResourceVersion);
    }

    [Fact]
    public async Task Cache_HoldsObjectsWithoutManagedFields()
    {
        // arrange
        var listed = ScriptedPreviewSandboxClient.Sandbox("a", resourceVersion: "10");
        listed.Metadata.ManagedFields = [new k8s.Models.V1ManagedFieldsEntry { Manager = "kubectl", Operation = "Update" }];
        _client.EnqueueList("10", [listed]);
        _client.ScriptWatch();

        // act
        Start();
        await _cache.Synced.WaitAsync(Timeout);
        var written = ScriptedPreviewSandboxClient.Sandbox("b", resourceVersion: "11");
        written.Metadata.ManagedFields = [new k8s.Models.V1ManagedFieldsEntry { Manager = "midori-operator", Operation = "Update" }];
        _cache.Observe(written);

        // assert
        Assert.True(_cache.TryGet(new PreviewKey("default", "a"), out var a));
        Assert.True(_cache.TryGet(new PreviewKey("default", "b"), out var b));
        Assert.Null(a.Metadata.ManagedFields);
        Assert.Null(b.Metadata.ManagedFields);
    }

    [Fact]
    public async Task Observe_WritesThroughOnlyNewerVersions()
    {
        _client.EnqueueList("10", [ScriptedPreviewSandboxClient.Sandbox("a", resourceVersion: "10")]);
        Start();
        await _cache.Synced.WaitAsync(Timeout);
        var key = new PreviewKey("default", "a");

        _cache.Observe(ScriptedPreviewSandboxClient.Sandbox("a", resourceVersion: "9"));
        Assert.Equal("10", _cache.TryGet(key, out var afterOlder) ? afterOlder.Metadata.ResourceVersion : null);
        _cache.Observe(ScriptedPreviewSandboxClient.Sandbox("a", resourceVersion: "15"));
        Assert.Equal("15", _cache.TryGet(key, out var afterNewer) ? afterNewer.Metadata.ResourceVersion : null);
    }

    [Fact]
    public async Task Indexes_FollowProjectAndSandboxIdThroughChanges()
    {
        var a = WithProject(ScriptedPreviewSandboxClient.Sandbox("a", resourceVersion: "10"), "shop", "sbx-1");
        var b = WithProject(ScriptedPreviewSandboxClient.Sandbox("b", resourceVersion: "10"), "shop", null);
        var other = WithProject(ScriptedPreviewSandboxClient.Sandbox("c", "team", resourceVersion: "10"), "shop", "sbx-3");
        _client.EnqueueList("10", [a, b, other]);
        var watch = _client.ScriptWatch();
        Start();
        await _cache.Synced.WaitAsync(Timeout);

        Assert.Equal(["a", "b"], (await _cache.FindByProjectAsync("default", "shop", CancellationToken.None)).Select(i => i.Metadata.Name).Order());
        Assert.Equal(new PreviewKey("default", "a"), _cache.FindBySandboxId("sbx-1"));

        // a's sandbox is recreated (new id), b moves to another sandbox, c is deleted
        watch.Send(WatchEventType.Modified, WithProject(ScriptedPreviewSandboxClient.Sandbox("a", resourceVersion: "11"), "shop", "sbx-2"));
        watch.Send(WatchEventType.Deleted, other);
        await watch.WaitHandledAsync(2).WaitAsync(Timeout);

        Assert.Null(_cache.FindBySandboxId("sbx-1"));
        Assert.Equal(new PreviewKey("default", "a"), _cache.FindBySandboxId("sbx-2"));
        Assert.Null(_cache.FindBySandboxId("sbx-3"));
        Assert.Empty(await _cache.FindByProjectAsync("team", "shop", CancellationToken.None));
        Assert.Equal(2, (await _cache.FindByProjectAsync("default", "shop", CancellationToken.None)).Count);
    }

    private void Start() => _run = _informer.RunAsync(_stop.Token);

    private static V1Alpha1PreviewSandbox WithProject(V1Alpha1PreviewSandbox item, string project, string? sandboxId)
    {
        item.Spec = new PreviewSandboxSpec { ProjectId = project };
        item.Status = sandboxId is null ? null : new PreviewSandboxStatus { SandboxId = sandboxId, Phase = Phases.Running };
        return item;
    }
}
