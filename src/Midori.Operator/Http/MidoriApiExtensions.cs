using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Options;
using Microsoft.Extensions.Options;
using Midori.Operator.Controllers;
using Midori.Operator.Http.Endpoints;
using Midori.Operator.Http.Services;

namespace Midori.Operator.Http;

/// <summary>
/// The rest of the editor API on top of the core routes: server-sent events (<see cref="PreviewEventsEndpoints"/>),
/// the progress relay across replicas, the seed-compatible <c>/api/preview/daytona</c> routes
/// (<see cref="SeedCompatEndpoints"/>) and project snapshots with <c>previewAutoBuild</c>
/// (<see cref="ProjectSnapshotsEndpoints"/>). Registered by <see cref="HttpApiServiceCollectionExtensions.AddMidoriHttpApi"/>
/// and mapped by <see cref="MidoriApiEndpoints.MapMidoriApi"/> with one call each.
/// </summary>
public static class MidoriApiExtensions
{
    public static IServiceCollection AddMidoriApiExtensions(this IServiceCollection services)
    {
        services.AddOptions<PreviewEventsOptions>().BindConfiguration(PreviewEventsOptions.SectionName).ValidateSettings(PreviewEventsOptions.SectionName);
        services.AddOptions<SeedCompatOptions>().BindConfiguration(SeedCompatOptions.SectionName).ValidateSettings(SeedCompatOptions.SectionName);

        services.TryAddSingleton<PreviewEventHub>();
        services.AddHostedService(sp => sp.GetRequiredService<PreviewEventHub>());

        // The reconciler's observer for progress; with the store's NpgsqlDataSource registered it relays through NOTIFY.
        services.TryAddSingleton<PreviewProgressRelay>();
        services.AddSingleton<ISandboxLifecycleObserver>(sp => sp.GetRequiredService<PreviewProgressRelay>());
        services.AddHostedService(sp => sp.GetRequiredService<PreviewProgressRelay>());

        services.TryAddSingleton<SandboxIdIndex>();
        services.AddHostedService(sp => sp.GetRequiredService<SandboxIdIndex>());
        services.TryAddSingleton<AutoBuildService>();

        services.AddProblemDetails(o =>
        {
            var previous = o.CustomizeProblemDetails;
            o.CustomizeProblemDetails = context =>
            {
                previous?.Invoke(context);
                SeedCompatEndpoints.AddSeedErrorMembers(context);
            };
        });
        return services;
    }

    public static void MapMidoriApiExtensions(this WebApplication app, RouteGroupBuilder previews, RouteGroupBuilder projects)
    {
        previews.MapPreviewEvents();
        projects.MapProjectSnapshots();
        if (app.Services.GetRequiredService<IOptions<SeedCompatOptions>>().Value.Enabled)
        {
            app.MapSeedCompat();
        }
    }
}
