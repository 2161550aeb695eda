using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;
using Reasons = Midori.Operator.Api.V1Alpha1.PreviewSandboxConditions.Reasons;

namespace Midori.Operator.Controllers;

/// <summary>
/// Gets a sandbox running for a preview: records a recreation's start, then adopts one a crashed attempt left (found by the owner-UID label) or create it,
/// upload the files, start the dev server, write the token Secret; and applies a changed spec to a running one. Holds
/// creation while the provider reports itself unavailable, and counts failed attempts for the backoff.
/// </summary>
internal sealed class SandboxProvisioner(
    IPreviewSandboxClient client,
    SandboxSourceResolver sources,
    IEventRecorder events,
    TimeProvider time,
    OperatorOptions options,
    ILogger logger,
    ISandboxLifecycleObserver observer,
    IProviderHealth? providerHealth,
    IWarmSandboxPool? warmPool = null)
{
    /// <summary>While a provider reports itself unavailable, creation waits this long after the report before one more try.</summary>
    public static readonly TimeSpan ProviderRecheckInterval = TimeSpan.FromSeconds(30);

    /// <summary>Records a recreation (why, which sandbox it replaces); the next step removes the old sandbox and creates.</summary>
    public ReconcileResult? BeginRecreation(SandboxStatusBuilder pass, SandboxSnapshot snapshot, PolicyVerdict verdict)
    {
        var status = pass.Status;
        var reason = verdict.RecreationReason ?? RecreationReasons.Manual;

        // A loss counts as a failure; a wake-up or an explicit request is a fresh start.
        status.FailedAttempts = reason == RecreationReasons.Error ? (status.FailedAttempts ?? 0) + 1 : null;
        status.LastFailureTime = reason == RecreationReasons.Error ? snapshot.Now.UtcDateTime : null;
        if (snapshot.RecreateRequest is { } request)
        {
            status.ObservedRecreateRequest = request;
        }

        status.LastRecreation = new RecreationRecord { Reason = reason, Time = snapshot.Now.UtcDateTime, OldSandboxId = status.SandboxId };
        status.ProbeFailures = null;
        pass.To(Phases.Recreating).InProgress(Reasons.Recreating, verdict.Message, degraded: reason == RecreationReasons.Error ? verdict.Message : null);
        logger.RecreationStarted(reason, status.SandboxId);
        events.Normal(pass.Resource, EventReasons.Recreating, $"Recreating sandbox ({reason}): {verdict.Message}");
        observer.RecreationStarted(pass.Resource, reason, status.SandboxId);
        return null;
    }

    /// <summary>
    /// Holds creation while the provider reports itself unavailable (open circuit, missing or rejected credentials):
    /// no attempt is spent and nothing hammers the API. One attempt goes through every <see cref="ProviderRecheckInterval"/>
    /// after the report, which is also what lets a half-open circuit close again. Null: go ahead.
    /// </summary>
    public ReconcileResult? WaitForProvider(SandboxStatusBuilder pass, ISandboxProvider provider, DateTimeOffset now)
    {
        if (providerHealth?.Get(provider.Name) is not { Available: false } health || now >= health.Since + ProviderRecheckInterval)
        {
            return null;
        }

        pass.To(pass.Phase == Phases.Recreating ? Phases.Recreating : Phases.Pending)
            .NotReady(Reasons.ProviderUnavailable, $"Waiting for provider {provider.Name}: {health.Message}", degraded: health.Message)
            .Observed();
        return ReconcileResult.After(SandboxSchedule.Clamp(SandboxSchedule.Min(health.Since + ProviderRecheckInterval - now, options.MaxBackoff)));
    }

    /// <summary>
    /// (Re)creates the sandbox. Progress (phase Creating/Recreating) is published through <paramref name="publishProgress"/>
    /// only when provisioning is slow enough for anyone to see it, which saves a status write per sandbox on fast providers.
    /// </summary>
    public async Task<ReconcileResult> CreateAsync(SandboxStatusBuilder pass, ISandboxProvider provider, SandboxSnapshot snapshot,
        Func<CancellationToken, Task> publishProgress, CancellationToken cancellationToken)
    {
        var status = pass.Status;
        var resource = pass.Resource;
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
            pass.To(recreating ? Phases.Recreating : Phases.Pending).NotReady(Reasons.SourceError, ex.Message, degraded: ex.Message).Observed();
            return ReconcileResult.After(SandboxSchedule.Clamp(SandboxSchedule.Min(options.MaxBackoff, TimeSpan.FromSeconds(30))));
        }

        // A crash from here on is healed by the owner-UID lookup of the next attempt.
        status.Provider = provider.Name;
        pass.To(recreating ? Phases.Recreating : Phases.Creating)
            .InProgress(recreating ? Reasons.Recreating : Reasons.Provisioning, recreating ? "Recreating the sandbox" : "Creating the sandbox", degraded: snapshot.LastError);
        observer.Provisioning(resource, recreating);

        var stopwatch = time.GetTimestamp();
        var attempt = new ProvisioningAttempt();
        try
        {
            var work = ProvisionAsync(provider, resource, recreating ? status.LastRecreation?.OldSandboxId : null, files, attempt, cancellationToken);
            using (var progressDelay = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                var delay = Task.Delay(options.ProgressReportDelay, time, progressDelay.Token);
                if (await Task.WhenAny(work, delay) != work)
                {
                    await publishProgress(cancellationToken);
                }

                await progressDelay.CancelAsync();
            }

            var (info, endpoint) = await work;
            var sandboxId = info.Id;
            var now = time.GetUtcNow();
            var ttlEnd = now.AddSeconds(resource.Spec.EffectiveTtlSeconds());
            var providerEnd = info.EndAt;
            var activity = snapshot.LastActivity is { } a && a > now ? a : now;

            status.SandboxId = sandboxId;
            status.SandboxUrl = endpoint.Url.ToString();
            status.TokenSecretRef = HasTokenSecret(resource, endpoint.Token)
                ? new SecretKeyReference { Name = TokenSecret.NameFor(resource.Metadata.Name), Key = TokenSecret.Key }
                : null;
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

            var elapsed = time.GetElapsedTime(stopwatch);
            logger.CreatedSandbox(provider.Name, sandboxId, (long)elapsed.TotalMilliseconds, files.Files.Count);
            if (recreating && status.LastRecreation is { } record)
            {
                record.NewSandboxId = sandboxId;
                status.Recreations = (status.Recreations ?? 0) + 1;
                events.Normal(resource, EventReasons.Recreated, $"Recreated sandbox {sandboxId} ({record.Reason}), replacing {record.OldSandboxId ?? "none"}");
                observer.RecreationCompleted(resource, record, success: true, error: null, elapsed);
            }
            else
            {
                events.Normal(resource, EventReasons.Created, attempt.Pool is { } pool
                    ? $"Claimed warm sandbox {sandboxId} from pool {pool} (provider {provider.Name})"
                    : $"Created sandbox {sandboxId} with provider {provider.Name}");
            }

            pass.To(Phases.Running).Ready($"Preview is serving at {status.SandboxUrl}", files: FilesState.Synced(status.FilesHash)).Observed();
            observer.ReadyAs(resource, status, recreating, elapsed, attempt.Pool is null ? null : ReadyKinds.Claim);
            return SandboxSchedule.NextCheck(status, now, options);
        }
        catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException or k8s.Autorest.HttpOperationException)
        {
            status.SandboxId = attempt.SandboxId ?? (recreating ? null : status.SandboxId);
            if (ex is SandboxProviderException && providerHealth?.Get(provider.Name) is { Available: false } outage)
            {
                // The provider as a whole is down, not this sandbox: no attempt is counted (an outage must not exhaust maxAttempts).
                logger.ProvisioningFailed(provider.Name, status.FailedAttempts ?? 0, ex.Message, null);
                pass.To(recreating ? Phases.Recreating : Phases.Pending)
                    .NotReady(Reasons.ProviderUnavailable, $"{provider.Name}: {ex.Message}", degraded: outage.Message)
                    .Observed();
                return ReconcileResult.After(SandboxSchedule.Clamp(SandboxSchedule.Min(ProviderRecheckInterval, options.MaxBackoff)));
            }

            status.FailedAttempts = (status.FailedAttempts ?? 0) + 1;
            status.LastFailureTime = time.GetUtcNow().UtcDateTime;
            var message = $"{provider.Name}: {ex.Message}";
            logger.ProvisioningFailed(provider.Name, status.FailedAttempts.Value, ex.Message, ex is SandboxProviderException ? null : ex);
            events.Warning(resource, EventReasons.ProviderError, message);
            if (recreating && status.LastRecreation is { } record)
            {
                observer.RecreationCompleted(resource, record, success: false, error: message, time.GetElapsedTime(stopwatch));
            }

            // The phase stays Creating/Recreating: the next attempt continues this one.
            pass.InProgress((ex as SandboxProviderException)?.Reason ?? Reasons.ProviderError, message, degraded: message).Observed();
            var retryIn = SandboxPolicies.Backoff(status.FailedAttempts.Value, resource.Spec.EffectiveRecreate().EffectiveCooldownSeconds(), options.MaxBackoff);
            return ReconcileResult.After(SandboxSchedule.Clamp(retryIn < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : retryIn));
        }
    }

    /// <summary>Applies a changed spec to a running sandbox (the provider restarts the dev server only if its shape differs); returns its URL.</summary>
    public async Task<string> ApplySpecAsync(V1Alpha1PreviewSandbox resource, ISandboxProvider provider, string sandboxId, CancellationToken cancellationToken)
    {
        await provider.StartAsync(sandboxId, StartRequest(resource.Spec), cancellationToken);
        var endpoint = await provider.GetPreviewAsync(sandboxId, resource.Spec.EffectivePort(), cancellationToken);
        await WriteTokenSecretAsync(resource, endpoint.Token, cancellationToken);
        return endpoint.Url.ToString();
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

        observer.Progress(resource, ProvisioningStages.Creating, 10);
        var (info, pool) = await AdoptClaimOrCreateAsync(provider, resource, uid, cancellationToken);
        attempt.SandboxId = info.Id;
        attempt.Pool = pool;
        try
        {
            observer.Progress(resource, ProvisioningStages.Transferring, 40);
            await provider.UploadFilesAsync(info.Id, files.Files, cancellationToken);
            if (pool is not null || replacedSandboxId is not null)
            {
                // A claimed or replacing sandbox was not made from nothing by this attempt: check what it holds.
                await VerifyFilesAsync(provider, info.Id, files, cancellationToken);
            }

            observer.Progress(resource, ProvisioningStages.Updating, 70);
            await provider.StartAsync(info.Id, StartRequest(resource.Spec), cancellationToken);
            var endpoint = await provider.GetPreviewAsync(info.Id, resource.Spec.EffectivePort(), cancellationToken);
            await WriteTokenSecretAsync(resource, endpoint.Token, cancellationToken);
            observer.Progress(resource, ProvisioningStages.Complete, 100);
            return (info, endpoint);
        }
        catch (Exception ex) when (pool is not null && ex is SandboxProviderException or HttpRequestException or k8s.Autorest.HttpOperationException)
        {
            // A claimed sandbox carries its pool's owner label, so the next attempt's owner lookup would not find it:
            // remove it now (the next attempt claims or creates another) rather than leave it to the pool's dirty check.
            attempt.SandboxId = null;
            attempt.Pool = null;
            try
            {
                await provider.DeleteAsync(info.Id, CancellationToken.None);
            }
            catch (Exception cleanup) when (cleanup is SandboxProviderException or HttpRequestException)
            {
                logger.DeleteFailed(provider.Name, info.Id, cleanup.Message);
            }

            throw;
        }
    }

    /// <summary>
    /// Integrity check after a claim or a recreation: the sandbox's file manifest against the files just pushed; what
    /// differs is pushed again, once. Still different (or the sandbox gone) fails the attempt, so FilesInSync is only
    /// ever reported for a verified sandbox. Providers without a manifest are trusted.
    /// </summary>
    private Task VerifyFilesAsync(ISandboxProvider provider, string sandboxId, ResolvedFiles files, CancellationToken cancellationToken) =>
        PushDifferingAsync(provider, sandboxId, files, cancellationToken, uploadWhenBlind: false);

    /// <summary>
    /// Pushes the files that differ from what the sandbox holds (its manifest), then checks again: a resumed sandbox
    /// gets only what changed while it was paused. Returns how many files were pushed. Without a manifest every file
    /// is pushed (<paramref name="uploadWhenBlind"/>) or, after a full upload, trusted.
    /// </summary>
    public async Task<int> PushDifferingAsync(ISandboxProvider provider, string sandboxId, ResolvedFiles files, CancellationToken cancellationToken, bool uploadWhenBlind = true)
    {
        if (!provider.Capabilities.HasFlag(SandboxCapabilities.FileManifest))
        {
            if (uploadWhenBlind)
            {
                await provider.UploadFilesAsync(sandboxId, files.Files, cancellationToken);
                return files.Files.Count;
            }

            return 0;
        }

        var expected = files.Files.ToDictionary(f => f.Path, f => Files.ContentHash.Compute(f.Content), StringComparer.Ordinal);
        var pushed = 0;
        for (var round = 0; ; round++)
        {
            var manifest = await provider.GetFileManifestAsync(sandboxId, cancellationToken)
                ?? throw new SandboxProviderException(provider.Name, $"sandbox {sandboxId} disappeared during the integrity check", isTransient: true);
            var (differing, _) = FileManifests.Compare(expected, manifest, []);
            if (differing.Count == 0)
            {
                return pushed;
            }

            if (round > 0)
            {
                throw new SandboxProviderException(provider.Name, $"{differing.Count} files still differ in sandbox {sandboxId} after a re-push (first: {differing[0]})", isTransient: true);
            }

            if (!uploadWhenBlind)
            {
                logger.IntegrityRepush(sandboxId, differing.Count);
            }

            var repush = differing.ToHashSet(StringComparer.Ordinal);
            await provider.UploadFilesAsync(sandboxId, [.. files.Files.Where(f => repush.Contains(f.Path))], cancellationToken);
            pushed += repush.Count;
        }
    }

    /// <summary>
    /// Idempotent create: a sandbox already labeled with this UID (from a crash mid-create) is reused; otherwise a warm
    /// sandbox is claimed from a matching pool (then <c>Pool</c> names it), otherwise one is created.
    /// </summary>
    private async Task<(SandboxInfo Info, string? Pool)> AdoptClaimOrCreateAsync(ISandboxProvider provider, V1Alpha1PreviewSandbox resource, string uid, CancellationToken cancellationToken)
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
            return (adopted, null);
        }

        var spec = resource.Spec;
        if (warmPool is not null
            && await warmPool.TryClaimAsync(new WarmClaimRequest(resource.Metadata.NamespaceProperty, provider.Name, spec.Template,
                time.GetUtcNow().AddSeconds(spec.EffectiveTtlSeconds())), cancellationToken) is { } claim)
        {
            logger.ClaimedWarmSandbox(claim.Sandbox.Id, claim.Pool);
            return (claim.Sandbox, claim.Pool);
        }

        var labels = new Dictionary<string, string>
        {
            [SandboxLabels.OwnerUid] = uid,
            [SandboxLabels.Namespace] = resource.Metadata.NamespaceProperty,
            [SandboxLabels.Name] = resource.Metadata.Name,
            [SandboxLabels.Project] = spec.ProjectId,
        };
        return (await provider.CreateAsync(
            new SandboxCreateRequest(uid, resource.Metadata.NamespaceProperty, resource.Metadata.Name, spec.ProjectId, spec.Template,
                spec.EffectivePort(), TimeSpan.FromSeconds(spec.EffectiveTtlSeconds()), TimeSpan.FromSeconds(spec.EffectiveIdleTimeoutSeconds()), labels,
                resource.Status?.Recreations ?? 0),
            cancellationToken), null);
    }

    /// <summary>
    /// The token Secret: replaced in one request when the status says we wrote it before (a wake-up, a recreation),
    /// else applied. A sandbox without a token (a public preview) gets no Secret at all, unless an earlier sandbox of
    /// this preview had one: that Secret is emptied rather than left holding a token of a sandbox that is gone.
    /// </summary>
    private Task WriteTokenSecretAsync(V1Alpha1PreviewSandbox resource, string? token, CancellationToken cancellationToken)
    {
        if (!HasTokenSecret(resource, token))
        {
            return Task.CompletedTask;
        }

        var secretName = TokenSecret.NameFor(resource.Metadata.Name);
        return NamesTokenSecret(resource)
            ? client.UpdateTokenSecretAsync(resource, secretName, TokenSecret.Key, token ?? string.Empty, cancellationToken)
            : client.ApplyTokenSecretAsync(resource, secretName, TokenSecret.Key, token!, cancellationToken);
    }

    /// <summary>Whether this preview has a token Secret once <paramref name="token"/> is written: the one rule for the write and the status.</summary>
    private static bool HasTokenSecret(V1Alpha1PreviewSandbox resource, string? token) =>
        NamesTokenSecret(resource) || !string.IsNullOrEmpty(token);

    private static bool NamesTokenSecret(V1Alpha1PreviewSandbox resource) =>
        resource.Status?.TokenSecretRef?.Name == TokenSecret.NameFor(resource.Metadata.Name);

    private static SandboxStartRequest StartRequest(PreviewSandboxSpec spec) =>
        new(string.IsNullOrWhiteSpace(spec.Command) ? null : spec.Command, spec.EffectivePort(),
            (spec.Env ?? []).Where(e => e.Name.Length > 0).GroupBy(e => e.Name, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Last().Value ?? string.Empty, StringComparer.Ordinal));

    /// <summary>What a failed attempt got as far as creating, so the next attempt can adopt or clean it up.</summary>
    private sealed class ProvisioningAttempt
    {
        public string? SandboxId { get; set; }

        /// <summary>The pool the sandbox was claimed from; null when created (or adopted).</summary>
        public string? Pool { get; set; }
    }
}
