using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using Microsoft.Extensions.Options;
using Midori.Operator.Diagnostics;
using Midori.Operator.Options;

namespace Midori.Operator.Runtime;

/// <summary>
/// <see cref="ILeadership"/> backed by a coordination.k8s.io Lease (KubeOps LeaderElectionBackgroundService shape).
/// Disabled: this instance is leader from <see cref="StartAsync"/> until <see cref="StopAsync"/>. Enabled: loops
/// <see cref="LeaderElector.RunUntilLeadershipLostAsync"/> on a background task. <see cref="LeaderElector"/> uses the
/// wall clock internally; that stays behind this seam, and nothing else in the runtime depends on it.
/// <para>
/// The elector's own view lags: a process paused between renewals resumes believing it leads and only gives up after a
/// fresh RenewDeadline. So every renewal also feeds the <see cref="LeadershipFence"/>, measured through
/// <see cref="TimeProvider"/>; when the fence lapses this service stops leading at once (cancelling in-flight reconciles)
/// and restarts the elector, which re-acquires straight away if the Lease is still ours.
/// </para>
/// </summary>
public sealed class LeaderElectionService : ILeadership, IHostedService, IDisposable
{
    private readonly IServiceProvider _services;
    private readonly LeaderElectionOptions _options;
    private readonly OperatorIdentity _identity;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<LeaderElectionService> _logger;
    private readonly LeadershipFence _fence;
    private readonly bool _ownsFence;
    private readonly RetryBackoff _backoff = RetryBackoff.ForWatch();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private CancellationTokenSource? _termCts;
    private CancellationTokenSource? _runCts;
    private Task? _loop;
    private volatile bool _isLeader;
    private int _disposed;

    public LeaderElectionService(
        IServiceProvider services,
        IOptions<LeaderElectionOptions> options,
        OperatorIdentity identity,
        TimeProvider timeProvider,
        ILogger<LeaderElectionService> logger,
        LeadershipFence? fence = null)
    {
        _services = services;
        _options = options.Value;
        _identity = identity;
        _timeProvider = timeProvider;
        _logger = logger;
        _ownsFence = fence is null;
        _fence = fence ?? new LeadershipFence(timeProvider);
        _fence.Lapsed += OnFenceLapsed;
    }

    /// <summary>The fence this service keeps (also registered as <see cref="ILeadershipFence"/>).</summary>
    public LeadershipFence Fence => _fence;

    /// <summary>
    /// How long one renewal keeps the fence held: the Lease duration as written (whole seconds) minus the margin
    /// <c>LeaseDuration − RenewDeadline</c> (see <see cref="LeadershipFence"/>).
    /// </summary>
    public static TimeSpan FenceValidity(LeaderElectionOptions options) =>
        TimeSpan.FromSeconds((int)options.LeaseDuration.TotalSeconds) - FenceMargin(options);

    internal static TimeSpan FenceMargin(LeaderElectionOptions options) => options.LeaseDuration - options.RenewDeadline;

    public event Action<CancellationToken>? StartedLeading;

    public event Action? StoppedLeading;

    public bool IsLeader => _isLeader;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            _logger.LeadershipDisabled(_identity.Name);
            BecomeLeader();
            return Task.CompletedTask;
        }

        // Host startup waits for StartAsync (dotnet/runtime#36063): run the election loop on its own task.
        _loop = Task.Run(() => RunElectionLoopAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // The runtime host stops (and drains) before this service, so nothing reconciles any more when the Lease is handed back.
        var release = _options.Enabled && _options.ReleaseOnShutdown && _isLeader;
        // WebApplicationFactory may dispose the container before stopping the host: Dispose already cancelled it.
        if (Volatile.Read(ref _disposed) == 0)
        {
            try
            {
                await _stopping.CancelAsync().ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                // Disposed concurrently; same outcome.
            }
        }

        if (_loop is not null)
        {
            try
            {
                await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Host shutdown timeout: give up waiting for the elector.
            }
        }

        LoseLeadership();
        if (release)
        {
            await ReleaseLeaseAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        // Registered under several service types, so the container may dispose it more than once.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _fence.Lapsed -= OnFenceLapsed;
        _stopping.Cancel();
        _stopping.Dispose();
        if (_ownsFence)
        {
            _fence.Dispose();
        }
    }

    private async Task RunElectionLoopAsync(CancellationToken stoppingToken)
    {
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            using var run = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            lock (_lock)
            {
                _runCts = run;
            }

            try
            {
                var kubernetes = _services.GetRequiredService<IKubernetes>();
                var leaseLock = new RenewalObservingLock(
                    new LeaseLock(kubernetes, _identity.Namespace, _options.LeaseName, _identity.Name), _fence, _timeProvider, FenceMargin(_options));
                var config = new LeaderElectionConfig(leaseLock)
                {
                    LeaseDuration = _options.LeaseDuration,
                    RenewDeadline = _options.RenewDeadline,
                    RetryPeriod = _options.RetryPeriod,
                };
                using var elector = new LeaderElector(config);
                elector.OnStartedLeading += () =>
                {
                    _logger.LeadershipAcquired(_identity.Namespace, _options.LeaseName, _identity.Name);
                    BecomeLeader();
                };
                elector.OnStoppedLeading += () =>
                {
                    if (_isLeader && stoppingToken.IsCancellationRequested)
                    {
                        // A graceful stop ends the term on purpose (the Lease is released next): not a loss.
                        _logger.LeadershipStepDown(_identity.Namespace, _options.LeaseName, _identity.Name);
                    }
                    else if (_isLeader)
                    {
                        _logger.LeadershipLost(_identity.Namespace, _options.LeaseName, _identity.Name);
                    }

                    LoseLeadership();
                };
                elector.OnNewLeader += leader => _logger.LeaderObserved(leader, _identity.Namespace, _options.LeaseName);
                await elector.RunUntilLeadershipLostAsync(run.Token).ConfigureAwait(false);
                failures = 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (OperationCanceledException) when (run.IsCancellationRequested)
            {
                // The fence lapsed: this term is over whatever the elector believes; start a fresh one.
                failures = 0;
            }
            catch (Exception ex)
            {
                failures++;
                _logger.LeaderElectionFailed(ex, _identity.Namespace, _options.LeaseName, _backoff.Compute(failures));
            }
            finally
            {
                lock (_lock)
                {
                    _runCts = null;
                }

                LoseLeadership();
            }

            try
            {
                var delay = failures > 0 ? _backoff.Compute(failures) : _options.RetryPeriod;
                await Task.Delay(delay, _timeProvider, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>
    /// Clears the holder of our Lease (if it is still ours) so followers acquire it at their next retry. The holder is set
    /// to an empty string, not removed: KubernetesClient's elector treats a missing holder as "no Lease" and tries to create one.
    /// </summary>
    private async Task ReleaseLeaseAsync(CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.RenewDeadline, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            var kubernetes = _services.GetRequiredService<IKubernetes>();
            var lease = await kubernetes.CoordinationV1.ReadNamespacedLeaseAsync(_options.LeaseName, _identity.Namespace, cancellationToken: linked.Token).ConfigureAwait(false);
            if (lease.Spec is null || lease.Spec.HolderIdentity != _identity.Name)
            {
                return;
            }

            var now = _timeProvider.GetUtcNow().UtcDateTime;
            lease.Spec.HolderIdentity = string.Empty;
            lease.Spec.LeaseDurationSeconds = 1;
            lease.Spec.AcquireTime = now;
            lease.Spec.RenewTime = now;

            // The read resourceVersion guards the write: if someone took the Lease meanwhile, this fails with 409 and changes nothing.
            await kubernetes.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, _options.LeaseName, _identity.Namespace, cancellationToken: linked.Token).ConfigureAwait(false);
            _logger.LeaseReleased(_identity.Namespace, _options.LeaseName, _identity.Name);
        }
        catch (Exception ex) when (ex is k8s.Autorest.HttpOperationException or HttpRequestException or OperationCanceledException)
        {
            _logger.LeaseReleaseFailed(ex, _identity.Namespace, _options.LeaseName);
        }
    }

    private void BecomeLeader()
    {
        CancellationToken token;
        lock (_lock)
        {
            if (_isLeader)
            {
                return;
            }

            _termCts?.Dispose();
            _termCts = new CancellationTokenSource();
            token = _termCts.Token;
            if (_options.Enabled)
            {
                _fence.Open();
            }
            else
            {
                _fence.OpenUnbounded();
            }

            _isLeader = true;
        }

        StartedLeading?.Invoke(token);
    }

    private void OnFenceLapsed()
    {
        CancellationTokenSource? run;
        lock (_lock)
        {
            if (!_isLeader)
            {
                return;
            }

            run = _runCts;
        }

        _logger.LeadershipFenceLapsed(_identity.Namespace, _options.LeaseName, _identity.Name, _fence.LastRenewal, FenceValidity(_options));
        LoseLeadership();
        try
        {
            run?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // That run already ended.
        }
    }

    private void LoseLeadership()
    {
        CancellationTokenSource? term;
        lock (_lock)
        {
            if (!_isLeader)
            {
                return;
            }

            _isLeader = false;
            _fence.Close();
            term = _termCts;
        }

        term?.Cancel();
        StoppedLeading?.Invoke();
    }
}
