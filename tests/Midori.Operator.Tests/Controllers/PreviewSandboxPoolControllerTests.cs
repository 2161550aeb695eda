using System.Runtime.CompilerServices;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Fakes;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Midori.Operator.Tests.Controllers;

/// <summary>
/// The pool controller's passes against the fake provider and an in-memory pool client: fill, claim and replace,
/// adoption after a restart (clean members kept, dirty ones replaced), backoff anchored in the status, sweep of deleted pools.
/// </summary>
public sealed class PreviewSandboxPoolControllerTests
{
    private static readonly PreviewKey Key = new("team", "warm");
    private readonly FakeTimeProvider _time = new(ReconcilerHarness.T0);
    private readonly FakeSandboxProvider _provider;
    private readonly InMemoryPoolClient _pools = new();
    private readonly PreviewSandboxCache _previews;
    private readonly ISandboxProviderRegistry _registry;

    public PreviewSandboxPoolControllerTests()
    {
        _provider = new FakeSandboxProvider(_time);
        _registry = new OneProvider(_provider);
        _previews = new PreviewSandboxCache(new InMemoryPreviewSandboxClient(_time), _time);
    }

    private PreviewSandboxPoolController Controller(Action<PoolOptions>? configure = null)
    {
        var options = new PoolOptions();
        configure?.Invoke(options);
        return new PreviewSandboxPoolController(_pools, new FencedSandboxProviderRegistry(_registry, new HeldFence()), _previews, new HeldFence(),
            MsOptions.Create(options), MsOptions.Create(new OperatorOptions()), _time, NullLogger<PreviewSandboxPoolController>.Instance);
    }

    private V1Alpha1PreviewSandboxPool AddPool(int replicas, string? template = "vite", string name = "warm")
    {
        var pool = new V1Alpha1PreviewSandboxPool
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = Key.Namespace, Uid = Guid.NewGuid().ToString(), Generation = 1 },
            Spec = new PreviewSandboxPoolSpec { Provider = ProviderNames.Local, Template = template, Replicas = replicas },
        };
        _pools.Items[new PreviewKey(Key.Namespace, name)] = pool;
        return pool;
    }

    private static WarmClaimRequest Request(string? template = "vite") =>
        new(Key.Namespace, ProviderNames.Local, template, ReconcilerHarness.T0.AddHours(3));

    [Fact]
    public async Task Pass_FillsThePool_StartsTheDevServer_AndReportsScaleStatus()
    {
        // arrange
        var pool = AddPool(replicas: 2);
        var controller = Controller();
        await controller.ListAsync(null, CancellationToken.None);

        // act
        await controller.ReconcileAsync(Key, CancellationToken.None);

        // assert: two labelled, started sandboxes; status for the scale subresource
        Assert.Equal(2, _provider.Sandboxes.Count);
        Assert.All(_provider.Sandboxes, s =>
        {
            Assert.Equal(pool.Metadata.Uid, s.OwnerUid);
            Assert.Equal("warm", s.Request.Labels[SandboxLabels.Pool]);
            Assert.Equal("vite", s.Request.Template);
            Assert.Equal(SandboxState.Running, s.State);
            Assert.Equal(PoolGroupVersion.WarmPort, s.StartRequest!.Port);
        });
        var status = _pools.LastStatus!;
        Assert.Equal((2, 2, "preview.midori.dev/pool=warm"), (status.Replicas!.Value, status.ReadyReplicas!.Value, status.Selector));
        Assert.Equal(("True", PoolReasons.Filled), (status.Conditions![0].Status, status.Conditions[0].Reason));

        // act: a second pass with nothing changed writes nothing
        var writes = _pools.StatusWrites;
        await controller.ReconcileAsync(Key, CancellationToken.None);
        Assert.Equal(writes, _pools.StatusWrites);
        Assert.Equal(2, _provider.CreateCalls);
    }

    [Fact]
    public async Task Claim_HandsOutAReadySandboxExtendedToTheRequest_ThePassReplacesIt_AndCountsIt()
    {
        // arrange
        AddPool(replicas: 1);
        var controller = Controller();
        await StartTermAsync(controller);
        await controller.ReconcileAsync(Key, CancellationToken.None);
        var warm = _provider.Sandboxes.Single();

        // act
        var claim = await controller.TryClaimAsync(Request(), CancellationToken.None);
        var second = await controller.TryClaimAsync(Request(), CancellationToken.None);
        await controller.ReconcileAsync(Key, CancellationToken.None);

        // assert: the claimed one is the caller's (extended, never listed as a member again); a fresh one replaces it
        Assert.Equal((warm.Id, "warm"), (claim!.Sandbox.Id, claim.Pool));
        Assert.Equal(Request().Until, warm.EndAt);
        Assert.Null(second); // the pool was empty until the pass
        Assert.Equal(2, _provider.Sandboxes.Count);
        Assert.Equal((1, 1L), (_pools.LastStatus!.ReadyReplicas!.Value, _pools.LastStatus.Claimed!.Value));
        var next = await controller.TryClaimAsync(Request(), CancellationToken.None);
        Assert.NotEqual(warm.Id, next!.Sandbox.Id);
    }

    [Theory]
    [InlineData("other", "vite")]
    [InlineData(null, "vite")]
    [InlineData("vite", null)]
    public async Task Claim_Misses_WhenTheTemplateDiffers(string? poolTemplate, string? requested)
    {
        // arrange
        AddPool(replicas: 1, template: poolTemplate);
        var controller = Controller();
        await StartTermAsync(controller);
        await controller.ReconcileAsync(Key, CancellationToken.None);

        // act
        var claim = await controller.TryClaimAsync(Request(requested), CancellationToken.None);

        // assert
        Assert.Null(claim);
        Assert.NotNull(await controller.TryClaimAsync(Request(poolTemplate), CancellationToken.None));
    }

    [Fact]
    public async Task Claim_WithoutATerm_Misses()
    {
        // arrange: a follower (or pools disabled) never hands out sandboxes
        AddPool(replicas: 1);
        var controller = Controller();
        await controller.ListAsync(null, CancellationToken.None);
        await controller.ReconcileAsync(Key, CancellationToken.None);

        // act + assert
        Assert.Null(await controller.TryClaimAsync(Request(), CancellationToken.None));
    }

    [Fact]
    public async Task WarmSandboxes_RunThePoolsDevServer_SoAClaimWithTheSameStartLeavesItRunning()
    {
        // arrange: a pool whose members boot the project's dev server before anyone claims them
        var pool = AddPool(replicas: 2);
        pool.Spec.Command = "npm run dev";
        pool.Spec.Port = 5173;
        var controller = Controller();
        await StartTermAsync(controller);
        await controller.ReconcileAsync(Key, CancellationToken.None);
        Assert.All(_provider.Sandboxes, s =>
        {
            Assert.Equal(5173, s.Request.Port);
            Assert.Equal(("npm run dev", 5173, 1), (s.StartRequest!.Command, s.StartRequest.Port, s.Starts));
        });

        // act: claimants start their dev server as the provisioner does, one with the pool's start, one with another
        var same = (await controller.TryClaimAsync(Request(), CancellationToken.None))!.Sandbox.Id;
        var other = (await controller.TryClaimAsync(Request(), CancellationToken.None))!.Sandbox.Id;
        await _provider.StartAsync(same, new SandboxStartRequest("npm run dev", 5173, new Dictionary<string, string>()), CancellationToken.None);
        await _provider.StartAsync(other, new SandboxStartRequest("npm start", 5173, new Dictionary<string, string>()), CancellationToken.None);

        // assert: the same start (equal by value) keeps the booted server; another one restarts it
        Assert.Equal(1, _provider.Sandboxes.Single(s => s.Id == same).Starts);
        Assert.Equal(2, _provider.Sandboxes.Single(s => s.Id == other).Starts);
    }

    [Fact]
    public async Task ChangedCommand_ReplacesTheMembers_WithoutEmptyingThePool()
    {
        // arrange: a filled pool booting `npm run dev`
        var pool = AddPool(replicas: 2);
        pool.Spec.Command = "npm run dev";
        var controller = Controller();
        await StartTermAsync(controller);
        await controller.ReconcileAsync(Key, CancellationToken.None);
        var old = _provider.Sandboxes.Select(s => s.Id).ToHashSet();

        // act: the command changes; one pass creates the replacements, a claim meanwhile takes an old member first
        pool.Spec.Command = "pnpm dev";
        pool.Metadata.Generation = 2;
        await controller.ReconcileAsync(Key, CancellationToken.None);
        var claim = await controller.TryClaimAsync(Request(), CancellationToken.None);
        var requeue = await controller.ReconcileAsync(Key, CancellationToken.None);

        // assert: the claimed old one is the claimant's; the other old one is gone; two members run the new command
        Assert.Contains(claim!.Sandbox.Id, old);
        var members = _provider.Sandboxes.Where(s => s.Id != claim.Sandbox.Id).ToList();
        Assert.Equal(2, members.Count);
        Assert.All(members, s => Assert.Equal(("pnpm dev", false), (s.StartRequest!.Command, old.Contains(s.Id))));
        Assert.Equal((2, 2), (_pools.LastStatus!.Replicas!.Value, _pools.LastStatus.ReadyReplicas!.Value));
        Assert.True(requeue > TimeSpan.FromSeconds(1));
    }

    [Fact]
    public void StartDigest_IsAShortLabelValue_ThatTellsStartsApart()
    {
        // act
        var plain = PreviewSandboxPoolController.StartDigest(PreviewSandboxPoolController.WarmStart(new PreviewSandboxPoolSpec()));
        var dev = PreviewSandboxPoolController.StartDigest(PreviewSandboxPoolController.WarmStart(new PreviewSandboxPoolSpec { Command = "npm run dev" }));
        var otherPort = PreviewSandboxPoolController.StartDigest(PreviewSandboxPoolController.WarmStart(new PreviewSandboxPoolSpec { Command = "npm run dev", Port = 5173 }));

        // assert
        Assert.Matches("^[0-9a-f]{12}$", plain);
        Assert.Equal(3, new[] { plain, dev, otherPort }.Distinct().Count());
    }

    [Fact]
    public void WarmStart_DefaultsToAStaticServerOnThePreviewDefaultPort()
    {
        // act
        var start = PreviewSandboxPoolController.WarmStart(new PreviewSandboxPoolSpec { Command = "  " });

        // assert: what a PreviewSandbox without command or port starts, so such a claim keeps it too
        Assert.Equal((null, 3000, 0), (start.Command, start.Port, start.Environment.Count));
        Assert.True(start.SameServerAs(new SandboxStartRequest(null, new PreviewSandboxSpec().EffectivePort(), new Dictionary<string, string>())));
    }

    [Fact]
    public async Task Restart_AdoptsCleanMembers_ReplacesDirtyOnes_AndKeepsClaimedOnesOut()
    {
        // arrange: a pool of 3 filled by one process; one member claimed and recorded in its preview's status, one holds files
        var pool = AddPool(replicas: 3);
        var first = Controller();
        await first.ListAsync(null, CancellationToken.None);
        await first.ReconcileAsync(Key, CancellationToken.None);
        var ids = _provider.Sandboxes.Select(s => s.Id).Order().ToList();
        _previews.Observe(new V1Alpha1PreviewSandbox
        {
            Metadata = new V1ObjectMeta { Name = "p1", NamespaceProperty = Key.Namespace, Uid = "p1-uid", ResourceVersion = "5" },
            Status = new PreviewSandboxStatus { SandboxId = ids[0], Phase = Phases.Running },
        });
        _provider.Find(ids[1])!.Files["index.html"] = "<h1>someone's</h1>"u8.ToArray();

        // act: the operator restarts (a new controller: nothing in memory)
        var second = Controller();
        await second.ListAsync(null, CancellationToken.None);
        await second.ReconcileAsync(Key, CancellationToken.None);

        // assert: the clean member is kept, the dirty one deleted, two new ones created; the claimed one left alone
        var now = _provider.Sandboxes.Select(s => s.Id).ToHashSet();
        Assert.Contains(ids[0], now);
        Assert.DoesNotContain(ids[1], now);
        Assert.Contains(ids[2], now);
        Assert.Equal(3, now.Count(id => _provider.Find(id)!.OwnerUid == pool.Metadata.Uid && id != ids[0]));
        Assert.Equal(5, _provider.CreateCalls);
    }

    [Fact]
    public async Task FailedCreations_BackOffFromTheStatusAnchors_AcrossARestart()
    {
        // arrange
        AddPool(replicas: 1);
        _provider.FailNextCreate();
        var controller = Controller();
        await controller.ListAsync(null, CancellationToken.None);

        // act: the first attempt fails
        var retryIn = await controller.ReconcileAsync(Key, CancellationToken.None);

        // assert: the anchors are in the status, and the next pass (even by a fresh process) waits
        Assert.Equal(1, _pools.LastStatus!.FailedAttempts);
        Assert.Equal(ReconcilerHarness.T0.UtcDateTime, _pools.LastStatus.LastFailureTime);
        Assert.Equal(TimeSpan.FromSeconds(5), retryIn);
        var restarted = Controller();
        await restarted.ListAsync(null, CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(2));
        await restarted.ReconcileAsync(Key, CancellationToken.None);
        Assert.Equal(1, _provider.CreateCalls);
        Assert.Equal(PoolReasons.BackingOff, _pools.LastStatus.Conditions![0].Reason);

        // act: after the backoff the creation runs and the anchors clear
        _time.Advance(TimeSpan.FromSeconds(4));
        await restarted.ReconcileAsync(Key, CancellationToken.None);
        Assert.Equal(2, _provider.CreateCalls);
        Assert.Null(_pools.LastStatus.FailedAttempts);
        Assert.Equal(1, _pools.LastStatus.ReadyReplicas);
    }

    [Fact]
    public async Task ScaleDown_AndDelete_RemoveMembers_SweepRemovesThoseOfPoolsDeletedWhileDown()
    {
        // arrange
        var pool = AddPool(replicas: 3);
        var controller = Controller(o => o.SweepGrace = TimeSpan.FromMinutes(2));
        await controller.ListAsync(null, CancellationToken.None);
        await controller.ReconcileAsync(Key, CancellationToken.None);

        // act: scale to 1 (what /scale writes), then the pool is deleted while no operator runs
        pool.Spec.Replicas = 1;
        pool.Metadata.Generation = 2;
        await controller.ReconcileAsync(Key, CancellationToken.None);
        var afterScale = _provider.Sandboxes.Count;
        _pools.Items.Clear();
        var restarted = Controller(o => o.SweepGrace = TimeSpan.FromMinutes(2));
        await restarted.ListAsync(null, CancellationToken.None);
        var young = await restarted.SweepOnceAsync(CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(3));
        var swept = await restarted.SweepOnceAsync(CancellationToken.None);

        // assert
        Assert.Equal(1, afterScale);
        Assert.Equal((0, 1), (young, swept));
        Assert.Empty(_provider.Sandboxes);
    }

    [Fact]
    public async Task PoolDeletedWhileRunning_ItsMembersAreRemoved()
    {
        // arrange
        AddPool(replicas: 2);
        var controller = Controller();
        await controller.ListAsync(null, CancellationToken.None);
        await controller.ReconcileAsync(Key, CancellationToken.None);
        var pool = _pools.Items[Key];

        // act: the watch reports the deletion
        _pools.Items.Clear();
        controller.Apply(new PreviewSandboxPoolWatchEvent(k8s.WatchEventType.Deleted, pool, "9"), null);
        await controller.ReconcileAsync(Key, CancellationToken.None);

        // assert
        Assert.Empty(_provider.Sandboxes);
    }

    [Fact]
    public async Task OrphanSweep_LeavesPoolSandboxesToThePool()
    {
        // arrange: a warm sandbox whose owner UID is a pool, not a PreviewSandbox
        AddPool(replicas: 1);
        var controller = Controller();
        await controller.ListAsync(null, CancellationToken.None);
        await controller.ReconcileAsync(Key, CancellationToken.None);
        _time.Advance(TimeSpan.FromHours(2));
        var sweeper = new OrphanSweepController(_registry, new InMemoryPreviewSandboxClient(_time),
            MsOptions.Create(new OrphanSweepOptions { GracePeriod = TimeSpan.FromMinutes(1) }), MsOptions.Create(new OperatorOptions()),
            new Midori.Operator.Diagnostics.MidoriMetrics(new TestMeterFactory()), _time, NullLogger<OrphanSweepController>.Instance);

        // act
        var result = await sweeper.SweepOnceAsync(CancellationToken.None);

        // assert
        Assert.Equal(0, result.Deleted);
        Assert.Single(_provider.Sandboxes);
    }

    /// <summary>Makes the controller serve claims as during a term (the tests run the passes).</summary>
    private async Task StartTermAsync(PreviewSandboxPoolController controller)
    {
        await controller.ListAsync(null, CancellationToken.None);
        controller.ServeClaims(new ReconcileQueue(_time));
    }

    private sealed class HeldFence : ILeadershipFence
    {
        public bool IsHeld => true;

        public void EnsureHeld(string action)
        {
        }
    }

    private sealed class OneProvider(ISandboxProvider provider) : ISandboxProviderRegistry
    {
        public string DefaultProvider => provider.Name;

        public IReadOnlyCollection<ISandboxProvider> All => [provider];

        public bool TryGet(string name, out ISandboxProvider found)
        {
            found = provider;
            return string.Equals(name, provider.Name, StringComparison.OrdinalIgnoreCase);
        }
    }

    private sealed class TestMeterFactory : System.Diagnostics.Metrics.IMeterFactory
    {
        public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options) => new(options);

        public void Dispose()
        {
        }
    }

    internal sealed class InMemoryPoolClient : IPreviewSandboxPoolClient
    {
        public Dictionary<PreviewKey, V1Alpha1PreviewSandboxPool> Items { get; } = [];

        public PreviewSandboxPoolStatus? LastStatus { get; private set; }

        public int StatusWrites { get; private set; }

        public Task<PreviewSandboxPoolPage?> ListAsync(string? @namespace, CancellationToken cancellationToken) =>
            Task.FromResult<PreviewSandboxPoolPage?>(new PreviewSandboxPoolPage([.. Items.Values], "1"));

        public async IAsyncEnumerable<PreviewSandboxPoolWatchEvent> WatchAsync(string? @namespace, string resourceVersion, TimeSpan timeout, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            yield break;
        }

        public Task PatchStatusAsync(V1Alpha1PreviewSandboxPool pool, PreviewSandboxPoolStatus status, CancellationToken cancellationToken)
        {
            StatusWrites++;
            LastStatus = status;
            return Task.CompletedTask;
        }
    }
}
