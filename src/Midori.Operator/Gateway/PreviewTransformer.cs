using System.Net.Http.Headers;
using Microsoft.Extensions.Primitives;
using Midori.Operator.Api.V1Alpha1;
using Yarp.ReverseProxy.Forwarder;

namespace Midori.Operator.Gateway;

/// <summary>
/// One request's rewrite between the browser's view (the stable URL) and the sandbox: the path without the gateway's
/// prefix, the gateway cookie removed, the provider token added in the provider's header, X-Forwarded-* set; on the
/// way back, redirects to the sandbox's own origin and root-relative redirects and cookie paths moved under the
/// preview (path form), cookie domains dropped (they name the sandbox's host, which the browser never sees).
/// </summary>
internal sealed class PreviewTransformer(
    GatewayTarget target,
    Uri sandbox,
    string? tokenHeader,
    string? token,
    V1Alpha1PreviewSandbox resource,
    UpstreamCredentials credentials) : HttpTransformer
{
    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        var remainder = target.Remainder.Length == 0 ? "/" : target.Remainder;
        proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, new PathString(remainder), httpContext.Request.QueryString);

        // The sandbox is addressed by its own host (providers route on it).
        proxyRequest.Headers.Host = null;

        // Only the gateway's own cookie is dropped; the sandbox's own cookies pass as sent.
        var cookies = httpContext.Request.Headers.Cookie;
        if (cookies.Count > 0 && HasGatewayCookie(cookies))
        {
            proxyRequest.Headers.Remove("Cookie");
            if (WithoutGatewayCookie(cookies) is { Length: > 0 } kept)
            {
                proxyRequest.Headers.TryAddWithoutValidation("Cookie", kept);
            }
        }

        foreach (var header in UpstreamCredentials.AllHeaders)
        {
            proxyRequest.Headers.Remove(header); // a browser never chooses the provider token
        }

        if (tokenHeader is not null && token is not null)
        {
            proxyRequest.Headers.TryAddWithoutValidation(tokenHeader, token);
        }

        var request = httpContext.Request;
        proxyRequest.Headers.Remove("X-Forwarded-Host");
        proxyRequest.Headers.Remove("X-Forwarded-Proto");
        proxyRequest.Headers.Remove("X-Forwarded-Prefix");
        proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-Host", request.Host.Value);
        proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-Proto", request.Scheme);
        if (target.BasePath.Length > 0)
        {
            proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-Prefix", target.BasePath);
        }

        if (httpContext.Connection.RemoteIpAddress is { } remote)
        {
            proxyRequest.Headers.Remove("X-Forwarded-For");
            proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-For", remote.ToString());
        }
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var copyBody = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
        if (proxyResponse is null)
        {
            return copyBody;
        }

        if (proxyResponse.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable
            && proxyResponse.Headers.Contains(Providers.Local.LocalHttpFront.UnavailableHeader))
        {
            // The local sandbox's front is up but its dev server is not: a refusal, which the gateway retries.
            SandboxUnavailable = true;
            return false;
        }

        if (proxyResponse.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden && token is not null)
        {
            credentials.Refused(resource);
        }

        var headers = httpContext.Response.Headers;
        if (headers.Location is { Count: 1 } location && RewriteLocation(location.ToString()) is { } rewritten)
        {
            headers.Location = rewritten;
        }

        if (headers.SetCookie is { Count: > 0 } setCookies)
        {
            headers.SetCookie = new StringValues([.. setCookies.Select(RewriteSetCookie).OfType<string>()]);
        }

        return copyBody;
    }

    /// <summary>The sandbox's front answered that its dev server does not take requests (nothing of it was sent to the browser).</summary>
    public bool SandboxUnavailable { get; private set; }

    private static readonly string GatewayCookiePrefix = PreviewGatewayMiddleware.CookieName + "=";

    private static bool HasGatewayCookie(StringValues cookies)
    {
        foreach (var value in cookies)
        {
            if (value is not null && value.Contains(GatewayCookiePrefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    internal static string WithoutGatewayCookie(StringValues cookies) =>
        string.Join("; ", cookies.SelectMany(c => (c ?? string.Empty).Split(';')).Select(c => c.Trim())
            .Where(c => c.Length > 0 && !c.StartsWith(GatewayCookiePrefix, StringComparison.Ordinal)));

    internal string? RewriteLocation(string value)
    {
        // "/x" is checked first: on Unix Uri.TryCreate reads it as an absolute file:// URI.
        if (!value.StartsWith('/') && Uri.TryCreate(value, UriKind.Absolute, out var absolute))
        {
            if (absolute.Scheme is not ("http" or "https") || !string.Equals(absolute.Authority, sandbox.Authority, StringComparison.OrdinalIgnoreCase))
            {
                return null; // somewhere else on the web: leave it
            }

            // To the sandbox itself: the same place under the stable URL (relative, so scheme and host stay the browser's).
            return target.BasePath + absolute.PathAndQuery + absolute.Fragment;
        }

        return target.BasePath.Length > 0 && value.StartsWith('/') && !value.StartsWith("//", StringComparison.Ordinal)
            ? target.BasePath + value
            : null;
    }

    internal string? RewriteSetCookie(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        var parts = value.Split(';').Select(p => p.Trim()).Where(p => p.Length > 0).ToList();
        if (parts.Count == 0 || parts[0].StartsWith(PreviewGatewayMiddleware.CookieName + "=", StringComparison.Ordinal))
        {
            return null; // the sandbox never sets the gateway's own cookie
        }

        parts.RemoveAll(p => p.StartsWith("domain=", StringComparison.OrdinalIgnoreCase));
        if (target.BasePath.Length > 0)
        {
            var index = parts.FindIndex(1, p => p.StartsWith("path=", StringComparison.OrdinalIgnoreCase));
            if (index < 0)
            {
                parts.Add("Path=" + target.CookiePath);
            }
            else
            {
                var path = parts[index][5..];
                parts[index] = "Path=" + target.BasePath + (path.StartsWith('/') ? path : "/" + path);
            }
        }

        return string.Join("; ", parts);
    }
}
