using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Daytona;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Fakes;

namespace Midori.Operator.Tests.Providers.Daytona;

/// <summary>The Daytona provider wired exactly as the operator wires it (configuration → DI → typed clients → pipeline), pointed at a backend.</summary>
internal sealed class DaytonaHarness : IAsyncDisposable
{
    private readonly ServiceProvider _services;
    private readonly bool _ownsFake;

    private DaytonaHarness(ServiceProvider services, FakeDaytona? fake, bool ownsFake)
    {
        _services = services;
        Fake = fake!;
        _ownsFake = ownsFake;
        Provider = services.GetRequiredService<DaytonaSandboxProvider>();
        Health = services.GetRequiredService<IProviderHealth>();
        Requests = new LongCounterRecorder(services.GetRequiredService<MidoriMetrics>().Meter, "midori.provider.requests");
    }

    public FakeDaytona Fake { get; }

    public DaytonaSandboxProvider Provider { get; }

    public IProviderHealth Health { get; }

    public LongCounterRecorder Requests { get; }

    public IServiceProvider Services => _services;

    public ProviderHealthState State => Health.Get(ProviderNames.Daytona);

    /// <summary>Settings that keep tests fast: no retry back-off, short polls. <paramref name="settings"/> override them.</summary>
    public static async Task<DaytonaHarness> StartAsync(
        IDictionary<string, string?>? settings = null,
        TimeProvider? time = null,
        FakeDaytona? fake = null,
        Action<IServiceCollection>? configure = null)
    {
        var ownsFake = fake is null;
        fake ??= await FakeDaytona.StartAsync(time);
        var values = new Dictionary<string, string?>
        {
            ["Providers:Daytona:ApiUrl"] = fake.ApiUrl.ToString(),
            ["Providers:Daytona:ApiKey"] = fake.ApiKey,
            ["Providers:Daytona:PollInterval"] = "00:00:00.050",
            ["Providers:Daytona:Http:RetryBaseDelay"] = "00:00:00",
            ["Providers:Daytona:ToolboxHttp:RetryBaseDelay"] = "00:00:00",
            ["Providers:InstallationId"] = "test-install",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        services.AddMetrics();
        services.AddSingleton<MidoriMetrics>();
        services.AddSingleton(time ?? TimeProvider.System);
        services.AddDaytonaSandboxProvider(configuration);
        configure?.Invoke(services);
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        return new DaytonaHarness(provider, fake, ownsFake);
    }

    public static SandboxCreateRequest CreateRequest(string? ownerUid = null, string? template = null, int idleSeconds = 300) =>
        new(ownerUid ?? Guid.NewGuid().ToString(), "default", "demo", "shop", template, 3000, TimeSpan.FromMinutes(30), TimeSpan.FromSeconds(idleSeconds),
            new Dictionary<string, string>
            {
                [SandboxLabels.OwnerUid] = ownerUid ?? "ignored",
                [SandboxLabels.Namespace] = "default",
                [SandboxLabels.Name] = "demo",
                [SandboxLabels.Project] = "shop",
            });

    public static SandboxStartRequest StartRequest(string? command = null, int port = 3000, IReadOnlyDictionary<string, string>? env = null) =>
        new(command, port, env ?? new Dictionary<string, string>());

    public async ValueTask DisposeAsync()
    {
        Requests.Dispose();
        await _services.DisposeAsync();
        if (_ownsFake)
        {
            await Fake.DisposeAsync();
        }
    }
}
