using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;
using static Midori.Operator.Tests.Http.ApiTestHost;
using Midori.Operator.Tests.Http;
using Midori.Operator.Tests.Http.Endpoints;

namespace Midori.Operator.Tests.Controllers;

/// <summary>
/// PreviewSandboxPolicy enforced end to end against the dev API server: the HTTP API refuses before anything is stored
/// or created (403 naming policy and rule); objects applied directly (kubectl, GitOps) get Ready=False reason
/// PolicyDenied and nothing at the provider. A namespace no policy selects is unrestricted.
/// </summary>
public sealed class NamespacePolicyEnforcementTests : IAsyncLifetime
{
    private const string PolicyName = "team-a-rules";
    private ApiTestHost _host = null!;

    public async Task InitializeAsync() => _host = await StartAsync(beforeStart: async server =>
    {
        await server.ApplyCrdAsync(RepositoryPaths.PolicyCrdFile);
        using var client = new k8s.Kubernetes(server.CreateClientConfiguration());
        var policy = new V1Alpha1PreviewSandboxPolicy
        {
            Metadata = new V1ObjectMeta { Name = PolicyName },
            Spec = new PreviewSandboxPolicySpec
            {
                NamespaceSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = TeamA } },
                Providers = ["local"],
                Command = new PreviewSandboxCommandPolicy { Allowed = false },
                Env = new PreviewSandboxEnvPolicy { Denied = ["*_TOKEN"] },
                TtlSeconds = new PreviewSandboxBounds { Max = 3600 },
            },
        };
        await client.CustomObjects.CreateClusterCustomObjectAsync(policy, GroupVersion.Group, GroupVersion.Version, PolicyGroupVersion.Plural);
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Theory]
    [InlineData("command", "command.allowed")]
    [InlineData("env", "env.denied")]
    [InlineData("ttl", "ttlSeconds.max")]
    public async Task Api_RequestBreakingTheNamespacePolicy_403NamingPolicyAndRule_NothingCreated(string what, string rule)
    {
        // arrange
        using var client = _host.Client(TokenA);
        object body = what switch
        {
            "command" => new { projectId = "p-" + what, command = "cat /proc/1/environ", files = new[] { TextFile("index.html", "x") } },
            "env" => new { projectId = "p-" + what, env = new[] { new { name = "GITHUB_TOKEN", value = "x" } }, files = new[] { TextFile("index.html", "x") } },
            _ => new { projectId = "p-" + what, ttlSeconds = 7200, idleTimeoutSeconds = 300, files = new[] { TextFile("index.html", "x") } },
        };

        // act
        var response = await client.PostAsJsonAsync(Previews(TeamA), body);

        // assert
        var problem = await PreviewApiTests.AssertProblemAsync(response, HttpStatusCode.Forbidden, $"PreviewSandboxPolicy '{PolicyName}' rule '{rule}'");
        Assert.Equal(PolicyName, (string?)problem["policy"]);
        Assert.Equal(rule, (string?)problem["rule"]);
        var list = await _host.Kubernetes.CustomObjects.ListNamespacedCustomObjectAsync<V1Alpha1PreviewSandboxList>(GroupVersion.Group, GroupVersion.Version, TeamA, GroupVersion.Plural);
        Assert.Empty(list.Items);
        Assert.Equal(0, _host.Provider.CreateCalls);
    }

    [Fact]
    public async Task Api_AllowedRequest_AndAnUnselectedNamespace_AreServedAsBefore()
    {
        // arrange
        using var client = _host.Client();

        // act
        var allowed = await _host.CreateReadyAsync(TeamA, "allowed", TextFile("index.html", "ok"));
        var other = await client.PostAsJsonAsync($"{Previews(TeamB)}?wait=true&timeoutSeconds=30",
            new { projectId = "free", command = "npm run dev", files = new[] { TextFile("index.html", "x") } });

        // assert
        Assert.True((bool)allowed["ready"]!);
        Assert.True(other.IsSuccessStatusCode, await other.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Reconciler_ObjectAppliedDirectlyBreakingThePolicy_ReadyFalsePolicyDenied_NothingAtTheProvider_ThenFixedAndRuns()
    {
        // arrange
        var resource = new PreviewSandboxBuilder().Named("kubectl-applied", TeamA).Build();
        resource.Spec.Command = "curl http://169.254.169.254/";

        // act
        await _host.Kubernetes.CustomObjects.CreateNamespacedCustomObjectAsync(resource, GroupVersion.Group, GroupVersion.Version, TeamA, GroupVersion.Plural);
        var denied = await _host.WaitForAsync(TeamA, "kubectl-applied", p => Ready(p)?.Reason == PreviewSandboxConditions.Reasons.PolicyDenied);
        var createsWhileDenied = _host.Provider.CreateCalls;
        await _host.Kubernetes.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(new JsonObject { ["spec"] = new JsonObject { ["command"] = null } }.ToJsonString(), V1Patch.PatchType.MergePatch),
            GroupVersion.Group, GroupVersion.Version, TeamA, GroupVersion.Plural, "kubectl-applied");
        var running = await _host.WaitForAsync(TeamA, "kubectl-applied", p => Ready(p)?.Status == "True");

        // assert
        var condition = Ready(denied)!;
        Assert.Equal("False", condition.Status);
        Assert.Contains($"PreviewSandboxPolicy {PolicyName}, rule command.allowed", condition.Message, StringComparison.Ordinal);
        Assert.Equal(denied!.Metadata.Generation, condition.ObservedGeneration);
        Assert.Null(denied.Status!.SandboxId);
        Assert.Equal(0, createsWhileDenied);
        Assert.Equal(Phases.Running, running!.Status!.Phase);
    }

    [Fact]
    public async Task Reconciler_RunningPreviewChangedToBreakThePolicy_SandboxRemovedAndPolicyDenied()
    {
        // arrange
        var created = await _host.CreateReadyAsync(TeamA, "tightened", TextFile("index.html", "ok"));
        var name = (string)created["name"]!;
        var sandboxId = (await _host.GetResourceAsync(TeamA, name)).Status!.SandboxId!;

        // act: someone edits the object directly, adding a credential-looking variable
        await _host.Kubernetes.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(new JsonObject { ["spec"] = new JsonObject { ["env"] = new JsonArray(new JsonObject { ["name"] = "NPM_TOKEN", ["value"] = "x" }) } }.ToJsonString(), V1Patch.PatchType.MergePatch),
            GroupVersion.Group, GroupVersion.Version, TeamA, GroupVersion.Plural, name);
        var denied = await _host.WaitForAsync(TeamA, name, p => Ready(p)?.Reason == PreviewSandboxConditions.Reasons.PolicyDenied);

        // assert
        Assert.Contains("rule env.denied", Ready(denied)!.Message, StringComparison.Ordinal);
        Assert.Null(_host.Provider.Find(sandboxId));
        Assert.Null(denied!.Status!.SandboxId); // previewUrl stays: it is the gateway's stable address
    }

    private static V1Condition? Ready(V1Alpha1PreviewSandbox? resource) =>
        resource?.Status?.Conditions?.FirstOrDefault(c => c.Type == PreviewSandboxConditions.Ready);
}
