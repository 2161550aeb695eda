using System.Reflection;
using System.Text.Json.Nodes;
using Midori.Operator.Diagnostics.Telemetry;
using Midori.Operator.Options;
using Midori.Operator.Providers.Local;
using Midori.Operator.Testing;

namespace Midori.Operator.Tests.Packaging;

/// <summary>
/// charts/midori-operator: `helm lint --strict`, `helm template` with default values and with everything on, and
/// checks of the rendered objects (restricted Pod Security, probes, HA defaults, env mapped to real option names, CRD
/// and RBAC identical to config/).
/// </summary>
[Trait("Category", "Packaging")]
public sealed class HelmChartTests
{
    private const string Chart = "charts/midori-operator";
    private const string EverythingOn = "charts/midori-operator/ci/everything-on-values.yaml";

    public static TheoryData<string> Variants => new() { "default", "everything-on" };

    [HelmFact]
    public void Lint_Strict_DefaultAndEverythingOn_Pass()
    {
        // act
        var plain = ExternalTool.Helm.Run($"lint --strict {Chart}");
        var full = ExternalTool.Helm.Run($"lint --strict {Chart} -f {EverythingOn}");

        // assert
        Assert.Contains("0 chart(s) failed", plain.Stdout, StringComparison.Ordinal);
        Assert.Contains("0 chart(s) failed", full.Stdout, StringComparison.Ordinal);
    }

    [HelmFact]
    public void Template_Default_RendersTheExpectedObjects()
    {
        // act
        var manifests = Render();

        // assert
        Assert.Equal(
            ["ClusterRole", "ClusterRole", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "CustomResourceDefinition", "CustomResourceDefinition", "Deployment", "PodDisruptionBudget", "Role", "RoleBinding", "Secret", "Service", "Service", "ServiceAccount"],
            manifests.Kinds.Order(StringComparer.Ordinal));
        var deployment = manifests.Single("Deployment");
        Assert.Equal(2, (int)Manifests.At(deployment, "spec.replicas")!);
        Assert.Equal("true", Env(deployment)["LeaderElection__Enabled"]);
        Assert.Equal("midori-system", (string?)Manifests.At(deployment, "metadata.namespace"));
        Assert.Equal(1, (int)Manifests.At(manifests.Single("PodDisruptionBudget"), "spec.minAvailable")!);
        var service = manifests.OfKind("Service").Single(s => (string?)Manifests.At(s, "metadata.name") == "rel-midori-operator");
        Assert.Equal("http", (string?)Manifests.At(service, "spec.ports.0.targetPort"));

        // the gateway: its own Service on the same port, path-based URLs on it, a generated signing key mounted as files
        var gateway = manifests.OfKind("Service").Single(s => (string?)Manifests.At(s, "metadata.name") == "rel-midori-operator-gateway");
        Assert.Equal((80, "http"), ((int)Manifests.At(gateway, "spec.ports.0.port")!, (string?)Manifests.At(gateway, "spec.ports.0.targetPort")));
        var env = Env(deployment);
        Assert.Equal("http://rel-midori-operator-gateway.midori-system.svc:80", env["Gateway__PublicBaseUrl"]);
        var keys = manifests.Single("Secret");
        Assert.Equal("rel-midori-operator-gateway-keys", (string?)Manifests.At(keys, "metadata.name"));
        var key = Convert.FromBase64String(System.Text.Encoding.ASCII.GetString(Convert.FromBase64String((string)Manifests.At(keys, "data.k1")!)));
        Assert.True(key.Length >= Midori.Operator.Gateway.SigningKeyRing.MinKeyBytes);
        var volume = Manifests.At(deployment, "spec.template.spec.volumes")!.AsArray().Single(v => (string?)v!["name"] == "gateway-keys")!;
        Assert.Equal("rel-midori-operator-gateway-keys", (string?)Manifests.At(volume, "secret.secretName"));
        Assert.Equal(env["Gateway__SigningKeysDirectory"], (string?)Container(deployment)["volumeMounts"]!.AsArray().Single(m => (string?)m!["name"] == "gateway-keys")!["mountPath"]);
    }

    [HelmFact]
    public void Template_EverythingOn_GatewayIngressHttpRouteAndCertificateForTheWildcardHost()
    {
        // act
        var manifests = Render(EverythingOn);
        var env = Env(manifests.Single("Deployment"));

        // assert
        Assert.Equal(("preview.example.com", "https://previews.example.com", "k2"), (env["Gateway__PreviewDomain"], env["Gateway__PublicBaseUrl"], env["Gateway__ActiveKeyId"]));
        Assert.DoesNotContain(manifests.OfKind("Secret"), s => ((string?)Manifests.At(s, "metadata.name"))!.EndsWith("-gateway-keys", StringComparison.Ordinal));
        var ingress = manifests.Single("Ingress");
        Assert.Equal("*.preview.example.com", (string?)Manifests.At(ingress, "spec.rules.0.host"));
        Assert.Equal("rel-midori-operator-gateway", (string?)Manifests.At(ingress, "spec.rules.0.http.paths.0.backend.service.name"));
        Assert.Equal("rel-midori-operator-gateway-tls", (string?)Manifests.At(ingress, "spec.tls.0.secretName"));
        var route = manifests.Single("HTTPRoute");
        Assert.Equal("*.preview.example.com", (string?)Manifests.At(route, "spec.hostnames.0"));
        Assert.Equal("public", (string?)Manifests.At(route, "spec.parentRefs.0.name"));
        var certificate = manifests.Single("Certificate");
        Assert.Equal("*.preview.example.com", (string?)Manifests.At(certificate, "spec.dnsNames.0"));
        Assert.Equal(("letsencrypt-dns", "rel-midori-operator-gateway-tls"), ((string?)Manifests.At(certificate, "spec.issuerRef.name"), (string?)Manifests.At(certificate, "spec.secretName")));
    }

    [HelmFact]
    public void Template_EverythingOn_SecretsServiceMonitorAndTracingWired()
    {
        // act
        var manifests = Render(EverythingOn);
        var deployment = manifests.Single("Deployment");
        var env = Env(deployment);
        var container = Container(deployment);

        // assert
        Assert.Equal("http", (string?)Manifests.At(manifests.Single("ServiceMonitor"), "spec.endpoints.0.port"));
        Assert.Equal("/metrics", (string?)Manifests.At(manifests.Single("ServiceMonitor"), "spec.endpoints.0.path"));
        Assert.Equal("midori-postgres", (string?)Manifests.At(container["env"]!.AsArray().Single(e => (string?)e!["name"] == "ConnectionStrings__Midori"), "valueFrom.secretKeyRef.name"));
        var envFrom = container["envFrom"]!.AsArray();
        Assert.Contains(envFrom, e => (string?)e!["prefix"] == "Providers__Daytona__" && (string?)Manifests.At(e, "secretRef.name") == "midori-daytona");
        Assert.Contains(envFrom, e => (string?)e!["prefix"] == "Providers__E2B__" && (string?)Manifests.At(e, "secretRef.name") == "midori-e2b");
        Assert.Contains(envFrom, e => (string?)e!["prefix"] == "Api__" && (string?)Manifests.At(e, "secretRef.name") == "midori-api-tokens");
        Assert.Equal("true", env["Api__KubernetesTokenReview"]);
        var apiAuth = manifests.OfKind("ClusterRole").Single(r => ((string?)Manifests.At(r, "metadata.name"))!.EndsWith("-api-auth", StringComparison.Ordinal));
        Assert.Equal(["authentication.k8s.io/tokenreviews:create", "authorization.k8s.io/subjectaccessreviews:create"],
            apiAuth["rules"]!.AsArray().Select(r => $"{r!["apiGroups"]![0]}/{r["resources"]![0]}:{string.Join(",", r["verbs"]!.AsArray().Select(v => (string?)v))}"));
        Assert.Equal("Otlp", env["Telemetry__TracingExporter"]);
        Assert.Equal("json", env["Logging__Console__FormatterName"]);
        Assert.Equal("daytona", env["Operator__DefaultProvider"]);
        Assert.Equal(3, (int)Manifests.At(deployment, "spec.replicas")!);
    }

    [HelmTheory]
    [MemberData(nameof(Variants))]
    public void Template_Deployment_RestrictedPodSecurityProbesAndWritableEmptyDirs(string variant)
    {
        // act
        var deployment = Render(variant == "default" ? null : EverythingOn).Single("Deployment");

        // assert
        AssertRestrictedDeployment(deployment);
    }

    [HelmTheory]
    [MemberData(nameof(Variants))]
    public void Template_EnvVars_NameRealOptions(string variant)
    {
        // arrange: every Section__Key the chart sets must bind to a property, or the setting would be silently ignored
        var sections = new Dictionary<string, Type>
        {
            ["Operator"] = typeof(OperatorOptions),
            ["LeaderElection"] = typeof(LeaderElectionOptions),
            ["Telemetry"] = typeof(TelemetryOptions),
            ["Providers__Local"] = typeof(LocalProviderOptions),
            ["Api"] = typeof(Midori.Operator.Http.HttpApiOptions),
            ["Gateway"] = typeof(Midori.Operator.Gateway.GatewayOptions),
        };

        // act
        var env = Env(Render(variant == "default" ? null : EverythingOn).Single("Deployment"));

        // assert
        foreach (var name in env.Keys.Where(n => n.Contains("__", StringComparison.Ordinal) && !n.StartsWith("Logging__", StringComparison.Ordinal) && n != "ConnectionStrings__Midori"))
        {
            var section = name[..name.LastIndexOf("__", StringComparison.Ordinal)];
            var key = name[(name.LastIndexOf("__", StringComparison.Ordinal) + 2)..];
            Assert.True(sections.TryGetValue(section, out var type), $"{name}: unknown section {section}");
            Assert.True(type.GetProperty(key, BindingFlags.Public | BindingFlags.Instance) is { CanWrite: true }, $"{name}: {type.Name} has no settable {key}");
        }
    }

    [HelmTheory]
    [InlineData("preview.midori.dev_previewsandboxes.yaml")]
    [InlineData("preview.midori.dev_previewsandboxpolicies.yaml")]
    [InlineData("preview.midori.dev_previewsandboxpools.yaml")]
    public void Template_Crd_IdenticalToConfigCrd_KeptOnUninstall(string file)
    {
        // arrange
        var config = Manifests.Load("config", "crd", "bases", file).Single("CustomResourceDefinition");

        // act
        var rendered = Render().Single("CustomResourceDefinition", (string)Manifests.At(config, "metadata.name")!);

        // assert: same object except the release labels and the keep annotation Helm adds
        Assert.Equal("keep", (string?)Manifests.At(rendered, "metadata.annotations")?["helm.sh/resource-policy"]);
        var stripped = rendered.DeepClone().AsObject();
        var metadata = stripped["metadata"]!.AsObject();
        metadata.Remove("annotations");
        var labels = metadata["labels"]!.AsObject();
        foreach (var label in labels.Select(l => l.Key).Where(k => config["metadata"]!["labels"]![k] is null).ToList())
        {
            labels.Remove(label);
        }

        Assert.True(JsonNode.DeepEquals(config, stripped), $"the chart's CRD differs from config/crd/bases/{file}");
        Assert.Equal(File.ReadAllBytes(Path.Combine(RepositoryPaths.Root, "config", "crd", "bases", file)),
            File.ReadAllBytes(Path.Combine(RepositoryPaths.Root, Chart, "files", "crds", file)));
    }

    [HelmFact]
    public void Template_CrdSwitches_DisabledOmitsIt_KeepFalseDropsThePolicy()
    {
        // act
        var disabled = Render(set: "crd.enabled=false");
        var notKept = Render(set: "crd.keep=false").Single("CustomResourceDefinition", "previewsandboxes.preview.midori.dev");

        // assert
        Assert.Empty(disabled.OfKind("CustomResourceDefinition"));
        Assert.Null(Manifests.At(notKept, "metadata.annotations"));
    }

    [HelmFact]
    public void Template_Rbac_IdenticalToConfigRbac()
    {
        // arrange
        var manifests = Render();
        var clusterRoles = manifests.OfKind("ClusterRole").ToDictionary(r => (string)r["metadata"]!["name"]!);

        // assert: the chart's copies are byte-identical to config/rbac (edit config/rbac, then copy)
        foreach (var file in new[] { "role.yaml", "leader_election_role.yaml", "previewsandbox_editor_role.yaml", "previewsandbox_viewer_role.yaml" })
        {
            Assert.True(File.ReadAllText(Path.Combine(RepositoryPaths.Root, "config", "rbac", file)) == File.ReadAllText(Path.Combine(RepositoryPaths.Root, Chart, "files", "rbac", file)),
                $"charts/midori-operator/files/rbac/{file} differs from config/rbac/{file}: copy config/rbac/{file} over it");
        }

        // assert: the rendered rules are those of config/rbac
        AssertSameRules("role.yaml", clusterRoles["rel-midori-operator-manager"]);
        AssertSameRules("leader_election_role.yaml", manifests.Single("Role"));
        AssertSameRules("previewsandbox_editor_role.yaml", clusterRoles["rel-midori-operator-previewsandbox-editor"]);
        AssertSameRules("previewsandbox_viewer_role.yaml", clusterRoles["rel-midori-operator-previewsandbox-viewer"]);
        Assert.Equal("rel-midori-operator", (string?)Manifests.At(manifests.Single("ClusterRoleBinding"), "subjects.0.name"));
        Assert.Equal("rel-midori-operator", (string?)Manifests.At(manifests.Single("ServiceAccount"), "metadata.name"));
    }

    [HelmFact]
    public void Values_UnknownKeyOrBadValue_RefusedBySchema()
    {
        // act
        var unknown = ExternalTool.Helm.Run($"template rel {Chart} --set operator.wokers=3", allowFailure: true);
        var badProvider = ExternalTool.Helm.Run($"template rel {Chart} --set operator.defaultProvider=aws", allowFailure: true);
        var badDuration = ExternalTool.Helm.Run($"template rel {Chart} --set leaderElection.leaseDuration=15s", allowFailure: true);

        // assert
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("wokers", unknown.Stderr, StringComparison.Ordinal);
        Assert.NotEqual(0, badProvider.ExitCode);
        Assert.NotEqual(0, badDuration.ExitCode);
    }

    [Fact]
    public void Values_EveryKeyDocumentedAndInTheSchema()
    {
        // arrange
        var schema = JsonNode.Parse(File.ReadAllText(Path.Combine(RepositoryPaths.Root, Chart, "values.schema.json")))!;
        var lines = File.ReadAllLines(Path.Combine(RepositoryPaths.Root, Chart, "values.yaml"));
        var path = new List<(int Indent, string Key, JsonNode? Schema)>();
        var problems = new List<string>();

        // act: walk key lines by indentation; a key under a schema object with "properties" must be declared there and
        // carry a comment; keys inside free-form objects (resources, securityContext...) are documented by their parent.
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var trimmed = line.TrimStart();
            if (trimmed.Length == 0 || trimmed.StartsWith('#') || trimmed.StartsWith('-') || !trimmed.Contains(':', StringComparison.Ordinal))
            {
                continue;
            }

            var indent = line.Length - trimmed.Length;
            var key = trimmed[..trimmed.IndexOf(':', StringComparison.Ordinal)];
            while (path.Count > 0 && path[^1].Indent >= indent)
            {
                path.RemoveAt(path.Count - 1);
            }

            var parent = path.Count == 0 ? schema : path[^1].Schema;
            if (parent?["properties"] is not JsonObject properties)
            {
                path.Add((indent, key, null)); // free-form value: children are data, not settings
                continue;
            }

            var dotted = string.Join('.', path.Select(p => p.Key).Append(key));
            if (properties[key] is not { } node)
            {
                problems.Add($"{dotted}: not in values.schema.json");
            }

            var previous = lines.Take(i).LastOrDefault(l => l.Trim().Length > 0)?.Trim() ?? string.Empty;
            if (!previous.StartsWith('#') && properties[key]?["properties"] is null)
            {
                problems.Add($"{dotted}: no comment above it");
            }

            path.Add((indent, key, properties[key]));
        }

        // assert
        Assert.Empty(problems);
        Assert.False((bool?)schema["additionalProperties"] ?? true);
    }

    internal static void AssertRestrictedDeployment(JsonObject deployment)
    {
        var pod = Manifests.At(deployment, "spec.template.spec")!.AsObject();
        var container = Container(deployment);
        Assert.True((bool?)Manifests.At(pod, "securityContext.runAsNonRoot"));
        Assert.True((int?)Manifests.At(pod, "securityContext.runAsUser") > 0);
        Assert.Equal("RuntimeDefault", (string?)Manifests.At(pod, "securityContext.seccompProfile.type"));
        Assert.False((bool?)Manifests.At(container, "securityContext.allowPrivilegeEscalation") ?? true);
        Assert.True((bool?)Manifests.At(container, "securityContext.readOnlyRootFilesystem"));
        Assert.Equal(["ALL"], Manifests.At(container, "securityContext.capabilities.drop")!.AsArray().Select(c => (string)c!));
        Assert.Null(Manifests.At(container, "securityContext.capabilities.add"));
        Assert.NotEqual(true, (bool?)Manifests.At(container, "securityContext.privileged"));
        Assert.Equal("/healthz", (string?)Manifests.At(container, "livenessProbe.httpGet.path"));
        Assert.Equal("/readyz", (string?)Manifests.At(container, "readinessProbe.httpGet.path"));
        Assert.NotNull(Manifests.At(container, "resources.requests.cpu"));
        Assert.NotNull(Manifests.At(container, "resources.limits.memory"));

        // /tmp and the local provider's root are writable emptyDirs (the root filesystem is read-only)
        var emptyDirs = pod["volumes"]!.AsArray().Where(v => v!["emptyDir"] is not null).Select(v => (string)v!["name"]!).ToHashSet();
        var mounts = container["volumeMounts"]!.AsArray().Where(m => emptyDirs.Contains((string)m!["name"]!)).Select(m => (string)m!["mountPath"]!).ToList();
        Assert.Contains("/tmp", mounts);
        var sandboxRoot = Env(deployment)["Providers__Local__RootDirectory"];
        Assert.Contains(mounts, m => sandboxRoot == m || sandboxRoot!.StartsWith(m + "/", StringComparison.Ordinal));
    }

    internal static JsonObject Container(JsonObject deployment) =>
        Manifests.At(deployment, "spec.template.spec.containers")!.AsArray().Single(c => (string?)c!["name"] == "manager")!.AsObject();

    internal static Dictionary<string, string?> Env(JsonObject deployment) =>
        Container(deployment)["env"]!.AsArray().ToDictionary(e => (string)e!["name"]!, e => (string?)e!["value"]);

    private static void AssertSameRules(string configFile, JsonObject rendered)
    {
        var config = Manifests.Load("config", "rbac", configFile).Objects.Single();
        Assert.True(JsonNode.DeepEquals(config["rules"], rendered["rules"]), $"rules of {rendered["metadata"]!["name"]} differ from config/rbac/{configFile}");
    }

    private static Manifests Render(string? valuesFile = null, string? set = null)
    {
        var arguments = $"template rel {Chart} --namespace midori-system"
            + (valuesFile is null ? string.Empty : $" -f {valuesFile}")
            + (set is null ? string.Empty : $" --set {set}");
        return Manifests.Parse(ExternalTool.Helm.Run(arguments).Stdout);
    }
}

/// <summary>A theory that needs helm (see <see cref="HelmFactAttribute"/>).</summary>
internal sealed class HelmTheoryAttribute : TheoryAttribute
{
    public HelmTheoryAttribute()
    {
        if (ExternalTool.Helm.Path is null && !ExternalTool.IsCi)
        {
            Skip = ExternalTool.Helm.MissingReason;
        }
    }
}
