using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Midori.Operator.Providers.Local;

public static class LocalProviderServiceCollectionExtensions
{
    /// <summary>
    /// Registers the <c>local</c> provider as an <see cref="ISandboxProvider"/> singleton with options bound from
    /// <c>Providers:Local</c> (validated on start). Needs a <see cref="TimeProvider"/> (falls back to
    /// <see cref="TimeProvider.System"/>). The host disposes the provider, which stops every local sandbox server.
    /// </summary>
    public static IServiceCollection AddLocalSandboxProvider(
        this IServiceCollection services,
        Action<LocalProviderOptions>? configure = null)
    {
        if (services.Any(d => d.ServiceType == typeof(LocalSandboxProvider)))
        {
            return services; // already registered: a second ISandboxProvider "local" would break the registry
        }

        services.TryAddSingleton(TimeProvider.System);
        var options = services.AddOptions<LocalProviderOptions>().BindConfiguration(LocalProviderOptions.SectionName);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateDataAnnotations().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LocalProviderOptions>, LocalProviderOptionsValidator>());
        services.AddSingleton<LocalSandboxProvider>();
        services.AddSingleton<ISandboxProvider>(sp => sp.GetRequiredService<LocalSandboxProvider>());
        return services;
    }
}
