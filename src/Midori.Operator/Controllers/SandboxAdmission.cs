using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;
using Reasons = Midori.Operator.Api.V1Alpha1.PreviewSandboxConditions.Reasons;

namespace Midori.Operator.Controllers;

/// <summary>
/// Whether a live preview may be acted on at all, before any decision about its sandbox: the namespace's policies
/// (however the object was written: kubectl, GitOps, the API) and a provider this operator has. A refusal is
/// published and ends the pass.
/// </summary>
internal sealed class SandboxAdmission(
    NamespacePolicyGate? policyGate,
    SandboxTeardown teardown,
    SandboxStatusPublisher publisher,
    OperatorOptions options,
    ILogger logger)
{
    /// <summary>Null when the namespace's policies allow the preview (or there are none), else how the pass ends.</summary>
    public async Task<ReconcileResult?> CheckPolicyAsync(SandboxStatusBuilder pass, ISandboxProvider? provider, string providerName,
        CancellationToken cancellationToken)
    {
        if (policyGate is null)
        {
            return null;
        }

        var resource = pass.Resource;
        PolicyViolation? violation;
        try
        {
            violation = await policyGate.CheckAsync(resource.Metadata.NamespaceProperty, SandboxRequestShape.Of(resource.Spec, providerName), cancellationToken);
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

        var refused = await teardown.RefuseAsync(pass, provider, violation, cancellationToken);
        await publisher.PublishAsync(pass, cancellationToken);
        return refused;
    }

    /// <summary>The preview names a provider this operator does not run: Pending, said in status, looked at again at the next resync.</summary>
    public async Task<ReconcileResult> RefuseUnknownProviderAsync(SandboxStatusBuilder pass, string providerName, CancellationToken cancellationToken)
    {
        var message = $"Provider '{providerName}' is not configured in this operator";
        logger.UnknownProvider(providerName);
        pass.To(Phases.Pending).NotReady(Reasons.ProviderError, message, degraded: message)
            .ProviderAvailability(new ProviderHealthState(false, Reasons.ProviderNotConfigured, message, default));
        await publisher.PublishAsync(pass, cancellationToken);
        return ReconcileResult.After(options.ResyncInterval);
    }
}
