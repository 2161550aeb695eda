using System.Diagnostics;
using System.Text.Json;
using k8s;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;
using Conditions = Midori.Operator.Api.V1Alpha1.PreviewSandboxConditions;
using Reasons = Midori.Operator.Api.V1Alpha1.PreviewSandboxConditions.Reasons;

namespace Midori.Operator.Controllers;

/// <summary>
/// Level-based reconciler for PreviewSandbox: reads the object (from the informer's store when there is one, else a
/// GET; writes are guarded by resourceVersion or computed against our own last write), handles deletion and the finalizer, gathers the
/// provider's view once, lets <see cref="SandboxPolicies"/> decide, performs that one action, and publishes status
/// only when it changed. Every timer is a RequeueAfter computed from durable anchors in status.
/// </summary>
internal sealed class PreviewSandboxReconciler(
    IPreviewSandboxClient client,
    ISandboxProviderRegistry providers,
    SandboxSourceResolver sources,
    IPreviewProbe probe,
    IEventRecorder events,
    TimeProvider time,
    IOptions<OperatorOptions> options,
    ILogger<PreviewSandboxReconciler> logger,
    IEnumerable<ISandboxLifecycleObserver>? observers = null,
    IActivityStore? activityStore = null,
    IProviderHealth? providerHealth = null,
    IPreviewAddress? addresses = null,
    NamespacePolicyGate? policyGate = null,
    IPreviewSandboxLookup? lookup = null) : IReconciler
{
    public const string TokenSecretKey = "token";

    /// <summary>Upper bound of policy→action steps in one pass (e.g. begin recreation, then create).</summary>
    private const int MaxStepsPerPass = 4;

    /// <summary>While a provider reports itself unavailable, creation waits this long after the report before one more try.</summary>
    internal static readonly TimeSpan ProviderRecheckInterval = TimeSpan.FromSeconds(30);

    /// <summary>Never requeue sooner than this: a delay ≤ 0 would spin while caches catch up (cert-manager).</summary>
    private static readonly TimeSpan MinRequeue = TimeSpan.FromMilliseconds(50);

    private readonly OperatorOptions _options = options.Value;
    private readonly ISandboxLifecycleObserver _observer = observers?.ToList() switch
    {
        null or [] => NullSandboxLifecycleObserver.Instance,
        [var single] => single,
        var many => new CompositeSandboxLifecycleObserver(many),
    };

    public static string TokenSecretName(string resourceName) => $"{resourceName}-preview-token";

    public async Task<ReconcileResult> ReconcileAsync(ObjectKey key, CancellationToken cancellationToken)
    {
        // The informer stored the object before it enqueued the key, and our own writes are written through: no GET.
        var resource = lookup?.TryGet(key, out var stored) == true ? stored : await client.GetAsync(key.Namespace, key.Name, cancellationToken);
        if (resource is null)
        {
            return ReconcileResult.Done();
        }

        using var scope = logger.BeginScope(new Dictionary<string, object?>
        {
            ["Namespace"] = key.Namespace,
            ["Name"] = key.Name,
            ["Uid"] = resource.Metadata.Uid,
            ["Generation"] = resource.Metadata.Generation,
        });

        var providerName = resource.Status?.Provider ?? resource.Spec.Provider ?? providers.DefaultProvider;
        providers.TryGet(providerName, out var provider);

        if (resource.Metadata.DeletionTimestamp is not null)
        {
            return await FinalizeAsync(resource, provider, cancellationToken);
        }

        resource = await EnsureFinalizerAsync(resource, cancellationToken);
        var pass = new ReconcilePass(resource, provider, providerName, time);
        if (pass.Status.Phase is null)
        {
            // First sight: kubectl get shows PHASE Pending at once instead of an empty cell until the sandbox is up.
            pass.SetPhase(Phases.Pending);
            await PublishStatusAsync(pass, cancellationToken);
        }

        if (policyGate is not null && await EnforcePolicyAsync(pass, provider, providerName, cancellationToken) is { } refused)
        {
            return refused;
        }

        if (provider is null)
        {
            logger.UnknownProvider(providerName);
            pass.SetPhase(Phases.Pending);
            pass.SetConditions(ready: false, Reasons.ProviderError, $"Provider '{providerName}' is not configured in this operator", progressing: false,
                degraded: $"Provider '{providerName}' is not configured in this operator");
            pass.SetProviderAvailable(new ProviderHealthState(false, Reasons.ProviderNotConfigured, $"Provider '{providerName}' is not configured in this operator", default));
            await PublishStatusAsync(pass, cancellationToken);
            return ReconcileResult.After(_options.ResyncInterval);
        }

        var result = await RunStepsAsync(pass, provider, cancellationToken);
        pass.SetProviderAvailable(providerHealth?.Get(provider.Name)); // read after the steps: they may have just changed it
        ReportInvalidHeartbeat(pass, resource);
        await PublishStatusAsync(pass, cancellationToken);
        return result;
    }

    private async Task<ReconcileResult> RunStepsAsync(ReconcilePass pass, ISandboxProvider provider, CancellationToken cancellationToken)
    {
        var settings = new PolicySettings(_options.ProbeFailureThreshold, _options.MaxBackoff, _options.Retention());
        var observeRemote = true;
        for (var step = 0; step < MaxStepsPerPass; step++)
        {
            var snapshot = await GatherAsync(pass, provider, observeRemote, cancellationToken);
            observeRemote = false;
            var verdict = SandboxPolicies.Evaluate(snapshot, settings);
            logger.Decided(verdict.Action.ToString(), verdict.Reason);

            var outcome = verdict.Action switch
            {
                SandboxAction.Wait => Wait(pass, snapshot, verdict),
                SandboxAction.Create => WaitForProvider(pass, provider, snapshot.Now) ?? await CreateAsync(pass, provider, snapshot, cancellationToken),
                SandboxAction.Recreate => BeginRecreation(pass, snapshot, verdict),
                SandboxAction.Restart => Restart(pass),
                SandboxAction.Expire => await RemoveAsync(pass, provider, snapshot, verdict, Phases.Expired, cancellationToken),
                SandboxAction.Suspend => await RemoveAsync(pass, provider, snapshot, verdict, Phases.Stopped, cancellationToken),
                SandboxAction.Fail => await FailAsync(pass, provider, verdict, cancellationToken),
                SandboxAction.KeepRunning => await KeepRunningAsync(pass, provider, snapshot, cancellationToken),
                SandboxAction.Delete => await DeleteForRetentionAsync(pass, verdict, cancellationToken),
                _ => throw new UnreachableException(verdict.Action.ToString()),
            };

            if (outcome is { } result)
            {
                return result;
            }
        }

        return ReconcileResult.After(MinRequeue);
    }

    // ---- gather -------------------------------------------------------------------------------------------------

    private async Task<SandboxSnapshot> GatherAsync(ReconcilePass pass, ISandboxProvider provider, bool observeRemote, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var resource = pass.Current;
        var remote = RemoteObservation.NotChecked;
        bool? probeHealthy = null;
        var status = pass.Status;
        if (observeRemote && status.SandboxId is { } sandboxId && status.Phase == Phases.Running)
        {
            try
            {
                remote = RemoteObservations.From(await provider.GetAsync(sandboxId, cancellationToken));
            }
            catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
            {
                logger.ProviderUnavailable(provider.Name, sandboxId, ex.Message);
                remote = RemoteObservation.Unknown;
            }

            if (remote == RemoteObservation.Running && Uri.TryCreate(status.SandboxUrl ?? status.PreviewUrl, UriKind.Absolute, out var url))
            {
                probeHealthy = await probe.IsHealthyAsync(url, pass.Token, cancellationToken);
            }
        }

        // The API records every heartbeat in the store but writes the annotation only now and then: read it once per
        // pass, before any decision that could remove the sandbox for idleness.
        if (observeRemote)
        {
            pass.StoredActivity = await ReadStoredActivityAsync(resource, cancellationToken);
        }

        // Decide on the working status (earlier steps of this pass may have changed it), not the stored one.
        var view = new V1Alpha1PreviewSandbox { ApiVersion = resource.ApiVersion, Kind = resource.Kind, Metadata = resource.Metadata, Spec = resource.Spec, Status = status };
        return new SandboxSnapshot(view, now, remote, probeHealthy, LastActivity(resource, status, now, pass.StoredActivity));
    }

    private async Task<DateTimeOffset?> ReadStoredActivityAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        if (activityStore is null)
        {
            return null;
        }

        try
        {
            return await activityStore.GetLastActivityAsync(new PreviewKey(resource.Metadata.NamespaceProperty, resource.Metadata.Name), cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Without the store the annotation (written every idle/4 by the API) still bounds how stale activity can be.
            logger.ActivityReadFailed(ex.Message);
            return null;
        }
    }

    /// <summary>Freshest activity: the store, the heartbeat annotation or what status already recorded; never in the future.</summary>
    private DateTimeOffset? LastActivity(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, DateTimeOffset now, DateTimeOffset? stored)
    {
        DateTimeOffset? activity = status.LastActivityTime is { } recorded ? SandboxSnapshot.ToOffset(recorded) : null;
        if (stored is { } fromStore)
        {
            fromStore = fromStore > now ? now : fromStore;
            activity = activity is { } a && a >= fromStore ? a : fromStore;
        }

        if (resource.Metadata.Annotations?.TryGetValue(GroupVersion.HeartbeatAnnotation, out var raw) == true && raw is not null)
        {
            if (SandboxSnapshot.TryParseHeartbeat(raw, out var heartbeat))
            {
                heartbeat = heartbeat > now ? now : heartbeat;
                activity = activity is { } a && a >= heartbeat ? a : heartbeat;
            }
            else
            {
                logger.InvalidHeartbeat(raw.Length);
            }
        }

        return activity;
    }

    /// <summary>
    /// A heartbeat value that is not a time is ignored; say so on the resource, where its sender looks: in the Ready
    /// message (kept while the value stays) and once as a Warning Event (the published message is the memory).
    /// </summary>
    private void ReportInvalidHeartbeat(ReconcilePass pass, V1Alpha1PreviewSandbox before)
    {
        if (pass.Current.Metadata.Annotations?.TryGetValue(GroupVersion.HeartbeatAnnotation, out var raw) != true || raw is null
            || SandboxSnapshot.TryParseHeartbeat(raw, out _) || ConditionSet.Find(pass.Status.Conditions, Conditions.Ready) is not { } ready)
        {
            return;
        }

        var shown = raw.Length > 64 ? raw[..64] + "…" : raw;
        var note = $"Ignored {GroupVersion.HeartbeatAnnotation}=\"{shown}\": not an RFC 3339 time (e.g. 2026-11-23T10:00:00Z)";
        if (ready.Message?.Contains(note, StringComparison.Ordinal) != true)
        {
            ready.Message = string.IsNullOrEmpty(ready.Message) ? note : $"{ready.Message}. {note}";
        }

        if (ConditionSet.Find(before.Status?.Conditions, Conditions.Ready)?.Message?.Contains(note, StringComparison.Ordinal) != true)
        {
            events.Warning(pass.Current, EventReasons.InvalidHeartbeat, note);
        }
    }

    // ---- act ----------------------------------------------------------------------------------------------------

    private ReconcileResult? Wait(ReconcilePass pass, SandboxSnapshot snapshot, PolicyVerdict verdict)
    {
        var phase = verdict.Reason switch
        {
            Reasons.Suspended => Phases.Stopped,
            _ => pass.Status.Phase ?? Phases.Pending,
        };
        pass.SetPhase(phase);
        var backingOff = verdict.Reason == Reasons.BackingOff;
        pass.SetConditions(ready: false, verdict.Reason, verdict.Message, progressing: backingOff,
            degraded: phase == Phases.Failed || backingOff ? snapshot.LastError ?? verdict.Message : null);
        pass.Status.ObservedGeneration = pass.Generation;

        return verdict.NotBefore is { } due
            ? ReconcileResult.After(Clamp(Min(due - snapshot.Now, _options.ResyncInterval)))
            : ReconcileResult.After(_options.ResyncInterval);
    }

    /// <summary>
    /// Holds creation while the provider reports itself unavailable (open circuit, missing or rejected credentials):
    /// no attempt is spent and nothing hammers the API. One attempt goes through every <see cref="ProviderRecheckInterval"/>
    /// after the report, which is also what lets a half-open circuit close again.
    /// </summary>
    private ReconcileResult? WaitForProvider(ReconcilePass pass, ISandboxProvider provider, DateTimeOffset now)
    {
        if (providerHealth?.Get(provider.Name) is not { Available: false } health || now >= health.Since + ProviderRecheckInterval)
        {
            return null;
        }

        var recreating = pass.Status.Phase == Phases.Recreating;
        pass.SetPhase(recreating ? Phases.Recreating : Phases.Pending);
        pass.SetConditions(ready: false, Reasons.ProviderUnavailable, $"Waiting for provider {provider.Name}: {health.Message}", progressing: false,
            degraded: health.Message);
        pass.Status.ObservedGeneration = pass.Generation;
        return ReconcileResult.After(Clamp(Min(health.Since + ProviderRecheckInterval - now, _options.MaxBackoff)));
    }

    /// <summary>Next run of a preview that just ended: its retention deadline (when it has one), capped by the resync.</summary>
    private TimeSpan UntilRetention(ReconcilePass pass, DateTimeOffset now) =>
        SandboxRetention.DeleteAt(pass.Current, pass.Status.Phase, pass.Status.EndedAt is { } ended ? SandboxSnapshot.ToOffset(ended) : null, _options.Retention()) is { } due
            ? Clamp(Min(due - now, _options.ResyncInterval))
            : _options.ResyncInterval;

    /// <summary>
    /// Retention elapsed: delete the resource, guarded by the UID and resourceVersion this decision was made on (a
    /// heartbeat or spec change racing it wins: the delete conflicts and the next pass decides again). The finalizer
    /// then removes any sandbox; history stays in the store.
    /// </summary>
    private async Task<ReconcileResult?> DeleteForRetentionAsync(ReconcilePass pass, PolicyVerdict verdict, CancellationToken cancellationToken)
    {
        logger.RetentionDeleting(pass.Status.Phase ?? Phases.Pending, verdict.Message);
        if (await client.DeleteIfUnchangedAsync(pass.Current, cancellationToken))
        {
            events.Normal(pass.Current, SandboxRetention.Reason, verdict.Message);
        }

        return ReconcileResult.Done();
    }

    private ReconcileResult? Restart(ReconcilePass pass)
    {
        pass.Status.FailedAttempts = null;
        pass.Status.LastFailureTime = null;
        pass.SetPhase(Phases.Pending);
        return null;
    }

    private ReconcileResult? BeginRecreation(ReconcilePass pass, SandboxSnapshot snapshot, PolicyVerdict verdict)
    {
        var status = pass.Status;
        var reason = verdict.RecreationReason ?? RecreationReasons.Manual;
        if (reason == RecreationReasons.Error)
        {
            status.FailedAttempts = (status.FailedAttempts ?? 0) + 1;
            status.LastFailureTime = snapshot.Now.UtcDateTime;
        }
        else
        {
            // A wake-up or an explicit request is a fresh start, not another failure.
            status.FailedAttempts = null;
            status.LastFailureTime = null;
        }

        if (snapshot.RecreateRequest is { } request)
        {
            status.ObservedRecreateRequest = request;
        }

        status.LastRecreation = new RecreationRecord
        {
            Reason = reason,
            Time = snapshot.Now.UtcDateTime,
            OldSandboxId = status.SandboxId,
        };
        status.ProbeFailures = null;
        pass.SetPhase(Phases.Recreating);
        pass.SetConditions(ready: false, Reasons.Recreating, verdict.Message, progressing: true,
            degraded: reason == RecreationReasons.Error ? verdict.Message : null);
        logger.RecreationStarted(reason, status.SandboxId);
        events.Normal(pass.Current, EventReasons.Recreating, $"Recreating sandbox ({reason}): {verdict.Message}");
        _observer.RecreationStarted(pass.Current, reason, status.SandboxId);
        return null;
    }

    private async Task<ReconcileResult?> CreateAsync(ReconcilePass pass, ISandboxProvider provider, SandboxSnapshot snapshot, CancellationToken cancellationToken)
    {
        var status = pass.Status;
        var resource = pass.Current;
        var recreating = status.Phase == Phases.Recreating && status.LastRecreation is { NewSandboxId: null };

        ResolvedFiles files;
        try
        {
            files = await sources.ResolveAsync(resource, cancellationToken);
        }
        catch (SourceResolutionException ex)
        {
            logger.SourceFailed(ex.Message);
            events.Warning(resource, EventReasons.SourceError, ex.Message);
            pass.SetPhase(recreating ? Phases.Recreating : Phases.Pending);
            pass.SetConditions(ready: false, Reasons.SourceError, ex.Message, progressing: false, degraded: ex.Message);
            pass.Status.ObservedGeneration = pass.Generation;
            return ReconcileResult.After(Clamp(Min(_options.MaxBackoff, TimeSpan.FromSeconds(30))));
        }

        // Progress (phase Creating/Recreating) is published only when provisioning is slow enough for anyone to see it,
        // which saves a status write per sandbox on fast providers. A crash from here on is healed by the owner-UID lookup.
        status.Provider = provider.Name;
        pass.SetPhase(recreating ? Phases.Recreating : Phases.Creating);
        pass.SetConditions(ready: false, recreating ? Reasons.Recreating : Reasons.Provisioning,
            recreating ? "Recreating the sandbox" : "Creating the sandbox", progressing: true, degraded: snapshot.LastError);
        _observer.Provisioning(resource, recreating);

        var stopwatch = time.GetTimestamp();
        var attempt = new ProvisioningAttempt();
        try
        {
            var work = ProvisionAsync(provider, resource, recreating ? status.LastRecreation?.OldSandboxId : null, files, attempt, cancellationToken);
            using (var progressDelay = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                var delay = Task.Delay(_options.ProgressReportDelay, time, progressDelay.Token);
                if (await Task.WhenAny(work, delay) != work)
                {
                    await PublishStatusAsync(pass, cancellationToken);
                }

                await progressDelay.CancelAsync();
            }

            var (info, endpoint) = await work;
            var sandboxId = info.Id;
            var secretName = TokenSecretName(resource.Metadata.Name);
            var now = time.GetUtcNow();
            var ttlEnd = now.AddSeconds(resource.Spec.EffectiveTtlSeconds());
            var providerEnd = info.EndAt;
            var activity = snapshot.LastActivity is { } a && a > now ? a : now;

            status.SandboxId = sandboxId;
            status.SandboxUrl = endpoint.Url.ToString();
            status.TokenSecretRef = new SecretKeyReference { Name = secretName, Key = TokenSecretKey };
            status.StartedAt = now.UtcDateTime;
            status.ExpiresAt = (providerEnd is { } end && end < ttlEnd ? end : ttlEnd).UtcDateTime;
            status.LastActivityTime = activity.UtcDateTime;
            status.IdleDeadline = activity.AddSeconds(resource.Spec.EffectiveIdleTimeoutSeconds()).UtcDateTime;
            status.EndedAt = null;
            status.HeartbeatAtExpiry = null;
            status.ProbeFailures = null;
            status.FilesHash = files.Hash;
            status.FilesRevision = files.Revision;
            await sources.MarkPushedAsync(resource, sandboxId, files, cancellationToken);
            if (snapshot.RecreateRequest is { } request)
            {
                status.ObservedRecreateRequest = request;
            }

            pass.Token = endpoint.Token;
            var elapsed = time.GetElapsedTime(stopwatch);
            logger.CreatedSandbox(provider.Name, sandboxId, (long)elapsed.TotalMilliseconds, files.Files.Count);
            if (recreating && status.LastRecreation is { } record)
            {
                record.NewSandboxId = sandboxId;
                status.Recreations = (status.Recreations ?? 0) + 1;
                events.Normal(resource, EventReasons.Recreated, $"Recreated sandbox {sandboxId} ({record.Reason}), replacing {record.OldSandboxId ?? "none"}");
                _observer.RecreationCompleted(resource, record, success: true, error: null, elapsed);
            }
            else
            {
                events.Normal(resource, EventReasons.Created, $"Created sandbox {sandboxId} with provider {provider.Name}");
            }

            pass.SetPhase(Phases.Running);
            pass.SetConditions(ready: true, Reasons.SandboxReady, $"Preview is serving at {status.SandboxUrl}", progressing: false,
                degraded: null, filesInSync: true);
            pass.Status.ObservedGeneration = pass.Generation;
            _observer.Ready(resource, status, recreating, elapsed);
            return Schedule(pass, now);
        }
        catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException or k8s.Autorest.HttpOperationException)
        {
            var now = time.GetUtcNow();
            status.SandboxId = attempt.SandboxId ?? (recreating ? null : status.SandboxId);
            if (ex is SandboxProviderException && providerHealth?.Get(provider.Name) is { Available: false } outage)
            {
                // The provider as a whole is down, not this sandbox: no attempt is counted (an outage must not exhaust maxAttempts).
                logger.ProvisioningFailed(provider.Name, status.FailedAttempts ?? 0, ex.Message, null);
                pass.SetPhase(recreating ? Phases.Recreating : Phases.Pending);
                pass.SetConditions(ready: false, Reasons.ProviderUnavailable, $"{provider.Name}: {ex.Message}", progressing: false, degraded: outage.Message);
                pass.Status.ObservedGeneration = pass.Generation;
                return ReconcileResult.After(Clamp(Min(ProviderRecheckInterval, _options.MaxBackoff)));
            }

            status.FailedAttempts = (status.FailedAttempts ?? 0) + 1;
            status.LastFailureTime = now.UtcDateTime;
            var message = $"{provider.Name}: {ex.Message}";
            logger.ProvisioningFailed(provider.Name, status.FailedAttempts.Value, ex.Message, ex is SandboxProviderException ? null : ex);
            events.Warning(resource, EventReasons.ProviderError, message);
            if (recreating && status.LastRecreation is { } record)
            {
                _observer.RecreationCompleted(resource, record, success: false, error: message, time.GetElapsedTime(stopwatch));
            }

            pass.SetConditions(ready: false, (ex as SandboxProviderException)?.Reason ?? Reasons.ProviderError, message, progressing: true, degraded: message);
            pass.Status.ObservedGeneration = pass.Generation;
            var retryIn = SandboxPolicies.Backoff(status.FailedAttempts.Value, resource.Spec.EffectiveRecreate().EffectiveCooldownSeconds(), _options.MaxBackoff);
            return ReconcileResult.After(Clamp(retryIn < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : retryIn));
        }
    }

    /// <summary>The provider side of a (re)creation; touches no reconcile state so progress can be published meanwhile.</summary>
    private async Task<(SandboxInfo Info, PreviewEndpoint Endpoint)> ProvisionAsync(ISandboxProvider provider,
        V1Alpha1PreviewSandbox resource, string? replacedSandboxId, ResolvedFiles files, ProvisioningAttempt attempt, CancellationToken cancellationToken)
    {
        var uid = resource.Metadata.Uid ?? throw new InvalidOperationException("PreviewSandbox has no metadata.uid");
        if (replacedSandboxId is not null)
        {
            await provider.DeleteAsync(replacedSandboxId, cancellationToken);
            logger.DeletedSandbox(provider.Name, replacedSandboxId, "replaced");
        }

        _observer.Progress(resource, ProvisioningStages.Creating, 10);
        var info = await AdoptOrCreateAsync(provider, resource, uid, cancellationToken);
        attempt.SandboxId = info.Id;
        _observer.Progress(resource, ProvisioningStages.Transferring, 40);
        await provider.UploadFilesAsync(info.Id, files.Files, cancellationToken);
        _observer.Progress(resource, ProvisioningStages.Updating, 70);
        await provider.StartAsync(info.Id, StartRequest(resource.Spec), cancellationToken);
        var endpoint = await provider.GetPreviewAsync(info.Id, resource.Spec.EffectivePort(), cancellationToken);
        await WriteTokenSecretAsync(resource, endpoint.Token, cancellationToken);
        _observer.Progress(resource, ProvisioningStages.Complete, 100);
        return (info, endpoint);
    }

    /// <summary>The token Secret: replaced in one request when the status says we wrote it before (a wake-up, a recreation), else applied.</summary>
    private Task WriteTokenSecretAsync(V1Alpha1PreviewSandbox resource, string? token, CancellationToken cancellationToken)
    {
        var secretName = TokenSecretName(resource.Metadata.Name);
        return resource.Status?.TokenSecretRef?.Name == secretName
            ? client.UpdateTokenSecretAsync(resource, secretName, TokenSecretKey, token ?? string.Empty, cancellationToken)
            : client.ApplyTokenSecretAsync(resource, secretName, TokenSecretKey, token ?? string.Empty, cancellationToken);
    }

    /// <summary>What a failed attempt got as far as creating, so the next attempt can adopt or clean it up.</summary>
    private sealed class ProvisioningAttempt
    {
        public string? SandboxId { get; set; }
    }

    /// <summary>Idempotent create: a sandbox already labeled with this UID (from a crash mid-create) is reused.</summary>
    private async Task<SandboxInfo> AdoptOrCreateAsync(ISandboxProvider provider, V1Alpha1PreviewSandbox resource, string uid, CancellationToken cancellationToken)
    {
        SandboxInfo? adopted = null;
        foreach (var existing in await provider.ListAsync(uid, cancellationToken))
        {
            if (adopted is null && existing.State is SandboxState.Running or SandboxState.Pending)
            {
                adopted = existing;
                logger.AdoptedSandbox(existing.Id);
                continue;
            }

            await provider.DeleteAsync(existing.Id, cancellationToken);
            logger.DeletedSandbox(provider.Name, existing.Id, "stale duplicate for this PreviewSandbox");
        }

        if (adopted is not null)
        {
            return adopted;
        }

        var spec = resource.Spec;
        var labels = new Dictionary<string, string>
        {
            [GroupVersion.OwnerUidLabel] = uid,
            ["preview.midori.dev/namespace"] = resource.Metadata.NamespaceProperty,
            ["preview.midori.dev/name"] = resource.Metadata.Name,
            ["preview.midori.dev/project"] = spec.ProjectId,
        };
        return await provider.CreateAsync(
            new SandboxCreateRequest(uid, resource.Metadata.NamespaceProperty, resource.Metadata.Name, spec.ProjectId, spec.Template,
                spec.EffectivePort(), TimeSpan.FromSeconds(spec.EffectiveTtlSeconds()), TimeSpan.FromSeconds(spec.EffectiveIdleTimeoutSeconds()), labels,
                resource.Status?.Recreations ?? 0),
            cancellationToken);
    }

    private async Task<ReconcileResult?> RemoveAsync(ReconcilePass pass, ISandboxProvider provider, SandboxSnapshot snapshot, PolicyVerdict verdict,
        string phase, CancellationToken cancellationToken)
    {
        var status = pass.Status;
        if (await TryDeleteCurrentSandboxAsync(pass, provider, verdict.Reason, cancellationToken) is { } error)
        {
            pass.SetConditions(ready: pass.IsReady, verdict.Reason, $"Could not remove the sandbox yet: {error}", progressing: true, degraded: error);
            return ReconcileResult.After(TimeSpan.FromSeconds(5));
        }

        if (phase == Phases.Expired)
        {
            var deadline = verdict.Reason == Reasons.TtlExpired ? snapshot.ExpiresAt : snapshot.IdleDeadline;
            var lateness = deadline is { } d ? (long)(snapshot.Now - d).TotalMilliseconds : 0;
            logger.Expired(verdict.Reason, lateness);
            _observer.Expired(pass.Current, verdict.Reason, snapshot.Now - (deadline ?? snapshot.Now));
            events.Normal(pass.Current, EventReasons.Expired, verdict.Message);
        }
        else
        {
            events.Normal(pass.Current, EventReasons.Suspended, verdict.Message);
        }

        status.EndedAt = snapshot.Now.UtcDateTime;
        status.HeartbeatAtExpiry = phase == Phases.Expired ? snapshot.Heartbeat ?? string.Empty : null;
        status.SandboxUrl = null;
        status.IdleDeadline = null;
        status.ProbeFailures = null;
        pass.SetPhase(phase);
        pass.SetConditions(ready: false, verdict.Reason, verdict.Message, progressing: false, degraded: null);
        pass.Status.ObservedGeneration = pass.Generation;
        _observer.Ended(pass.Current, phase, verdict.Reason);
        return ReconcileResult.After(UntilRetention(pass, snapshot.Now));
    }

    /// <summary>Deletes the sandbox the status says exists; null on success (or nothing to delete), else the error.</summary>
    private async Task<string?> TryDeleteCurrentSandboxAsync(ReconcilePass pass, ISandboxProvider provider, string reason, CancellationToken cancellationToken)
    {
        var status = pass.Status;
        if (status.SandboxId is not { } sandboxId || status.Phase is not (Phases.Running or Phases.Creating or Phases.Recreating))
        {
            return null;
        }

        try
        {
            await provider.DeleteAsync(sandboxId, cancellationToken);
            logger.DeletedSandbox(provider.Name, sandboxId, reason);
            return null;
        }
        catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
        {
            logger.DeleteFailed(provider.Name, sandboxId, ex.Message);
            return ex.Message;
        }
    }

    private async Task<ReconcileResult?> FailAsync(ReconcilePass pass, ISandboxProvider provider, PolicyVerdict verdict, CancellationToken cancellationToken)
    {
        var status = pass.Status;

        // A broken sandbox still costs money; remove it on a best-effort basis (deletion of the resource retries it).
        await TryDeleteCurrentSandboxAsync(pass, provider, verdict.Reason, cancellationToken);

        logger.MarkedFailed(verdict.Message);
        events.Warning(pass.Current, EventReasons.Failed, verdict.Message);
        status.SandboxUrl = null;
        status.IdleDeadline = null;
        status.EndedAt = time.GetUtcNow().UtcDateTime;
        pass.SetPhase(Phases.Failed);
        pass.SetConditions(ready: false, verdict.Reason, verdict.Message, progressing: false, degraded: verdict.Message);
        pass.Status.ObservedGeneration = pass.Generation;
        _observer.Ended(pass.Current, Phases.Failed, verdict.Reason);
        return ReconcileResult.After(UntilRetention(pass, time.GetUtcNow()));
    }

    private async Task<ReconcileResult?> KeepRunningAsync(ReconcilePass pass, ISandboxProvider provider, SandboxSnapshot snapshot, CancellationToken cancellationToken)
    {
        var status = pass.Status;
        var resource = pass.Current;
        var sandboxId = status.SandboxId!;
        status.ProbeFailures = snapshot.ProbeFailures == 0 ? null : snapshot.ProbeFailures;

        // New activity: record it and keep the provider's own auto-stop from firing before our deadlines.
        if (snapshot.LastActivity is { } activity && (status.LastActivityTime is not { } recorded || SandboxSnapshot.ToOffset(recorded) < activity))
        {
            status.LastActivityTime = activity.UtcDateTime;
            if (snapshot.ExpiresAt is { } expiresAt)
            {
                try
                {
                    await provider.ExtendAsync(sandboxId, expiresAt, cancellationToken);
                }
                catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
                {
                    logger.ExtendFailed(sandboxId, ex.Message);
                }
            }
        }

        status.IdleDeadline = snapshot.IdleDeadline?.UtcDateTime;
        string? degraded = null;

        // Spec changed while running: apply the dev-server shape in place (the provider restarts only if it differs).
        if (status.ObservedGeneration != pass.Generation)
        {
            try
            {
                await provider.StartAsync(sandboxId, StartRequest(resource.Spec), cancellationToken);
                var endpoint = await provider.GetPreviewAsync(sandboxId, resource.Spec.EffectivePort(), cancellationToken);
                status.SandboxUrl = endpoint.Url.ToString();
                await WriteTokenSecretAsync(resource, endpoint.Token, cancellationToken);
                pass.Token = endpoint.Token;
            }
            catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
            {
                degraded = $"Could not apply the changed spec: {ex.Message}";
            }
        }

        var filesInSync = await SyncFilesAsync(pass, provider, sandboxId, cancellationToken);
        if (filesInSync is false)
        {
            degraded ??= "Files in the sandbox are behind the source; retrying";
        }

        if (snapshot.ProbeFailures > 0)
        {
            degraded ??= $"Preview URL failed {snapshot.ProbeFailures} health probe(s) in a row";
        }

        // Stable again: forget earlier failures so a later loss starts the backoff afresh.
        var stableAfter = TimeSpan.FromSeconds(Math.Max(resource.Spec.EffectiveRecreate().EffectiveCooldownSeconds(), _options.HealthCheckInterval.TotalSeconds));
        if (status.FailedAttempts is > 0 && snapshot.ProbeHealthy == true && snapshot.StartedAt is { } started && snapshot.Now - started >= stableAfter)
        {
            status.FailedAttempts = null;
            status.LastFailureTime = null;
        }

        pass.SetPhase(Phases.Running);
        pass.SetConditions(ready: true, Reasons.SandboxReady, $"Preview is serving at {status.SandboxUrl}", progressing: false,
            degraded: degraded ?? (status.FailedAttempts is > 0 ? snapshot.LastError : null), filesInSync: filesInSync);
        pass.Status.ObservedGeneration = pass.Generation;
        var result = Schedule(pass, snapshot.Now);
        return filesInSync is false ? ReconcileResult.After(Min(result.RequeueAfter ?? _options.ResyncInterval, TimeSpan.FromSeconds(5))) : result;
    }

    /// <summary>
    /// Brings the sandbox up to the source: a delta (writes + deletes) for store-backed sources, the whole set for the
    /// others when its hash changed. True: in sync; false: the push failed (retried soon); null: could not tell.
    /// </summary>
    private async Task<bool?> SyncFilesAsync(ReconcilePass pass, ISandboxProvider provider, string sandboxId, CancellationToken cancellationToken)
    {
        FilePush push;
        try
        {
            push = await sources.SyncAsync(pass.Current, provider, sandboxId, pass.Status.FilesRevision, pass.Status.FilesHash, cancellationToken);
        }
        catch (SourceResolutionException ex)
        {
            // The sandbox cannot be brought to what the source says: not in sync, and the condition says why.
            logger.SourceFailed(ex.Message);
            pass.FilesProblem = ("SourceError", ex.Message);
            return false;
        }

        if (push.Status == FilePushStatus.Failed)
        {
            logger.SyncFailed(sandboxId, push.Error ?? "unknown error");
            pass.FilesProblem = ("SyncFailed", $"Pushing files to the sandbox failed: {push.Error}");
            return false;
        }

        if (push.Status == FilePushStatus.Pushed)
        {
            logger.SyncedFiles(sandboxId, push.Written, push.Bytes, push.Hash ?? string.Empty);
            events.Normal(pass.Current, EventReasons.FilesSynced, $"Synced {push.Written} files and removed {push.Deleted} ({push.Hash})");
        }

        // Also when up to date: the HTTP API may have pushed a newer revision directly.
        pass.Status.FilesHash = push.Hash;
        pass.Status.FilesRevision = push.Revision;
        return true;
    }

    /// <summary>Next run: the earliest of TTL end, idle deadline and the next health check, capped by the resync.</summary>
    private ReconcileResult Schedule(ReconcilePass pass, DateTimeOffset now)
    {
        var next = now + _options.HealthCheckInterval;
        var status = pass.Status;
        if (status.ExpiresAt is { } expires && SandboxSnapshot.ToOffset(expires) < next)
        {
            next = SandboxSnapshot.ToOffset(expires);
        }

        if (status.IdleDeadline is { } idle && SandboxSnapshot.ToOffset(idle) < next)
        {
            next = SandboxSnapshot.ToOffset(idle);
        }

        return ReconcileResult.After(Clamp(Min(next - now, _options.ResyncInterval)));
    }

    // ---- finalizer ----------------------------------------------------------------------------------------------

    private async Task<V1Alpha1PreviewSandbox> EnsureFinalizerAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        var finalizers = resource.Metadata.Finalizers ?? [];
        if (finalizers.Contains(GroupVersion.FinalizerName))
        {
            return resource;
        }

        var updated = await client.SetFinalizersAsync(resource, [.. finalizers, GroupVersion.FinalizerName], cancellationToken);
        lookup?.Observe(updated);
        logger.AddedFinalizer();
        return updated;
    }

    private async Task<ReconcileResult> FinalizeAsync(V1Alpha1PreviewSandbox resource, ISandboxProvider? provider, CancellationToken cancellationToken)
    {
        var finalizers = resource.Metadata.Finalizers ?? [];
        if (!finalizers.Contains(GroupVersion.FinalizerName))
        {
            return ReconcileResult.Done();
        }

        if (provider is not null)
        {
            var ids = new HashSet<string>(StringComparer.Ordinal);
            if (resource.Status?.SandboxId is { } current)
            {
                ids.Add(current);
            }

            try
            {
                foreach (var owned in await provider.ListAsync(resource.Metadata.Uid, cancellationToken))
                {
                    ids.Add(owned.Id);
                }

                foreach (var id in ids)
                {
                    await provider.DeleteAsync(id, cancellationToken);
                    logger.DeletedSandbox(provider.Name, id, "PreviewSandbox deleted");
                }
            }
            catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
            {
                logger.DeleteFailed(provider.Name, string.Join(',', ids), ex.Message);
                events.Warning(resource, EventReasons.ProviderError, $"Could not delete the remote sandbox yet: {ex.Message}");
                return ReconcileResult.Failure(ex.Message, ex);
            }

            events.Normal(resource, EventReasons.Deleted, ids.Count == 0 ? "No remote sandbox to delete" : $"Deleted sandbox {string.Join(", ", ids)}");
        }
        else
        {
            logger.UnknownProvider(resource.Status?.Provider ?? resource.Spec.Provider ?? "(default)");
        }

        _observer.Deleted(resource);

        // Removing the finalizer must not be cancelled half-way: the object would sit in finalizer limbo (KubeOps).
        await client.SetFinalizersAsync(resource, [.. finalizers.Where(f => f != GroupVersion.FinalizerName)], CancellationToken.None);
        logger.RemovedFinalizer();
        return ReconcileResult.Done();
    }

    // ---- namespace policy ---------------------------------------------------------------------------------------

    /// <summary>
    /// Applies the namespace's PreviewSandboxPolicies to objects however they were written (kubectl, GitOps, the API):
    /// a refused spec gets Ready=False reason PolicyDenied and nothing at the provider (a sandbox it already had is removed,
    /// since it would run the refused spec). Null when allowed.
    /// </summary>
    private async Task<ReconcileResult?> EnforcePolicyAsync(ReconcilePass pass, ISandboxProvider? provider, string providerName, CancellationToken cancellationToken)
    {
        var resource = pass.Current;
        PolicyViolation? violation;
        try
        {
            violation = await policyGate!.CheckAsync(resource.Metadata.NamespaceProperty, SandboxRequestShape.Of(resource.Spec, providerName), cancellationToken);
        }
        catch (PolicyUnavailableException ex)
        {
            logger.PolicyUnavailable(resource.Metadata.NamespaceProperty, ex.Message);
            return ReconcileResult.Failure(ex.Message, ex);
        }

        if (violation is null)
        {
            return null;
        }

        var message = $"Refused by {violation}";
        if (provider is not null && await TryDeleteCurrentSandboxAsync(pass, provider, Reasons.PolicyDenied, cancellationToken) is { } error)
        {
            pass.SetConditions(ready: false, Reasons.PolicyDenied, $"{message}; could not remove the sandbox yet: {error}", progressing: true, degraded: error);
            await PublishStatusAsync(pass, cancellationToken);
            return ReconcileResult.After(TimeSpan.FromSeconds(5));
        }

        var status = pass.Status;
        var wasDenied = status.Conditions?.Any(c => c.Type == Conditions.Ready && c.Reason == Reasons.PolicyDenied && c.Message == message) == true;
        status.SandboxId = null;
        status.PreviewUrl = null;
        status.IdleDeadline = null;
        status.ProbeFailures = null;
        pass.SetPhase(Phases.Pending);
        pass.SetConditions(ready: false, Reasons.PolicyDenied, message, progressing: false, degraded: message);
        status.ObservedGeneration = pass.Generation;
        await PublishStatusAsync(pass, cancellationToken);
        if (!wasDenied)
        {
            logger.PolicyDenied(resource.Metadata.NamespaceProperty, resource.Metadata.Name, violation.ToString());
            events.Warning(resource, Reasons.PolicyDenied, message);
        }

        // A spec change re-triggers at once; a policy change is seen at the latest at the next resync.
        return ReconcileResult.After(_options.ResyncInterval);
    }

    // ---- status -------------------------------------------------------------------------------------------------

    private async Task PublishStatusAsync(ReconcilePass pass, CancellationToken cancellationToken)
    {
        await PublishAddressAsync(pass, cancellationToken);
        if (!pass.StatusChanged)
        {
            return;
        }

        var updated = await client.PatchStatusAsync(pass.Current, pass.Status, cancellationToken);
        lookup?.Observe(updated);
        pass.Published(updated);
    }

    /// <summary>
    /// previewUrl is the gateway's stable address for the resource's whole life; the provider's own URL is sandboxUrl.
    /// Without a gateway (none registered, or it returns null) previewUrl is the provider's URL, as before. A status
    /// written before sandboxUrl existed held the provider's URL in previewUrl: it moves over once.
    /// </summary>
    private async Task PublishAddressAsync(ReconcilePass pass, CancellationToken cancellationToken)
    {
        var status = pass.Status;
        var stable = addresses is null ? null : await addresses.StableUrlAsync(pass.Current, cancellationToken);
        if (stable is null)
        {
            status.PreviewUrl = status.SandboxUrl;
            return;
        }

        if (status.SandboxUrl is null && status.SandboxId is not null && status.PreviewUrl is { } old && old != stable)
        {
            status.SandboxUrl = old;
        }

        status.PreviewUrl = stable;
    }

    private static SandboxStartRequest StartRequest(PreviewSandboxSpec spec) =>
        new(string.IsNullOrWhiteSpace(spec.Command) ? null : spec.Command, spec.EffectivePort(),
            (spec.Env ?? []).Where(e => e.Name.Length > 0).GroupBy(e => e.Name, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Last().Value ?? string.Empty, StringComparer.Ordinal));

    private static TimeSpan Clamp(TimeSpan delay) => delay < MinRequeue ? MinRequeue : delay;

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>Mutable working state of one reconcile: the object, a copy of its status, and what was last published.</summary>
    private sealed class ReconcilePass(V1Alpha1PreviewSandbox resource, ISandboxProvider? provider, string providerName, TimeProvider time)
    {
        private string _publishedJson = Serialize(resource.Status);

        public V1Alpha1PreviewSandbox Current { get; private set; } = resource;

        public PreviewSandboxStatus Status { get; private set; } = Clone(resource.Status) ?? new PreviewSandboxStatus { Provider = provider?.Name ?? providerName };

        public long Generation => Current.Metadata.Generation ?? 0;

        public string? Token { get; set; }

        /// <summary>Why the files are not in sync this pass (reason, message), for the FilesInSync condition.</summary>
        public (string Reason, string Message)? FilesProblem { get; set; }

        /// <summary>Latest activity the store held at the start of this pass.</summary>
        public DateTimeOffset? StoredActivity { get; set; }

        public bool IsReady => ConditionSet.Find(Status.Conditions, Conditions.Ready)?.Status == "True";

        public bool StatusChanged => Serialize(Status) != _publishedJson;

        public void SetPhase(string phase) => Status.Phase = phase;

        public void SetConditions(bool ready, string reason, string message, bool progressing, string? degraded, bool? filesInSync = null)
        {
            var now = time.GetUtcNow();
            var conditions = Status.Conditions ?? new List<k8s.Models.V1Condition>();
            ConditionSet.Set(conditions, Conditions.Ready, ready, reason, message, Generation, now);
            ConditionSet.Set(conditions, Conditions.Progressing, progressing, progressing ? reason : Reasons.AsExpected,
                progressing ? message : "No change in progress", Generation, now);
            ConditionSet.Set(conditions, Conditions.Degraded, degraded is not null, degraded is null ? Reasons.AsExpected : reason,
                degraded ?? "No problems detected", Generation, now);
            // kstatus (Flux, kpt, cli-utils) reads only Reconciling/Stalled besides observedGeneration: mirror them here.
            SetAbnormalTrue(conditions, Conditions.Reconciling, progressing, reason, message, now);
            SetAbnormalTrue(conditions, Conditions.Stalled, Status.Phase == Phases.Failed, reason, message, now);
            if (filesInSync is { } inSync)
            {
                ConditionSet.Set(conditions, FilesInSyncCondition, inSync, inSync ? "InSync" : FilesProblem?.Reason ?? "SyncPending",
                    inSync ? $"Sandbox holds files {Status.FilesHash}" : FilesProblem?.Message ?? "Sandbox files are behind the source", Generation, now);
            }
            else if (!ready)
            {
                conditions = [.. conditions.Where(c => c.Type != FilesInSyncCondition)];
            }

            Status.Conditions = ConditionSet.Ordered(conditions, ConditionOrder);
        }

        private void SetAbnormalTrue(IList<k8s.Models.V1Condition> conditions, string type, bool active, string reason, string message, DateTimeOffset now)
        {
            if (active)
            {
                ConditionSet.Set(conditions, type, true, reason, message, Generation, now);
            }
            else if (ConditionSet.Find(conditions, type) is { } stale)
            {
                conditions.Remove(stale);
            }
        }

        /// <summary>ProviderAvailable mirrors <see cref="IProviderHealth"/>; absent when no health source is wired.</summary>
        public void SetProviderAvailable(ProviderHealthState? health)
        {
            if (health is null)
            {
                return;
            }

            var conditions = Status.Conditions ?? new List<k8s.Models.V1Condition>();
            ConditionSet.Set(conditions, Conditions.ProviderAvailable, health.Available, health.Reason, health.Message, Generation, time.GetUtcNow());
            Status.Conditions = ConditionSet.Ordered(conditions, ConditionOrder);
        }

        public void Published(V1Alpha1PreviewSandbox updated)
        {
            _publishedJson = Serialize(Status);
            Current = updated;
        }

        private static string Serialize(PreviewSandboxStatus? status) => status is null ? "null" : KubernetesJson.Serialize(status);

        private static PreviewSandboxStatus? Clone(PreviewSandboxStatus? status) =>
            status is null ? null : KubernetesJson.Deserialize<PreviewSandboxStatus>(KubernetesJson.Serialize(status));
    }

    public const string FilesInSyncCondition = "FilesInSync";

    private static readonly string[] ConditionOrder = [Conditions.Ready, Conditions.Progressing, Conditions.Degraded, FilesInSyncCondition, Conditions.ProviderAvailable, Conditions.Reconciling, Conditions.Stalled];
}
