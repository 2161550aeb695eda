using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;

namespace Midori.Operator.Http.Services;

public sealed partial class PreviewService
{
    /// <summary>
    /// Refuses, before anything is stored or created, what the namespace's PreviewSandboxPolicies do not allow: 403 naming
    /// the policy and the rule; 503 when the policies cannot be evaluated right now. Unset values count as the defaults
    /// the preview would get (operator's default provider, default TTL and idle timeout).
    /// </summary>
    private async Task<ServiceError?> EnforcePolicyAsync(string @namespace, string? provider, string? template, string? command, IReadOnlyDictionary<string, string>? env,
        int? ttlSeconds, int? idleTimeoutSeconds, CancellationToken cancellationToken)
    {
        if (_policy is null)
        {
            return null;
        }

        var shape = new SandboxRequestShape(
            provider ?? _providers.DefaultProvider,
            string.IsNullOrEmpty(template) ? null : template,
            string.IsNullOrWhiteSpace(command) ? null : command,
            [.. (env ?? new Dictionary<string, string>()).Keys],
            ttlSeconds ?? PreviewSandboxSpec.DefaultTtlSeconds,
            idleTimeoutSeconds ?? PreviewSandboxSpec.DefaultIdleTimeoutSeconds);
        PolicyViolation? violation;
        try
        {
            violation = await _policy.CheckAsync(@namespace, shape, cancellationToken).ConfigureAwait(false);
        }
        catch (PolicyUnavailableException ex)
        {
            return ServiceError.Unavailable("Policy unavailable", $"namespace policy could not be evaluated: {ex.Message}; retry");
        }

        return violation is null
            ? null
            : ServiceError.Forbidden($"PreviewSandboxPolicy '{violation.Policy}' rule '{violation.Rule}': {violation.Message}", "Forbidden by namespace policy",
                new Dictionary<string, object?> { ["policy"] = violation.Policy, ["rule"] = violation.Rule });
    }
}
