using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Midori.Operator.Api.V1Alpha1;

[KubernetesEntity(Group = GroupVersion.Group, ApiVersion = GroupVersion.Version, Kind = GroupVersion.Kind, PluralName = GroupVersion.Plural)]
public sealed class V1Alpha1PreviewSandbox : IKubernetesObject<V1ObjectMeta>, ISpec<PreviewSandboxSpec>, IStatus<PreviewSandboxStatus?>
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = GroupVersion.ApiVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = GroupVersion.Kind;

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    public PreviewSandboxSpec Spec { get; set; } = new();

    [JsonPropertyName("status")]
    public PreviewSandboxStatus? Status { get; set; }

    public override string ToString() => $"{Metadata.NamespaceProperty}/{Metadata.Name}";
}

public sealed class V1Alpha1PreviewSandboxList : IKubernetesObject<V1ListMeta>, IItems<V1Alpha1PreviewSandbox>
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = GroupVersion.ApiVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = GroupVersion.ListKind;

    [JsonPropertyName("metadata")]
    public V1ListMeta Metadata { get; set; } = new();

    [JsonPropertyName("items")]
    public IList<V1Alpha1PreviewSandbox> Items { get; set; } = [];
}
