using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Midori.Operator.Api.V1Alpha1;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Midori.Operator.Providers.Daytona;

/// <summary>
/// Sending and error mapping shared by the API and toolbox clients: transport failures and the pipeline's own
/// rejections (open circuit, timeouts) become transient <see cref="SandboxProviderException"/>s; HTTP errors are mapped
/// by status (auth and validation are permanent, 408/409/429/5xx transient) with Daytona's message when it sent one.
/// Messages name the operation and never carry headers, tokens or request bodies.
/// </summary>
internal static class DaytonaHttp
{
    public const string Provider = ProviderNames.Daytona;

    private const int MaxDetailLength = 300;

    public static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpRequestMessage request, string what, CancellationToken cancellationToken)
    {
        try
        {
            return await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        }
        catch (BrokenCircuitException ex)
        {
            throw new SandboxProviderException(Provider,
                $"Daytona calls are paused after repeated failures (circuit open) while trying to {what}; they resume after the break", isTransient: true, ex);
        }
        catch (TimeoutRejectedException ex)
        {
            throw new SandboxProviderException(Provider, $"Daytona did not answer in time while trying to {what} ({ex.Timeout.TotalSeconds:0.#}s)", isTransient: true, ex);
        }
        catch (HttpRequestException ex)
        {
            throw new SandboxProviderException(Provider, $"Could not reach Daytona to {what}: {ex.Message}", isTransient: true, ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new SandboxProviderException(Provider, $"Daytona did not answer in time while trying to {what}", isTransient: true, ex);
        }
    }

    public static HttpRequestMessage Request(HttpMethod method, Uri uri, string operation, bool idempotent = false, object? json = null)
    {
        var request = new HttpRequestMessage(method, uri).WithOperation(operation, idempotent);
        if (json is not null)
        {
            request.Content = JsonContent.Create(json, json.GetType(), options: DaytonaJson.Options);
        }

        return request;
    }

    public static async Task<T> ReadAsync<T>(HttpResponseMessage response, string what, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            return await response.Content.ReadFromJsonAsync<T>(DaytonaJson.Options, cancellationToken).ConfigureAwait(false)
                ?? throw new JsonException("empty body");
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException)
        {
            throw new SandboxProviderException(Provider, $"Daytona answered {what} with a body that is not the documented JSON: {ex.Message}", isTransient: true, ex);
        }
    }

    /// <summary>The exception for an unsuccessful answer.</summary>
    public static async Task<SandboxProviderException> ErrorAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var detail = await DetailAsync(response, cancellationToken).ConfigureAwait(false);
        var suffix = detail is null ? string.Empty : $": {detail}";
        return response.StatusCode switch
        {
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => new SandboxProviderException(Provider,
                $"Daytona rejected the API key while trying to {what} (HTTP {status}{suffix}); check Providers:Daytona:ApiKey or {DaytonaProviderOptions.ApiKeyEnvironmentVariable}",
                isTransient: false),
            HttpStatusCode.TooManyRequests => new SandboxProviderException(Provider,
                $"Daytona rate limit reached while trying to {what}{RetryAfterText(response)}{suffix}", isTransient: true),
            HttpStatusCode.RequestTimeout or HttpStatusCode.Conflict or >= HttpStatusCode.InternalServerError => new SandboxProviderException(Provider,
                $"Daytona failed to {what} (HTTP {status}{suffix})", isTransient: true),
            _ => new SandboxProviderException(Provider, $"Daytona refused to {what} (HTTP {status}{suffix})", isTransient: false),
        };
    }

    private static string RetryAfterText(HttpResponseMessage response) =>
        ProviderHttpPipeline.RetryAfter(response) is { } wait ? $" (asked to wait {wait.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)}s)" : string.Empty;

    /// <summary>Daytona's <c>message</c> (a string, or a list from request validation), else the start of a text body.</summary>
    private static async Task<string?> DetailAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        string body;
        try
        {
            body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException)
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(body))
        {
            return null;
        }

        string? text = null;
        try
        {
            if (JsonSerializer.Deserialize<DaytonaError>(body, DaytonaJson.Options) is { Message: { } message })
            {
                text = message.ValueKind switch
                {
                    JsonValueKind.String => message.GetString(),
                    JsonValueKind.Array => string.Join("; ", message.EnumerateArray().Select(m => m.ToString())),
                    _ => message.ToString(),
                };
            }
        }
        catch (JsonException)
        {
            text = response.Content.Headers.ContentType?.MediaType is "text/plain" ? body : null;
        }

        text = text?.ReplaceLineEndings(" ").Trim();
        return string.IsNullOrEmpty(text) ? null : text.Length <= MaxDetailLength ? text : text[..MaxDetailLength] + "…";
    }
}
