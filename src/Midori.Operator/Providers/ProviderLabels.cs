using System.ComponentModel.DataAnnotations;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Providers;

/// <summary>
/// Label (Daytona) / metadata (E2B) keys every remote sandbox carries. The owner UID makes create idempotent and lets
/// the finalizer find every sandbox of a resource; the installation label scopes the orphan sweep to sandboxes this
/// operator installation created, so two clusters sharing one provider account never sweep each other's sandboxes.
/// </summary>
public static class ProviderLabels
{
    public const string OwnerUid = GroupVersion.OwnerUidLabel;
    public const string Installation = GroupVersion.Group + "/installation";
    public const string Namespace = GroupVersion.Group + "/namespace";
    public const string Name = GroupVersion.Group + "/name";
    public const string Project = GroupVersion.Group + "/project";
}

/// <summary>Settings shared by the remote providers, bound from <c>Providers</c> (env: <c>Providers__InstallationId</c>).</summary>
public sealed class ProvidersOptions
{
    public const string SectionName = "Providers";

    /// <summary>Written to <see cref="ProviderLabels.Installation"/>; give each cluster sharing a provider account its own value.</summary>
    [Required]
    [RegularExpression("^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$", ErrorMessage = "Providers:InstallationId must be a lowercase DNS label (a-z, 0-9, '-', '.'), at most 63 characters.")]
    public string InstallationId { get; set; } = "default";
}
