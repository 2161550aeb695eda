using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Midori.DevApiServer;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Providers;
using Midori.Operator.Testing;
using Midori.Operator.Testing.E2E;

namespace Midori.Operator.Tests.E2E;

/// <summary>
/// A PreviewSandboxPool end to end: the real operator and Kubernetes client against the test API server, the local
/// provider. The pool fills (status for the scale subresource), a claim takes a sandbox and the pool refills, scaling
/// to 0 removes the warm sandboxes. Waits are bounded polls on observable state.
/// </summary>
[Trait("Category", "E2E")]
public sealed class PreviewSandboxPoolE2ETests : IAsyncLifetime
{
    private const string Namespace = "midori-pool";
    private readonly string _root = Path.Combine(Path.GetTempPath(), "midori-pool-" + Guid.NewGuid().ToString("N")[..8]);
    private DevKubeApiServer _server = null!;
    private IKubernetes _client = null!;
    private OperatorTestHost _host = null!;

    public async Task InitializeAsync()
    {
        _server = await DevKubeApiServer.StartAsync();
        await _server.ApplyCrdAsync(RepositoryPaths.CrdFile);
        await _server.ApplyCrdAsync(RepositoryPaths.PoolCrdFile);
        _client = new k8s.Kubernetes(_server.CreateClientConfiguration());
        _host = await OperatorTestHost.StartAsync(_server.CreateClientConfiguration(), new Dictionary<string, string?>
        {
            ["Operator:WatchNamespace"] = Namespace,
            ["Providers:Local:RootDirectory"] = _root,
        });
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _client.Dispose();
        await _server.DisposeAsync();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task Pool_Fills_IsClaimedAndRefilled_AndScalesToZero()
    {
        // arrange
        await _client.CustomObjects.CreateNamespacedCustomObjectAsync(new V1Alpha1PreviewSandboxPool
        {
            Metadata = new V1ObjectMeta { Name = "warm", NamespaceProperty = Namespace },
            Spec = new PreviewSandboxPoolSpec { Replicas = 2 },
        }, GroupVersion.Group, GroupVersion.Version, Namespace, PoolGroupVersion.Plural);
        var local = _host.Services.GetRequiredService<ISandboxProviderRegistry>().All.Single(p => p.Name == ProviderNames.Local);

        // act + assert: filled, with what the scale subresource reads
        var filled = await WaitForPoolAsync(p => p.Status?.ReadyReplicas == 2, "two ready warm sandboxes");
        Assert.Equal((2, "preview.midori.dev/pool=warm"), (filled.Status!.Replicas, filled.Status.Selector));
        Assert.Equal(2, (await local.ListAsync(filled.Metadata.Uid, CancellationToken.None)).Count(s => s.State == SandboxState.Running));

        // act: a claim (what the provisioner asks first) hands one out; the pool makes up for it
        var claim = await _host.Services.GetRequiredService<IWarmSandboxPool>().TryClaimAsync(
            new WarmClaimRequest(Namespace, ProviderNames.Local, null, DateTimeOffset.UtcNow.AddHours(1)), CancellationToken.None);
        Assert.NotNull(claim);
        var refilled = await WaitForPoolAsync(p => p.Status is { Claimed: 1, ReadyReplicas: 2 }, "the pool refilled after the claim");
        Assert.Equal(3, (await local.ListAsync(refilled.Metadata.Uid, CancellationToken.None)).Count);

        // act: scale to zero (what an autoscaler writes through /scale)
        await _client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("{\"spec\":{\"replicas\":0}}", V1Patch.PatchType.MergePatch),
            GroupVersion.Group, GroupVersion.Version, Namespace, PoolGroupVersion.Plural, "warm");
        await WaitForPoolAsync(p => p.Status is { ReadyReplicas: 0, Replicas: 0 }, "the pool scaled to zero");

        // assert: only the claimed sandbox is left, it belongs to its claimant now
        var left = await local.ListAsync(refilled.Metadata.Uid, CancellationToken.None);
        Assert.Equal([claim!.Sandbox.Id], left.Select(s => s.Id));
    }

    [Fact]
    public async Task Preview_ClaimsAWarmSandbox_ServesItsFiles_AndThePoolRefills()
    {
        // arrange: a pool of one, filled
        await _client.CustomObjects.CreateNamespacedCustomObjectAsync(new V1Alpha1PreviewSandboxPool
        {
            Metadata = new V1ObjectMeta { Name = "warm", NamespaceProperty = Namespace },
            Spec = new PreviewSandboxPoolSpec { Replicas = 1 },
        }, GroupVersion.Group, GroupVersion.Version, Namespace, PoolGroupVersion.Plural);
        var filled = await WaitForPoolAsync(p => p.Status?.ReadyReplicas == 1, "one ready warm sandbox");
        var local = _host.Services.GetRequiredService<ISandboxProviderRegistry>().All.Single(p => p.Name == ProviderNames.Local);
        var warmId = (await local.ListAsync(filled.Metadata.Uid, CancellationToken.None)).Single().Id;
        await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = "files", NamespaceProperty = Namespace },
            Data = new Dictionary<string, string> { ["index.html"] = "<h1>claimed</h1>" },
        }, Namespace);

        // act: a preview with the same provider (the default) and template (none)
        await _client.CustomObjects.CreateNamespacedCustomObjectAsync(
            new Midori.Operator.Testing.Builders.PreviewSandboxBuilder().Named("demo", Namespace).WithConfigMap("files", ("index.html", "index.html")).Build(),
            GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural);
        var ready = await WaitForPreviewAsync(p => p?.Status?.Conditions?.Any(c => c.Type == PreviewSandboxConditions.Ready && c.Status == "True") == true);

        // assert: it runs in the warm sandbox, with its files verified and served; the pool counted the claim and refilled
        Assert.Equal(warmId, ready.Status!.SandboxId);
        Assert.Equal("True", ready.Status.Conditions!.Single(c => c.Type == PreviewSandboxConditions.FilesInSync).Status);
        using var http = new HttpClient { Timeout = TestWaits.Bound };
        using var request = new HttpRequestMessage(HttpMethod.Get, ready.Status.SandboxUrl);
        var token = (await _client.CoreV1.ReadNamespacedSecretAsync(ready.Status.TokenSecretRef!.Name, Namespace)).Data[ready.Status.TokenSecretRef.Key];
        request.Headers.TryAddWithoutValidation("X-Midori-Preview-Token", System.Text.Encoding.UTF8.GetString(token));
        using var response = await http.SendAsync(request);
        var page = await response.Content.ReadAsStringAsync();
        Assert.Contains("<h1>claimed</h1>", page, StringComparison.Ordinal);
        var refilled = await WaitForPoolAsync(p => p.Status is { Claimed: 1, ReadyReplicas: 1 }, "the pool refilled after the claim");
        Assert.Equal(2, (await local.ListAsync(refilled.Metadata.Uid, CancellationToken.None)).Count);
        var events = await _client.CoreV1.ListNamespacedEventAsync(Namespace);
        Assert.Contains(events.Items, e => e.Reason == "Created" && e.Message.Contains($"Claimed warm sandbox {warmId} from pool warm", StringComparison.Ordinal));
    }

    private async Task<V1Alpha1PreviewSandbox> WaitForPreviewAsync(Func<V1Alpha1PreviewSandbox?, bool> condition)
    {
        using var cts = new CancellationTokenSource(TestWaits.Bound);
        while (true)
        {
            var preview = await _client.CustomObjects.GetNamespacedCustomObjectAsync<V1Alpha1PreviewSandbox>(GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural, "demo");
            if (condition(preview))
            {
                return preview;
            }

            if (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"Timed out waiting for the preview to be Ready; status: {KubernetesJson.Serialize(preview?.Status)}");
            }

            await Task.Delay(50);
        }
    }

    private async Task<V1Alpha1PreviewSandboxPool> WaitForPoolAsync(Func<V1Alpha1PreviewSandboxPool, bool> condition, string what)
    {
        using var cts = new CancellationTokenSource(TestWaits.Bound);
        while (true)
        {
            var pool = await _client.CustomObjects.GetNamespacedCustomObjectAsync<V1Alpha1PreviewSandboxPool>(GroupVersion.Group, GroupVersion.Version, Namespace, PoolGroupVersion.Plural, "warm");
            if (condition(pool))
            {
                return pool;
            }

            if (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"Timed out waiting for {what}; status: {KubernetesJson.Serialize(pool.Status)}");
            }

            await Task.Delay(50);
        }
    }
}
