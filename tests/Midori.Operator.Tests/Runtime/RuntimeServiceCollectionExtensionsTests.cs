using k8s;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Midori.Operator.Kubernetes;
using Midori.Operator.Runtime;

namespace Midori.Operator.Tests.Runtime;

public sealed class RuntimeServiceCollectionExtensionsTests
{
    [Fact]
    public void AddOperatorRuntime_WithRegisteredConfiguration_ResolvesRuntimeAndHostedServicesInOrder()
    {
        // arrange
        var services = new ServiceCollection();
        services.AddLogging();
        var configuration = new KubernetesClientConfiguration { Host = "http://127.0.0.1:1" };
        services.AddSingleton(configuration);

        // act
        services.AddOperatorRuntime();
        using var provider = services.BuildServiceProvider();

        // assert
        Assert.Null(provider.GetService<IReconciler>());
        Assert.IsType<KubernetesPreviewSandboxClient>(provider.GetRequiredService<IPreviewSandboxClient>());
        Assert.IsType<KubernetesEventRecorder>(provider.GetRequiredService<IEventRecorder>());
        Assert.Same(provider.GetRequiredService<LeaderElectionService>(), provider.GetRequiredService<ILeadership>());
        Assert.Same(provider.GetRequiredService<IKubernetes>(), provider.GetRequiredService<IKubernetes>());
        var hosted = provider.GetServices<IHostedService>().Select(h => h.GetType()).ToList();
        Assert.Equal([typeof(KubernetesEventRecorder), typeof(LeaderElectionService), typeof(OperatorRuntimeHost)], hosted);
    }

    [Fact]
    public void AddOperatorRuntime_CalledTwice_RegistersHostedServicesOnce()
    {
        // arrange
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(new KubernetesClientConfiguration { Host = "http://127.0.0.1:1" });

        // act
        services.AddOperatorRuntime();
        services.AddOperatorRuntime();
        using var provider = services.BuildServiceProvider();

        // assert
        Assert.Equal(3, provider.GetServices<IHostedService>().Count());
    }
}
