using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Options;

namespace Midori.Operator.Providers;

public static class ProviderServiceCollectionExtensions
{
    /// <summary>Settings and seams every remote provider uses (<see cref="ProvidersOptions"/>, <see cref="IProviderHealth"/>); safe to call repeatedly.</summary>
    public static IServiceCollection AddRemoteProviderCommon(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IProviderHealth, ProviderHealth>();
        if (!services.Any(d => d.ServiceType == typeof(ProvidersOptionsMarker)))
        {
            services.AddSingleton<ProvidersOptionsMarker>();
            services.AddOptions<ProvidersOptions>().BindConfiguration(ProvidersOptions.SectionName).ValidateSettings(ProvidersOptions.SectionName);
        }

        return services;
    }

    /// <summary>Keeps <see cref="ProvidersOptions"/> bound once however many providers register.</summary>
    private sealed class ProvidersOptionsMarker;
}
