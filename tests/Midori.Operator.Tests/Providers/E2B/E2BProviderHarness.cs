using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Midori.Operator.Providers;
using Midori.Operator.Providers.E2B;
using Midori.Operator.Testing.Fakes;
using Midori.Operator.Testing.Fakes.E2B;

namespace Midori.Operator.Tests.Providers.E2B;

/// <summary>The E2B provider wired exactly as the operator wires it (AddE2BSandboxProvider from configuration), pointed at a fake.</summary>
internal sealed class E2BProviderHarness : IAsyncDisposable
{
    private E2BProviderHarness(FakeE2BServer fake, ServiceProvider services, ObservableTimeProvider time)
    {
        Fake = fake;
        Services = services;
        Time = time;
    }

    public FakeE2BServer Fake { get; }

    public ServiceProvider Services { get; }

    public ObservableTimeProvider Time { get; }

    public E2BSandboxProvider Provider => Services.GetRequiredService<E2BSandboxProvider>();

    public IProviderHealth Health => Services.GetRequiredService<IProviderHealth>();

    public static async Task<E2BProviderHarness> StartAsync(IDictionary<string, string?>? settings = null, Action<FakeE2BOptions>? fake = null)
    {
        var time = new ObservableTimeProvider();
        var options = new FakeE2BOptions { Time = time };
        fake?.Invoke(options);
        var server = await FakeE2BServer.StartAsync(options);
        var config = server.ProviderSettings();
        config["Providers:E2B:Http:RetryBaseDelay"] = "00:00:00"; // retries need no clock advance unless a test asks for one
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            config[key] = value;
        }

        return new E2BProviderHarness(server, BuildServices(config, time), time);
    }

    public static ServiceProvider BuildServices(IDictionary<string, string?> settings, TimeProvider time, Action<IServiceCollection>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton(time);
        services.AddE2BSandboxProvider();
        configure?.Invoke(services);
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        _ = provider.GetRequiredService<IOptions<E2BProviderOptions>>().Value; // validation, as ValidateOnStart would
        return provider;
    }

    /// <summary>A second provider instance against the same fake (an operator restart: no remembered tokens).</summary>
    public E2BSandboxProvider Restarted(IDictionary<string, string?>? settings = null)
    {
        var config = Fake.ProviderSettings();
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            config[key] = value;
        }

        return BuildServices(config, Time).GetRequiredService<E2BSandboxProvider>();
    }

    public static SandboxCreateRequest CreateRequest(string owner = "uid-1", TimeSpan? ttl = null) =>
        new(owner, "team", "shop-preview", "shop", Template: null, Port: 3000, ttl ?? TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(5),
            new Dictionary<string, string> { ["preview.midori.dev/project"] = "shop" });

    public static SandboxStartRequest StartRequest(string? command = null, int port = 3000) =>
        new(command, port, new Dictionary<string, string> { ["NODE_ENV"] = "development" });

    public async ValueTask DisposeAsync()
    {
        await Services.DisposeAsync();
        await Fake.DisposeAsync();
    }
}
