using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Midori.Operator.Api.V1Alpha1;

/// <summary>Names of the namespaced PreviewSandboxPool resource (same group and version as PreviewSandbox).</summary>
public static class PoolGroupVersion
{
    public const string Kind = "PreviewSandboxPool";
    public const string ListKind = "PreviewSandboxPoolList";
    public const string Plural = "previewsandboxpools";
    public const string Singular = "previewsandboxpool";
    public const string ShortName = "psbpool";

    /// <summary>Condition: the pool holds <c>spec.replicas</c> ready sandboxes.</summary>
    public const string ReadyCondition = "Ready";

    public const int DefaultTtlSeconds = 3600;

    /// <summary>Dev-server port of a pool without <c>spec.port</c> (the PreviewSandbox default); a claim with another port restarts it.</summary>
    public const int WarmPort = PreviewSandboxSpec.DefaultPort;
}

/// <summary>Condition reasons of a PreviewSandboxPool.</summary>
public static class PoolReasons
{
    public const string Filled = "Filled";
    public const string Filling = "Filling";
    public const string BackingOff = "BackingOff";
    public const string ProviderUnavailable = "ProviderUnavailable";
}

/// <summary>
/// Warm, ready sandboxes of one provider and template: a new PreviewSandbox in the same namespace with the same provider
/// and template claims one instead of waiting for a cold creation. The scale subresource lets an HPA or KEDA drive
/// <c>spec.replicas</c>.
/// </summary>
[KubernetesEntity(Group = GroupVersion.Group, ApiVersion = GroupVersion.Version, Kind = PoolGroupVersion.Kind, PluralName = PoolGroupVersion.Plural)]
public sealed class V1Alpha1PreviewSandboxPool : IKubernetesObject<V1ObjectMeta>, ISpec<PreviewSandboxPoolSpec>, IStatus<PreviewSandboxPoolStatus?>
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = GroupVersion.ApiVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = PoolGroupVersion.Kind;

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    public PreviewSandboxPoolSpec Spec { get; set; } = new();

    [JsonPropertyName("status")]
    public PreviewSandboxPoolStatus? Status { get; set; }

    public override string ToString() => $"{Metadata.NamespaceProperty}/{Metadata.Name}";
}

public sealed class V1Alpha1PreviewSandboxPoolList : IKubernetesObject<V1ListMeta>, IItems<V1Alpha1PreviewSandboxPool>
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = GroupVersion.ApiVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = PoolGroupVersion.ListKind;

    [JsonPropertyName("metadata")]
    public V1ListMeta Metadata { get; set; } = new();

    [JsonPropertyName("items")]
    public IList<V1Alpha1PreviewSandboxPool> Items { get; set; } = [];
}

public sealed class PreviewSandboxPoolSpec
{
    /// <summary>Backend of the warm sandboxes; null: the operator's default provider. Immutable.</summary>
    [JsonPropertyName("provider")]
    public string? Provider { get; set; }

    /// <summary>Provider template; a PreviewSandbox claims only when its <c>spec.template</c> is the same (empty = empty).</summary>
    [JsonPropertyName("template")]
    public string? Template { get; set; }

    /// <summary>Warm sandboxes to keep ready, 0 to 100 (the scale subresource writes it).</summary>
    [JsonPropertyName("replicas")]
    public int Replicas { get; set; }

    /// <summary>Lifetime of an unclaimed warm sandbox before it is replaced.</summary>
    [JsonPropertyName("ttlSeconds")]
    public int? TtlSeconds { get; set; }

    public int EffectiveTtlSeconds() => TtlSeconds is > 0 ? TtlSeconds.Value : PoolGroupVersion.DefaultTtlSeconds;

    /// <summary>
    /// Dev-server command each warm sandbox runs before it is claimed (null: the provider's static server). When a claiming
    /// preview has the same command and port, its dev server is already up (dependencies installed, first build done)
    /// and the claim skips the boot; otherwise the claim restarts it with the preview's own.
    /// </summary>
    [JsonPropertyName("command")]
    public string? Command { get; set; }

    /// <summary>Port of the warm dev server (default 3000, the PreviewSandbox default).</summary>
    [JsonPropertyName("port")]
    public int? Port { get; set; }

    public int EffectivePort() => Port ?? PoolGroupVersion.WarmPort;
}

public sealed class PreviewSandboxPoolStatus
{
    /// <summary>Warm sandboxes that exist (ready or being created); the scale subresource's status replicas.</summary>
    [JsonPropertyName("replicas")]
    public int? Replicas { get; set; }

    [JsonPropertyName("readyReplicas")]
    public int? ReadyReplicas { get; set; }

    /// <summary>Warm sandboxes handed to previews since the pool was created.</summary>
    [JsonPropertyName("claimed")]
    public long? Claimed { get; set; }

    /// <summary>Label selector (text form) of the pool's sandboxes at the provider, for the scale subresource.</summary>
    [JsonPropertyName("selector")]
    public string? Selector { get; set; }

    /// <summary>Consecutive failed creations: the durable anchor of the backoff, with <see cref="LastFailureTime"/>.</summary>
    [JsonPropertyName("failedAttempts")]
    public int? FailedAttempts { get; set; }

    [JsonPropertyName("lastFailureTime")]
    public DateTime? LastFailureTime { get; set; }

    [JsonPropertyName("observedGeneration")]
    public long? ObservedGeneration { get; set; }

    [JsonPropertyName("conditions")]
    public IList<V1Condition>? Conditions { get; set; }
}
