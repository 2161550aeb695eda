using System.Net.Http.Headers;
using Midori.Operator.Options;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Providers.Daytona;

public static class DaytonaServiceCollectionExtensions
{
    /// <summary>
    /// Registers the <c>daytona</c> provider when it is configured: <c>Providers:Daytona:Enabled</c> is true, or it is
    /// unset and the <c>Providers:Daytona</c> section or <c>DAYTONA_API_KEY</c> exists. Without an API key it still
    /// registers, so resources naming it say why it cannot work (ProviderAvailable=False, CredentialsMissing).
    /// Two typed clients (control plane, toolbox), each behind the provider resilience pipeline.
    /// </summary>
    public static IServiceCollection AddDaytonaSandboxProvider(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(DaytonaProviderOptions.SectionName);
        var enabled = section.GetValue<bool?>(nameof(DaytonaProviderOptions.Enabled));
        var configured = section.Exists() || !string.IsNullOrWhiteSpace(configuration[DaytonaProviderOptions.ApiKeyEnvironmentVariable]);
        if (enabled == false || (enabled is null && !configured) || services.Any(d => d.ServiceType == typeof(DaytonaSandboxProvider)))
        {
            return services;
        }

        services.AddRemoteProviderCommon();
        services.AddOptions<DaytonaProviderOptions>()
            .BindConfiguration(DaytonaProviderOptions.SectionName)
            .PostConfigure<IConfiguration>((options, config) =>
            {
                if (string.IsNullOrWhiteSpace(options.ApiKey))
                {
                    options.ApiKey = config[DaytonaProviderOptions.ApiKeyEnvironmentVariable];
                }

                options.ApiKey = options.ApiKey?.Trim(); // a Secret written with `echo` ends in a newline
            })
            .ValidateSettings(DaytonaProviderOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DaytonaProviderOptions>, DaytonaProviderOptionsValidator>());

        services.AddHttpClient<DaytonaApiClient>((sp, http) =>
            {
                var options = sp.GetRequiredService<IOptions<DaytonaProviderOptions>>().Value;
                http.BaseAddress = options.ApiBaseUri;
                Authorize(http, options);
            })
            .ConfigurePrimaryHttpMessageHandler(PrimaryHandler)
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .AddProviderPipeline(ProviderNames.Daytona, sp => sp.GetRequiredService<IOptions<DaytonaProviderOptions>>().Value.Http);
        services.AddHttpClient<DaytonaToolboxClient>((sp, http) => Authorize(http, sp.GetRequiredService<IOptions<DaytonaProviderOptions>>().Value))
            .ConfigurePrimaryHttpMessageHandler(PrimaryHandler)
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .AddProviderPipeline(ProviderNames.Daytona, sp => sp.GetRequiredService<IOptions<DaytonaProviderOptions>>().Value.ToolboxHttp);

        services.AddSingleton<DaytonaSandboxProvider>();
        services.AddSingleton<ISandboxProvider>(sp => sp.GetRequiredService<DaytonaSandboxProvider>());
        return services;
    }

    // The provider (a singleton) keeps its typed clients, so connections are recycled by the handler rather than by
    // IHttpClientFactory's rotation (DNS changes are still picked up).
    private static SocketsHttpHandler PrimaryHandler() => new() { PooledConnectionLifetime = TimeSpan.FromMinutes(2), AllowAutoRedirect = false };

    private static void Authorize(HttpClient http, DaytonaProviderOptions options)
    {
        http.Timeout = Timeout.InfiniteTimeSpan; // the pipeline's total and attempt timeouts govern
        http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("midori-operator", "1.0"));
        if (options.HasApiKey)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.ApiKey);
        }
    }
}
