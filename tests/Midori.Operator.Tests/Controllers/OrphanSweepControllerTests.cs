using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Diagnostics;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;
using Midori.Operator.Testing.Fakes;
using Midori.Operator.Tests.Runtime;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Midori.Operator.Tests.Controllers;

public sealed class OrphanSweepControllerTests : IDisposable
{
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(15);

    private readonly ObservableTimeProvider _time = new();
    private readonly InMemoryPreviewSandboxClient _client;
    private readonly FakeSandboxProvider _provider;
    private readonly FakeLeadership _leadership = new();
    private readonly MidoriMetrics _metrics = new(new TestMeterFactory());
    private readonly LongCounterRecorder _orphans;

    public OrphanSweepControllerTests()
    {
        _client = new InMemoryPreviewSandboxClient(_time);
        _provider = new FakeSandboxProvider(_time, "daytona");
        _orphans = new LongCounterRecorder(_metrics.Meter, "midori.provider.orphans");
    }

    public void Dispose() => _orphans.Dispose();

    [Fact]
    public async Task Sweep_DeletesOldSandboxesWhoseOwnerIsGone_KeepsLiveAndYoungOnes()
    {
        var live = _client.Create(new PreviewSandboxBuilder().Named("live", "default").Build());
        var liveSandbox = await CreateSandboxAsync(live.Metadata.Uid, "default", "live");
        var gone = await CreateSandboxAsync(Guid.NewGuid().ToString(), "default", "deleted-long-ago");
        _time.Advance(Grace);
        var young = await CreateSandboxAsync(Guid.NewGuid().ToString(), "default", "create-in-flight");
        var sweeper = Sweeper();

        var result = await sweeper.SweepOnceAsync(CancellationToken.None);

        Assert.Equal(new OrphanSweepResult(Listed: 3, Young: 1, Orphans: 1, Deleted: 1), result);
        Assert.Equal([liveSandbox, young], _provider.Sandboxes.Select(s => s.Id).Order());
        Assert.DoesNotContain(gone, _provider.Sandboxes.Select(s => s.Id));
        Assert.Equal(1, _orphans.Sum(("provider", "daytona"), ("action", "deleted")));
    }

    [Fact]
    public async Task Sweep_DryRun_CountsAndLeavesOrphansInPlace()
    {
        var orphan = await CreateSandboxAsync(Guid.NewGuid().ToString(), "default", "gone");
        _time.Advance(Grace);
        var sweeper = Sweeper(o => o.DryRun = true);

        var result = await sweeper.SweepOnceAsync(CancellationToken.None);

        Assert.Equal((1, 0), (result.Orphans, result.Deleted));
        Assert.Equal(orphan, Assert.Single(_provider.Sandboxes).Id);
        Assert.Equal(1, _orphans.Sum(("action", "dry_run")));
    }

    [Fact]
    public async Task Sweep_WithAWatchedNamespace_LeavesOtherNamespacesAlone()
    {
        await CreateSandboxAsync(Guid.NewGuid().ToString(), "team-b", "not-ours-to-judge");
        _time.Advance(Grace);
        var sweeper = Sweeper(watchNamespace: "team-a");

        var result = await sweeper.SweepOnceAsync(CancellationToken.None);

        Assert.Equal((0, 0), (result.Listed, result.Deleted));
        Assert.Single(_provider.Sandboxes);
    }

    [Fact]
    public async Task Sweep_ProviderThatCannotList_IsSkippedNotFatal()
    {
        await CreateSandboxAsync(Guid.NewGuid().ToString(), "default", "gone");
        _time.Advance(Grace);
        _provider.OutageException = new SandboxProviderException("daytona", "No API key is configured", isTransient: false);
        var sweeper = Sweeper();

        var result = await sweeper.SweepOnceAsync(CancellationToken.None);

        Assert.Equal(0, result.Listed);
        Assert.Single(_provider.Sandboxes);
    }

    [Fact]
    public async Task Runs_InTheLeadersTerm_OnlyWhileLeading()
    {
        await CreateSandboxAsync(Guid.NewGuid().ToString(), "default", "gone");
        _time.Advance(Grace);
        var sweeper = Sweeper(o =>
        {
            o.InitialDelay = TimeSpan.FromMinutes(1);
            o.Interval = TimeSpan.FromMinutes(10);
        });
        await using var runtime = new LeaderRuntime(_leadership, sweeper); // terms start with leadership; the informer is not needed here

        _time.Advance(TimeSpan.FromMinutes(2));
        Assert.Single(_provider.Sandboxes); // not leading: nothing swept

        _leadership.Become();
        Assert.Equal(TimeSpan.FromMinutes(1), await _time.CreatedTimers.ReadAsync().AsTask().WaitAsync(TestWaits.Bound)); // initial delay armed
        var deleted = _provider.WaitForDeletionAsync();
        _time.Advance(TimeSpan.FromMinutes(1));
        await deleted.WaitAsync(TestWaits.Bound);
        Assert.Empty(_provider.Sandboxes);

        _leadership.Lose();
        await CreateSandboxAsync(Guid.NewGuid().ToString(), "default", "gone-too");
        _time.Advance(TimeSpan.FromHours(1));
        await runtime.Host.StopAsync(CancellationToken.None);
        Assert.Single(_provider.Sandboxes); // leadership lost: the loop stopped
    }

    [Fact]
    public async Task Disabled_RunReturnsAtOnce_AndSweepsNothing()
    {
        await CreateSandboxAsync(Guid.NewGuid().ToString(), "default", "gone");
        _time.Advance(Grace);
        var sweeper = Sweeper(o => o.Enabled = false);

        await sweeper.RunAsync(CancellationToken.None).WaitAsync(TestWaits.Bound);

        Assert.Single(_provider.Sandboxes);
    }

    private async Task<string> CreateSandboxAsync(string? ownerUid, string ns, string name)
    {
        var uid = ownerUid ?? Guid.NewGuid().ToString();
        var info = await _provider.CreateAsync(new SandboxCreateRequest(uid, ns, name, "p", null, 3000, TimeSpan.FromDays(1), TimeSpan.FromMinutes(5),
            new Dictionary<string, string>
            {
                [SandboxLabels.OwnerUid] = uid,
                [SandboxLabels.Namespace] = ns,
                [SandboxLabels.Name] = name,
            }), CancellationToken.None);
        return info.Id;
    }

    private OrphanSweepController Sweeper(Action<OrphanSweepOptions>? configure = null, string? watchNamespace = null)
    {
        var options = new OrphanSweepOptions { GracePeriod = Grace };
        configure?.Invoke(options);
        var operatorOptions = new OperatorOptions { DefaultProvider = "daytona", WatchNamespace = watchNamespace };
        return new OrphanSweepController(new SandboxProviderRegistry([_provider], MsOptions.Create(operatorOptions)), _client,
            MsOptions.Create(options), MsOptions.Create(operatorOptions), _metrics, _time, NullLogger<OrphanSweepController>.Instance);
    }

    /// <summary>
    /// The production host running <paramref name="controller"/> in the leader's terms, beside workers with nothing to
    /// do. Its own clock, so the sweep's timers are the only ones on the test's clock.
    /// </summary>
    private sealed class LeaderRuntime : IAsyncDisposable
    {
        private readonly ObservableTimeProvider _hostTime = new();
        private readonly ReconcileQueue _queue;
        private readonly ServiceProvider _services;

        public LeaderRuntime(FakeLeadership leadership, ILeaderController controller)
        {
            _queue = new ReconcileQueue(_hostTime);
            var options = TestSupport.Options();
            var client = new ScriptedPreviewSandboxClient();
            var informer = new PreviewSandboxInformer(client, new PreviewSandboxCache(client, _hostTime), options, _hostTime,
                NullLogger<PreviewSandboxInformer>.Instance, TestSupport.NoJitterWatchBackoff());
            var services = new ServiceCollection();
            services.AddScoped<IReconciler>(_ => new DelegateReconciler((_, _) => Task.FromResult(ReconcileResult.Done())));
            _services = services.BuildServiceProvider();
            var workers = new ReconcileWorkers(_queue, _services.GetRequiredService<IServiceScopeFactory>(), options, _hostTime,
                NullLogger<ReconcileWorkers>.Instance, TestSupport.NoJitterReconcileBackoff());
            Host = new OperatorRuntimeHost(leadership, informer, workers, _queue, _hostTime, NullLogger<OperatorRuntimeHost>.Instance, controllers: [controller]);
        }

        public OperatorRuntimeHost Host { get; }

        public async ValueTask DisposeAsync()
        {
            Host.Dispose();
            _queue.Dispose();
            await _services.DisposeAsync();
        }
    }

}

/// <summary>A meter factory for tests that build <see cref="MidoriMetrics"/> without a host.</summary>
internal sealed class TestMeterFactory : System.Diagnostics.Metrics.IMeterFactory
{
    private readonly List<System.Diagnostics.Metrics.Meter> _meters = [];

    public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options)
    {
        var meter = new System.Diagnostics.Metrics.Meter(options.Name, options.Version, options.Tags, this);
        _meters.Add(meter);
        return meter;
    }

    public void Dispose() => _meters.ForEach(m => m.Dispose());
}
