using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Http.Services;

/// <summary>A signed, short-lived link to a preview's stable URL (<c>…?token=</c>) and the token alone.</summary>
public sealed record PreviewLink(string Url, string Token, DateTimeOffset ExpiresAt, string PreviewUrl);

/// <summary>Mints preview links (the gateway); not registered when the gateway is off.</summary>
public interface IPreviewLinks
{
    /// <summary>A fresh link for <paramref name="resource"/>; null when it has no stable URL yet.</summary>
    ValueTask<PreviewLink?> CreateAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken);
}
