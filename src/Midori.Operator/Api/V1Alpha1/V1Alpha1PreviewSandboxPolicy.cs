using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Midori.Operator.Api.V1Alpha1;

/// <summary>Names of the cluster-scoped PreviewSandboxPolicy resource (same group and version as PreviewSandbox).</summary>
public static class PolicyGroupVersion
{
    public const string Kind = "PreviewSandboxPolicy";
    public const string ListKind = "PreviewSandboxPolicyList";
    public const string Plural = "previewsandboxpolicies";
    public const string Singular = "previewsandboxpolicy";
    public const string ShortName = "psbpol";
}

/// <summary>
/// What PreviewSandboxes in the namespaces a platform team selects may ask for. Cluster-scoped, so a namespace's own
/// users (who can edit PreviewSandboxes there) cannot change it. Every policy whose selector matches a namespace applies:
/// a preview must satisfy all of them, which is the most restrictive combination.
/// </summary>
[KubernetesEntity(Group = GroupVersion.Group, ApiVersion = GroupVersion.Version, Kind = PolicyGroupVersion.Kind, PluralName = PolicyGroupVersion.Plural)]
public sealed class V1Alpha1PreviewSandboxPolicy : IKubernetesObject<V1ObjectMeta>, ISpec<PreviewSandboxPolicySpec>
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = GroupVersion.ApiVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = PolicyGroupVersion.Kind;

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    public PreviewSandboxPolicySpec Spec { get; set; } = new();

    public override string ToString() => Metadata.Name;
}

public sealed class V1Alpha1PreviewSandboxPolicyList : IKubernetesObject<V1ListMeta>, IItems<V1Alpha1PreviewSandboxPolicy>
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = GroupVersion.ApiVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = PolicyGroupVersion.ListKind;

    [JsonPropertyName("metadata")]
    public V1ListMeta Metadata { get; set; } = new();

    [JsonPropertyName("items")]
    public IList<V1Alpha1PreviewSandboxPolicy> Items { get; set; } = [];
}

public sealed class PreviewSandboxPolicySpec
{
    /// <summary>Namespaces the policy applies to, by label (<c>kubernetes.io/metadata.name</c> selects by name). Empty: every namespace.</summary>
    [JsonPropertyName("namespaceSelector")]
    public V1LabelSelector? NamespaceSelector { get; set; }

    /// <summary>Providers a preview may use (the operator's default counts when spec.provider is unset). Unset: any.</summary>
    [JsonPropertyName("providers")]
    public IList<string>? Providers { get; set; }

    /// <summary>Templates a preview may name. Unset: any. A preview without a template is always allowed.</summary>
    [JsonPropertyName("templates")]
    public IList<string>? Templates { get; set; }

    [JsonPropertyName("command")]
    public PreviewSandboxCommandPolicy? Command { get; set; }

    [JsonPropertyName("env")]
    public PreviewSandboxEnvPolicy? Env { get; set; }

    [JsonPropertyName("ttlSeconds")]
    public PreviewSandboxBounds? TtlSeconds { get; set; }

    [JsonPropertyName("idleTimeoutSeconds")]
    public PreviewSandboxBounds? IdleTimeoutSeconds { get; set; }
}

public sealed class PreviewSandboxCommandPolicy
{
    /// <summary>False: spec.command must be empty (the provider's default dev server runs). Default true.</summary>
    [JsonPropertyName("allowed")]
    public bool? Allowed { get; set; }

    /// <summary>When set, a command must match one of these .NET regular expressions in full.</summary>
    [JsonPropertyName("patterns")]
    public IList<string>? Patterns { get; set; }
}

public sealed class PreviewSandboxEnvPolicy
{
    /// <summary>When set, every env name must be one of these (<c>PREFIX*</c> and <c>*SUFFIX</c> match by prefix or suffix).</summary>
    [JsonPropertyName("allowed")]
    public IList<string>? Allowed { get; set; }

    /// <summary>Env names refused whatever <see cref="Allowed"/> says (<c>PREFIX*</c> and <c>*SUFFIX</c> match by prefix or suffix).</summary>
    [JsonPropertyName("denied")]
    public IList<string>? Denied { get; set; }
}

/// <summary>Inclusive bounds on a number of seconds (the operator's default counts when the spec leaves it unset).</summary>
public sealed class PreviewSandboxBounds
{
    [JsonPropertyName("min")]
    public int? Min { get; set; }

    [JsonPropertyName("max")]
    public int? Max { get; set; }
}
