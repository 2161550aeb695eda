using System.Text.Json.Nodes;

namespace Midori.Operator.Tests.Packaging;

[Trait("Category", "Packaging")]
public sealed class KustomizeTests
{
    [KubectlFact]
    public void ConfigDefault_Renders_WithCrdRbacAndARestrictedDeployment()
    {
        // act
        var manifests = Manifests.Parse(ExternalTool.Kubectl.Run("kustomize config/default").Stdout);

        // assert
        Assert.Equal(
            ["ClusterRole", "ClusterRole", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "CustomResourceDefinition", "CustomResourceDefinition", "Deployment", "Namespace", "PodDisruptionBudget", "Role", "RoleBinding", "Service", "Service", "ServiceAccount"],
            manifests.Kinds.Order(StringComparer.Ordinal));
        var gateway = manifests.OfKind("Service").Single(s => (string?)Manifests.At(s, "metadata.name") == "midori-gateway");
        Assert.Equal("http", (string?)Manifests.At(gateway, "spec.ports.0.targetPort"));
        Assert.All(manifests.Objects.Where(o => (string?)o["kind"] is not ("Namespace" or "CustomResourceDefinition" or "ClusterRole" or "ClusterRoleBinding")),
            o => Assert.Equal("midori-system", (string?)Manifests.At(o, "metadata.namespace")));
        var deployment = manifests.Single("Deployment");
        HelmChartTests.AssertRestrictedDeployment(deployment);
        Assert.Equal("true", HelmChartTests.Env(deployment)["LeaderElection__Enabled"]);
        Assert.Equal(2, (int)Manifests.At(deployment, "spec.replicas")!);
        Assert.Equal("midori-controller-manager", (string?)Manifests.At(deployment, "spec.template.spec.serviceAccountName"));
        Assert.Equal("http://midori-gateway.midori-system.svc", HelmChartTests.Env(deployment)["Gateway__PublicBaseUrl"]);
        foreach (var file in new[] { "preview.midori.dev_previewsandboxes.yaml", "preview.midori.dev_previewsandboxpolicies.yaml", "preview.midori.dev_previewsandboxpools.yaml" })
        {
            var config = Manifests.Load("config", "crd", "bases", file).Objects.Single();
            Assert.True(JsonNode.DeepEquals(config, manifests.Single("CustomResourceDefinition", (string)Manifests.At(config, "metadata.name")!)), file);
        }
        Assert.Equal("restricted", (string?)Manifests.At(manifests.Single("Namespace"), "metadata.labels")?["pod-security.kubernetes.io/enforce"]);
    }
}
