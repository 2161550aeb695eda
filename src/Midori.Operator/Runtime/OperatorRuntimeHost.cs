using Midori.Operator.Diagnostics;

namespace Midori.Operator.Runtime;

/// <summary>
/// Runs the replica's one informer from host start to host stop (every replica: the HTTP API and the gateway read its
/// cache), and ties reconciling to leadership: on <see cref="ILeadership.StartedLeading"/> it attaches the queue to the
/// informer and starts the workers under the leadership token (one "term"); on loss it cancels in-flight reconciles,
/// detaches and clears the queue, so a former leader drops its backlog (KubeOps SuspendIntake/Clear). On host stop it
/// stops taking keys, waits up to <see cref="DrainTimeout"/> for in-flight reconciles, cancels them, then stops the informer.
/// The <see cref="ILeaderController"/>s (the orphan sweep) run in the same terms as the workers, under the same token.
/// </summary>
public sealed class OperatorRuntimeHost : IHostedService, IDisposable
{
    private readonly ILeadership _leadership;
    private readonly PreviewSandboxInformer _informer;
    private readonly ReconcileWorkers _workers;
    private readonly ReconcileQueue _queue;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<OperatorRuntimeHost> _logger;
    private readonly IReadOnlyList<ILeaderController> _controllers;
    private readonly Lock _lock = new();
    private Term? _term;
    private Task _lastTermCompletion = Task.CompletedTask;
    private long _termCounter;
    private bool _stopped;
    private readonly IDisposable? _deathSubscription;
    private readonly CancellationTokenSource _informerStop = new();
    private Task _informerRun = Task.CompletedTask;

    public OperatorRuntimeHost(
        ILeadership leadership,
        PreviewSandboxInformer informer,
        ReconcileWorkers workers,
        ReconcileQueue queue,
        TimeProvider timeProvider,
        ILogger<OperatorRuntimeHost> logger,
        MidoriMetrics? metrics = null,
        Providers.ISandboxDeathNotifier? deaths = null,
        IEnumerable<ILeaderController>? controllers = null)
    {
        _controllers = controllers?.ToList() ?? [];
        _leadership = leadership;
        _informer = informer;
        _workers = workers;
        _queue = queue;
        _timeProvider = timeProvider;
        _logger = logger;

        // Subscribe at construction: the host resolves every hosted service before starting any, so a leadership
        // service that becomes leader inside its own StartAsync (election disabled) cannot be missed.
        _leadership.StartedLeading += OnStartedLeading;
        _leadership.StoppedLeading += OnStoppedLeading;
        metrics?.ObserveLeadership(() => _leadership.IsLeader);

        // A provider that sees a sandbox die says so; reconciling the owner now turns status Ready=False in about a
        // second instead of at the next health check. Only the leader reconciles, so a follower ignores reports.
        _deathSubscription = deaths?.Subscribe(OnSandboxDied);
    }

    private void OnSandboxDied(Providers.SandboxDeath death)
    {
        if (!_leadership.IsLeader)
        {
            return;
        }

        ObjectKey? key = death is { Namespace: { Length: > 0 } ns, Name: { Length: > 0 } name } ? new ObjectKey(ns, name) : _informer.FindBySandboxId(death.SandboxId);
        if (key is { } owner)
        {
            _logger.SandboxDeathEnqueued(death.Provider, death.SandboxId, owner.Namespace, owner.Name, death.Detail);
            _queue.Add(owner);
        }
    }

    /// <summary>Upper bound on waiting for in-flight reconciles at shutdown before they are cancelled.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(8);

    /// <summary>For <c>/readyz</c>: a leader is ready once its informer has synced; a follower is ready (the HTTP API still serves).</summary>
    public bool IsReady => !_leadership.IsLeader || _informer.HasSynced;

    /// <summary>Completes when the current (or last) term's workers have stopped.</summary>
    internal Task CurrentTermCompletion
    {
        get
        {
            lock (_lock)
            {
                return _term?.Completion ?? _lastTermCompletion;
            }
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_stopped && _informerRun.IsCompleted)
            {
                _informerRun = RunComponentAsync("informer", () => _informer.RunAsync(_informerStop.Token));
            }
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Term? term;
        lock (_lock)
        {
            _stopped = true;
            term = _term;
            _term = null;
        }

        if (term is not null)
        {
            await StopTermAsync(term, cancellationToken).ConfigureAwait(false);
        }

        // Reconciles have stopped: the informer goes last, and with it every subscription to its cache.
        await _informerStop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _informerRun.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Host shutdown deadline.
        }

        _informer.Cache.CompleteSubscriptions();
    }

    private async Task StopTermAsync(Term term, CancellationToken cancellationToken)
    {
        await term.Drain.CancelAsync().ConfigureAwait(false);
        var drained = false;
        try
        {
            var timeout = Task.Delay(DrainTimeout, _timeProvider, cancellationToken);
            drained = await Task.WhenAny(term.Completion, timeout).ConfigureAwait(false) == term.Completion;
        }
        catch (OperationCanceledException)
        {
            // Host shutdown deadline: fall through and abort.
        }

        if (!drained)
        {
            _logger.RuntimeDrainTimedOut(DrainTimeout);
            await term.Abort.CancelAsync().ConfigureAwait(false);
            try
            {
                await term.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Gave up waiting; the reconciles have been told to stop.
            }
        }

        _queue.Clear();
    }

    public void Dispose()
    {
        _informerStop.Cancel();
        _deathSubscription?.Dispose();
        _leadership.StartedLeading -= OnStartedLeading;
        _leadership.StoppedLeading -= OnStoppedLeading;
        lock (_lock)
        {
            _term?.Abort.Cancel();
        }
    }

    private void OnStartedLeading(CancellationToken leadershipToken)
    {
        lock (_lock)
        {
            if (_stopped || leadershipToken.IsCancellationRequested)
            {
                return;
            }

            // A previous term may still be winding down (leadership flapped): the new one waits for it.
            var previous = _term?.Completion ?? _lastTermCompletion;
            _term?.Abort.Cancel();
            var abort = CancellationTokenSource.CreateLinkedTokenSource(leadershipToken);
            var drain = CancellationTokenSource.CreateLinkedTokenSource(abort.Token);
            var term = new Term(++_termCounter, abort, drain);
            term.Completion = Task.Run(() => RunTermAsync(term, previous), CancellationToken.None);
            _term = term;
            _lastTermCompletion = term.Completion;
        }
    }

    private void OnStoppedLeading()
    {
        Term? term;
        lock (_lock)
        {
            term = _term;
            _term = null;
        }

        term?.Abort.Cancel();
        _queue.Clear();
    }

    private async Task RunTermAsync(Term term, Task previous)
    {
        try
        {
            await previous.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.RuntimeComponentFailed(ex, "previous term");
        }

        try
        {
            if (term.Drain.IsCancellationRequested)
            {
                return;
            }

            _queue.Clear();
            _logger.RuntimeTermStarted(term.Id);
            using var intake = _informer.AttachQueue(_queue);
            var components = _controllers.Select(c => RunComponentAsync(c.Name, () => c.RunAsync(term.Drain.Token)))
                .Append(RunComponentAsync("workers", () => _workers.RunAsync(term.Drain.Token, term.Abort.Token)));
            await Task.WhenAll(components).ConfigureAwait(false);
        }
        finally
        {
            // Anything requeued by a reconcile that finished while we were stopping belongs to the next leader.
            _queue.Clear();
            _logger.RuntimeTermStopped(term.Id);

            // The term's token sources are not disposed: late Cancel calls (leadership lost, shutdown) must stay safe.
        }
    }

    private async Task RunComponentAsync(string name, Func<Task> run)
    {
        try
        {
            await Task.Run(run, CancellationToken.None).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
        catch (Exception ex)
        {
            _logger.RuntimeComponentFailed(ex, name);
        }
    }

    private sealed class Term(long id, CancellationTokenSource abort, CancellationTokenSource drain)
    {
        public long Id { get; } = id;

        public CancellationTokenSource Abort { get; } = abort;

        public CancellationTokenSource Drain { get; } = drain;

        public Task Completion { get; set; } = Task.CompletedTask;
    }
}
