using System.Runtime;
using k8s;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Providers;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;
using Midori.Operator.Testing.E2E;
using Midori.Operator.Testing.Fakes;
using Midori.DevApiServer;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.Integration;

/// <summary>
/// Is memory after many previews a leak? The real operator (fake provider) against the test API server creates and
/// deletes 1,000 previews; after a forced full collection the managed heap must be back near where it was after a
/// warm-up. The bound is generous on purpose (it includes the test API server's own Events and owned Secrets, which
/// it keeps): a leak of the kind reported (150+ MiB after 1,000) is far above it; no timing is involved.
/// </summary>
[Trait("Category", "Slow")]
[Collection(MemoryCollection.Name)]
public sealed class MemoryReturnTests(ITestOutputHelper output)
{
    private const int Count = 1000;
    private const long BoundBytes = 48L * 1024 * 1024;

    [Fact]
    public async Task CreateAndDelete1000Previews_ManagedHeapReturnsNearBaseline()
    {
        // arrange
        // A small watch-cache window: the test API server shares this heap, and its default history (10,000 events with
        // whole objects) would otherwise be counted as the operator's.
        await using var server = await DevKubeApiServer.StartAsync(new DevKubeApiServerOptions { WatchCacheCapacity = 200 });
        await server.ApplyCrdAsync(RepositoryPaths.CrdFile);
        var observer = new RecordingLifecycleObserver();
        var ready = 0;
        observer.BecameReady += _ => Interlocked.Increment(ref ready);
        await using var host = await OperatorTestHost.StartAsync(server.CreateClientConfiguration(), new Dictionary<string, string?>
        {
            ["Operator:HealthCheckInterval"] = "00:05:00",
            ["Logging:LogLevel:Default"] = "Error",
        }, services =>
        {
            services.RemoveAll<ISandboxProvider>();
            services.AddSingleton<ISandboxProvider>(new FakeSandboxProvider(TimeProvider.System));
            services.RemoveAll<IPreviewProbe>();
            services.AddSingleton<IPreviewProbe>(new FakePreviewProbe());
            services.AddSingleton<ISandboxLifecycleObserver>(observer);
        });
        using var client = new k8s.Kubernetes(server.CreateClientConfiguration());
        await CycleAsync(client, "warm", 50, () => Volatile.Read(ref ready));
        var baseline = ForcedHeap();

        // act
        var atReady = await CycleAsync(client, "mem", Count, () => Volatile.Read(ref ready));
        var after = ForcedHeap();

        // assert
        output.WriteLine($"managed heap: baseline {baseline / 1048576.0:F1} MiB, {Count} Ready {atReady / 1048576.0:F1} MiB "
            + $"({(atReady - baseline) / 1024.0 / Count:F1} KiB per preview incl. the test API server's copy), after delete {after / 1048576.0:F1} MiB");
        Assert.True(after - baseline < BoundBytes,
            $"managed heap grew by {(after - baseline) / 1048576.0:F1} MiB over {Count} created and deleted previews (bound {BoundBytes / 1048576} MiB)");
    }

    /// <summary>Creates <paramref name="count"/> previews, waits until all are Ready, deletes them, waits until all are gone; returns the heap while Ready.</summary>
    private static async Task<long> CycleAsync(IKubernetes client, string prefix, int count, Func<int> readyCount)
    {
        var target = readyCount() + count;
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            await client.CustomObjects.CreateNamespacedCustomObjectAsync(new PreviewSandboxBuilder().Named($"{prefix}-{i:D5}").WithIdleTimeout(3600).WithTtl(7200).Build(),
                GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural, cancellationToken: ct));
        await WaitUntilAsync(() => Task.FromResult(readyCount() >= target));
        var atReady = ForcedHeap();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            await client.CustomObjects.DeleteNamespacedCustomObjectAsync(GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural, $"{prefix}-{i:D5}", cancellationToken: ct));
        await WaitUntilAsync(async () => (await client.CustomObjects.ListNamespacedCustomObjectAsync<V1Alpha1PreviewSandboxList>(
            GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural)).Items.Count == 0);
        return atReady;
    }

    private static long ForcedHeap()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    /// <summary>Bounded poll of observable state (the e2e pattern).</summary>
    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var bound = new CancellationTokenSource(TestWaits.Bound * 5);
        while (!await condition())
        {
            await Task.Delay(200, bound.Token);
        }
    }
}

/// <summary>The heap is the process's: measured while no other test runs.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryCollection
{
    public const string Name = "Memory (runs alone)";
}
