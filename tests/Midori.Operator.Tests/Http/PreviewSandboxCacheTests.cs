using k8s;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Midori.Operator.Http.Services;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;
using Midori.Operator.Persistence;
using Midori.Operator.Testing.Fakes;
using Midori.Operator.Testing;

namespace Midori.Operator.Tests.Http;

public sealed class PreviewSandboxCacheTests
{
    private static readonly TimeSpan Timeout = TestWaits.Bound;

    [Fact]
    public async Task ListThenWatch_KeepsFullObjects_AndNotifiesSubscribers()
    {
        var client = new ScriptedPreviewSandboxClient();
        var a = ScriptedPreviewSandboxClient.Sandbox("a", resourceVersion: "10");
        client.EnqueueList("10", [a]);
        var watch = client.ScriptWatch();
        using var cache = new PreviewSandboxCache(client, Microsoft.Extensions.Options.Options.Create(new OperatorOptions()), TimeProvider.System, NullLogger<PreviewSandboxCache>.Instance);
        await cache.StartAsync(CancellationToken.None);
        await cache.Synced.WaitAsync(Timeout);
        Assert.True(cache.TryGet(new PreviewKey("default", "a"), out var cached));
        Assert.Same(a, cached);

        using var subscription = cache.Subscribe(new PreviewKey("default", "a"));
        var modified = ScriptedPreviewSandboxClient.Sandbox("a", resourceVersion: "11", annotations: new Dictionary<string, string> { ["x"] = "y" });
        watch.Send(WatchEventType.Modified, modified).Send(WatchEventType.Added, ScriptedPreviewSandboxClient.Sandbox("b", resourceVersion: "12"));
        watch.Send(WatchEventType.Deleted, modified);

        var first = await subscription.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
        var second = await subscription.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Same(modified, first.Object);
        Assert.Equal((WatchEventType.Deleted, null), (second.Type, second.Object));
        await watch.WaitHandledAsync(3).WaitAsync(Timeout);
        Assert.False(cache.TryGet(new PreviewKey("default", "a"), out _));
        Assert.True(cache.TryGet(new PreviewKey("default", "b"), out _));
        await cache.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task ExpiredResourceVersion_Relists_AndDropsObjectsThatVanished()
    {
        var client = new ScriptedPreviewSandboxClient();
        client.EnqueueList("10", [ScriptedPreviewSandboxClient.Sandbox("gone"), ScriptedPreviewSandboxClient.Sandbox("stays")]);
        client.ScriptWatch().Fail(new ResourceVersionExpiredException("too old"));
        client.EnqueueList("20", [ScriptedPreviewSandboxClient.Sandbox("stays", resourceVersion: "20")]);
        using var cache = new PreviewSandboxCache(client, Microsoft.Extensions.Options.Options.Create(new OperatorOptions()), TimeProvider.System, NullLogger<PreviewSandboxCache>.Instance);
        using var subscription = cache.Subscribe();

        await cache.StartAsync(CancellationToken.None);
        await client.WaitForWatchCallsAsync(2).WaitAsync(Timeout);

        Assert.False(cache.TryGet(new PreviewKey("default", "gone"), out _));
        Assert.Equal("20", cache.TryGet(new PreviewKey("default", "stays"), out var stays) ? stays.Metadata.ResourceVersion : null);
        Assert.Equal("20", client.Watches[1].ResourceVersion);
        await cache.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Observe_WritesThroughOnlyNewerVersions()
    {
        var client = new ScriptedPreviewSandboxClient();
        client.EnqueueList("10", [ScriptedPreviewSandboxClient.Sandbox("a", resourceVersion: "10")]);
        using var cache = new PreviewSandboxCache(client, Microsoft.Extensions.Options.Options.Create(new OperatorOptions()), TimeProvider.System, NullLogger<PreviewSandboxCache>.Instance);
        await cache.StartAsync(CancellationToken.None);
        await cache.Synced.WaitAsync(Timeout);
        var key = new PreviewKey("default", "a");

        cache.Observe(ScriptedPreviewSandboxClient.Sandbox("a", resourceVersion: "9"));
        Assert.Equal("10", cache.TryGet(key, out var afterOlder) ? afterOlder.Metadata.ResourceVersion : null);
        cache.Observe(ScriptedPreviewSandboxClient.Sandbox("a", resourceVersion: "15"));
        Assert.Equal("15", cache.TryGet(key, out var afterNewer) ? afterNewer.Metadata.ResourceVersion : null);
        await cache.StopAsync(CancellationToken.None);
    }
}
