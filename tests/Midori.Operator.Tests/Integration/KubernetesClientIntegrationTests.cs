using System.Text;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;
using Midori.Operator.Runtime;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;
using Midori.DevApiServer;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Midori.Operator.Tests.Integration;

/// <summary>
/// The production Kubernetes seam over the real KubernetesClient HTTP path against the in-process test API server:
/// status subresource, merge-patch nulls, resourceVersion conflicts, finalizers, watch with 410, owned Secrets.
/// </summary>
public sealed class KubernetesClientIntegrationTests : IAsyncLifetime
{
    private DevKubeApiServer _server = null!;
    private k8s.Kubernetes _kubernetes = null!;
    private KubernetesPreviewSandboxClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await DevKubeApiServer.StartAsync();
        await _server.ApplyCrdAsync(RepositoryPaths.CrdFile);
        _kubernetes = new k8s.Kubernetes(_server.CreateClientConfiguration());
        _client = new KubernetesPreviewSandboxClient(_kubernetes);
    }

    public async Task DisposeAsync()
    {
        _kubernetes.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task PatchStatus_WritesStatusOnly_AndExplicitNullsClearFields()
    {
        // arrange
        var created = await CreateAsync("s1");
        var status = new PreviewSandboxStatus { Phase = Phases.Running, SandboxId = "sbx-1", PreviewUrl = "http://x/", ObservedGeneration = 1 };
        var written = await _client.PatchStatusAsync(created, status, CancellationToken.None);

        // act
        var cleared = await _client.PatchStatusAsync(written, new PreviewSandboxStatus { Phase = Phases.Expired, ObservedGeneration = 1 }, CancellationToken.None);

        // assert
        Assert.Equal((Phases.Running, "sbx-1"), (written.Status!.Phase, written.Status.SandboxId));
        Assert.Equal(Phases.Expired, cleared.Status!.Phase);
        Assert.Null(cleared.Status.SandboxId);
        Assert.Null(cleared.Status.PreviewUrl);
        Assert.Equal(1, cleared.Metadata.Generation);
    }

    [Fact]
    public async Task OperatorClient_WritesAsTheMidoriOperatorFieldManager()
    {
        // arrange: the client the operator builds, over the same server
        var services = new ServiceCollection()
            .AddSingleton(_server.CreateClientConfiguration())
            .AddSingleton(TimeProvider.System);
        services.AddOptions<OperatorOptions>();
        await using var provider = services.BuildServiceProvider();
        using var kubernetes = RuntimeServiceCollectionExtensions.CreateKubernetesClient(provider);
        var client = new KubernetesPreviewSandboxClient(kubernetes);
        var created = await CreateAsync("managed");

        // act
        var withFinalizer = await client.SetFinalizersAsync(created, [GroupVersion.FinalizerName], CancellationToken.None);
        var written = await client.PatchStatusAsync(withFinalizer, new PreviewSandboxStatus { Phase = Phases.Pending, ObservedGeneration = 1 }, CancellationToken.None);

        // assert
        var owners = written.Metadata.ManagedFields.Where(e => e.Manager == OperatorUserAgentHandler.Product).Select(e => e.Subresource ?? "main").Order().ToList();
        Assert.Equal(["main", "status"], owners);
    }

    [Fact]
    public async Task SetFinalizers_WithStaleResourceVersion_ThrowsConflict()
    {
        // arrange
        var created = await CreateAsync("s2");
        await _client.PatchAnnotationsAsync(created.Metadata.NamespaceProperty, created.Metadata.Name, new Dictionary<string, string?> { ["a"] = "b" }, CancellationToken.None);

        // act + assert
        await Assert.ThrowsAsync<KubernetesConflictException>(() => _client.SetFinalizersAsync(created, [GroupVersion.FinalizerName], CancellationToken.None));
        var fresh = (await _client.GetAsync("default", "s2", CancellationToken.None))!;
        var updated = await _client.SetFinalizersAsync(fresh, [GroupVersion.FinalizerName], CancellationToken.None);
        Assert.Equal([GroupVersion.FinalizerName], updated.Metadata.Finalizers);
        Assert.Equal(1, updated.Metadata.Generation);
    }

    [Fact]
    public async Task Delete_WithFinalizer_KeepsObjectUntilFinalizerRemoved_ThenOwnedSecretIsCollected()
    {
        // arrange
        var created = await CreateAsync("s3");
        var withFinalizer = await _client.SetFinalizersAsync(created, [GroupVersion.FinalizerName], CancellationToken.None);
        await _client.ApplyTokenSecretAsync(withFinalizer, "s3-preview-token", "token", "t1", CancellationToken.None);
        await _client.ApplyTokenSecretAsync(withFinalizer, "s3-preview-token", "token", "t2", CancellationToken.None);
        var secret = await _kubernetes.CoreV1.ReadNamespacedSecretAsync("s3-preview-token", "default");

        // act
        await _kubernetes.CustomObjects.DeleteNamespacedCustomObjectAsync(GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural, "s3");
        var terminating = (await _client.GetAsync("default", "s3", CancellationToken.None))!;
        await _client.SetFinalizersAsync(terminating, [], CancellationToken.None);

        // assert
        Assert.Equal("t2", Encoding.UTF8.GetString(secret.Data["token"]));
        Assert.Equal(withFinalizer.Metadata.Uid, secret.Metadata.OwnerReferences.Single().Uid);
        Assert.NotNull(terminating.Metadata.DeletionTimestamp);
        Assert.Equal(2, terminating.Metadata.Generation);
        Assert.Null(await _client.GetAsync("default", "s3", CancellationToken.None));
        await WaitUntilAsync(async () => (await _kubernetes.CoreV1.ListNamespacedSecretAsync("default")).Items.All(s => s.Metadata.Name != "s3-preview-token"));
    }

    [Fact]
    public async Task Watch_StreamsChangesAndBookmarks_AndCompactedVersionRaisesExpired()
    {
        // arrange
        var page = await _client.ListAsync("default", null, CancellationToken.None);
        using var cts = new CancellationTokenSource(TestWaits.Bound);
        var events = new List<PreviewSandboxWatchEvent>();

        // act
        var watching = Task.Run(async () =>
        {
            await foreach (var e in _client.WatchAsync("default", page.ResourceVersion, TimeSpan.FromSeconds(30), cts.Token))
            {
                events.Add(e);
                if (events.Count(x => x.Type != WatchEventType.Bookmark) == 2)
                {
                    return;
                }
            }
        });
        var created = await CreateAsync("w1");
        await _client.PatchAnnotationsAsync("default", "w1", new Dictionary<string, string?> { [GroupVersion.HeartbeatAnnotation] = "2026-11-23T10:00:00Z" }, CancellationToken.None);
        await watching.WaitAsync(cts.Token);
        _server.WatchCacheEnabled = false;
        _server.Compact();

        // assert
        var changes = events.Where(e => e.Type != WatchEventType.Bookmark).ToList();
        Assert.Equal([WatchEventType.Added, WatchEventType.Modified], changes.Select(e => e.Type));
        Assert.Equal(created.Metadata.Uid, changes[1].Object!.Metadata.Uid);
        await Assert.ThrowsAsync<ResourceVersionExpiredException>(async () =>
        {
            await foreach (var _ in _client.WatchAsync("default", page.ResourceVersion, TimeSpan.FromSeconds(30), cts.Token))
            {
            }
        });
    }

    [Fact]
    public async Task Informer_EnqueuesSpecAndAnnotationChanges_SkipsStatusOnlyChanges()
    {
        // arrange
        var queue = new ReconcileQueue(TimeProvider.System);
        var informer = new PreviewSandboxInformer(_client, new PreviewSandboxCache(_client, TimeProvider.System), MsOptions.Create(new OperatorOptions { WatchNamespace = "default" }), TimeProvider.System, NullLogger<PreviewSandboxInformer>.Instance);
        using var intake = informer.AttachQueue(queue);
        using var cts = new CancellationTokenSource(TestWaits.Bound);
        var run = informer.RunAsync(cts.Token);
        var created = await CreateAsync("i1");
        var key = await queue.DequeueAsync(cts.Token);
        queue.Done(key);

        // act: a status-only write (skipped), then a heartbeat annotation (enqueued)
        await _client.PatchStatusAsync(created, new PreviewSandboxStatus { Phase = Phases.Running }, CancellationToken.None);
        await WaitUntilAsync(() => Task.FromResult(informer.LastResourceVersion == _server.CurrentResourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var afterStatus = queue.Count;
        await _client.PatchAnnotationsAsync("default", "i1", new Dictionary<string, string?> { [GroupVersion.HeartbeatAnnotation] = "2026-11-23T10:00:00Z" }, CancellationToken.None);
        var woken = await queue.DequeueAsync(cts.Token);

        // assert
        Assert.Equal(new PreviewKey("default", "i1"), key);
        Assert.Equal(0, afterStatus);
        Assert.Equal(key, woken);
        await cts.CancelAsync();
        await run.WaitAsync(TestWaits.Bound); // stops cleanly on cancellation
    }

    private async Task<V1Alpha1PreviewSandbox> CreateAsync(string name) =>
        await _kubernetes.CustomObjects.CreateNamespacedCustomObjectAsync<V1Alpha1PreviewSandbox>(new PreviewSandboxBuilder().Named(name).Build(),
            GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var cts = new CancellationTokenSource(TestWaits.Bound);
        while (!await condition())
        {
            await Task.Delay(20, cts.Token);
        }
    }
}
