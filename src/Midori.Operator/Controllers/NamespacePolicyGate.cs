using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Kubernetes;
using Midori.Operator.Runtime;

namespace Midori.Operator.Controllers;

/// <summary>Namespace policy settings, bound from <c>Policy</c>.</summary>
public sealed class PolicyOptions
{
    public const string SectionName = "Policy";

    /// <summary>
    /// Name of a PreviewSandboxPolicy applied to namespaces no policy selects (its own selector is ignored). Unset: such
    /// namespaces are unrestricted, as before policies existed. Set but missing: everything is refused (fail closed).
    /// </summary>
    [System.ComponentModel.DataAnnotations.RegularExpression("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]
    public string? DefaultPolicy { get; set; }

    /// <summary>How long a decision waits for the first list of policies before it answers "not available".</summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan SyncWait { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>The policies could not be evaluated (not listed yet, or the namespace could not be read): the caller must not act.</summary>
public sealed class PolicyUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Where the HTTP API and the reconciler ask "may this namespace have this preview?": the cached policies, the
/// namespace's labels and <see cref="NamespacePolicy"/>'s pure decision.
/// </summary>
public sealed class NamespacePolicyGate(PreviewSandboxPolicyCache cache, IOptions<PolicyOptions> options, TimeProvider time)
{
    private readonly PolicyOptions _options = options.Value;

    /// <summary>The violated rule, or null when allowed. Throws <see cref="PolicyUnavailableException"/> when it cannot tell.</summary>
    public async Task<PolicyViolation?> CheckAsync(string @namespace, SandboxRequestShape request, CancellationToken cancellationToken)
    {
        if (!cache.IsSynced)
        {
            try
            {
                await cache.Synced.WaitAsync(_options.SyncWait, time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException ex)
            {
                throw new PolicyUnavailableException("PreviewSandboxPolicies have not been loaded yet", ex);
            }
        }

        var policies = cache.Policies;
        if (policies.Count == 0 && string.IsNullOrEmpty(_options.DefaultPolicy))
        {
            return null;
        }

        IReadOnlyDictionary<string, string> labels;
        if (policies.All(p => p.Spec.NamespaceSelector is null or { MatchLabels: null or { Count: 0 }, MatchExpressions: null or { Count: 0 } }))
        {
            labels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = @namespace }; // no selector needs labels
        }
        else
        {
            try
            {
                labels = await cache.GetNamespaceLabelsAsync(@namespace, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is k8s.Autorest.HttpOperationException or HttpRequestException)
            {
                throw new PolicyUnavailableException($"could not read namespace {@namespace}: {ex.Message}", ex);
            }
        }

        var (applicable, missing) = NamespacePolicy.Applicable(policies, labels, _options.DefaultPolicy);
        return missing ?? NamespacePolicy.Evaluate(applicable, request);
    }
}
