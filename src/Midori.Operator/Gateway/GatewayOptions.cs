using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Midori.Operator.Gateway;

/// <summary>The preview gateway, bound from the <c>Gateway</c> section (env: <c>Gateway__PreviewDomain</c>, ...).</summary>
public sealed class GatewayOptions
{
    public const string SectionName = "Gateway";

    /// <summary>Path prefix of path-based preview URLs: <c>/p/{namespace}/{name}/</c>.</summary>
    public const string PathPrefix = "/p";

    /// <summary>Off: no gateway; status.previewUrl is the provider's URL, as before the gateway existed.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Wildcard domain of host-based URLs, <c>https://{name}--{namespace}.{PreviewDomain}/</c>; empty: path-based URLs only.</summary>
    public string? PreviewDomain { get; set; }

    /// <summary>Scheme of host-based URLs (<c>https</c> behind a TLS-terminating Ingress or Gateway).</summary>
    [RegularExpression("^https?$")]
    public string PreviewScheme { get; set; } = "https";

    /// <summary>Origin of path-based URLs (<c>{PublicBaseUrl}/p/{namespace}/{name}/</c>); empty: this process's first listening address.</summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>Signing keys of access tokens (id → base64 key of at least 32 bytes). The first in <see cref="ActiveKeyId"/> order signs.</summary>
    public List<GatewaySigningKey> SigningKeys { get; set; } = [];

    /// <summary>A directory of key files (a mounted Secret): file name = key id, content = base64 key. Read at start.</summary>
    public string? SigningKeysDirectory { get; set; }

    /// <summary>Key id that signs new tokens; empty: the last key by id order (add a key, then switch, then remove the old one).</summary>
    public string? ActiveKeyId { get; set; }

    /// <summary>Lifetime of a signed link's <c>?token=</c> (it is exchanged for a cookie on first use).</summary>
    [Range(typeof(TimeSpan), "00:00:10", "1.00:00:00")]
    public TimeSpan LinkLifetime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Lifetime of the preview cookie; renewed on use once half of it has passed.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(12);

    /// <summary>Longest a request is held while its preview wakes or is recreated; then 503 with Retry-After.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan HoldTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A browser navigation held this long gets the "starting your preview" page instead of waiting on.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan PageHoldTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Proxied requests count as activity (heartbeats); a preview opts out with annotation <c>preview.midori.dev/traffic-activity: "false"</c>.</summary>
    public bool TrafficIsActivity { get; set; } = true;

    /// <summary>At most one activity record per preview per this interval from this replica (an Expired preview is woken at once).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ActivityInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Bodies up to this size are buffered so a request can be retried on the new sandbox after a replacement.</summary>
    [Range(0, 64L * 1024 * 1024)]
    public long RetryBufferBytes { get; set; } = 1024 * 1024;

    /// <summary>Timeout of one upstream request (no response headers within this time: 504).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan UpstreamTimeout { get; set; } = TimeSpan.FromMinutes(2);
}

public sealed class GatewaySigningKey
{
    [Required]
    [RegularExpression("^[A-Za-z0-9._-]{1,64}$")]
    public string Id { get; set; } = string.Empty;

    /// <summary>Base64, at least 32 bytes once decoded.</summary>
    [Required]
    public string Key { get; set; } = string.Empty;
}

internal sealed class GatewayOptionsValidator : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = new List<string>();
        if (!string.IsNullOrWhiteSpace(options.PreviewDomain)
            && Uri.CheckHostName(options.PreviewDomain) != UriHostNameType.Dns)
        {
            errors.Add($"Gateway:PreviewDomain '{options.PreviewDomain}' is not a DNS name");
        }

        if (!string.IsNullOrWhiteSpace(options.PublicBaseUrl)
            && (!Uri.TryCreate(options.PublicBaseUrl, UriKind.Absolute, out var baseUrl) || baseUrl.Scheme is not ("http" or "https")))
        {
            errors.Add($"Gateway:PublicBaseUrl '{options.PublicBaseUrl}' is not an absolute http(s) URL");
        }

        foreach (var key in options.SigningKeys)
        {
            if (string.IsNullOrWhiteSpace(key.Id) || !System.Text.RegularExpressions.Regex.IsMatch(key.Id, "^[A-Za-z0-9._-]{1,64}$"))
            {
                errors.Add($"Gateway:SigningKeys: id '{key.Id}' must be 1-64 characters of A-Z a-z 0-9 . _ -");
            }

            if (!SigningKeyRing.TryDecode(key.Key, out _))
            {
                errors.Add($"Gateway:SigningKeys '{key.Id}': the key must be base64 of at least {SigningKeyRing.MinKeyBytes} bytes");
            }
        }

        if (options.SigningKeys.GroupBy(k => k.Id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } duplicate)
        {
            errors.Add($"Gateway:SigningKeys: id '{duplicate.Key}' is given twice");
        }

        if (options.PageHoldTimeout > options.HoldTimeout)
        {
            errors.Add("Gateway:PageHoldTimeout must not exceed Gateway:HoldTimeout");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
