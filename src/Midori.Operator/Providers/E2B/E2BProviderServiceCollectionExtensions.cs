using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Options;
using Microsoft.Extensions.Options;
using Midori.Operator.Diagnostics;

namespace Midori.Operator.Providers.E2B;

public static class E2BProviderServiceCollectionExtensions
{
    /// <summary>
    /// Registers the <c>e2b</c> provider unconditionally (the configuration-aware overload decides whether to), its options from <c>Providers:E2B</c> (validated on start, key falling back to
    /// <c>E2B_API_KEY</c>), and two typed HttpClients behind the provider resilience pipeline: the control-plane API
    /// and envd.
    /// </summary>
    /// <summary>
    /// Registers the <c>e2b</c> provider only when it is asked for (a <c>Providers:E2B</c> section, <c>E2B_API_KEY</c>, or
    /// e2b as the default provider, where a missing key must show as CredentialsMissing), as Daytona does: an operator used with the local provider alone should not warn about a key nobody needs.
    /// <c>Providers:E2B:Enabled</c> forces it either way.
    /// </summary>
    public static IServiceCollection AddE2BSandboxProvider(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(E2BProviderOptions.SectionName);
        var enabled = section.GetValue<bool?>(nameof(E2BProviderOptions.Enabled));
        var configured = section.Exists()
            || !string.IsNullOrWhiteSpace(configuration[E2BProviderOptions.ApiKeyVariable])
            || string.Equals(configuration["Operator:DefaultProvider"], E2BSandboxProvider.ProviderName, StringComparison.Ordinal);
        return enabled == false || (enabled is null && !configured) ? services : services.AddE2BSandboxProvider();
    }

    public static IServiceCollection AddE2BSandboxProvider(this IServiceCollection services, Action<E2BProviderOptions>? configure = null)
    {
        if (services.Any(d => d.ServiceType == typeof(E2BSandboxProvider)))
        {
            return services; // a second ISandboxProvider "e2b" would break the registry
        }

        services.AddRemoteProviderCommon();
        services.AddMetrics();
        services.TryAddSingleton<MidoriMetrics>();

        var options = services.AddOptions<E2BProviderOptions>().BindConfiguration(E2BProviderOptions.SectionName);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateSettings(E2BProviderOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<E2BProviderOptions>, E2BProviderOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<E2BProviderOptions>, E2BApiKeyFallback>());

        static ProviderHttpOptions Http(IServiceProvider sp) => sp.GetRequiredService<IOptions<E2BProviderOptions>>().Value.Http;

        // The provider is a singleton holding its clients, so connections are recycled by the handler, not by the factory.
        services.AddHttpClient<E2BApiClient>(E2BApiClient.HttpClientName, (sp, http) =>
            {
                var settings = sp.GetRequiredService<IOptions<E2BProviderOptions>>().Value;
                http.BaseAddress = settings.ApiUrl.AbsoluteUri.EndsWith('/') ? settings.ApiUrl : new Uri(settings.ApiUrl.AbsoluteUri + "/");
                http.Timeout = Timeout.InfiniteTimeSpan; // the pipeline's attempt and total timeouts apply
                if (settings.HasApiKey)
                {
                    http.DefaultRequestHeaders.TryAddWithoutValidation("X-API-Key", settings.ApiKey);
                }
            })
            .ConfigurePrimaryHttpMessageHandler(NewHandler)
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .AddProviderPipeline(E2BSandboxProvider.ProviderName, Http);

        services.AddHttpClient<E2BEnvdClient>(E2BEnvdClient.HttpClientName, http => http.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(NewHandler)
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .AddProviderPipeline(E2BSandboxProvider.ProviderName, Http);

        services.AddHttpClient(E2BSandboxProvider.PreviewHttpClientName, http => http.Timeout = TimeSpan.FromSeconds(5))
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(2) });

        services.AddSingleton(sp => new E2BSandboxProvider(
            sp.GetRequiredService<E2BApiClient>(),
            sp.GetRequiredService<E2BEnvdClient>(),
            sp.GetRequiredService<IHttpClientFactory>(),
            sp.GetRequiredService<IOptions<E2BProviderOptions>>(),
            sp.GetRequiredService<IOptions<ProvidersOptions>>(),
            sp.GetRequiredService<IProviderHealth>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<E2BSandboxProvider>>(),
            sp.GetService<ISandboxDeathNotifier>()));
        services.AddSingleton<ISandboxProvider>(sp => sp.GetRequiredService<E2BSandboxProvider>());
        return services;
    }

    private static HttpMessageHandler NewHandler() =>
        new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2), AllowAutoRedirect = false };
}
