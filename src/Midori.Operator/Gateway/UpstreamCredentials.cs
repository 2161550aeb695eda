using System.Collections.Concurrent;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Kubernetes;

namespace Midori.Operator.Gateway;

/// <summary>
/// The provider's access token of a preview's current sandbox, read from the Secret <c>status.tokenSecretRef</c>
/// names (the reconciler writes it before it publishes the sandbox) and kept per sandbox start, so a replica reads it
/// once per sandbox. The gateway sends it upstream in the provider's header; it never goes to the browser.
/// </summary>
public sealed class UpstreamCredentials(IPreviewSandboxClient client, TimeProvider time)
{
    /// <summary>Header each provider's preview proxy reads its token from.</summary>
    public static readonly IReadOnlyDictionary<string, string> Headers = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["local"] = "X-Midori-Preview-Token",
        ["daytona"] = "X-Daytona-Preview-Token",
        ["e2b"] = "e2b-traffic-access-token",
    };

    /// <summary>Every provider token header (a browser-sent one is dropped).</summary>
    internal static readonly string[] AllHeaders = [.. Headers.Values];

    internal static string? HeaderFor(string? provider) => provider is null ? null : Headers.GetValueOrDefault(provider);

    private static readonly TimeSpan RefreshAfterRefusal = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public async ValueTask<string?> GetAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        if (resource.Status is not { TokenSecretRef: { } reference } status)
        {
            return null;
        }

        var stamp = Stamp(status);
        if (_entries.TryGetValue(resource.Metadata.Uid, out var entry) && entry.Stamp == stamp && !entry.Stale)
        {
            return entry.Token;
        }

        var token = await client.ReadSecretValueAsync(resource.Metadata.NamespaceProperty, reference.Name, reference.Key, cancellationToken).ConfigureAwait(false);
        _entries[resource.Metadata.Uid] = new Entry(stamp, string.IsNullOrEmpty(token) ? null : token, time.GetUtcNow(), false);
        return string.IsNullOrEmpty(token) ? null : token;
    }

    /// <summary>The upstream refused the token (e.g. Daytona rotated it on a restart): read it again on the next request, at most once a second.</summary>
    public void Refused(V1Alpha1PreviewSandbox resource)
    {
        if (_entries.TryGetValue(resource.Metadata.Uid, out var entry) && time.GetUtcNow() - entry.ReadAt >= RefreshAfterRefusal)
        {
            _entries[resource.Metadata.Uid] = entry with { Stale = true };
        }
    }

    public void Forget(string uid) => _entries.TryRemove(uid, out _);

    /// <summary>One sandbox start: compared per request, so a value, not a formatted string.</summary>
    private static SandboxStamp Stamp(PreviewSandboxStatus status) => new(status.SandboxId, status.StartedAt, status.SandboxUrl);

    private readonly record struct SandboxStamp(string? SandboxId, DateTime? StartedAt, string? SandboxUrl);

    private sealed record Entry(SandboxStamp Stamp, string? Token, DateTimeOffset ReadAt, bool Stale);
}
