using k8s;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Testing;

namespace Midori.Operator.Tests.Manifests;

/// <summary>The PreviewSandboxPool CRD against its C# types and the contract (names, scale subresource, columns, bounds).</summary>
public sealed class PoolCrdConsistencyTests
{
    private static readonly V1CustomResourceDefinition Crd = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(File.ReadAllText(RepositoryPaths.PoolCrdFile));

    private static V1CustomResourceDefinitionVersion Version => Crd.Spec.Versions.Single();

    [Fact]
    public void Crd_Names_ScaleSubresource_AndColumns_MatchTheContract()
    {
        // assert
        Assert.Equal($"{PoolGroupVersion.Plural}.{GroupVersion.Group}", Crd.Metadata.Name);
        Assert.Equal((GroupVersion.Group, "Namespaced"), (Crd.Spec.Group, Crd.Spec.Scope));
        Assert.Equal((PoolGroupVersion.Kind, PoolGroupVersion.ListKind, PoolGroupVersion.Plural, PoolGroupVersion.Singular),
            (Crd.Spec.Names.Kind, Crd.Spec.Names.ListKind, Crd.Spec.Names.Plural, Crd.Spec.Names.Singular));
        Assert.Equal([PoolGroupVersion.ShortName], Crd.Spec.Names.ShortNames);
        Assert.Equal(GroupVersion.Version, Version.Name);
        Assert.NotNull(Version.Subresources.Status);
        Assert.Equal((".spec.replicas", ".status.replicas", ".status.selector"),
            (Version.Subresources.Scale.SpecReplicasPath, Version.Subresources.Scale.StatusReplicasPath, Version.Subresources.Scale.LabelSelectorPath));
        Assert.Equal(["Provider", "Template", "Desired", "Ready", "Age"], Version.AdditionalPrinterColumns.Where(c => (c.Priority ?? 0) == 0).Select(c => c.Name));
        Assert.Equal(["Claimed"], Version.AdditionalPrinterColumns.Where(c => c.Priority == 1).Select(c => c.Name));
    }

    [Theory]
    [InlineData("spec", typeof(PreviewSandboxPoolSpec))]
    [InlineData("status", typeof(PreviewSandboxPoolStatus))]
    public void Schema_AndCSharpTypes_HaveTheSameProperties(string root, Type type)
    {
        // arrange
        var problems = new List<string>();

        // act
        CrdConsistencyTests.Compare(root, Version.Schema.OpenAPIV3Schema.Properties[root], type, problems);

        // assert
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void Schema_ProviderImmutable_ReplicasTtlPortAndCommandBounded_DefaultsAgreeWithCSharp()
    {
        // arrange
        var spec = Version.Schema.OpenAPIV3Schema.Properties["spec"];

        // assert
        Assert.Contains(spec.XKubernetesValidations, v => v.Rule.Contains("oldSelf.provider", StringComparison.Ordinal));
        Assert.Equal("self >= 0 && self <= 100", spec.Properties["replicas"].XKubernetesValidations.Single().Rule);
        Assert.Equal("self >= 300 && self <= 86400", spec.Properties["ttlSeconds"].XKubernetesValidations.Single().Rule);
        Assert.Equal(PoolGroupVersion.DefaultTtlSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), KubernetesJson.Serialize(spec.Properties["ttlSeconds"].DefaultProperty));
        Assert.Equal(PoolGroupVersion.DefaultTtlSeconds, new PreviewSandboxPoolSpec().EffectiveTtlSeconds());
        Assert.Equal(PoolGroupVersion.WarmPort.ToString(System.Globalization.CultureInfo.InvariantCulture), KubernetesJson.Serialize(spec.Properties["port"].DefaultProperty));
        Assert.Equal((1.0, 65535.0), (spec.Properties["port"].Minimum, spec.Properties["port"].Maximum));
        Assert.Equal(PoolGroupVersion.WarmPort, new PreviewSandboxPoolSpec().EffectivePort());
        Assert.Equal(4096, spec.Properties["command"].MaxLength);
        Assert.Equal(["replicas"], spec.Required);
        Assert.All(spec.Properties, p => Assert.False(string.IsNullOrEmpty(p.Value.Description), p.Key));
    }
}
