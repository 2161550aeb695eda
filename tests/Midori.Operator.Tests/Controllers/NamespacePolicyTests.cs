using k8s.Models;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;

namespace Midori.Operator.Tests.Controllers;

/// <summary>The pure namespace-policy decisions, as a table: request shape × policies → first violated rule (or allowed).</summary>
public sealed class NamespacePolicyTests
{
    private static readonly IReadOnlyDictionary<string, string> TeamA = new Dictionary<string, string>
    {
        ["kubernetes.io/metadata.name"] = "team-a",
        ["midori.dev/tenant"] = "external",
    };

    private static SandboxRequestShape Request(string provider = "e2b", string? template = null, string? command = null, string[]? env = null, int ttl = 1800, int idle = 300) =>
        new(provider, template, command, env ?? [], ttl, idle);

    private static V1Alpha1PreviewSandboxPolicy Policy(string name, Action<PreviewSandboxPolicySpec> configure, V1LabelSelector? selector = null)
    {
        var policy = new V1Alpha1PreviewSandboxPolicy { Metadata = new V1ObjectMeta { Name = name }, Spec = new PreviewSandboxPolicySpec { NamespaceSelector = selector } };
        configure(policy.Spec);
        return policy;
    }

    public static TheoryData<string, SandboxRequestShape, V1Alpha1PreviewSandboxPolicy[], string?> Table() => new()
    {
        // case, request, policies, expected "policy/rule" (null = allowed)
        { "no policy", Request(command: "rm -rf /"), [], null },
        { "empty policy allows all", Request(command: "npm run dev", env: ["A"]), [Policy("p", _ => { })], null },
        { "provider allowed", Request(provider: "e2b"), [Policy("p", s => s.Providers = ["e2b", "daytona"])], null },
        { "provider refused", Request(provider: "local"), [Policy("p", s => s.Providers = ["e2b"])], "p/providers" },
        { "template allowed", Request(template: "vite"), [Policy("p", s => s.Templates = ["vite"])], null },
        { "template refused", Request(template: "gpu"), [Policy("p", s => s.Templates = ["vite"])], "p/templates" },
        { "no template with a template list", Request(), [Policy("p", s => s.Templates = ["vite"])], null },
        { "command refused", Request(command: "node x.js"), [Policy("p", s => s.Command = new() { Allowed = false })], "p/command.allowed" },
        { "no command when commands refused", Request(), [Policy("p", s => s.Command = new() { Allowed = false })], null },
        { "command matches pattern", Request(command: "npm run dev"), [Policy("p", s => s.Command = new() { Patterns = ["npm run (dev|start)"] })], null },
        { "command must match in full", Request(command: "npm run dev; cat /etc/passwd"), [Policy("p", s => s.Command = new() { Patterns = ["npm run (dev|start)"] })], "p/command.patterns" },
        { "trailing newline is not a full match", Request(command: "npm run dev\n"), [Policy("p", s => s.Command = new() { Patterns = ["npm run dev"] })], "p/command.patterns" },
        { "invalid pattern allows nothing", Request(command: "npm run dev"), [Policy("p", s => s.Command = new() { Patterns = ["(unclosed"] })], "p/command.patterns" },
        { "env allowed by prefix", Request(env: ["PUBLIC_URL", "NODE_ENV"]), [Policy("p", s => s.Env = new() { Allowed = ["PUBLIC_*", "NODE_ENV"] })], null },
        { "env not in allowed", Request(env: ["NODE_ENV", "SECRET"]), [Policy("p", s => s.Env = new() { Allowed = ["PUBLIC_*", "NODE_ENV"] })], "p/env.allowed" },
        { "env denied by suffix wins over allowed", Request(env: ["PUBLIC_TOKEN"]), [Policy("p", s => s.Env = new() { Allowed = ["PUBLIC_*"], Denied = ["*_TOKEN"] })], "p/env.denied" },
        { "ttl above max", Request(ttl: 7200), [Policy("p", s => s.TtlSeconds = new() { Max = 3600 })], "p/ttlSeconds.max" },
        { "ttl at max", Request(ttl: 3600), [Policy("p", s => s.TtlSeconds = new() { Max = 3600 })], null },
        { "idle below min", Request(idle: 30), [Policy("p", s => s.IdleTimeoutSeconds = new() { Min = 60 })], "p/idleTimeoutSeconds.min" },
        { "idle above max", Request(idle: 1200), [Policy("p", s => s.IdleTimeoutSeconds = new() { Max = 900 })], "p/idleTimeoutSeconds.max" },
        // several policies: each must hold, so the most restrictive combination applies
        { "two policies, each allows", Request(provider: "e2b", ttl: 1800), [Policy("a", s => s.Providers = ["e2b", "local"]), Policy("b", s => s.TtlSeconds = new() { Max = 3600 })], null },
        { "two policies, the stricter refuses", Request(provider: "local"), [Policy("a", s => s.Providers = ["e2b", "local"]), Policy("b", s => s.Providers = ["e2b"])], "b/providers" },
        { "two bounds, the lower max wins", Request(ttl: 2400), [Policy("a", s => s.TtlSeconds = new() { Max = 3600 }), Policy("b", s => s.TtlSeconds = new() { Max = 2000 })], "b/ttlSeconds.max" },
        { "one allows commands, another refuses", Request(command: "npm start"), [Policy("a", s => s.Command = new() { Allowed = true }), Policy("b", s => s.Command = new() { Allowed = false })], "b/command.allowed" },
        { "selector does not match: policy ignored", Request(provider: "local"), [Policy("p", s => s.Providers = ["e2b"], new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["midori.dev/tenant"] = "internal" } })], null },
        { "selector by name matches", Request(provider: "local"), [Policy("p", s => s.Providers = ["e2b"], new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = "team-a" } })], "p/providers" },
        { "NotIn excludes this namespace", Request(provider: "local"), [Policy("p", s => s.Providers = ["e2b"], new V1LabelSelector { MatchExpressions = [new V1LabelSelectorRequirement { Key = "midori.dev/tenant", OperatorProperty = "NotIn", Values = ["external"] }] })], null },
        { "Exists matches", Request(provider: "local"), [Policy("p", s => s.Providers = ["e2b"], new V1LabelSelector { MatchExpressions = [new V1LabelSelectorRequirement { Key = "midori.dev/tenant", OperatorProperty = "Exists" }] })], "p/providers" },
        { "DoesNotExist excludes", Request(provider: "local"), [Policy("p", s => s.Providers = ["e2b"], new V1LabelSelector { MatchExpressions = [new V1LabelSelectorRequirement { Key = "midori.dev/tenant", OperatorProperty = "DoesNotExist" }] })], null },
    };

    [Theory]
    [MemberData(nameof(Table), DisableDiscoveryEnumeration = true)]
    public void Evaluate_DecisionTable(string @case, SandboxRequestShape request, V1Alpha1PreviewSandboxPolicy[] policies, string? expected)
    {
        // act
        var (applicable, missing) = NamespacePolicy.Applicable(policies, TeamA, defaultPolicy: null);
        var violation = NamespacePolicy.Evaluate(applicable, request);

        // assert
        Assert.Null(missing);
        Assert.True(expected == (violation is null ? null : $"{violation.Policy}/{violation.Rule}"), $"{@case}: expected {expected ?? "allowed"}, got {violation?.ToString() ?? "allowed"}");
    }

    [Fact]
    public void Applicable_NoneMatches_DefaultPolicyApplies_WhateverItsSelector()
    {
        // arrange
        var fallback = Policy("default", s => s.Command = new() { Allowed = false }, new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["nothing"] = "matches" } });

        // act
        var (applicable, missing) = NamespacePolicy.Applicable([fallback], TeamA, "default");

        // assert
        Assert.Null(missing);
        Assert.Equal("command.allowed", NamespacePolicy.Evaluate(applicable, Request(command: "x"))?.Rule);
    }

    [Fact]
    public void Applicable_SomeMatch_DefaultPolicyNotAdded()
    {
        // arrange
        var fallback = Policy("default", s => s.Command = new() { Allowed = false });
        var own = Policy("own", _ => { }, new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["midori.dev/tenant"] = "external" } });
        fallback.Spec.NamespaceSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["nothing"] = "matches" } };

        // act
        var (applicable, _) = NamespacePolicy.Applicable([fallback, own], TeamA, "default");

        // assert
        Assert.Equal(["own"], applicable.Select(p => p.Metadata.Name));
    }

    [Fact]
    public void Applicable_DefaultPolicyConfiguredButMissing_RefusesEverything()
    {
        // act
        var (applicable, missing) = NamespacePolicy.Applicable([], TeamA, "baseline");

        // assert
        Assert.Empty(applicable);
        Assert.Equal(("baseline", "default"), (missing?.Policy, missing?.Rule));
    }

    [Theory]
    [InlineData("NODE_ENV", "NODE_ENV", true)]
    [InlineData("NODE_ENV", "NODE_ENVX", false)]
    [InlineData("PUBLIC_*", "PUBLIC_URL", true)]
    [InlineData("PUBLIC_*", "PRIVATE_URL", false)]
    [InlineData("*_TOKEN", "GITHUB_TOKEN", true)]
    [InlineData("*_TOKEN", "TOKEN_X", false)]
    [InlineData("*", "ANYTHING", true)]
    public void NameMatches_ExactPrefixSuffix(string pattern, string name, bool expected) => Assert.Equal(expected, NamespacePolicy.NameMatches(pattern, name));
}
