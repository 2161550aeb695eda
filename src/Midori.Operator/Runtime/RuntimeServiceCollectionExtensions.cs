using k8s;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;
using Midori.Operator.Options;

namespace Midori.Operator.Runtime;

public static class RuntimeServiceCollectionExtensions
{
    /// <summary>
    /// Registers the controller runtime: <see cref="IKubernetes"/> (singleton, from a registered
    /// <see cref="KubernetesClientConfiguration"/> or <see cref="KubernetesClientConfiguration.BuildDefaultConfig"/>),
    /// <see cref="IPreviewSandboxClient"/>, <see cref="IEventRecorder"/> (+ its background sender), the queue, the informer and its <see cref="PreviewSandboxCache"/>,
    /// workers, <see cref="ILeadership"/>, the <see cref="ILeadershipFence"/> with the fenced views of the write seams
    /// (<see cref="FencedPreviewSandboxClient"/>, <see cref="FencedSandboxProviderRegistry"/>: what leader-only code takes) and the runtime host. Hosted services start in this order: event sender,
    /// leader election, runtime host (so the runtime host stops — and drains — before leadership is released).
    /// Does not register <see cref="IReconciler"/> (scoped; the caller's) nor bind options (the caller binds
    /// <see cref="OperatorOptions"/> and <see cref="LeaderElectionOptions"/>).
    /// </summary>
    /// <summary>
    /// The operator's Kubernetes client: the registered configuration, the client-side rate limit
    /// (<see cref="OperatorOptions.ApiQps"/>/<see cref="OperatorOptions.ApiBurst"/>), then <paramref name="handlers"/>
    /// (benchmarks count requests here).
    /// </summary>
    public static IKubernetes CreateKubernetesClient(IServiceProvider services, params DelegatingHandler[] handlers)
    {
        var options = services.GetRequiredService<IOptions<OperatorOptions>>().Value;
        var limit = new ClientRateLimitHandler(options.ApiQps, options.ApiBurst, services.GetRequiredService<TimeProvider>());
        DelegatingHandler[] pipeline = [new OperatorUserAgentHandler(), limit, .. handlers];
        return new k8s.Kubernetes(services.GetRequiredService<KubernetesClientConfiguration>(), pipeline);
    }

    public static IServiceCollection AddOperatorRuntime(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<OperatorOptions>();
        services.AddOptions<LeaderElectionOptions>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OperatorOptions>, OperatorOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LeaderElectionOptions>, LeaderElectionOptionsValidator>());

        // One client per process (KubeOps; kubernetes-client/csharp#1446). Tests register their own configuration first.
        services.TryAddSingleton(_ => KubernetesClientConfiguration.BuildDefaultConfig());
        services.TryAddSingleton<IKubernetes>(sp => CreateKubernetesClient(sp));
        services.TryAddSingleton(sp => new OperatorIdentity(sp.GetRequiredService<IOptions<LeaderElectionOptions>>()));

        services.TryAddSingleton<IPreviewSandboxClient, KubernetesPreviewSandboxClient>();

        // The leadership fence and the leader-only views of the two write seams (API server here, providers below).
        services.TryAddSingleton(sp => new LeadershipFence(sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<ILeadershipFence>(sp => sp.GetRequiredService<LeadershipFence>());
        services.TryAddSingleton(sp => new FencedPreviewSandboxClient(sp.GetRequiredService<IPreviewSandboxClient>(), sp.GetRequiredService<ILeadershipFence>()));
        services.TryAddSingleton(sp => new FencedSandboxProviderRegistry(sp.GetRequiredService<Providers.ISandboxProviderRegistry>(), sp.GetRequiredService<ILeadershipFence>()));
        services.TryAddSingleton<KubernetesEventRecorder>();
        services.TryAddSingleton<IEventRecorder>(sp => sp.GetRequiredService<KubernetesEventRecorder>());

        services.TryAddSingleton<CrdPresence>();
        services.TryAddSingleton(sp => new ReconcileQueue(sp.GetRequiredService<TimeProvider>(), sp.GetService<MidoriMetrics>()));
        // One informer per replica, on every replica: its cache serves the HTTP API and the gateway; the leader's terms attach the queue.
        services.TryAddSingleton(sp => new PreviewSandboxCache(sp.GetRequiredService<IPreviewSandboxClient>(), sp.GetRequiredService<TimeProvider>()));
        // The reconciler starts from that cache instead of a GET (the informer stores an object before it enqueues the key).
        services.TryAddSingleton<IPreviewSandboxLookup>(sp => new PreviewSandboxCacheLookup(sp.GetRequiredService<PreviewSandboxCache>()));
        services.TryAddSingleton(sp => new PreviewSandboxInformer(
            sp.GetRequiredService<IPreviewSandboxClient>(),
            sp.GetRequiredService<PreviewSandboxCache>(),
            sp.GetRequiredService<IOptions<OperatorOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<PreviewSandboxInformer>>(),
            metrics: sp.GetService<MidoriMetrics>(),
            crd: sp.GetRequiredService<CrdPresence>()));
        services.TryAddSingleton(sp => new ReconcileWorkers(
            sp.GetRequiredService<ReconcileQueue>(),
            sp.GetRequiredService<IServiceScopeFactory>(),
            sp.GetRequiredService<IOptions<OperatorOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<ReconcileWorkers>>(),
            metrics: sp.GetService<MidoriMetrics>()));
        services.TryAddSingleton<LeaderElectionService>();
        services.TryAddSingleton<ILeadership>(sp => sp.GetRequiredService<LeaderElectionService>());
        services.TryAddSingleton<OperatorRuntimeHost>();

        services.AddHostedService(sp => sp.GetRequiredService<KubernetesEventRecorder>());
        services.AddHostedService(sp => sp.GetRequiredService<LeaderElectionService>());
        services.AddHostedService(sp => sp.GetRequiredService<OperatorRuntimeHost>());
        return services;
    }
}
