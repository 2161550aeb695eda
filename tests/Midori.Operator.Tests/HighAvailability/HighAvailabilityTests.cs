using System.Diagnostics;
using System.Net;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Tests.Diagnostics;
using Midori.Operator.Runtime;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;
using Midori.Operator.Testing.E2E;
using Midori.DevApiServer;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.HighAvailability;

/// <summary>
/// Two real operator hosts with leader election on, against the in-process API server (real Lease objects, real
/// KubernetesClient LeaderElector). A shared <see cref="ReconcileRecorder"/> stands in for the reconciler and checks the
/// invariants on every reconcile. Short lease timings; every wait is for an event (leadership change, recorded reconcile).
/// </summary>
[Trait("Category", "HighAvailability")]
public sealed class HighAvailabilityTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Namespace = "midori-ha";
    private const string LeaseName = "midori-ha-leader";
    private static readonly TimeSpan LeaseDuration = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan RenewDeadline = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan RetryPeriod = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan Bound = TestWaits.Bound;
    private static readonly string[] Names = ["ha-0", "ha-1", "ha-2", "ha-3", "ha-4"];

    private readonly ReconcileRecorder _recorder = new();
    private readonly Dictionary<string, OperatorTestHost> _hosts = [];
    private DevKubeApiServer _server = null!;
    private IKubernetes _client = null!;

    public async Task InitializeAsync()
    {
        _server = await DevKubeApiServer.StartAsync();
        await _server.ApplyCrdAsync(RepositoryPaths.CrdFile);
        _client = new k8s.Kubernetes(_server.CreateClientConfiguration());
        foreach (var name in Names)
        {
            var resource = new PreviewSandboxBuilder().Named(name, Namespace).Build();
            await _client.CustomObjects.CreateNamespacedCustomObjectAsync(resource, GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts.Values)
        {
            await host.DisposeAsync();
        }

        _client.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task TwoInstances_OnlyTheLeaseHolderReconciles_AndBothServeHttp()
    {
        // arrange
        await StartAsync("op-a");
        await StartAsync("op-b");

        // act
        var leader = await WaitForLeaderAsync();
        var follower = leader == "op-a" ? "op-b" : "op-a";
        await WaitAsync(_recorder.WaitUntilAsync(() => _recorder.KeysSeenBy(leader).Count == Names.Length && _recorder.Count(leader) >= 3 * Names.Length), "the leader to reconcile every object three times");

        // assert
        Assert.Equal(0, _recorder.Count(follower));
        Assert.Equal(leader, (await ReadLeaseAsync()).Spec.HolderIdentity);
        Assert.False(Leadership(follower).IsLeader);
        Assert.Empty(_recorder.Violations);
        using var http = new HttpClient();
        foreach (var (name, host) in _hosts)
        {
            foreach (var path in new[] { "/healthz", "/readyz", "/metrics" })
            {
                var response = await http.GetAsync(new Uri(host.BaseAddress, path));
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{name} {path} answered {(int)response.StatusCode}");
            }

            // The scrape lists the leader gauge; its value is read from this host's own meter, because OpenTelemetry
            // listens to meters by name and so, with two hosts in one test process, each scrape sees both.
            Assert.Contains("# TYPE midori_leader gauge", await http.GetStringAsync(new Uri(host.BaseAddress, "/metrics")), StringComparison.Ordinal);
            using var reader = new MeterReader(host.Services.GetRequiredService<MidoriMetrics>().Meter);
            Assert.Equal(name == leader ? 1 : 0, reader.Gauge("midori.leader"));
        }
    }

    [Fact]
    public async Task LeaderKilledWithoutRelease_FollowerTakesOverWhenTheLeaseExpires()
    {
        // arrange
        await StartAsync("op-a", releaseOnShutdown: false);
        await StartAsync("op-b", releaseOnShutdown: false);
        var leader = await WaitForLeaderAsync();
        var follower = leader == "op-a" ? "op-b" : "op-a";
        await WaitAsync(_recorder.WaitUntilAsync(() => _recorder.KeysSeenBy(leader).Count == Names.Length), "the first leader to reconcile every object");
        var takeOver = LeadershipAcquired(follower);

        // act: the leader stops renewing and leaves the Lease behind, as a killed process would
        var clock = Stopwatch.StartNew();
        await StopAsync(leader);
        await WaitAsync(takeOver, "the follower to acquire the Lease");
        var handover = clock.Elapsed;
        await WaitAsync(_recorder.WaitUntilAsync(() => _recorder.KeysSeenBy(follower).Count == Names.Length), "the new leader to reconcile every object");

        // assert
        output.WriteLine($"handover without release: {handover.TotalMilliseconds:F0} ms (lease {LeaseDuration.TotalMilliseconds} ms)");
        // a lower bound only: a busy machine makes the takeover later, never earlier (how soon is a benchmark's question)
        Assert.True(handover >= LeaseDuration - RenewDeadline, $"took over after {handover} although the abandoned Lease was still valid");
        Assert.Equal(follower, (await ReadLeaseAsync()).Spec.HolderIdentity);
        Assert.Empty(_recorder.Violations);
    }

    [Fact]
    public async Task LeaderStoppedGracefully_ReleasesTheLease_FollowerTakesOverAtOnce()
    {
        // arrange
        await StartAsync("op-a");
        await StartAsync("op-b");
        var leader = await WaitForLeaderAsync();
        var follower = leader == "op-a" ? "op-b" : "op-a";
        await WaitAsync(_recorder.WaitUntilAsync(() => _recorder.KeysSeenBy(leader).Count == Names.Length), "the first leader to reconcile every object");
        var takeOver = LeadershipAcquired(follower);

        // act
        await StopAsync(leader);
        var afterStop = await ReadLeaseAsync();
        var clock = Stopwatch.StartNew();
        await WaitAsync(takeOver, "the follower to acquire the released Lease");
        var handover = clock.Elapsed;
        await WaitAsync(_recorder.WaitUntilAsync(() => _recorder.KeysSeenBy(follower).Count == Names.Length), "the new leader to reconcile every object");

        // assert: once the leader has stopped, the Lease no longer names it (released, or already taken by the follower);
        // a killed leader's Lease keeps its name until it expires (the test above)
        output.WriteLine($"handover after release: {handover.TotalMilliseconds:F0} ms (lease {LeaseDuration.TotalMilliseconds} ms)");
        Assert.NotEqual(leader, afterStop.Spec.HolderIdentity);
        var lease = await ReadLeaseAsync();
        Assert.Equal(follower, lease.Spec.HolderIdentity);
        Assert.Empty(_recorder.Violations);
    }

    [Fact]
    public async Task LeadershipLost_InFlightReconcileCancelled_QueueDropped_NoReconcilesUntilANewLeader()
    {
        // arrange: one object's reconcile blocks until it is cancelled; the others requeue every 100 ms
        var slow = new PreviewKey(Namespace, Names[0]);
        var slowStarted = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var slowCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blockOnce = 1;
        _recorder.Behavior = async (instance, key, ct) =>
        {
            if (key == slow && Interlocked.Exchange(ref blockOnce, 0) == 1)
            {
                slowStarted.TrySetResult(instance);
                try
                {
                    await Task.Delay(Timeout.InfiniteTimeSpan, ct);
                }
                catch (OperationCanceledException)
                {
                    slowCancelled.TrySetResult();
                    throw;
                }
            }
        };
        await StartAsync("op-a");
        await StartAsync("op-b");
        var leader = await WaitAsync(slowStarted.Task, "the slow reconcile to start");
        await WaitAsync(_recorder.WaitUntilAsync(() => _recorder.Count(leader) >= 2 * Names.Length), "the leader to requeue the other objects");
        var runtime = _hosts[leader].Services.GetRequiredService<OperatorRuntimeHost>();
        var queue = _hosts[leader].Services.GetRequiredService<ReconcileQueue>();
        var lost = LeadershipLost(leader);
        var nextLeader = Task.WhenAny(NextAcquisition("op-a"), NextAcquisition("op-b"));

        // act: another holder takes the Lease (as after a network partition); the leader's renewals now fail
        await TakeLeaseAsync("intruder");
        var clock = Stopwatch.StartNew();
        await WaitAsync(lost, "the leader to notice it lost the Lease");
        var noticed = clock.Elapsed;
        await WaitAsync(slowCancelled.Task, "the in-flight reconcile to be cancelled");
        await WaitAsync(runtime.CurrentTermCompletion, "the former leader's informer and workers to stop");
        var pendingAfterLoss = queue.Count;
        var countAfterLoss = _recorder.Count(leader);
        var newLeader = await WaitAsync(await WaitAsync(nextLeader, "a new leader after the intruder's Lease expired"), "the new leader's name");
        await WaitAsync(_recorder.WaitUntilAsync(() => _recorder.Count(newLeader) > (newLeader == leader ? countAfterLoss : 0) + Names.Length), "the new leader to reconcile again");

        // assert
        output.WriteLine($"lost leadership {noticed.TotalMilliseconds:F0} ms after the Lease was taken; new leader {newLeader}");
        Assert.Equal(0, pendingAfterLoss);
        Assert.Empty(_recorder.Violations); // includes "reconciled while not leading": requeues did not fire after the loss
    }

    [Fact]
    public async Task TwoInstances_EachRunsOnePreviewSandboxWatch_AndTheNewLeaderStartsNoOther()
    {
        // arrange
        _server.Requests.Clear();
        await StartAsync("op-a");
        await StartAsync("op-b");
        var leader = await WaitForLeaderAsync();
        var follower = leader == "op-a" ? "op-b" : "op-a";
        foreach (var host in _hosts.Values)
        {
            await WaitAsync(host.Services.GetRequiredService<PreviewSandboxCache>().Synced, "every replica's informer to sync");
        }

        await WaitAsync(_recorder.WaitUntilAsync(() => _recorder.KeysSeenBy(leader).Count == Names.Length), "the leader to reconcile every object");

        // Synced means listed; each replica's watch request follows its list, so on a busy machine one may still be on its way.
        await WaitAsync(WatchesAsync(atLeast: 2), "both replicas' watches");
        var watchesWhileBothRun = PreviewSandboxWatches();

        // act: the leader goes; the follower takes over with the informer it already runs
        await StopAsync(leader);
        await WaitAsync(LeadershipAcquired(follower), "the follower to take over");
        await WaitAsync(_recorder.WaitUntilAsync(() => _recorder.KeysSeenBy(follower).Count == Names.Length), "the new leader to reconcile every object");

        // assert: one watch per replica (the HTTP API, the gateway and the reconciler share it)
        Assert.Equal(2, watchesWhileBothRun);
        Assert.Equal(2, PreviewSandboxWatches());
        Assert.Empty(_recorder.Violations);
    }

    private async Task WatchesAsync(int atLeast)
    {
        while (PreviewSandboxWatches() < atLeast)
        {
            await Task.Delay(20);
        }
    }

    private int PreviewSandboxWatches() => _server.Requests.Entries.Count(r =>
        r.Method == "GET" && r.Path.EndsWith("/" + GroupVersion.Plural, StringComparison.Ordinal)
        && (r.Query.Contains("watch=true", StringComparison.Ordinal) || r.Query.Contains("watch=1", StringComparison.Ordinal)));

    private async Task StartAsync(string instance, bool releaseOnShutdown = true)
    {
        var host = await OperatorTestHost.StartAsync(_server.CreateClientConfiguration(), new Dictionary<string, string?>
        {
            ["Operator:WatchNamespace"] = Namespace,
            ["Operator:Workers"] = "4",
            ["LeaderElection:Enabled"] = "true",
            ["LeaderElection:Identity"] = instance,
            ["LeaderElection:LeaseName"] = LeaseName,
            ["LeaderElection:LeaseNamespace"] = Namespace,
            ["LeaderElection:LeaseDuration"] = LeaseDuration.ToString(),
            ["LeaderElection:RenewDeadline"] = RenewDeadline.ToString(),
            ["LeaderElection:RetryPeriod"] = RetryPeriod.ToString(),
            ["LeaderElection:ReleaseOnShutdown"] = releaseOnShutdown ? "true" : "false",
        }, services =>
        {
            services.AddSingleton(new InstanceName(instance));
            services.AddSingleton(_recorder);
            services.AddScoped<IReconciler, RecordingReconciler>();
        });
        _recorder.Register(instance, host.Services.GetRequiredService<ILeadership>());
        _hosts[instance] = host;
    }

    private async Task StopAsync(string instance)
    {
        var host = _hosts[instance];
        _hosts.Remove(instance);
        await host.DisposeAsync();
    }

    private ILeadership Leadership(string instance) => _hosts[instance].Services.GetRequiredService<ILeadership>();

    private async Task<string> WaitForLeaderAsync()
    {
        var acquired = _hosts.Keys.Select(LeadershipAcquired).ToList();
        return await WaitAsync(await WaitAsync(Task.WhenAny(acquired), "a leader to be elected"), "the leader's name");
    }

    /// <summary>Completes (with the instance name) once the instance leads; at once if it already does.</summary>
    private Task<string> LeadershipAcquired(string instance)
    {
        var next = NextAcquisition(instance);
        return Leadership(instance).IsLeader ? Task.FromResult(instance) : next;
    }

    /// <summary>Completes (with the instance name) when the instance next starts leading.</summary>
    private Task<string> NextAcquisition(string instance)
    {
        var signal = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        Leadership(instance).StartedLeading += _ => signal.TrySetResult(instance);
        return signal.Task;
    }

    private Task LeadershipLost(string instance)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Leadership(instance).StoppedLeading += () => signal.TrySetResult();
        return signal.Task;
    }

    /// <summary>Another holder takes the Lease; the leader renews it meanwhile, so a 409 means read again and retry.</summary>
    private async Task TakeLeaseAsync(string holder)
    {
        for (var attempt = 1; ; attempt++)
        {
            var lease = await ReadLeaseAsync();
            lease.Spec.HolderIdentity = holder;
            lease.Spec.RenewTime = DateTime.UtcNow;
            lease.Spec.LeaseDurationSeconds = (int)LeaseDuration.TotalSeconds;
            try
            {
                await _client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, LeaseName, Namespace);
                return;
            }
            catch (k8s.Autorest.HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.Conflict && attempt < 50)
            {
                // the leader's renewal won this round
            }
        }
    }

    private Task<V1Lease> ReadLeaseAsync() => _client.CoordinationV1.ReadNamespacedLeaseAsync(LeaseName, Namespace);

    private static async Task WaitAsync(Task task, string what)
    {
        try
        {
            await task.WaitAsync(Bound);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {Bound} waiting for {what}");
        }
    }

    private static async Task<T> WaitAsync<T>(Task<T> task, string what)
    {
        await WaitAsync((Task)task, what);
        return await task;
    }
}
