using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Local;
using Midori.Operator.Runtime;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;
using Midori.Operator.Testing.E2E;
using Midori.Operator.Testing.Fakes;
using Midori.DevApiServer;
using Xunit.Abstractions;
using Midori.Operator.Files;

namespace Midori.Operator.Tests.HighAvailability;

/// <summary>
/// Split brain after a pause, end to end: two real operator hosts (real reconciler, leader election on, short leases)
/// share one fake provider backend and one write recorder below the fence. The leader is paused as a stopped process
/// would be: its reconciles freeze inside provider reads and its Lease renewals stall. The other host takes over and
/// does the work; then the former leader resumes and its frozen reconciles carry on. The recorder must show no write
/// from the former leader after its fence lapsed, and no write of it after the new leader's first.
/// </summary>
[Trait("Category", "HighAvailability")]
public sealed class PausedLeaderTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Namespace = "midori-pause";
    private const string LeaseName = "midori-pause-leader";
    private static readonly TimeSpan LeaseDuration = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan RenewDeadline = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan RetryPeriod = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private static readonly string[] Names = ["pause-0", "pause-1", "pause-2", "pause-3"];

    private readonly ConcurrentQueue<RecordedWrite> _writes = new();
    private readonly Dictionary<string, (OperatorTestHost Host, PausableApiHandler Api, PausableProvider Provider)> _hosts = [];
    private FakeSandboxProvider _backend = null!;
    private DevKubeApiServer _server = null!;
    private IKubernetes _client = null!;

    public async Task InitializeAsync()
    {
        _backend = new FakeSandboxProvider(TimeProvider.System);
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
        foreach (var (_, api, provider) in _hosts.Values)
        {
            api.Resume();
            provider.Resume();
        }

        foreach (var (host, _, _) in _hosts.Values)
        {
            await host.DisposeAsync();
        }

        _client.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task LeaderPausedPastTheLease_AnotherTakesOver_ResumedFormerLeaderWritesNothing()
    {
        // arrange: a leader has brought every preview up
        await StartAsync("op-a");
        await StartAsync("op-b");
        var leader = await WaitAsync(Task.WhenAny(Acquired("op-a"), Acquired("op-b")).Unwrap(), "a leader to be elected");
        var follower = leader == "op-a" ? "op-b" : "op-a";
        await PollAsync(async () => (await PhasesAsync()).Values.All(p => p == "Running") && (await PhasesAsync()).Count == Names.Length, "every preview to be Running");
        var (leaderHost, leaderApi, leaderProvider) = _hosts[leader];
        var fence = leaderHost.Services.GetRequiredService<LeadershipFence>();
        var takeOver = Acquired(follower);
        var leaderLost = Lost(leader);

        // act 1: freeze the leader mid-reconcile. Its provider reads block, then every preview changes (a new env value
        // → a restart; one deletion → the finalizer path, which removes the finalizer without a cancellation token).
        leaderProvider.PauseReads();
        foreach (var name in Names[..^1])
        {
            var patch = new JsonObject { ["spec"] = new JsonObject { ["env"] = new JsonArray(new JsonObject { ["name"] = "STAGE", ["value"] = "two" }) } };
            await _client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch),
                GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural, name);
        }

        await _client.CustomObjects.DeleteNamespacedCustomObjectAsync(GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural, Names[^1]);
        await PollAsync(() => Task.FromResult(leaderProvider.Stalled == Names.Length), "every reconcile of the leader to freeze in a provider read");

        // act 2: its renewals stall too, so the fence runs out; the follower takes over and does the work
        leaderApi.Pause();
        await WaitAsync(takeOver, "the follower to take the Lease");
        var takenOverAt = TimeProvider.System.GetUtcNow();
        await WaitAsync(leaderLost, "the paused leader to stop leading");
        var lastRenewal = fence.LastRenewal ?? throw new InvalidOperationException("the leader never renewed");
        var fenceLapsedAt = lastRenewal + LeaderElectionService.FenceValidity(Options());
        await PollAsync(FollowerDidTheWorkAsync, "the new leader to restart the changed previews and finalize the deleted one");
        var writesBeforeResume = _writes.Count(w => w.Instance == leader);

        // act 3: resume the former leader; its frozen reconciles carry on from their reads
        leaderProvider.Resume();
        leaderApi.Resume();
        var workers = leaderHost.Services.GetRequiredService<ReconcileWorkers>();
        await PollAsync(() => Task.FromResult(leaderProvider.Stalled == 0 && workers.InFlight == 0), "the resumed reconciles to finish");

        // assert
        var leaderWrites = _writes.Where(w => w.Instance == leader).ToList();
        var followerWrites = _writes.Where(w => w.Instance == follower).ToList();
        var late = leaderWrites.Where(w => w.At >= fenceLapsedAt).Select(w => $"{w.Seam} {w.What} at {w.At:O}").ToList();
        output.WriteLine($"leader {leader}: last renewal {lastRenewal:O}, fence lapsed {fenceLapsedAt:O}; {follower} took over {takenOverAt:O}");
        output.WriteLine($"writes: {leaderWrites.Count} by the former leader, {followerWrites.Count} by the new one; {fence.Refusals} refused by the fence after the resume");
        Assert.True(late.Count == 0, $"the former leader wrote after its fence lapsed: {string.Join("; ", late)}");
        Assert.Equal(writesBeforeResume, leaderWrites.Count);
        Assert.True(fence.Refusals > 0, "the resumed reconciles never tried to write: the test did not exercise the fence");
        Assert.True(fenceLapsedAt <= takenOverAt, $"the fence lapsed at {fenceLapsedAt:O}, after the take-over at {takenOverAt:O}");
        Assert.NotEmpty(followerWrites);
        Assert.True(leaderWrites.Max(w => w.At) < followerWrites.Min(w => w.At), "writes of the two leaders overlap in time");
    }

    private async Task<bool> FollowerDidTheWorkAsync()
    {
        var phases = await PhasesAsync();
        return !phases.ContainsKey(Names[^1]) && phases.Count == Names.Length - 1 &&
            _backend.Sandboxes.Count == Names.Length - 1 &&
            _backend.Sandboxes.All(s => s.StartRequest?.Environment.GetValueOrDefault("STAGE") == "two");
    }

    private async Task<Dictionary<string, string?>> PhasesAsync()
    {
        var list = await _client.CustomObjects.ListNamespacedCustomObjectAsync<V1Alpha1PreviewSandboxList>(GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural);
        return list.Items.ToDictionary(i => i.Metadata.Name, i => i.Status?.Phase);
    }

    private static LeaderElectionOptions Options() => new() { LeaseDuration = LeaseDuration, RenewDeadline = RenewDeadline, RetryPeriod = RetryPeriod };

    private async Task StartAsync(string instance)
    {
        var configuration = _server.CreateClientConfiguration();
        var api = new PausableApiHandler(instance, _writes);
        var provider = new PausableProvider(instance, _backend, _writes);
        var host = await OperatorTestHost.StartAsync(configuration, new Dictionary<string, string?>
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
            ["LeaderElection:ReleaseOnShutdown"] = "false",
            ["Providers:OrphanSweep:Enabled"] = "false",
        }, services =>
        {
            services.AddSingleton<IKubernetes>(new k8s.Kubernetes(configuration, api));
            services.RemoveAll<ISandboxProvider>();
            services.RemoveAll<LocalSandboxProvider>();
            services.AddSingleton<ISandboxProvider>(provider);
            services.RemoveAll<IPreviewProbe>();
            services.AddSingleton<IPreviewProbe>(new FakePreviewProbe());
        });
        _hosts[instance] = (host, api, provider);
    }

    private Task<string> Acquired(string instance)
    {
        var leadership = _hosts[instance].Host.Services.GetRequiredService<ILeadership>();
        var signal = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        leadership.StartedLeading += _ => signal.TrySetResult(instance);
        return leadership.IsLeader ? Task.FromResult(instance) : signal.Task;
    }

    private Task Lost(string instance)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _hosts[instance].Host.Services.GetRequiredService<ILeadership>().StoppedLeading += () => signal.TrySetResult();
        return signal.Task;
    }

    private static async Task PollAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = TimeProvider.System.GetTimestamp();
        while (!await condition())
        {
            if (TimeProvider.System.GetElapsedTime(deadline) > Bound)
            {
                throw new TimeoutException($"Timed out after {Bound} waiting for {what}");
            }

            await Task.Delay(50);
        }
    }

    private static async Task<T> WaitAsync<T>(Task<T> task, string what)
    {
        await WaitAsync((Task)task, what);
        return await task;
    }

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

    /// <summary>One instance's view of the shared backend: writes recorded as they leave the operator; reads can be frozen.</summary>
    private sealed class PausableProvider(string instance, FakeSandboxProvider inner, ConcurrentQueue<RecordedWrite> writes) : ISandboxProvider
    {
        private readonly PauseGate _gate = new();

        public string Name => inner.Name;

        public int Stalled => _gate.Held;

        public void PauseReads() => _gate.Pause();

        public void Resume() => _gate.Resume();

        public Task<SandboxInfo> CreateAsync(SandboxCreateRequest request, CancellationToken cancellationToken) => Write("create", () => inner.CreateAsync(request, cancellationToken));

        public async Task<SandboxInfo?> GetAsync(string sandboxId, CancellationToken cancellationToken)
        {
            await FreezeAsync();
            return await inner.GetAsync(sandboxId, cancellationToken);
        }

        public async Task<IReadOnlyList<SandboxInfo>> ListAsync(string? ownerUid, CancellationToken cancellationToken)
        {
            await FreezeAsync();
            return await inner.ListAsync(ownerUid, cancellationToken);
        }

        public Task UploadFilesAsync(string sandboxId, IReadOnlyList<SandboxFile> files, CancellationToken cancellationToken) =>
            Write("upload " + sandboxId, async () => { await inner.UploadFilesAsync(sandboxId, files, cancellationToken); return true; });

        public Task DeleteFilesAsync(string sandboxId, IReadOnlyList<string> paths, CancellationToken cancellationToken) =>
            Write("delete files " + sandboxId, async () => { await inner.DeleteFilesAsync(sandboxId, paths, cancellationToken); return true; });

        public Task StartAsync(string sandboxId, SandboxStartRequest request, CancellationToken cancellationToken) =>
            Write("start " + sandboxId, async () => { await inner.StartAsync(sandboxId, request, cancellationToken); return true; });

        public Task<PreviewEndpoint> GetPreviewAsync(string sandboxId, int port, CancellationToken cancellationToken) => inner.GetPreviewAsync(sandboxId, port, cancellationToken);

        public Task<DateTimeOffset?> ExtendAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken) =>
            Write("extend " + sandboxId, () => inner.ExtendAsync(sandboxId, until, cancellationToken));

        public Task DeleteAsync(string sandboxId, CancellationToken cancellationToken) =>
            Write("delete " + sandboxId, async () => { await inner.DeleteAsync(sandboxId, cancellationToken); return true; });

        public SandboxCapabilities Capabilities => inner.Capabilities;

        public Task<bool> PauseAsync(string sandboxId, CancellationToken cancellationToken) =>
            Write("pause " + sandboxId, () => inner.PauseAsync(sandboxId, cancellationToken));

        public Task<SandboxInfo?> ResumeAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken) =>
            Write("resume " + sandboxId, () => inner.ResumeAsync(sandboxId, until, cancellationToken));

        public Task<bool> ArchiveAsync(string sandboxId, CancellationToken cancellationToken) =>
            Write("archive " + sandboxId, () => inner.ArchiveAsync(sandboxId, cancellationToken));

        public Task<IReadOnlyDictionary<string, string>?> GetFileManifestAsync(string sandboxId, CancellationToken cancellationToken) =>
            inner.GetFileManifestAsync(sandboxId, cancellationToken);

        private Task FreezeAsync() => _gate.PassAsync(); // a stopped process ignores cancellation too

        private Task<T> Write<T>(string what, Func<Task<T>> call)
        {
            writes.Enqueue(new RecordedWrite(instance, "provider", what, TimeProvider.System.GetUtcNow()));
            return call();
        }
    }
}
