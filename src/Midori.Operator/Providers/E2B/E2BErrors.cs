using System.Net;
using System.Text.Json;
using Midori.Operator.Api.V1Alpha1;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Midori.Operator.Providers.E2B;

/// <summary>
/// Turns E2B answers into <see cref="SandboxProviderException"/> with a message a user can act on. Transient: 409
/// (sandbox mid-transition), 429 (rate or concurrency limit), 5xx, timeouts, network errors, an open circuit.
/// Permanent: 400 (bad template, max lifetime reached…), 401/403 (credentials), 404, 507 (disk full).
/// Messages carry the provider's own text, never request headers, so the API key and tokens cannot leak.
/// </summary>
internal static class E2BErrors
{
    private const string Provider = ProviderNames.E2B;
    private const int MaxDetail = 300;

    public const string CredentialsMissingMessage =
        "E2B API key is not configured: set Providers__E2B__ApiKey or E2B_API_KEY in the operator's environment (from a Secret)";

    public static SandboxProviderException CredentialsMissing() => new(Provider, CredentialsMissingMessage, isTransient: false);

    public static SandboxProviderException NotFound(string sandboxId)
    {
        var error = new SandboxProviderException(Provider, $"E2B sandbox '{Printable(sandboxId)}' not found: it was killed, expired or never existed", isTransient: false);
        error.Data[NotFoundMarker] = true;
        return error;
    }

    /// <summary>True for the exception <see cref="NotFound"/> made (the API answered 404 for the sandbox).</summary>
    public static bool IsNotFound(SandboxProviderException error) => error.Data[NotFoundMarker] is true;

    private const string NotFoundMarker = "midori.e2b.not-found";

    public static async Task<SandboxProviderException> FromResponseAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var detail = await ReadDetailAsync(response, cancellationToken).ConfigureAwait(false);
        var suffix = detail is null ? string.Empty : $": {detail}";
        return response.StatusCode switch
        {
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => new SandboxProviderException(Provider,
                $"E2B rejected the credentials while trying to {what} (HTTP {status}){suffix}; check the API key in Providers__E2B__ApiKey / E2B_API_KEY",
                isTransient: false),
            HttpStatusCode.TooManyRequests => new SandboxProviderException(Provider,
                $"E2B rate or concurrent-sandbox limit hit while trying to {what} (HTTP 429){suffix}{RetryAfterText(response)}", isTransient: true),
            HttpStatusCode.Conflict => new SandboxProviderException(Provider,
                $"E2B sandbox is changing state, could not {what} (HTTP 409){suffix}", isTransient: true),
            HttpStatusCode.RequestTimeout => new SandboxProviderException(Provider, $"E2B timed out trying to {what} (HTTP 408){suffix}", isTransient: true),
            HttpStatusCode.InsufficientStorage => new SandboxProviderException(Provider,
                $"E2B sandbox ran out of disk space while trying to {what} (HTTP 507){suffix}", isTransient: false),
            >= HttpStatusCode.InternalServerError => new SandboxProviderException(Provider,
                $"E2B failed to {what} (HTTP {status}){suffix}", isTransient: true),
            _ => new SandboxProviderException(Provider, $"E2B refused to {what} (HTTP {status}){suffix}", isTransient: false),
        };
    }

    /// <summary>Exceptions raised by the HTTP stack and the resilience pipeline, as provider errors; null: not ours to map.</summary>
    public static SandboxProviderException? FromException(Exception exception, string what, CancellationToken cancellationToken) => exception switch
    {
        _ when cancellationToken.IsCancellationRequested => null,
        BrokenCircuitException => new SandboxProviderException(Provider,
            $"E2B calls are paused after repeated failures (circuit open); could not {what}", isTransient: true, exception),
        TimeoutRejectedException or OperationCanceledException => new SandboxProviderException(Provider,
            $"E2B did not answer in time; could not {what}", isTransient: true, exception),
        HttpRequestException http => new SandboxProviderException(Provider,
            $"E2B is unreachable; could not {what}: {Printable(http.Message)}", isTransient: true, exception),
        _ => null,
    };

    /// <summary>Connect RPC errors (<c>{code, message}</c> with Connect code names).</summary>
    public static SandboxProviderException FromConnect(ConnectError error, string what)
    {
        var code = error.Code ?? "unknown";
        var message = error.Message is { Length: > 0 } m ? $": {Printable(m)}" : string.Empty;
        var transient = code is "unavailable" or "deadline_exceeded" or "resource_exhausted" or "aborted" or "internal" or "unknown";
        var hint = code is "unauthenticated" or "permission_denied" ? "; the sandbox's envd access token was refused" : string.Empty;
        return new SandboxProviderException(Provider, $"E2B envd could not {what} ({code}){message}{hint}", transient);
    }

    private static async Task<string?> ReadDetailAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        string body;
        try
        {
            body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(body))
        {
            return null;
        }

        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind == JsonValueKind.Object
                && json.RootElement.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String)
            {
                var code = json.RootElement.TryGetProperty("error_code", out var errorCode) && errorCode.ValueKind == JsonValueKind.String
                    ? $" [{errorCode.GetString()}]"
                    : string.Empty;
                return Printable(message.GetString()) + code;
            }
        }
        catch (JsonException)
        {
            // not JSON (e.g. an HTML proxy page): show the start of it
        }

        return Printable(body);
    }

    private static string RetryAfterText(HttpResponseMessage response) =>
        ProviderHttpPipeline.RetryAfter(response) is { } wait ? $"; retry after {wait.TotalSeconds:0}s" : string.Empty;

    internal static string Printable(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return string.Empty;
        }

        var clean = new string(value.Select(c => char.IsControl(c) ? ' ' : c).ToArray()).Trim();
        return clean.Length > MaxDetail ? clean[..MaxDetail] + "…" : clean;
    }
}
