using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Kubernetes;
using Midori.Operator.Runtime;
using Midori.DevApiServer;

namespace Midori.Operator.Tests.Runtime;

/// <summary>Event aggregation (client-go's correlator, simplified) against the test API server.</summary>
public sealed class KubernetesEventRecorderTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));
    private DevKubeApiServer _server = null!;
    private k8s.Kubernetes _kubernetes = null!;
    private KubernetesEventRecorder _recorder = null!;

    public async Task InitializeAsync()
    {
        _server = await DevKubeApiServer.StartAsync();
        _kubernetes = new k8s.Kubernetes(_server.CreateClientConfiguration());
        _recorder = new KubernetesEventRecorder(_kubernetes, new OperatorIdentity("midori-test-0", "default"), _time,
            NullLogger<KubernetesEventRecorder>.Instance);
    }

    public async Task DisposeAsync()
    {
        _recorder.Dispose();
        _kubernetes.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Repeats_WithinWindow_PatchOneEventsCount()
    {
        // arrange
        var resource = Resource("web", "uid-1");

        // act
        for (var i = 0; i < 3; i++)
        {
            _recorder.Warning(resource, "ProviderError", "local: create failed");
            _time.Advance(TimeSpan.FromSeconds(30));
        }

        await _recorder.FlushAsync(CancellationToken.None);

        // assert
        var events = await ListAsync();
        var only = Assert.Single(events);
        Assert.Equal(3, only.Count);
        Assert.Equal("Warning", only.Type);
        Assert.Equal("ProviderError", only.Reason);
        Assert.Equal("uid-1", only.InvolvedObject.Uid);
        Assert.Equal(GroupVersion.Kind, only.InvolvedObject.Kind);
        Assert.Equal(only.FirstTimestamp!.Value.AddMinutes(1), only.LastTimestamp);
        Assert.Equal("midori-test-0", only.ReportingInstance);
    }

    [Fact]
    public async Task DifferentMessageOrObject_CreateSeparateEvents()
    {
        // arrange
        var web = Resource("web", "uid-1");
        var api = Resource("api", "uid-2");

        // act
        _recorder.Normal(web, "Created", "Created sandbox a");
        _recorder.Normal(web, "Created", "Created sandbox b");
        _recorder.Normal(api, "Created", "Created sandbox a");
        await _recorder.FlushAsync(CancellationToken.None);

        // assert
        var events = await ListAsync();
        Assert.Equal(3, events.Count);
        Assert.All(events, e => Assert.Equal(1, e.Count));
    }

    [Fact]
    public async Task Repeat_AfterAggregationWindow_StartsANewEvent()
    {
        // arrange
        var resource = Resource("web", "uid-1");
        _recorder.Normal(resource, "Synced", "Synced 3 files");
        await _recorder.FlushAsync(CancellationToken.None);

        // act
        _time.Advance(KubernetesEventRecorder.AggregationWindow + TimeSpan.FromSeconds(1));
        _recorder.Normal(resource, "Synced", "Synced 3 files");
        await _recorder.FlushAsync(CancellationToken.None);

        // assert
        var events = await ListAsync();
        Assert.Equal(2, events.Count);
        Assert.All(events, e => Assert.Equal(1, e.Count));
    }

    [Fact]
    public async Task AggregatedEventDeleted_NextRepeatCreatesItAgain()
    {
        // arrange
        var resource = Resource("web", "uid-1");
        _recorder.Normal(resource, "Synced", "Synced 3 files");
        await _recorder.FlushAsync(CancellationToken.None);
        var first = Assert.Single(await ListAsync());
        await _kubernetes.CoreV1.DeleteNamespacedEventAsync(first.Metadata.Name, "default");

        // act
        _recorder.Normal(resource, "Synced", "Synced 3 files");
        await _recorder.FlushAsync(CancellationToken.None);

        // assert: the 404 on the count patch falls back to a fresh Event instead of losing the repeat
        var recreated = Assert.Single(await ListAsync());
        Assert.NotEqual(first.Metadata.Name, recreated.Metadata.Name);
        Assert.Equal(1, recreated.Count);
    }

    [Fact]
    public async Task LongMessage_TruncatedToApiLimit()
    {
        // arrange
        var resource = Resource("web", "uid-1");

        // act
        _recorder.Warning(resource, "ProviderError", new string('x', 5000));
        await _recorder.FlushAsync(CancellationToken.None);

        // assert
        var only = Assert.Single(await ListAsync());
        Assert.Equal(KubernetesEventRecorder.MaxMessageLength, only.Message.Length);
        Assert.EndsWith("...", only.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApiServerUnreachable_SendFailureIsLoggedNotThrown()
    {
        // arrange: the client still points at the old server's port, so every send fails with a connection error
        var resource = Resource("web", "uid-1");
        await _server.DisposeAsync();
        _server = await DevKubeApiServer.StartAsync();
        _recorder.Normal(resource, "Created", "lost while the server was away");

        // act
        var handled = await _recorder.FlushAsync(CancellationToken.None);

        // assert: the event was taken off the queue and the failure did not reach the caller
        Assert.Equal(1, handled);
    }

    private static V1Alpha1PreviewSandbox Resource(string name, string uid) => new()
    {
        ApiVersion = GroupVersion.ApiVersion,
        Kind = GroupVersion.Kind,
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default", Uid = uid, ResourceVersion = "1" },
        Spec = new PreviewSandboxSpec { ProjectId = "p1" },
    };

    private async Task<IList<Corev1Event>> ListAsync() => (await _kubernetes.CoreV1.ListNamespacedEventAsync("default")).Items;
}
