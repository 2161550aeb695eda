using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers.Daytona;
using Midori.Operator.Testing.Fakes;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.E2E;

/// <summary>The core lifecycle scenario with <c>provider: daytona</c> against the loopback fake Daytona.</summary>
[Trait("Category", "E2E")]
public sealed class DaytonaFakePreviewLifecycleE2ETests(ITestOutputHelper output) : PreviewLifecycleScenario(output)
{
    private FakeDaytona? _fake;

    protected override string? ProviderName => ProviderNames.Daytona;

    [Fact]
    public Task Lifecycle_ApplyServeKeepAliveExpireWakeSuspendResumeDelete() => RunLifecycleAsync();

    protected override async Task<IDictionary<string, string?>> ProviderSettingsAsync()
    {
        _fake = await FakeDaytona.StartAsync();
        return new Dictionary<string, string?>
        {
            ["Providers:Daytona:ApiUrl"] = _fake.ApiUrl.ToString(),
            ["Providers:Daytona:ApiKey"] = _fake.ApiKey,
            ["Providers:Daytona:PollInterval"] = "00:00:00.100",
        };
    }

    protected override async ValueTask DisposeProviderAsync()
    {
        if (_fake is not null)
        {
            await _fake.DisposeAsync();
        }
    }
}

/// <summary>
/// The same scenario against Daytona itself when <c>DAYTONA_API_KEY</c> is set (optionally <c>DAYTONA_API_URL</c>,
/// <c>MIDORI_E2E_DAYTONA_SNAPSHOT</c>); skipped with the reason otherwise. It creates and deletes real sandboxes.
/// </summary>
[Trait("Category", "E2E")]
public sealed class DaytonaServicePreviewLifecycleE2ETests(ITestOutputHelper output) : PreviewLifecycleScenario(output)
{
    protected override string? ProviderName => ProviderNames.Daytona;

    protected override TimeSpan Step => TimeSpan.FromMinutes(4);

    [DaytonaServiceFact]
    public Task Lifecycle_ApplyServeKeepAliveExpireWakeSuspendResumeDelete() => RunLifecycleAsync();

    protected override Task<IDictionary<string, string?>> ProviderSettingsAsync() => Task.FromResult<IDictionary<string, string?>>(new Dictionary<string, string?>
    {
        ["Providers:Daytona:ApiKey"] = Environment.GetEnvironmentVariable(DaytonaProviderOptions.ApiKeyEnvironmentVariable),
        ["Providers:Daytona:ApiUrl"] = Environment.GetEnvironmentVariable("DAYTONA_API_URL") is { Length: > 0 } url ? url : "https://app.daytona.io/api",
        ["Providers:Daytona:DefaultSnapshot"] = Environment.GetEnvironmentVariable("MIDORI_E2E_DAYTONA_SNAPSHOT"),
        ["Providers:InstallationId"] = "midori-e2e",
    });
}

/// <summary>Runs only with real Daytona credentials in the environment.</summary>
public sealed class DaytonaServiceFactAttribute : FactAttribute
{
    public DaytonaServiceFactAttribute()
    {
        if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(DaytonaProviderOptions.ApiKeyEnvironmentVariable)))
        {
            Skip = $"{DaytonaProviderOptions.ApiKeyEnvironmentVariable} is not set: the real-Daytona e2e run needs an API key (it creates and deletes sandboxes)";
        }
    }
}
