using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers.E2B;
using Midori.Operator.Testing.Fakes.E2B;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.E2E;

/// <summary>The core lifecycle scenario with <c>provider: e2b</c> (the default here) against the loopback fake E2B, private previews on.</summary>
[Trait("Category", "E2E")]
public sealed class E2BPreviewLifecycleE2ETests(ITestOutputHelper output) : PreviewLifecycleScenario(output)
{
    private FakeE2BServer? _fake;

    [Fact]
    public Task Lifecycle_WithE2BFake_ApplyServeKeepAliveExpireWakeSuspendResumeDelete() => RunLifecycleAsync();

    protected override async Task ConfigureOperatorAsync(IDictionary<string, string?> settings)
    {
        _fake = await FakeE2BServer.StartAsync();
        foreach (var (key, value) in _fake.ProviderSettings())
        {
            settings[key] = value;
        }

        settings["Operator:DefaultProvider"] = ProviderNames.E2B;
        settings["Providers:E2B:AllowPublicTraffic"] = "false";
        settings["Providers:E2B:StartupPollInterval"] = "00:00:00.100";
    }

    protected override async Task CleanupClusterAsync()
    {
        if (_fake is not null)
        {
            Assert.Empty(_fake.Violations);
            Assert.DoesNotContain(_fake.AllSandboxes, s => !s.Killed && s.EndAt > DateTimeOffset.UtcNow);
            await _fake.DisposeAsync();
        }
    }
}

/// <summary>The same scenario against the real E2B service; runs only when <c>E2B_API_KEY</c> is set (it creates real, billed sandboxes).</summary>
[Trait("Category", "E2E")]
[Trait("Requires", "E2B")]
public sealed class E2BRealServicePreviewLifecycleE2ETests(ITestOutputHelper output) : PreviewLifecycleScenario(output)
{
    [E2BFact]
    public Task Lifecycle_OnRealE2B_ApplyServeKeepAliveExpireWakeSuspendResumeDelete() => RunLifecycleAsync();

    protected override Task ConfigureOperatorAsync(IDictionary<string, string?> settings)
    {
        settings["Operator:DefaultProvider"] = ProviderNames.E2B;
        settings["Providers:E2B:AllowPublicTraffic"] = "false"; // the key comes from E2B_API_KEY
        return Task.CompletedTask;
    }
}

/// <summary>A fact that talks to the real E2B; skipped with the reason when no API key is in the environment.</summary>
public sealed class E2BFactAttribute : FactAttribute
{
    public E2BFactAttribute()
    {
        if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(E2BProviderOptions.ApiKeyVariable)))
        {
            Skip = $"{E2BProviderOptions.ApiKeyVariable} is not set: the real-E2B scenario needs an API key (it creates billed sandboxes). "
                + "The same scenario runs against the loopback fake in E2BPreviewLifecycleE2ETests.";
        }
    }
}
