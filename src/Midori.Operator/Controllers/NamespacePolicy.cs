using System.Text.RegularExpressions;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Controllers;

/// <summary>What a preview asks for, as far as namespace policy is concerned (from a PreviewSandbox spec or an API request).</summary>
public sealed record SandboxRequestShape(
    string Provider,
    string? Template,
    string? Command,
    IReadOnlyCollection<string> EnvNames,
    int TtlSeconds,
    int IdleTimeoutSeconds)
{
    public static SandboxRequestShape Of(PreviewSandboxSpec spec, string effectiveProvider) => new(
        effectiveProvider,
        string.IsNullOrEmpty(spec.Template) ? null : spec.Template,
        string.IsNullOrWhiteSpace(spec.Command) ? null : spec.Command,
        [.. (spec.Env ?? []).Select(e => e.Name).Where(n => n.Length > 0).Distinct(StringComparer.Ordinal)],
        spec.EffectiveTtlSeconds(),
        spec.EffectiveIdleTimeoutSeconds());
}

/// <summary>A refusal: which policy, which rule (a spec path such as <c>command.patterns</c>), and why.</summary>
public sealed record PolicyViolation(string Policy, string Rule, string Message)
{
    public override string ToString() => $"PreviewSandboxPolicy {Policy}, rule {Rule}: {Message}";
}

/// <summary>
/// Pure decisions about PreviewSandboxPolicies: which apply to a namespace, and whether a request satisfies them all.
/// Several matching policies combine to the most restrictive: the request must satisfy each one.
/// </summary>
public static class NamespacePolicy
{
    private static readonly TimeSpan RegexTimeout = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// The policies that apply to a namespace with these labels: every one whose selector matches; when none does, the
    /// named default policy (selector ignored) if one is configured; when that does not exist, a refusal (fail closed).
    /// </summary>
    public static (IReadOnlyList<V1Alpha1PreviewSandboxPolicy> Policies, PolicyViolation? Missing) Applicable(
        IEnumerable<V1Alpha1PreviewSandboxPolicy> policies, IReadOnlyDictionary<string, string> namespaceLabels, string? defaultPolicy)
    {
        var all = policies.ToList();
        var matching = all.Where(p => Matches(p.Spec.NamespaceSelector, namespaceLabels)).OrderBy(p => p.Metadata.Name, StringComparer.Ordinal).ToList();
        if (matching.Count > 0 || string.IsNullOrEmpty(defaultPolicy))
        {
            return (matching, null);
        }

        var fallback = all.FirstOrDefault(p => p.Metadata.Name == defaultPolicy);
        return fallback is null
            ? ([], new PolicyViolation(defaultPolicy, "default", $"no PreviewSandboxPolicy selects this namespace and the default policy '{defaultPolicy}' does not exist"))
            : ([fallback], null);
    }

    /// <summary>The first rule the request breaks, in policy-name order; null when every policy allows it.</summary>
    public static PolicyViolation? Evaluate(IEnumerable<V1Alpha1PreviewSandboxPolicy> policies, SandboxRequestShape request)
    {
        foreach (var policy in policies)
        {
            if (Check(policy.Metadata.Name ?? string.Empty, policy.Spec, request) is { } violation)
            {
                return violation;
            }
        }

        return null;
    }

    /// <summary>Kubernetes label-selector semantics: an unset or empty selector matches everything.</summary>
    public static bool Matches(V1LabelSelector? selector, IReadOnlyDictionary<string, string> labels)
    {
        if (selector is null)
        {
            return true;
        }

        foreach (var (key, value) in selector.MatchLabels ?? new Dictionary<string, string>())
        {
            if (!labels.TryGetValue(key, out var actual) || actual != value)
            {
                return false;
            }
        }

        foreach (var requirement in selector.MatchExpressions ?? [])
        {
            var has = labels.TryGetValue(requirement.Key, out var actual);
            var values = requirement.Values ?? [];
            var ok = requirement.OperatorProperty switch
            {
                "In" => has && values.Contains(actual!),
                "NotIn" => !has || !values.Contains(actual!),
                "Exists" => has,
                "DoesNotExist" => !has,
                _ => false, // unknown operators select nothing (the CRD schema admits only the four above)
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    private static PolicyViolation? Check(string name, PreviewSandboxPolicySpec spec, SandboxRequestShape request)
    {
        if (spec.Providers is { } providers && !providers.Contains(request.Provider, StringComparer.OrdinalIgnoreCase))
        {
            return new(name, "providers", $"provider '{request.Provider}' is not allowed; allowed: {List(providers)}");
        }

        if (spec.Templates is { } templates && request.Template is { } template && !templates.Contains(template, StringComparer.Ordinal))
        {
            return new(name, "templates", $"template '{template}' is not allowed; allowed: {List(templates)}");
        }

        if (request.Command is { } command && spec.Command is { } commandPolicy)
        {
            if (commandPolicy.Allowed == false)
            {
                return new(name, "command.allowed", "a custom command is not allowed; leave command empty to run the provider's default dev server");
            }

            if (commandPolicy.Patterns is { Count: > 0 } patterns && !patterns.Any(p => FullMatch(p, command)))
            {
                return new(name, "command.patterns", $"command does not match any allowed pattern ({List(patterns)})");
            }
        }

        if (spec.Env is { } env)
        {
            foreach (var variable in request.EnvNames.Order(StringComparer.Ordinal))
            {
                if (env.Denied is { } denied && denied.Any(d => NameMatches(d, variable)))
                {
                    return new(name, "env.denied", $"env '{variable}' is denied");
                }

                if (env.Allowed is { } allowed && !allowed.Any(a => NameMatches(a, variable)))
                {
                    return new(name, "env.allowed", $"env '{variable}' is not in the allowed names ({List(allowed)})");
                }
            }
        }

        return Bounds(name, "ttlSeconds", spec.TtlSeconds, request.TtlSeconds) ?? Bounds(name, "idleTimeoutSeconds", spec.IdleTimeoutSeconds, request.IdleTimeoutSeconds);
    }

    private static PolicyViolation? Bounds(string name, string field, PreviewSandboxBounds? bounds, int value) => bounds switch
    {
        { Min: { } min } when value < min => new(name, field + ".min", $"{field} {value} is below the minimum {min}"),
        { Max: { } max } when value > max => new(name, field + ".max", $"{field} {value} is above the maximum {max}"),
        _ => null,
    };

    /// <summary>Exact name, <c>PREFIX*</c> or <c>*SUFFIX</c> (a lone <c>*</c> matches every name).</summary>
    public static bool NameMatches(string pattern, string name) => pattern switch
    {
        "*" => true,
        [.. var prefix, '*'] => name.StartsWith(prefix, StringComparison.Ordinal),
        ['*', .. var suffix] => name.EndsWith(suffix, StringComparison.Ordinal),
        _ => string.Equals(pattern, name, StringComparison.Ordinal),
    };

    private static bool FullMatch(string pattern, string command)
    {
        try
        {
            return Regex.IsMatch(command, $"^(?:{pattern})\\z", RegexOptions.CultureInvariant, RegexTimeout);
        }
        catch (Exception ex) when (ex is ArgumentException or RegexMatchTimeoutException)
        {
            return false; // an invalid or runaway pattern allows nothing (fail closed)
        }
    }

    private static string List(IEnumerable<string> items) => string.Join(", ", items.Select(i => $"'{i}'"));
}
