using System.Globalization;

namespace Midori.Operator.Providers.E2B;

/// <summary>Builds preview URLs from <see cref="E2BProviderOptions.PreviewUrlTemplate"/>.</summary>
internal static class E2BPreview
{
    /// <summary>Header E2B's proxy requires on user ports when public traffic is off.</summary>
    public const string TrafficTokenHeader = "e2b-traffic-access-token";

    public static string Expand(string template, string sandboxId, int port, string domain) => template
        .Replace("{port}", port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
        .Replace("{sandboxId}", Uri.EscapeDataString(sandboxId), StringComparison.Ordinal)
        .Replace("{domain}", domain, StringComparison.Ordinal);
}
