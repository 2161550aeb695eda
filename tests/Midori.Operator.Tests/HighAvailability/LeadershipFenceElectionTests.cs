using k8s;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Midori.Operator.Options;
using Midori.Operator.Runtime;
using Midori.Operator.Testing.Fakes;
using Midori.DevApiServer;

namespace Midori.Operator.Tests.HighAvailability;

/// <summary>
/// The real KubernetesClient LeaderElector against the in-process API server, with the fence on a fake clock. The
/// elector's own renew deadline is set far beyond the test, so anything that ends leadership here is the fence: this is
/// the window in which a paused-then-resumed leader used to go on acting.
/// </summary>
[Trait("Category", "HighAvailability")]
public sealed class LeadershipFenceElectionTests : IAsyncLifetime
{
    private const string Namespace = "midori-fence";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private readonly ObservableTimeProvider _time = new();
    private readonly PausableApiHandler _handler = new("me");
    private readonly LeaderElectionOptions _options = new()
    {
        Enabled = true,
        LeaseName = "fence-leader",
        LeaseNamespace = Namespace,
        LeaseDuration = TimeSpan.FromMinutes(10),
        RenewDeadline = TimeSpan.FromMinutes(9),
        RetryPeriod = TimeSpan.FromMilliseconds(200),
        ReleaseOnShutdown = false,
    };

    private DevKubeApiServer _server = null!;
    private ServiceProvider _services = null!;
    private LeaderElectionService _election = null!;

    public async Task InitializeAsync()
    {
        _server = await DevKubeApiServer.StartAsync();
        _services = new ServiceCollection().AddSingleton<IKubernetes>(new k8s.Kubernetes(_server.CreateClientConfiguration(), _handler)).BuildServiceProvider();
        _election = new LeaderElectionService(_services, Microsoft.Extensions.Options.Options.Create(_options), new OperatorIdentity("me", Namespace),
            _time, NullLogger<LeaderElectionService>.Instance, new LeadershipFence(_time));
    }

    public async Task DisposeAsync()
    {
        _handler.Resume();
        using var timeout = new CancellationTokenSource(Bound);
        await _election.StopAsync(timeout.Token);
        _election.Fence.Dispose();
        _election.Dispose();
        await _services.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task RenewalsStalled_FenceRunsOut_LeadershipEndsAndInFlightTokenCancelled_ThoughTheElectorStillBelievesItLeads()
    {
        // arrange
        var term = NextTerm();
        await _election.StartAsync(CancellationToken.None);
        var token = await term.WaitAsync(Bound);
        var heldWhileRenewing = _election.Fence.IsHeld;
        var lost = NextLoss();

        // act: renewals hang (a paused process); the fence's clock moves past one validity
        _handler.Pause();
        _time.Advance(LeaderElectionService.FenceValidity(_options));
        await lost.WaitAsync(Bound);

        // assert
        Assert.True(heldWhileRenewing);
        Assert.True(token.IsCancellationRequested);
        Assert.False(_election.IsLeader);
        Assert.False(_election.Fence.IsHeld);
        Assert.Throws<LeadershipLapsedException>(() => _election.Fence.EnsureHeld("patch status"));
    }

    [Fact]
    public async Task FenceLapsed_LeaseStillOurs_ElectionRestartsAndReacquiresWithAFreshFence()
    {
        // arrange
        var first = NextTerm();
        await _election.StartAsync(CancellationToken.None);
        await first.WaitAsync(Bound);
        var lost = NextLoss();
        _handler.Pause();
        _time.Advance(LeaderElectionService.FenceValidity(_options));
        await lost.WaitAsync(Bound);
        var second = NextTerm();

        // act: renewals flow again; the election loop waits one RetryPeriod (on the fake clock) before a fresh elector runs
        _handler.Resume();
        await WaitForTimerAsync(_options.RetryPeriod);
        _time.Advance(_options.RetryPeriod);
        var token = await second.WaitAsync(Bound);

        // assert
        Assert.False(token.IsCancellationRequested);
        Assert.True(_election.IsLeader);
        Assert.True(_election.Fence.IsHeld);
        Assert.Equal(TimeSpan.FromMinutes(9), _election.Fence.Remaining); // renewed at the current fake instant: a full validity
    }

    private async Task WaitForTimerAsync(TimeSpan due)
    {
        using var timeout = new CancellationTokenSource(Bound);
        while (await _time.CreatedTimers.ReadAsync(timeout.Token) != due)
        {
        }
    }

    private Task<CancellationToken> NextTerm()
    {
        var signal = new TaskCompletionSource<CancellationToken>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Handler(CancellationToken ct)
        {
            _election.StartedLeading -= Handler;
            signal.TrySetResult(ct);
        }

        _election.StartedLeading += Handler;
        return signal.Task;
    }

    private Task NextLoss()
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Handler()
        {
            _election.StoppedLeading -= Handler;
            signal.TrySetResult();
        }

        _election.StoppedLeading += Handler;
        return signal.Task;
    }
}
