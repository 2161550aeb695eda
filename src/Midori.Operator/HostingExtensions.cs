using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Midori.Operator.Controllers;
using Midori.Operator.Diagnostics;
using Midori.Operator.Diagnostics.Telemetry;
using Midori.Operator.Gateway;
using Midori.Operator.Http;
using Midori.Operator.Http.Endpoints;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using Midori.Operator.Providers.E2B;
using Midori.Operator.Providers.Daytona;
using Midori.Operator.Providers.Local;
using Midori.Operator.Runtime;

namespace Midori.Operator;

/// <summary>All DI wiring lives here so Program stays a handful of lines (eShop style).</summary>
public static class HostingExtensions
{
    public static IHostApplicationBuilder AddMidoriOperator(this IHostApplicationBuilder builder)
    {
        // Secrets may come from files (a mounted Secret directory or NAME_FILE variables), layered over the environment.
        builder.Configuration.AddSecretFiles();

        Files.ProjectPath.EnsureNormalization(); // paths must compare after NFC, or one name could be stored as two files
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<OperatorOptions>().BindConfiguration(OperatorOptions.SectionName)
            .ValidateSettings(OperatorOptions.SectionName);
        services.AddOptions<LeaderElectionOptions>().BindConfiguration(LeaderElectionOptions.SectionName)
            .ValidateSettings(LeaderElectionOptions.SectionName);

        // Controller runtime: IKubernetes (current kubeconfig or in-cluster), informer, queue, workers, leadership, events.
        services.AddOperatorRuntime();

        // Namespace policy (cluster-scoped PreviewSandboxPolicy): cached list + watch on every replica; the API and the reconciler enforce it.
        services.AddOptions<PolicyOptions>().BindConfiguration(PolicyOptions.SectionName).ValidateSettings(PolicyOptions.SectionName);
        services.TryAddSingleton<PreviewSandboxPolicyCache>();
        services.AddHostedService(sp => sp.GetRequiredService<PreviewSandboxPolicyCache>());
        services.TryAddSingleton<NamespacePolicyGate>();

        // Providers and the seams the reconciler needs.
        services.TryAddSingleton<ISandboxDeathNotifier, SandboxDeathNotifier>(); // providers report deaths, the runtime enqueues
        if (LocalProviderServiceCollectionExtensions.IsLocalProviderEnabled(builder.Configuration))
        {
            services.AddLocalSandboxProvider(); // off in-cluster unless Providers:Local:Enabled=true
        }

        services.AddE2BSandboxProvider(builder.Configuration); // only when configured (Providers:E2B or E2B_API_KEY)
        services.AddDaytonaSandboxProvider(builder.Configuration); // only when configured (Providers:Daytona or DAYTONA_API_KEY)
        services.AddOrphanSweep();
        services.TryAddSingleton<ISandboxProviderRegistry, SandboxProviderRegistry>();
        services.TryAddSingleton<IProviderHealth, ProviderHealth>();
        builder.AddMidoriTelemetry(); // metrics (/metrics), traces
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISandboxLifecycleObserver, MetricsLifecycleObserver>());
        services.AddHttpClient<IPreviewProbe, HttpPreviewProbe>()
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(2) });
        services.TryAddSingleton<SandboxSourceResolver>();

        // Warm pools (PreviewSandboxPool): leader-only controller, and the claim seam the provisioner asks first.
        services.AddOptions<PoolOptions>().BindConfiguration(PoolOptions.SectionName).ValidateSettings(PoolOptions.SectionName);
        services.TryAddSingleton<IPreviewSandboxPoolClient>(sp => new KubernetesPreviewSandboxPoolClient(sp.GetRequiredService<k8s.IKubernetes>()));
        services.TryAddSingleton(sp => ActivatorUtilities.CreateInstance<PreviewSandboxPoolController>(sp, sp.GetRequiredService<FencedSandboxProviderRegistry>()));
        services.TryAddSingleton<IWarmSandboxPool>(sp => sp.GetRequiredService<PreviewSandboxPoolController>());
        services.AddSingleton<ILeaderController>(sp => sp.GetRequiredService<PreviewSandboxPoolController>());

        // PostgreSQL store (only when ConnectionStrings:Midori is set): migrations, working copies, sessions, history.
        services.AddMidoriStore(builder.Configuration);
        if (StoreServiceCollectionExtensions.IsConfigured(builder.Configuration))
        {
            services.AddMidoriStoreConsumers();
        }
        // The reconciler writes only through the fenced seams: nothing reaches a provider or the API server once this
        // replica's leadership fence has lapsed (the HTTP API, on every replica, keeps the plain ones).
        services.TryAddScoped<IReconciler>(sp => ActivatorUtilities.CreateInstance<PreviewSandboxReconciler>(sp,
            sp.GetRequiredService<FencedPreviewSandboxClient>(), sp.GetRequiredService<FencedSandboxProviderRegistry>()));

        // The editor's HTTP API (Http/): services, auth, limits; it reads the runtime's PreviewSandboxCache.
        services.AddMidoriHttpApi();

        // The preview gateway (Gateway/): stable preview URLs on every replica, signed links, wake on traffic.
        services.AddPreviewGateway(builder.Configuration);
        return builder;
    }

    /// <summary>
    /// Everything built on an <see cref="IPreviewStore"/> (its narrow interfaces, the reconciler's snapshot file source and
    /// history observer, the history writer), for a store registered by the caller: the PostgreSQL one
    /// (<see cref="StoreServiceCollectionExtensions.AddMidoriStore"/>) or another implementation (the development stack's).
    /// Here, in the composition root, because it wires Controllers to Persistence.
    /// </summary>
    public static IServiceCollection AddMidoriStoreConsumers(this IServiceCollection services)
    {
        services.AddOptions<StoreOptions>().BindConfiguration(StoreOptions.SectionName).ValidateSettings(StoreOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StoreOptions>, StoreOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IProjectStore>(sp => sp.GetRequiredService<IPreviewStore>());
        services.TryAddSingleton<ISnapshotStore>(sp => sp.GetRequiredService<IPreviewStore>());
        services.TryAddSingleton<IWorkingCopyStore>(sp => sp.GetRequiredService<IPreviewStore>());
        services.TryAddSingleton<IActivityStore>(sp => sp.GetRequiredService<IPreviewStore>());
        services.TryAddSingleton<ISessionStore>(sp => sp.GetRequiredService<IPreviewStore>());

        services.TryAddSingleton<IStoreNotifications, InMemoryStoreNotifications>(); // a store of one process: its replicas are in it
        services.TryAddSingleton<ISnapshotFileSource, StoreSnapshotFileSource>();
        services.TryAddSingleton<StoreHistoryQueue>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISandboxLifecycleObserver, StoreLifecycleObserver>());
        services.AddHostedService<StoreHistoryWriter>();
        return services;
    }

    /// <summary>The address used when nothing else sets one: loopback port 8080, for development.</summary>
    public const string DefaultUrls = "http://127.0.0.1:8080";

    /// <summary>
    /// Listens on <see cref="DefaultUrls"/> unless any standard .NET setting chooses the endpoints (<c>ASPNETCORE_URLS</c>,
    /// <c>--urls</c>, <c>Urls</c>, <c>ASPNETCORE_HTTP_PORTS</c>/<c>HTTPS_PORTS</c>, <c>Kestrel:Endpoints</c>). The default
    /// is applied in code rather than in appsettings.json, where it would outrank the ASPNETCORE_ variables.
    /// </summary>
    public static WebApplicationBuilder UseMidoriDefaultUrls(this WebApplicationBuilder builder)
    {
        if (!ChoosesEndpoints(builder.Configuration))
        {
            builder.WebHost.UseUrls(DefaultUrls);
        }

        return builder;
    }

    /// <summary>Whether <paramref name="configuration"/> already says where Kestrel listens.</summary>
    public static bool ChoosesEndpoints(IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration[WebHostDefaults.ServerUrlsKey])
        || !string.IsNullOrWhiteSpace(configuration[WebHostDefaults.HttpPortsKey])
        || !string.IsNullOrWhiteSpace(configuration[WebHostDefaults.HttpsPortsKey])
        || configuration.GetSection("Kestrel:Endpoints").GetChildren().Any();

    public static WebApplication MapMidoriEndpoints(this WebApplication app)
    {
        // First: preview traffic (preview hosts and /p/…) never meets the API's auth, limits or routes.
        app.UsePreviewGateway();

        // Liveness: the process serves HTTP. Readiness: caches synced when leading (followers are ready: the API serves).
        app.MapGet("/healthz", () => TypedResults.Text("ok"));
        // The store (when configured) must have migrated and must answer now: a replica whose store is down says so.
        app.MapGet("/readyz", async (OperatorRuntimeHost runtime, IServiceProvider services) =>
        {
            if (services.GetService<StoreMigrator>() is { IsReady: false } store)
            {
                return Results.Text(store.Refusal is null ? "store not migrated yet" : "store migration refused", statusCode: StatusCodes.Status503ServiceUnavailable);
            }

            if (services.GetService<StoreHealth>() is { } health && await health.CheckAsync() is { } error)
            {
                services.GetRequiredService<ILogger<StoreHealth>>().StoreNotReachable(error);
                return Results.Text($"store unreachable: {error}", statusCode: StatusCodes.Status503ServiceUnavailable);
            }

            return runtime.IsReady ? Results.Text("ok") : Results.Text("informer not synced", statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        app.MapMidoriTelemetry();
        app.MapMidoriApi();
        return app;
    }
}
