using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Http.Resilience;
using Midori.Operator.Diagnostics;
using Polly;

namespace Midori.Operator.Providers;

/// <summary>Resilience settings shared by the remote providers (bound under each provider's section, e.g. Providers:Daytona:Http).</summary>
public sealed class ProviderHttpOptions
{
    /// <summary>One attempt; uploads of large batches may need more (set per provider).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:30:00")]
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>All attempts and retry delays together.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan TotalTimeout { get; set; } = TimeSpan.FromMinutes(2);

    [Range(0, 10)]
    public int MaxRetries { get; set; } = 3;

    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest Retry-After we wait in place; a provider asking for more gets its 429 back to the caller (the reconciler backs off instead of holding a worker).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromSeconds(30);

    [Range(0.01, 1.0)]
    public double CircuitFailureRatio { get; set; } = 0.5;

    [Range(2, 10_000)]
    public int CircuitMinimumThroughput { get; set; } = 10;

    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan CircuitSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan CircuitBreakDuration { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>Per-request metadata the pipeline reads: the operation name (metrics, logs) and whether a retry is safe.</summary>
public static class ProviderRequest
{
    public static readonly HttpRequestOptionsKey<string> Operation = new("midori.provider.operation");

    /// <summary>Set on POSTs that are idempotent by the provider's contract (keep-alive, timeout updates) so transient failures are retried.</summary>
    public static readonly HttpRequestOptionsKey<bool> Idempotent = new("midori.provider.idempotent");

    public static HttpRequestMessage WithOperation(this HttpRequestMessage request, string operation, bool idempotent = false)
    {
        request.Options.Set(Operation, operation);
        if (idempotent)
        {
            request.Options.Set(Idempotent, true);
        }

        return request;
    }

    internal static bool IsRetrySafe(HttpRequestMessage? request) =>
        request is not null
        && (request.Method == HttpMethod.Get || request.Method == HttpMethod.Head || request.Method == HttpMethod.Options
            || request.Method == HttpMethod.Put || request.Method == HttpMethod.Delete
            || (request.Options.TryGetValue(Idempotent, out var idempotent) && idempotent));
}

/// <summary>
/// One resilience pipeline per provider (Polly via Microsoft.Extensions.Http.Resilience), outermost first: total timeout →
/// retry → circuit breaker → attempt timeout, then a handler that records every attempt in metrics and reports credential
/// failures. Retries: 429 is always retried (the provider did not act on the request) honouring Retry-After and Daytona's
/// Retry-After-{throttler}; 5xx, timeouts and network errors only for idempotent requests, with jittered exponential backoff.
/// The breaker's state is reported to <see cref="IProviderHealth"/> (→ the ProviderAvailable condition).
/// </summary>
public static class ProviderHttpPipeline
{
    public static IHttpClientBuilder AddProviderPipeline(this IHttpClientBuilder builder, string provider, Func<IServiceProvider, ProviderHttpOptions> options)
    {
        builder.AddResilienceHandler($"{provider}-pipeline", (pipeline, context) =>
        {
            var settings = options(context.ServiceProvider);
            var health = context.ServiceProvider.GetRequiredService<IProviderHealth>();

            pipeline.AddTimeout(settings.TotalTimeout);
            pipeline.AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = Math.Max(1, settings.MaxRetries),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = settings.RetryBaseDelay,
                ShouldRetryAfterHeader = false, // handled below, including Daytona's per-throttler headers
                ShouldHandle = args => ValueTask.FromResult(settings.MaxRetries > 0 && ShouldRetry(args.Outcome, args.Context.GetRequestMessage(), settings.MaxRetryAfter)),
                DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Result)),
            });
            pipeline.AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
            {
                FailureRatio = settings.CircuitFailureRatio,
                MinimumThroughput = settings.CircuitMinimumThroughput,
                SamplingDuration = settings.CircuitSamplingDuration,
                BreakDuration = settings.CircuitBreakDuration,
                OnOpened = args =>
                {
                    health.Report(provider, available: false, ProviderHealthReasons.CircuitOpen,
                        $"{provider} API failing ({Describe(args.Outcome)}); calls paused for {args.BreakDuration.TotalSeconds:0}s");
                    return ValueTask.CompletedTask;
                },
                OnClosed = _ =>
                {
                    health.Report(provider, available: true, ProviderHealthReasons.Available, $"{provider} API answering again");
                    return ValueTask.CompletedTask;
                },
            });
            pipeline.AddTimeout(settings.AttemptTimeout);
        });

        builder.AddHttpMessageHandler(services => new ProviderAttemptHandler(provider, options(services).AttemptTimeout,
            services.GetRequiredService<MidoriMetrics>(), services.GetRequiredService<IProviderHealth>(), services.GetRequiredService<TimeProvider>()));
        return builder;
    }

    internal static bool ShouldRetry(Outcome<HttpResponseMessage> outcome, HttpRequestMessage? request, TimeSpan maxRetryAfter)
    {
        if (outcome.Result is { StatusCode: HttpStatusCode.TooManyRequests } throttled)
        {
            // Asked to wait longer than we hold a worker: hand the 429 to the caller; the reconciler's backoff takes over.
            return RetryAfter(throttled) is not { } wait || wait <= maxRetryAfter;
        }

        return ProviderRequest.IsRetrySafe(request) && HttpClientResiliencePredicates.IsTransient(outcome);
    }

    /// <summary>Delay asked by the provider (Retry-After or Retry-After-{throttler}, seconds or HTTP date); null lets backoff decide.</summary>
    internal static TimeSpan? RetryAfter(HttpResponseMessage? response)
    {
        if (response is null)
        {
            return null;
        }

        TimeSpan? wanted = null;
        if (response.Headers.RetryAfter is { } header)
        {
            wanted = header.Delta ?? (header.Date is { } date && response.Headers.Date is { } now ? date - now : null);
        }

        foreach (var (name, values) in response.Headers)
        {
            if (name.StartsWith("Retry-After-", StringComparison.OrdinalIgnoreCase)
                && double.TryParse(values.FirstOrDefault(), NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
            {
                var delay = TimeSpan.FromSeconds(seconds);
                wanted = wanted is { } w && w > delay ? w : delay;
            }
        }

        return wanted is { } result && result < TimeSpan.Zero ? TimeSpan.Zero : wanted;
    }

    private static string Describe(Outcome<HttpResponseMessage> outcome) =>
        outcome.Exception is { } ex ? ex.GetType().Name : $"HTTP {(int?)outcome.Result?.StatusCode}";
}

/// <summary>Innermost handler: sees every attempt (retries included), so metrics count real requests.</summary>
internal sealed class ProviderAttemptHandler(string provider, TimeSpan attemptTimeout, MidoriMetrics metrics, IProviderHealth health, TimeProvider time) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var operation = request.Options.TryGetValue(ProviderRequest.Operation, out var op) ? op : request.Method.Method.ToLowerInvariant();
        var started = time.GetTimestamp();
        try
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            metrics.ProviderRequest(provider, operation, ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture), time.GetElapsedTime(started));
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                health.Report(provider, available: false, ProviderHealthReasons.CredentialsRejected,
                    $"{provider} rejected the configured credentials (HTTP {(int)response.StatusCode}); check the provider Secret");
            }
            else if (response.IsSuccessStatusCode && health.Get(provider) is { Available: false, Reason: ProviderHealthReasons.CredentialsRejected })
            {
                health.Report(provider, available: true, ProviderHealthReasons.Available, $"{provider} accepts the configured credentials");
            }

            return response;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or OperationCanceledException)
        {
            // The attempt timeout cancels this token too; the time spent tells it apart from a caller that gave up.
            var elapsed = time.GetElapsedTime(started);
            var status = ex is HttpRequestException ? "network"
                : !cancellationToken.IsCancellationRequested || elapsed >= attemptTimeout ? "timeout"
                : "cancelled";
            metrics.ProviderRequest(provider, operation, status, elapsed);
            throw;
        }
    }
}
