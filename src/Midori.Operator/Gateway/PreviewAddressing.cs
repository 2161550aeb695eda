using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Persistence;

namespace Midori.Operator.Gateway;

public enum GatewayForm
{
    /// <summary><c>https://{name}--{namespace}.{domain}/…</c></summary>
    Host,

    /// <summary><c>{origin}/p/{namespace}/{name}/…</c></summary>
    Path,
}

/// <summary>
/// A request aimed at one preview. <see cref="BasePath"/> is the part of the path that belongs to the gateway
/// (empty for the host form, <c>/p/{namespace}/{name}</c> for the path form); <see cref="Remainder"/> goes to the sandbox.
/// </summary>
public sealed record GatewayTarget(PreviewKey Key, GatewayForm Form, string BasePath, string Remainder)
{
    /// <summary>The cookie and every rewritten path stay under this (always ends with '/').</summary>
    public string CookiePath => BasePath + "/";
}

/// <summary>
/// Stable preview URLs and the reverse: which preview a request is for. Host form only for names the host label
/// can carry without ambiguity (no '.', namespace without "--", label ≤ 63); others use the path form.
/// </summary>
public sealed partial class PreviewAddressing : IPreviewAddress
{
    private readonly GatewayOptions _options;
    private readonly IServiceProvider _services;
    private readonly string? _domainSuffix;
    private string? _serverOrigin;

    public PreviewAddressing(IOptions<GatewayOptions> options, IServiceProvider services)
    {
        _options = options.Value;
        _services = services;
        _domainSuffix = string.IsNullOrWhiteSpace(_options.PreviewDomain) ? null : "." + _options.PreviewDomain.Trim().TrimEnd('.').ToLowerInvariant();
    }

    public async ValueTask<string?> StableUrlAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            return null;
        }

        var key = new PreviewKey(resource.Metadata.NamespaceProperty, resource.Metadata.Name);
        if (HostLabel(key) is { } label)
        {
            return $"{_options.PreviewScheme}://{label}{_domainSuffix}/";
        }

        var origin = await OriginAsync(cancellationToken).ConfigureAwait(false);
        return origin is null ? null : $"{origin}{GatewayOptions.PathPrefix}/{key.Namespace}/{key.Name}/";
    }

    /// <summary>The stable URL for the form a request came in by (a path-form request gets the path form back).</summary>
    public static string CleanUrl(HttpRequest request, GatewayTarget target, string remainder, QueryString query) =>
        $"{request.Scheme}://{request.Host}{target.BasePath}{remainder}{query}";

    public bool TryMatch(HttpRequest request, out GatewayTarget? target)
    {
        target = null;
        if (_domainSuffix is not null && request.Host.Host is { } host
            && host.EndsWith(_domainSuffix, StringComparison.OrdinalIgnoreCase) && host.Length > _domainSuffix.Length)
        {
            var label = host[..^_domainSuffix.Length].ToLowerInvariant();
            var split = label.LastIndexOf("--", StringComparison.Ordinal);
            if (split > 0 && split < label.Length - 2 && !label.Contains('.', StringComparison.Ordinal))
            {
                var key = new PreviewKey(label[(split + 2)..], label[..split]);
                if (IsName(key.Name) && IsNamespace(key.Namespace))
                {
                    var path = request.Path.Value is { Length: > 0 } p ? p : "/";
                    target = new GatewayTarget(key, GatewayForm.Host, string.Empty, path);
                    return true;
                }
            }
        }

        var value = request.Path.Value;
        if (value is null || !value.StartsWith(GatewayOptions.PathPrefix + "/", StringComparison.Ordinal))
        {
            return false;
        }

        var rest = value[(GatewayOptions.PathPrefix.Length + 1)..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0)
        {
            return false;
        }

        var ns = rest[..slash];
        var afterNs = rest[(slash + 1)..];
        var end = afterNs.IndexOf('/', StringComparison.Ordinal);
        var name = end < 0 ? afterNs : afterNs[..end];
        if (!IsNamespace(ns) || !IsName(name))
        {
            return false;
        }

        // No trailing slash: Remainder "" (the middleware redirects so relative asset URLs resolve under the preview).
        target = new GatewayTarget(new PreviewKey(ns, name), GatewayForm.Path, $"{GatewayOptions.PathPrefix}/{ns}/{name}", end < 0 ? string.Empty : afterNs[end..]);
        return true;
    }

    private string? HostLabel(PreviewKey key)
    {
        if (_domainSuffix is null || key.Name.Contains('.', StringComparison.Ordinal) || key.Namespace.Contains("--", StringComparison.Ordinal))
        {
            return null;
        }

        var label = $"{key.Name}--{key.Namespace}";
        return label.Length <= 63 ? label : null;
    }

    private async ValueTask<string?> OriginAsync(CancellationToken cancellationToken)
    {
        if (!string.IsNullOrWhiteSpace(_options.PublicBaseUrl))
        {
            return _options.PublicBaseUrl.TrimEnd('/');
        }

        if (_serverOrigin is { } known)
        {
            return known;
        }

        // The listening address is known once the server started (port 0 in tests, a wildcard host in containers).
        if (_services.GetService<IServer>() is not { } server)
        {
            return null;
        }

        var lifetime = _services.GetRequiredService<IHostApplicationLifetime>();
        if (!lifetime.ApplicationStarted.IsCancellationRequested)
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var registration = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
            await started.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault(a => a.StartsWith("http", StringComparison.Ordinal));
        if (address is null || !Uri.TryCreate(address.Replace("://+", "://127.0.0.1", StringComparison.Ordinal).Replace("://*", "://127.0.0.1", StringComparison.Ordinal), UriKind.Absolute, out var uri))
        {
            return null;
        }

        var hostName = uri.Host is "0.0.0.0" or "[::]" or "::" ? "127.0.0.1" : uri.Host;
        return _serverOrigin = $"{uri.Scheme}://{hostName}:{uri.Port}";
    }

    private static bool IsNamespace(string value) => value.Length is > 0 and <= 63 && DnsLabel().IsMatch(value);

    private static bool IsName(string value) => value.Length is > 0 and <= 253 && DnsSubdomain().IsMatch(value);

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex DnsSubdomain();
}
