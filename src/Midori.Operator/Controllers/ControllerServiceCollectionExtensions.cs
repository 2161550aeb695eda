using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Options;
using Midori.Operator.Runtime;

namespace Midori.Operator.Controllers;

public static class ControllerServiceCollectionExtensions
{
    /// <summary>
    /// The <see cref="OrphanSweepController"/> (settings under <c>Providers:OrphanSweep</c>), run in each leadership term
    /// by the operator runtime's host, which must be registered too (<see cref="RuntimeServiceCollectionExtensions.AddOperatorRuntime"/>).
    /// </summary>
    public static IServiceCollection AddOrphanSweep(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(OrphanSweepController)))
        {
            return services;
        }

        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<OrphanSweepOptions>().BindConfiguration(OrphanSweepOptions.SectionName).ValidateSettings(OrphanSweepOptions.SectionName);

        // Deletes go through the fenced providers: nothing is deleted once this replica's leadership fence has lapsed.
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<OrphanSweepController>(sp, sp.GetRequiredService<FencedSandboxProviderRegistry>()));
        services.AddSingleton<ILeaderController>(sp => sp.GetRequiredService<OrphanSweepController>());
        return services;
    }
}
