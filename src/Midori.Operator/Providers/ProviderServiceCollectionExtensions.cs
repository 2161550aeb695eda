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

    /// <summary>The leader-only <see cref="OrphanSweeper"/> (settings under <c>Providers:OrphanSweep</c>). Needs the operator runtime (ILeadership).</summary>
    public static IServiceCollection AddOrphanSweeper(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(OrphanSweeper)))
        {
            return services;
        }

        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<OrphanSweepOptions>().BindConfiguration(OrphanSweepOptions.SectionName).ValidateSettings(OrphanSweepOptions.SectionName);
        // Deletes go through the fenced providers (Runtime.FencedSandboxProviderRegistry, registered by the operator runtime).
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<OrphanSweeper>(sp, sp.GetRequiredService<Runtime.FencedSandboxProviderRegistry>()));
        services.AddHostedService(sp => sp.GetRequiredService<OrphanSweeper>());
        return services;
    }

    /// <summary>Keeps <see cref="ProvidersOptions"/> bound once however many providers register.</summary>
    private sealed class ProvidersOptionsMarker;
}
