using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;
using NLua;

namespace Midori.Operator.Tests.GitOps;

/// <summary>
/// config/argocd/health.lua run for real (Lua 5.4 through NLua; the script sticks to Lua 5.1, which Argo CD embeds) on
/// objects the real reconciler produced in each state, plus hand-written edge cases. The same objects are checked
/// against kstatus' rules (Flux, kpt): observedGeneration, Reconciling, Stalled.
/// </summary>
[Trait("Category", "GitOps")]
public sealed class ArgoCdHealthTests
{
    private static readonly string Script = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "config", "argocd", "health.lua"));

    [Fact]
    public async Task Health_RealReconcilerStates_VerdictsAndKstatus()
    {
        // arrange: one harness per state, driven by the real reconciler
        var cases = new List<(string Name, V1Alpha1PreviewSandbox Object, string Health, string Kstatus)>();

        var fresh = new ReconcilerHarness();
        fresh.Client.Create(new PreviewSandboxBuilder().Build());
        cases.Add(("not reconciled yet", fresh.Get(), "Progressing", "InProgress"));

        var running = new ReconcilerHarness();
        running.Client.Create(new PreviewSandboxBuilder().Build());
        await running.ReconcileAsync();
        cases.Add(("running", running.Get(), "Healthy", "Current"));

        running.Client.UpdateSpec("default", "demo", s => s.Command = "npm run dev");
        cases.Add(("spec changed, not yet observed", running.Get(), "Progressing", "InProgress"));

        var retrying = new ReconcilerHarness();
        retrying.Client.Create(new PreviewSandboxBuilder().Build());
        retrying.Provider.FailNextCreate();
        await retrying.ReconcileAsync();
        cases.Add(("create failed, retrying", retrying.Get(), "Progressing", "InProgress"));

        var failed = new ReconcilerHarness();
        failed.Client.Create(new PreviewSandboxBuilder().WithRecreate(maxAttempts: 1, cooldownSeconds: 0).Build());
        failed.Provider.FailNextCreate();
        failed.Provider.FailNextCreate();
        await failed.ReconcileAsync();
        await failed.ReconcileAsync();
        await failed.ReconcileAsync();
        cases.Add(("failed", failed.Get(), "Degraded", "Failed"));

        var suspended = new ReconcilerHarness();
        suspended.Client.Create(new PreviewSandboxBuilder().Suspended().Build());
        await suspended.ReconcileAsync();
        cases.Add(("suspended", suspended.Get(), "Suspended", "Current"));

        var expired = new ReconcilerHarness();
        expired.Client.Create(new PreviewSandboxBuilder().WithIdleTimeout(60).Build());
        await expired.ReconcileAsync();
        expired.Time.Advance(TimeSpan.FromSeconds(61));
        await expired.ReconcileAsync();
        cases.Add(("idle expired", expired.Get(), "Suspended", "Current"));

        // act / assert
        foreach (var (name, resource, health, kstatus) in cases)
        {
            var json = JsonNode.Parse(KubernetesJson.Serialize(resource))!.AsObject();
            var verdict = RunHealthCheck(json);
            Assert.True(health == verdict.Status, $"{name}: Argo CD health {verdict.Status} ({verdict.Message}), expected {health}; status {json["status"]?.ToJsonString()}");
            Assert.False(string.IsNullOrEmpty(verdict.Message), $"{name}: no message");
            Assert.True(kstatus == Kstatus(json), $"{name}: kstatus {Kstatus(json)}, expected {kstatus}; status {json["status"]?.ToJsonString()}");
        }
    }

    public static TheoryData<string, string> EdgeCases => new()
    {
        // just created: the CRD's status default only, before the operator has written anything
        { """{"metadata":{"generation":1},"status":{"phase":"Pending"}}""", "Progressing" },
        // phase Running but Ready=False (probe failures being handled): still in progress, not healthy
        { """{"metadata":{"generation":2},"status":{"phase":"Running","observedGeneration":2,"conditions":[{"type":"Ready","status":"False","message":"probing"},{"type":"Progressing","status":"True"}]}}""", "Progressing" },
        // a problem the operator is not retrying (e.g. provider not configured): degraded
        { """{"metadata":{"generation":1},"status":{"phase":"Pending","observedGeneration":1,"conditions":[{"type":"Ready","status":"False","message":"Provider 'x' is not configured"},{"type":"Progressing","status":"False"},{"type":"Degraded","status":"True","message":"Provider 'x' is not configured"}]}}""", "Degraded" },
        // Stalled=True wins even if an old phase lingers
        { """{"metadata":{"generation":1},"status":{"phase":"Recreating","observedGeneration":1,"conditions":[{"type":"Stalled","status":"True","message":"gave up"}]}}""", "Degraded" },
        // status written by an older operator without observedGeneration
        { """{"metadata":{"generation":1},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}""", "Progressing" },
        // no metadata.generation at all (never happens for CRs, must not crash)
        { """{"metadata":{},"status":{"phase":"Running","previewUrl":"https://x","conditions":[{"type":"Ready","status":"True"}]}}""", "Healthy" },
        { """{"metadata":{"generation":1},"status":{}}""", "Progressing" },
    };

    [Theory]
    [MemberData(nameof(EdgeCases))]
    public void Health_EdgeCases(string json, string expected)
    {
        // act
        var verdict = RunHealthCheck(JsonNode.Parse(json)!.AsObject());

        // assert: never "Missing" — Argo CD itself reports Missing when the object is absent and never calls the script then
        Assert.Equal(expected, verdict.Status);
        Assert.NotEqual("Missing", verdict.Status);
    }

    [Fact]
    public void ArgoCdConfigMapPatch_EmbedsTheScriptVerbatim_AndIgnoresHeartbeatAndStatusUpdates()
    {
        // arrange
        var configMap = Packaging.Manifests.Load("config", "argocd", "argocd-cm-patch.yaml").Single("ConfigMap");
        var data = configMap["data"]!.AsObject();

        // assert
        Assert.Equal(Script, (string?)data["resource.customizations.health.preview.midori.dev_PreviewSandbox"]);
        var ignoreUpdates = (string)data["resource.customizations.ignoreResourceUpdates.preview.midori.dev_PreviewSandbox"]!;
        Assert.Contains("/status", ignoreUpdates, StringComparison.Ordinal);
        Assert.Contains($".metadata.annotations[\"{GroupVersion.HeartbeatAnnotation}\"]", ignoreUpdates, StringComparison.Ordinal);
        Assert.Equal("true", (string?)data["resource.ignoreResourceUpdatesEnabled"]);
        Assert.Contains(GroupVersion.HeartbeatAnnotation, (string)data["resource.customizations.ignoreDifferences.preview.midori.dev_PreviewSandbox"]!, StringComparison.Ordinal);
    }

    /// <summary>Runs the script the way Argo CD does: a chunk with the live object in the global <c>obj</c>, returning a table.</summary>
    private static (string? Status, string? Message) RunHealthCheck(JsonObject resource)
    {
        using var lua = new Lua();
        lua.DoString("obj = " + ToLua(resource));
        var returned = lua.DoString(Script);
        var table = Assert.IsType<LuaTable>(Assert.Single(returned));
        return (table["status"] as string, table["message"] as string);
    }

    /// <summary>kstatus' generic rules for custom resources (sigs.k8s.io/cli-utils/pkg/kstatus).</summary>
    private static string Kstatus(JsonObject resource)
    {
        var generation = (long?)resource["metadata"]?["generation"];
        var observed = (long?)resource["status"]?["observedGeneration"];
        if (generation is not null && observed != generation)
        {
            return "InProgress";
        }

        foreach (var condition in resource["status"]?["conditions"]?.AsArray() ?? [])
        {
            if ((string?)condition!["type"] == "Reconciling" && (string?)condition["status"] == "True")
            {
                return "InProgress";
            }

            if ((string?)condition["type"] == "Stalled" && (string?)condition["status"] == "True")
            {
                return "Failed";
            }
        }

        return "Current";
    }

    /// <summary>A Lua table constructor for a JSON value (JSON null becomes nil, as in Argo CD's conversion).</summary>
    private static string ToLua(JsonNode? node) => node switch
    {
        null => "nil",
        JsonObject o => "{" + string.Join(",", o.Select(p => $"[{Quote(p.Key)}]={ToLua(p.Value)}")) + "}",
        JsonArray a => "{" + string.Join(",", a.Select(ToLua)) + "}",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => Quote(v.GetValue<string>()),
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>() ? "true" : "false",
        JsonValue v => Convert.ToString(v.GetValue<double>(), CultureInfo.InvariantCulture),
        _ => throw new ArgumentException($"unexpected JSON node {node}"),
    };

    private static string Quote(string text)
    {
        var builder = new StringBuilder("\"");
        foreach (var c in text)
        {
            builder.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                _ when c < ' ' => $"\\{(int)c:D3}",
                _ => c.ToString(),
            });
        }

        return builder.Append('"').ToString();
    }
}
