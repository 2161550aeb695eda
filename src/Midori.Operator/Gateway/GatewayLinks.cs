using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Http.Services;

namespace Midori.Operator.Gateway;

/// <summary>Mints links through the gateway's keys for the resource's stable URL.</summary>
internal sealed class GatewayLinks(PreviewAddressing addressing, GatewayTokens tokens, IOptionsMonitor<GatewayOptions> options) : IPreviewLinks
{
    public async ValueTask<PreviewLink?> CreateAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(resource.Metadata.Uid) || await addressing.StableUrlAsync(resource, cancellationToken).ConfigureAwait(false) is not { } stable)
        {
            return null;
        }

        var (token, expires) = tokens.Mint(resource, GatewayTokens.LinkAudience, options.CurrentValue.LinkLifetime);
        return new PreviewLink($"{stable}?{PreviewGatewayMiddleware.TokenQuery}={Uri.EscapeDataString(token)}", token, expires, stable);
    }
}
