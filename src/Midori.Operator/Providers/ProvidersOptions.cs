using System.ComponentModel.DataAnnotations;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Providers;

/// <summary>Settings shared by the remote providers, bound from <c>Providers</c> (env: <c>Providers__InstallationId</c>).</summary>
public sealed class ProvidersOptions
{
    public const string SectionName = "Providers";

    /// <summary>Written to <see cref="SandboxLabels.Installation"/>; give each cluster sharing a provider account its own value.</summary>
    [Required]
    [RegularExpression("^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$", ErrorMessage = "Providers:InstallationId must be a lowercase DNS label (a-z, 0-9, '-', '.'), at most 63 characters.")]
    public string InstallationId { get; set; } = "default";
}
