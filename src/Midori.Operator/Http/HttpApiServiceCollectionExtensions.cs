using System.Globalization;
using Midori.Operator.Options;
using System.Text.Json.Serialization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Midori.Operator.Controllers;
using Midori.Operator.Http.Auth;
using Midori.Operator.Http.Endpoints;
using Midori.Operator.Http.OpenApi;
using Midori.Operator.Http.Problems;
using Midori.Operator.Http.Services;

namespace Midori.Operator.Http;

public static class HttpApiServiceCollectionExtensions
{
    public const string RateLimitPolicy = "midori-api";
    public const string AuthorizationPolicy = "midori-api";

    /// <summary>
    /// The editor API's services: options (<c>Api</c> section, validated), heartbeat batching, the application services, bearer authentication, per-caller rate limiting,
    /// problem details and strict JSON (unknown members refused). Uses an <see cref="Persistence.IPreviewStore"/>
    /// when one is registered; without one, store-backed routes answer 503.
    /// </summary>
    public static IServiceCollection AddMidoriHttpApi(this IServiceCollection services)
    {
        services.AddOptions<HttpApiOptions>().BindConfiguration(HttpApiOptions.SectionName).ValidateSettings(HttpApiOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HttpApiOptions>, HttpApiOptionsValidator>());

        services.TryAddSingleton<ActivityRecorder>();
        services.AddHostedService(sp => sp.GetRequiredService<ActivityRecorder>());
        services.TryAddSingleton<WorkingCopyService>();
        services.TryAddSingleton<HeartbeatService>();
        services.TryAddSingleton<PreviewService>();
        services.TryAddSingleton<AutoBuildService>();

        // Server-sent events, the progress relay across replicas, and the seed-compatible routes' sandbox-id index.
        services.AddOptions<PreviewEventsOptions>().BindConfiguration(PreviewEventsOptions.SectionName).ValidateSettings(PreviewEventsOptions.SectionName);
        services.AddOptions<SeedCompatOptions>().BindConfiguration(SeedCompatOptions.SectionName).ValidateSettings(SeedCompatOptions.SectionName);
        services.TryAddSingleton<PreviewEventHub>();
        services.AddHostedService(sp => sp.GetRequiredService<PreviewEventHub>());
        // The reconciler's observer for progress; it relays through the store's notification channel (PostgreSQL NOTIFY when configured).
        services.TryAddSingleton<PreviewProgressRelay>();
        services.AddSingleton<ISandboxLifecycleObserver>(sp => sp.GetRequiredService<PreviewProgressRelay>());
        services.AddHostedService(sp => sp.GetRequiredService<PreviewProgressRelay>());
        services.TryAddSingleton<SandboxIdIndex>();
        services.AddHostedService(sp => sp.GetRequiredService<SandboxIdIndex>());

        services.AddProblemDetails(o =>
        {
            var previous = o.CustomizeProblemDetails;
            o.CustomizeProblemDetails = context =>
            {
                previous?.Invoke(context);
                ProblemTypes.Apply(context);
                SeedCompatEndpoints.AddSeedErrorMembers(context);
            };
        });
        services.AddMidoriOpenApi(); // served at /openapi/v1.json (Http/OpenApi)
        services.AddExceptionHandler<ApiExceptionHandler>();
        services.Configure<JsonOptions>(o =>
        {
            o.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
            // Web defaults read "3" as 3; a string where a number belongs is a caller's mistake worth a 400.
            o.SerializerOptions.NumberHandling = JsonNumberHandling.Strict;
            o.SerializerOptions.Converters.Insert(0, new StoreableStringConverter());
            o.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        });

        // Binding failures (malformed JSON, unknown members, bad query values) throw so the exception handler can
        // name the problem; otherwise minimal APIs answer an empty 400.
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);

        services.TryAddSingleton<ReviewCache>();
        services.TryAddSingleton<IKubernetesAccessReviewer, KubernetesAccessReviewer>();
        services.TryAddSingleton<NamespaceAccess>();
        services.AddAuthentication(ApiClaims.Scheme)
            .AddScheme<AuthenticationSchemeOptions, BearerTokenAuthenticationHandler>(ApiClaims.Scheme, _ => { });
        services.AddAuthorizationBuilder()
            .AddPolicy(AuthorizationPolicy, p => p.AddAuthenticationSchemes(ApiClaims.Scheme).RequireAuthenticatedUser());

        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.AddPolicy(RateLimitPolicy, context =>
            {
                var options = context.RequestServices.GetRequiredService<IOptionsMonitor<HttpApiOptions>>().CurrentValue;
                var caller = context.User.Identity?.IsAuthenticated == true
                    ? "user:" + context.User.Identity.Name
                    : "ip:" + context.Connection.RemoteIpAddress;
                return RateLimitPartition.GetTokenBucketLimiter(caller, _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = options.RateLimitBurst,
                    TokensPerPeriod = options.RateLimitPerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
            limiter.OnRejected = async (context, cancellationToken) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
                var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
                context.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                var refusal = ServiceError.RateLimited($"the request rate of this caller is over its limit; retry in {seconds} s");
                await ApiProblems.WriteAsync(context.HttpContext, ApiProblems.ToProblemDetails(refusal)).ConfigureAwait(false);
            };
        });
        return services;
    }
}
