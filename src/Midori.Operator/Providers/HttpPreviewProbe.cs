using System.Net;
using Microsoft.Extensions.Options;
using Midori.Operator.Options;

namespace Midori.Operator.Providers;

/// <summary>
/// Probes a preview URL over HTTP. Gateway errors (502/503/504), timeouts and refused connections count as
/// unhealthy; any other answer (even a 404 from a project without an index page) means a server is there.
/// </summary>
internal sealed class HttpPreviewProbe(HttpClient httpClient, IOptions<OperatorOptions> options) : IPreviewProbe
{
    public const string TokenHeader = "X-Midori-Preview-Token";

    public async Task<bool> IsHealthyAsync(Uri previewUrl, string? token, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Value.HealthProbeTimeout);
        using var request = new HttpRequestMessage(HttpMethod.Get, previewUrl);
        if (!string.IsNullOrEmpty(token))
        {
            request.Headers.TryAddWithoutValidation(TokenHeader, token);
            request.Headers.TryAddWithoutValidation("x-daytona-preview-token", token);
            request.Headers.TryAddWithoutValidation("e2b-traffic-access-token", token);
        }

        try
        {
            using var response = await httpClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            return response.StatusCode is not (HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout);
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
