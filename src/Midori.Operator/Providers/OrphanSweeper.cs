using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;
using Midori.Operator.Runtime;

namespace Midori.Operator.Providers;

/// <summary>
/// Deletes remote sandboxes labeled as this installation's whose PreviewSandbox no longer exists (deleted while the
/// operator was down, finalizer removed by hand, a create racing a delete). Runs only while this replica leads.
/// Safety: providers are listed before the API server, so any live owner of a listed sandbox is in the later list;
/// sandboxes younger than the grace period are skipped (a create in flight); each candidate is re-read by name before
/// deletion; with a watched namespace only that namespace's sandboxes are considered. Counted in
/// <see cref="MidoriMetrics.Orphan"/> and logged.
/// </summary>
public sealed class OrphanSweeper : IHostedService, IDisposable
{
    private readonly ILeadership _leadership;
    private readonly ISandboxProviderRegistry _providers;
    private readonly IPreviewSandboxClient _client;
    private readonly OrphanSweepOptions _options;
    private readonly string? _watchNamespace;
    private readonly MidoriMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<OrphanSweeper> _logger;
    private readonly ConcurrentDictionary<string, DateTimeOffset> _firstSeen = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private CancellationTokenSource? _term;
    private Task _loop = Task.CompletedTask;

    public OrphanSweeper(
        ILeadership leadership,
        ISandboxProviderRegistry providers,
        IPreviewSandboxClient client,
        IOptions<OrphanSweepOptions> options,
        IOptions<OperatorOptions> operatorOptions,
        MidoriMetrics metrics,
        TimeProvider time,
        ILogger<OrphanSweeper> logger)
    {
        _leadership = leadership;
        _providers = providers;
        _client = client;
        _options = options.Value;
        _watchNamespace = string.IsNullOrWhiteSpace(operatorOptions.Value.WatchNamespace) ? null : operatorOptions.Value.WatchNamespace;
        _metrics = metrics;
        _time = time;
        _logger = logger;

        // Subscribed at construction like the runtime host: a leadership service that leads from its own StartAsync is not missed.
        _leadership.StartedLeading += OnStartedLeading;
        _leadership.StoppedLeading += OnStoppedLeading;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            _logger.SweepDisabled();
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Task loop;
        lock (_lock)
        {
            _term?.Cancel();
            loop = _loop;
        }

        await loop.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _leadership.StartedLeading -= OnStartedLeading;
        _leadership.StoppedLeading -= OnStoppedLeading;
        lock (_lock)
        {
            _term?.Cancel();
            _term?.Dispose();
            _term = null;
        }
    }

    /// <summary>One sweep over every registered provider.</summary>
    public async Task<OrphanSweepResult> SweepOnceAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var candidates = new List<(ISandboxProvider Provider, SandboxInfo Sandbox)>();
        int listed = 0, young = 0;
        foreach (var provider in _providers.All)
        {
            IReadOnlyList<SandboxInfo> sandboxes;
            try
            {
                sandboxes = await provider.ListAsync(null, cancellationToken).ConfigureAwait(false);
            }
            catch (SandboxProviderException ex)
            {
                _logger.SweepListFailed(provider.Name, ex.Message);
                continue;
            }

            foreach (var sandbox in sandboxes)
            {
                // Warm-pool sandboxes are owned by their pool, not by a PreviewSandbox: the pool controller sweeps those.
                if (sandbox.OwnerUid is null || Label(sandbox, Api.V1Alpha1.PoolGroupVersion.PoolLabel) is not null
                    || (_watchNamespace is not null && Label(sandbox, ProviderLabels.Namespace) != _watchNamespace))
                {
                    continue;
                }

                listed++;
                var key = provider.Name + "/" + sandbox.Id;
                seen.Add(key);
                var born = sandbox.CreatedAt ?? _firstSeen.GetOrAdd(key, now); // no creation time: age counts from first sight
                if (now - born < _options.GracePeriod)
                {
                    young++;
                    continue;
                }

                candidates.Add((provider, sandbox));
            }
        }

        foreach (var key in _firstSeen.Keys.Where(k => !seen.Contains(k)))
        {
            _firstSeen.TryRemove(key, out _);
        }

        int orphans = 0, deleted = 0;
        if (candidates.Count > 0)
        {
            var owners = await LiveOwnerUidsAsync(cancellationToken).ConfigureAwait(false);
            foreach (var (provider, sandbox) in candidates)
            {
                if (owners.Contains(sandbox.OwnerUid!) || await OwnerStillExistsAsync(sandbox, cancellationToken).ConfigureAwait(false))
                {
                    continue;
                }

                orphans++;
                var ns = Label(sandbox, ProviderLabels.Namespace);
                var name = Label(sandbox, ProviderLabels.Name);
                if (_options.DryRun)
                {
                    _logger.OrphanDryRun(provider.Name, sandbox.Id, ns, name, sandbox.OwnerUid!);
                    _metrics.Orphan(provider.Name, deleted: false);
                    continue;
                }

                try
                {
                    await provider.DeleteAsync(sandbox.Id, cancellationToken).ConfigureAwait(false);
                    deleted++;
                    _logger.OrphanDeleted(provider.Name, sandbox.Id, ns, name, sandbox.OwnerUid!);
                    _metrics.Orphan(provider.Name, deleted: true);
                }
                catch (SandboxProviderException ex)
                {
                    _logger.OrphanDeleteFailed(provider.Name, sandbox.Id, ex.Message);
                }
            }
        }

        _logger.SweepCompleted(listed, young, orphans, deleted, _options.DryRun);
        return new OrphanSweepResult(listed, young, orphans, deleted);
    }

    private async Task<HashSet<string>> LiveOwnerUidsAsync(CancellationToken cancellationToken)
    {
        var uids = new HashSet<string>(StringComparer.Ordinal);
        string? continueToken = null;
        do
        {
            var page = await _client.ListAsync(_watchNamespace, continueToken, cancellationToken).ConfigureAwait(false);
            foreach (var item in page.Items)
            {
                if (item.Metadata.Uid is { } uid)
                {
                    uids.Add(uid);
                }
            }

            continueToken = page.Continue;
        }
        while (!string.IsNullOrEmpty(continueToken));

        return uids;
    }

    /// <summary>A second, direct read: the owner may have been created after the list was taken.</summary>
    private async Task<bool> OwnerStillExistsAsync(SandboxInfo sandbox, CancellationToken cancellationToken)
    {
        if (Label(sandbox, ProviderLabels.Namespace) is not { Length: > 0 } ns || Label(sandbox, ProviderLabels.Name) is not { Length: > 0 } name)
        {
            return false;
        }

        var current = await _client.GetAsync(ns, name, cancellationToken).ConfigureAwait(false);
        return current?.Metadata.Uid == sandbox.OwnerUid;
    }

    private static string? Label(SandboxInfo sandbox, string key) =>
        sandbox.Labels is not null && sandbox.Labels.TryGetValue(key, out var value) ? value : null;

    private void OnStartedLeading(CancellationToken leadershipToken)
    {
        if (!_options.Enabled)
        {
            return;
        }

        lock (_lock)
        {
            _term?.Cancel();
            _term?.Dispose();
            _term = CancellationTokenSource.CreateLinkedTokenSource(leadershipToken);
            var token = _term.Token;
            var previous = _loop;
            _loop = Task.Run(async () =>
            {
                await previous.ConfigureAwait(false);
                await RunAsync(token).ConfigureAwait(false);
            }, CancellationToken.None);
        }
    }

    private void OnStoppedLeading()
    {
        lock (_lock)
        {
            _term?.Cancel();
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(_options.InitialDelay, _time, cancellationToken).ConfigureAwait(false);
            using var timer = new PeriodicTimer(_options.Interval, _time);
            do
            {
                try
                {
                    await SweepOnceAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    _logger.SweepFailed(ex);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // Leadership lost or host stopping.
        }
    }
}

public sealed record OrphanSweepResult(int Listed, int Young, int Orphans, int Deleted);
