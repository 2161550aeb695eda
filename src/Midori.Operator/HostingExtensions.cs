using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Controllers;
using Midori.Operator.Diagnostics;
using Midori.Operator.Http;
using Midori.Operator.Http.Endpoints;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Local;
using Midori.Operator.Runtime;

namespace Midori.Operator;

/// <summary>All DI wiring lives here so Program stays a handful of lines (eShop style).</summary>
public static class HostingExtensions
{
    public static IHostApplicationBuilder AddMidoriOperator(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<OperatorOptions>().BindConfiguration(OperatorOptions.SectionName)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<LeaderElectionOptions>().BindConfiguration(LeaderElectionOptions.SectionName)
            .ValidateDataAnnotations().ValidateOnStart();

        // Controller runtime: IKubernetes (current kubeconfig or in-cluster), informer, queue, workers, leadership, events.
        services.AddOperatorRuntime();

        // Providers and the seams the reconciler needs.
        services.AddLocalSandboxProvider();
        services.TryAddSingleton<ISandboxProviderRegistry, SandboxProviderRegistry>();
        services.TryAddSingleton<IProviderHealth, ProviderHealth>();
        services.AddMetrics();
        services.TryAddSingleton<MidoriMetrics>();
        services.AddHttpClient<IPreviewProbe, HttpPreviewProbe>()
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(2) });
        services.TryAddSingleton<SandboxSourceResolver>();
        services.TryAddScoped<IReconciler, PreviewSandboxReconciler>();

        // The editor's HTTP API (Http/): watch cache on every replica, services, auth, limits.
        services.AddMidoriHttpApi();
        return builder;
    }

    public static WebApplication MapMidoriEndpoints(this WebApplication app)
    {
        // Liveness: the process serves HTTP. Readiness: caches synced when leading (followers are ready: the API serves).
        app.MapGet("/healthz", () => TypedResults.Text("ok"));
        app.MapGet("/readyz", (OperatorRuntimeHost runtime) => runtime.IsReady
            ? Results.Text("ok")
            : Results.Text("informer not synced", statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapMidoriApi();
        return app;
    }
}
