using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Midori.Operator.Runtime;
using Midori.Operator.Testing.Fakes;
using static Midori.Operator.Testing.Fakes.ScriptedPreviewSandboxClient;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Tests.Runtime;

public sealed class OperatorRuntimeHostTests : IDisposable
{
    private static readonly PreviewKey A = new("default", "a");

    private readonly ObservableTimeProvider _time = new();
    private readonly ScriptedPreviewSandboxClient _client = new();
    private readonly FakeLeadership _leadership = new();
    private readonly ReconcileQueue _queue;
    private readonly PreviewSandboxInformer _informer;
    private readonly ServiceProvider _services;
    private readonly OperatorRuntimeHost _host;
    private Func<PreviewKey, CancellationToken, Task<ReconcileResult>> _reconcile = (_, _) => Task.FromResult(ReconcileResult.Done());

    public OperatorRuntimeHostTests()
    {
        _queue = new ReconcileQueue(_time);
        var options = TestSupport.Options();
        _informer = new PreviewSandboxInformer(_client, new PreviewSandboxCache(_client, _time), options, _time, NullLogger<PreviewSandboxInformer>.Instance, TestSupport.NoJitterWatchBackoff());
        var services = new ServiceCollection();
        services.AddScoped<IReconciler>(_ => new DelegateReconciler((key, ct) => _reconcile(key, ct)));
        _services = services.BuildServiceProvider();
        var workers = new ReconcileWorkers(_queue, _services.GetRequiredService<IServiceScopeFactory>(), options, _time, NullLogger<ReconcileWorkers>.Instance, TestSupport.NoJitterReconcileBackoff());
        _host = new OperatorRuntimeHost(_leadership, _informer, workers, _queue, _time, NullLogger<OperatorRuntimeHost>.Instance);
    }

    public void Dispose()
    {
        _host.Dispose();
        _queue.Dispose();
        _services.Dispose();
    }

    [Fact]
    public void IsReady_NotLeader_True()
    {
        // arrange / act / assert
        Assert.True(_host.IsReady);
    }

    [Fact]
    public async Task StartedLeading_ListedObjects_ReconciledAndReadyAfterSync()
    {
        // arrange
        var reconciled = new TaskCompletionSource<PreviewKey>(TaskCreationOptions.RunContinuationsAsynchronously);
        _reconcile = (key, _) =>
        {
            reconciled.TrySetResult(key);
            return Task.FromResult(ReconcileResult.Done());
        };
        _client.EnqueueList("10", [Sandbox("a")]);

        // act
        await _host.StartAsync(CancellationToken.None); // the informer (every replica)
        _leadership.Become();
        var key = await reconciled.Task.WithTimeout();
        await _client.WaitForWatchCallsAsync(1).WithTimeout();

        // assert
        Assert.Equal(A, key);
        Assert.True(_host.IsReady);
        await _host.StopAsync(CancellationToken.None).WithTimeout();
    }

    [Fact]
    public async Task StoppedLeading_InFlightReconcile_CancelledAndQueueCleared()
    {
        // arrange
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sawCancellation = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        _reconcile = async (_, ct) =>
        {
            started.TrySetResult();
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            }
            catch (OperationCanceledException)
            {
                sawCancellation.TrySetResult(true);
                throw;
            }

            return ReconcileResult.Done();
        };
        _client.EnqueueList("10", [Sandbox("a"), Sandbox("b"), Sandbox("c"), Sandbox("d")]);
        await _host.StartAsync(CancellationToken.None); // the informer (every replica)
        _leadership.Become();
        await started.Task.WithTimeout();
        await _client.WaitForWatchCallsAsync(1).WithTimeout();

        // act
        _leadership.Lose();
        await _host.CurrentTermCompletion.WithTimeout();

        // assert
        Assert.True(await sawCancellation.Task.WithTimeout());
        Assert.Equal(0, _queue.Count);
        Assert.Equal(0, _queue.InFlight);
        // The informer outlives the term: the follower's HTTP API keeps reading its cache.
        Assert.False(_client.Watches[0].Ended.IsCompleted);
        Assert.True(_informer.HasSynced);
        Assert.Single(_client.Watches);
        Assert.True(_host.IsReady);
    }

    [Fact]
    public async Task StartedLeadingAgain_AfterLoss_ReconcilesAgainFromTheSameInformer()
    {
        // arrange
        var runs = 0;
        var firstRun = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondRun = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _reconcile = (_, _) =>
        {
            var run = Interlocked.Increment(ref runs);
            (run == 1 ? firstRun : secondRun).TrySetResult();
            return Task.FromResult(ReconcileResult.Done());
        };
        _client.EnqueueList("10", [Sandbox("a")]);
        await _host.StartAsync(CancellationToken.None); // the informer (every replica)
        _leadership.Become();
        await _client.WaitForWatchCallsAsync(1).WithTimeout();
        await firstRun.Task.WithTimeout(); // else losing at once could clear the first term's key before a worker took it
        _leadership.Lose();
        await _host.CurrentTermCompletion.WithTimeout();

        // act
        _leadership.Become();
        await secondRun.Task.WithTimeout();

        // assert: one list and one watch for both terms (the informer outlives them)
        Assert.Single(_client.ListCalls);
        Assert.Single(_client.Watches);
        await _host.StopAsync(CancellationToken.None).WithTimeout();
    }

    [Fact]
    public async Task StopAsync_InFlightReconcile_WaitsForItWithoutCancelling()
    {
        // arrange
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = false;
        _reconcile = async (_, ct) =>
        {
            started.TrySetResult();
            await release.Task;
            cancelled = ct.IsCancellationRequested;
            return ReconcileResult.Done();
        };
        _client.EnqueueList("10", [Sandbox("a")]);
        await _host.StartAsync(CancellationToken.None); // the informer (every replica)
        _leadership.Become();
        await started.Task.WithTimeout();

        // act
        var stop = _host.StopAsync(CancellationToken.None);
        var stoppedBeforeRelease = stop.IsCompleted;
        release.SetResult();
        await stop.WithTimeout();

        // assert
        Assert.False(stoppedBeforeRelease);
        Assert.False(cancelled);
        Assert.Equal(0, _queue.Count);
    }

    [Fact]
    public async Task StopAsync_ReconcileOutlivesDrainTimeout_Cancelled()
    {
        // arrange
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _reconcile = async (_, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            return ReconcileResult.Done();
        };
        _client.EnqueueList("10", [Sandbox("a")]);
        _host.DrainTimeout = TimeSpan.FromSeconds(8);
        await _host.StartAsync(CancellationToken.None); // the informer (every replica)
        _leadership.Become();
        await started.Task.WithTimeout();

        // act
        var stop = _host.StopAsync(CancellationToken.None);
        var timer = await _time.CreatedTimers.ReadAsync().WithTimeout();
        _time.Advance(timer);
        await stop.WithTimeout();

        // assert
        Assert.Equal(TimeSpan.FromSeconds(8), timer);
        Assert.Equal(0, _queue.InFlight);
    }
}
