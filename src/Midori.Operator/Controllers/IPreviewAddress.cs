using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Controllers;

/// <summary>The stable address a preview is reached at (the gateway's), published as <c>status.previewUrl</c>.</summary>
public interface IPreviewAddress
{
    /// <summary>The resource's stable URL; null when no gateway serves previews (previewUrl is then the provider's URL).</summary>
    ValueTask<string?> StableUrlAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken);
}
