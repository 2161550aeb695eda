using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;

namespace Midori.Operator.Controllers;

/// <summary>
/// Deletes remote sandboxes labeled as this installation's whose PreviewSandbox no longer exists (deleted while the
/// operator was down, finalizer removed by hand, a create racing a delete). A controller beside the reconciler: the
/// runtime host runs it in each leadership term (<see cref="ILeaderController"/>), with the fenced providers.
/// Safety: providers are listed before the API server, so any live owner of a listed sandbox is in the later list;
/// sandboxes younger than the grace period are skipped (a create in flight); each candidate is re-read by name before
/// deletion; with a watched namespace only that namespace's sandboxes are considered. Counted in
/// <see cref="MidoriMetrics.Orphan"/> and logged.
/// </summary>
public sealed class OrphanSweepController(
    ISandboxProviderRegistry providers,
    IPreviewSandboxClient client,
    IOptions<OrphanSweepOptions> options,
    IOptions<OperatorOptions> operatorOptions,
    MidoriMetrics metrics,
    TimeProvider time,
    ILogger<OrphanSweepController> logger) : ILeaderController
{
    private readonly ISandboxProviderRegistry _providers = providers;
    private readonly IPreviewSandboxClient _client = client;
    private readonly OrphanSweepOptions _options = options.Value;
    private readonly string? _watchNamespace = string.IsNullOrWhiteSpace(operatorOptions.Value.WatchNamespace) ? null : operatorOptions.Value.WatchNamespace;
    private readonly MidoriMetrics _metrics = metrics;
    private readonly TimeProvider _time = time;
    private readonly ILogger<OrphanSweepController> _logger = logger;
    private readonly ConcurrentDictionary<string, DateTimeOffset> _firstSeen = new(StringComparer.Ordinal);

    public string Name => "orphan sweep";

    /// <summary>First sweep after <see cref="OrphanSweepOptions.InitialDelay"/>, then one per interval, until the term ends.</summary>
    public async Task RunAsync(CancellationToken term)
    {
        if (!_options.Enabled)
        {
            _logger.SweepDisabled();
            return;
        }

        try
        {
            await Task.Delay(_options.InitialDelay, _time, term).ConfigureAwait(false);
            using var timer = new PeriodicTimer(_options.Interval, _time);
            do
            {
                try
                {
                    await SweepOnceAsync(term).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    _logger.SweepFailed(ex);
                }
            }
            while (await timer.WaitForNextTickAsync(term).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // The term ended: leadership lost or host stopping.
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
                if (sandbox.OwnerUid is null || Label(sandbox, SandboxLabels.Pool) is not null
                    || (_watchNamespace is not null && Label(sandbox, SandboxLabels.Namespace) != _watchNamespace))
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
                var ns = Label(sandbox, SandboxLabels.Namespace);
                var name = Label(sandbox, SandboxLabels.Name);
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
        if (Label(sandbox, SandboxLabels.Namespace) is not { Length: > 0 } ns || Label(sandbox, SandboxLabels.Name) is not { Length: > 0 } name)
        {
            return false;
        }

        var current = await _client.GetAsync(ns, name, cancellationToken).ConfigureAwait(false);
        return current?.Metadata.Uid == sandbox.OwnerUid;
    }

    private static string? Label(SandboxInfo sandbox, string key) =>
        sandbox.Labels is not null && sandbox.Labels.TryGetValue(key, out var value) ? value : null;
}

public sealed record OrphanSweepResult(int Listed, int Young, int Orphans, int Deleted);
