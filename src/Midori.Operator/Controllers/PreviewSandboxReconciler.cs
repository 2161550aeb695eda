using System.Diagnostics;
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
/// Level-based reconciler for PreviewSandbox. One pass: read the object (from the informer's store when there is one,
/// else a GET), hand a deleted one to the <see cref="SandboxCleanupFinalizer"/>, add the finalizer to a live one; let
/// <see cref="SandboxAdmission"/> refuse what the namespace's policies or the configured providers do not allow; then
/// gather the provider's view once, let <see cref="SandboxPolicies"/> decide, perform that action (the
/// <see cref="SandboxProvisioner"/>, <see cref="SandboxUpkeep"/>, <see cref="SandboxLifecycleSteps"/> or
/// <see cref="SandboxTeardown"/>), and publish the status the <see cref="SandboxStatusBuilder"/> built
/// (<see cref="SandboxStatusPublisher"/>, only when it changed). Every timer is a RequeueAfter computed from durable
/// anchors in status.
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
    IPreviewSandboxLookup? lookup = null,
    IWarmSandboxPool? warmPool = null) : IReconciler
{
    /// <summary>Upper bound of policy→action steps in one pass (e.g. begin recreation, then create).</summary>
    private const int MaxStepsPerPass = 4;

    private readonly OperatorOptions _options = options.Value;
    private readonly ISandboxLifecycleObserver _observer = CompositeSandboxLifecycleObserver.Of(observers);
    private IEntityFinalizer<V1Alpha1PreviewSandbox> Finalizer => field ??= new SandboxCleanupFinalizer(providers, events, logger, _observer);
    private SandboxProvisioner Provisioner => field ??= new SandboxProvisioner(client, sources, events, time, _options, logger, _observer, providerHealth, warmPool);
    private SandboxUpkeep Upkeep => field ??= new SandboxUpkeep(Provisioner, sources, events, _options, logger, _observer);
    private SandboxTeardown Teardown => field ??= new SandboxTeardown(client, events, time, _options, logger, _observer);
    private SandboxStatusPublisher Publisher => field ??= new SandboxStatusPublisher(client, events, addresses, lookup);
    private SandboxAdmission Admission => field ??= new SandboxAdmission(policyGate, Teardown, Publisher, _options, logger);
    private SandboxLifecycleSteps Lifecycle => field ??= new SandboxLifecycleSteps(sources, Provisioner, events, time, _options, logger, _observer);

    public async Task<ReconcileResult> ReconcileAsync(PreviewKey key, CancellationToken cancellationToken)
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

        if (resource.Metadata.DeletionTimestamp is not null)
        {
            return await FinalizeAsync(resource, cancellationToken);
        }

        resource = await EnsureFinalizerAsync(resource, cancellationToken);
        var providerName = resource.Status?.Provider ?? resource.Spec.Provider ?? providers.DefaultProvider;
        providers.TryGet(providerName, out var provider);
        var pass = new SandboxStatusBuilder(resource, provider?.Name ?? providerName, time);
        if (resource.Status is null)
        {
            // First sight under a CRD without the status default (one installed before it): kubectl get shows PHASE
            // Pending at once instead of an empty cell until the sandbox is up. The current CRD's default serves that
            // Pending from the moment of creation, which saves this write.
            pass.To(Phases.Pending);
            await Publisher.PublishAsync(pass, cancellationToken);
        }

        if (await Admission.CheckPolicyAsync(pass, provider, providerName, cancellationToken) is { } refused)
        {
            return refused;
        }

        if (provider is null)
        {
            return await Admission.RefuseUnknownProviderAsync(pass, providerName, cancellationToken);
        }

        var result = await RunStepsAsync(pass, provider, cancellationToken);
        pass.ProviderAvailability(providerHealth?.Get(provider.Name)); // read after the steps: they may have just changed it
        Publisher.ReportInvalidHeartbeat(pass, resource);
        await Publisher.PublishAsync(pass, cancellationToken);
        return result;
    }

    /// <summary>Gather → decide → act, until an action ends the pass (beginning a recreation, say, is followed by creating).</summary>
    private async Task<ReconcileResult> RunStepsAsync(SandboxStatusBuilder pass, ISandboxProvider provider, CancellationToken cancellationToken)
    {
        var settings = new PolicySettings(_options.ProbeFailureThreshold, _options.MaxBackoff, _options.Retention(),
            provider.Capabilities.HasFlag(SandboxCapabilities.Archive));
        var observedAt = time.GetUtcNow();
        var observed = await ObserveAsync(pass, provider, cancellationToken);
        for (var step = 0; step < MaxStepsPerPass; step++)
        {
            // Decide on the working status (earlier steps of this pass may have changed it), not the stored one; the
            // provider and the probe are asked only once per pass.
            var now = step == 0 ? observedAt : time.GetUtcNow();
            var snapshot = new SandboxSnapshot(pass.View, now, step == 0 ? observed.Remote : RemoteObservation.NotChecked, step == 0 ? observed.ProbeHealthy : null,
                SandboxActivity.Latest(pass.Resource, pass.Status, now, observed.StoredActivity, logger));
            var verdict = SandboxPolicies.Evaluate(snapshot, settings);
            logger.Decided(verdict.Action.ToString(), verdict.Reason);

            var outcome = verdict.Action switch
            {
                SandboxAction.Wait => Wait(pass, snapshot, verdict),
                SandboxAction.Create => Provisioner.WaitForProvider(pass, provider, snapshot.Now)
                    ?? await Provisioner.CreateAsync(pass, provider, snapshot, ct => Publisher.PublishAsync(pass, ct), cancellationToken),
                SandboxAction.Recreate => Provisioner.BeginRecreation(pass, snapshot, verdict),
                SandboxAction.Restart => Restart(pass),
                SandboxAction.Expire when SandboxLifecycleSteps.Pauses(pass, provider, verdict) =>
                    await Lifecycle.PauseAsync(pass, provider, snapshot, verdict, cancellationToken)
                    ?? await Teardown.EndAsync(pass, provider, snapshot, verdict, Phases.Expired, cancellationToken),
                SandboxAction.Expire => await Teardown.EndAsync(pass, provider, snapshot, verdict, Phases.Expired, cancellationToken),
                SandboxAction.Resume => await Lifecycle.ResumeAsync(pass, provider, snapshot, verdict, cancellationToken),
                SandboxAction.Archive => await Lifecycle.ArchiveAsync(pass, provider, snapshot, verdict, cancellationToken)
                    ?? await Teardown.EndAsync(pass, provider, snapshot, verdict, Phases.Expired, cancellationToken),
                SandboxAction.Suspend => await Teardown.EndAsync(pass, provider, snapshot, verdict, Phases.Stopped, cancellationToken),
                SandboxAction.Fail => await Teardown.FailAsync(pass, provider, verdict, cancellationToken),
                SandboxAction.KeepRunning => await Upkeep.KeepRunningAsync(pass, provider, snapshot, cancellationToken),
                SandboxAction.Delete => await Teardown.DeleteForRetentionAsync(pass, verdict, cancellationToken),
                _ => throw new UnreachableException(verdict.Action.ToString()),
            };

            if (outcome is { } result)
            {
                return result;
            }
        }

        return ReconcileResult.After(SandboxSchedule.Minimum);
    }

    // ---- gather -------------------------------------------------------------------------------------------------

    private readonly record struct Observation(RemoteObservation Remote, bool? ProbeHealthy, DateTimeOffset? StoredActivity);

    /// <summary>What the provider, the preview URL and the store say, read once per pass.</summary>
    private async Task<Observation> ObserveAsync(SandboxStatusBuilder pass, ISandboxProvider provider, CancellationToken cancellationToken)
    {
        var remote = RemoteObservation.NotChecked;
        bool? probeHealthy = null;
        var status = pass.Status;
        if (status.SandboxId is { } sandboxId && status.Phase == Phases.Running)
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
                probeHealthy = await probe.IsHealthyAsync(url, null, cancellationToken);
            }
        }

        // The API records every heartbeat in the store but writes the annotation only now and then: read it once per
        // pass, before any decision that could remove the sandbox for idleness.
        var stored = await SandboxActivity.ReadStoredAsync(activityStore, pass.Resource, logger, cancellationToken);
        return new Observation(remote, probeHealthy, stored);
    }

    // ---- act ----------------------------------------------------------------------------------------------------

    private ReconcileResult Wait(SandboxStatusBuilder pass, SandboxSnapshot snapshot, PolicyVerdict verdict)
    {
        var phase = verdict.Reason == Reasons.Suspended ? Phases.Stopped : pass.Phase ?? Phases.Pending;
        var degraded = phase == Phases.Failed || verdict.Reason == Reasons.BackingOff ? snapshot.LastError ?? verdict.Message : null;
        pass.To(phase);
        _ = verdict.Reason == Reasons.BackingOff
            ? pass.InProgress(verdict.Reason, verdict.Message, degraded)
            : pass.NotReady(verdict.Reason, verdict.Message, degraded);
        pass.Observed();
        return SandboxSchedule.Until(verdict.NotBefore, snapshot.Now, _options);
    }

    /// <summary>The spec changed after Failed: clear the failure bookkeeping; the next step creates.</summary>
    private static ReconcileResult? Restart(SandboxStatusBuilder pass)
    {
        pass.Status.FailedAttempts = null;
        pass.Status.LastFailureTime = null;
        pass.To(Phases.Pending);
        return null;
    }

    // ---- finalizer ----------------------------------------------------------------------------------------------

    private async Task<V1Alpha1PreviewSandbox> EnsureFinalizerAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        var finalizers = resource.Metadata.Finalizers ?? [];
        if (finalizers.Contains(Finalizer.Name))
        {
            return resource;
        }

        var updated = await client.SetFinalizersAsync(resource, [.. finalizers, Finalizer.Name], cancellationToken);
        lookup?.Observe(updated);
        logger.AddedFinalizer();
        return updated;
    }

    private async Task<ReconcileResult> FinalizeAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        var finalizers = resource.Metadata.Finalizers ?? [];
        if (!finalizers.Contains(Finalizer.Name))
        {
            return ReconcileResult.Done();
        }

        if (await Finalizer.FinalizeAsync(resource, cancellationToken) is { IsSuccess: false } failed)
        {
            return failed;
        }

        // Removing the finalizer must not be cancelled half-way: the object would sit in finalizer limbo.
        await client.SetFinalizersAsync(resource, [.. finalizers.Where(f => f != Finalizer.Name)], CancellationToken.None);
        logger.RemovedFinalizer();
        return ReconcileResult.Done();
    }
}
