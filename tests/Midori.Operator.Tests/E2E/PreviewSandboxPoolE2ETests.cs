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
