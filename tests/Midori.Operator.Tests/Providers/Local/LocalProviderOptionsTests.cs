using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Local;

namespace Midori.Operator.Tests.Providers.Local;

public sealed class LocalProviderOptionsTests
{
    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging();
        services.AddLocalSandboxProvider();
        services.AddLocalSandboxProvider(); // idempotent
        return services.BuildServiceProvider();
    }

    [Fact]
    public async Task AddLocalSandboxProvider_ValidSection_BindsAndRegistersOneProvider()
    {
        // arrange
        await using var services = Build(new()
        {
            ["Providers:Local:RootDirectory"] = "/tmp/midori-options-test",
            ["Providers:Local:PublicHost"] = "preview.localtest.me",
            ["Providers:Local:RequireToken"] = "true",
            ["Providers:Local:StartupTimeout"] = "00:00:30",
        });

        // act
        var options = services.GetRequiredService<IOptions<LocalProviderOptions>>().Value;
        var providers = services.GetServices<ISandboxProvider>().ToList();

        // assert
        Assert.Equal("/tmp/midori-options-test", options.RootDirectory);
        Assert.Equal("127.0.0.1", options.BindAddress);
        Assert.True(options.RequireToken);
        Assert.Equal(TimeSpan.FromSeconds(30), options.StartupTimeout);
        Assert.Equal("local", Assert.Single(providers).Name);
    }

    [Theory]
    [InlineData("Providers:Local:BindAddress", "localhost")]
    [InlineData("Providers:Local:RootDirectory", "relative/dir")]
    [InlineData("Providers:Local:StartupTimeout", "00:00:00")]
    [InlineData("Providers:Local:PublicHost", "bad host/x")]
    public async Task AddLocalSandboxProvider_InvalidSetting_FailsValidation(string key, string value)
    {
        // arrange
        await using var services = Build(new() { [key] = value });

        // act
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<LocalProviderOptions>>().Value);

        // assert
        Assert.NotEmpty(error.Failures);
    }

    [Fact]
    public void Defaults_NoConfiguration_AreUsableForDevelopment()
    {
        // arrange
        var options = new LocalProviderOptions();

        // act
        var result = new LocalProviderOptionsValidator().Validate(null, options);

        // assert
        Assert.True(result.Succeeded);
        Assert.Equal(Path.Combine(Path.GetTempPath(), "midori-sandboxes"), options.RootDirectory);
        Assert.Equal("127.0.0.1", options.EffectivePublicHost);
        Assert.True(options.RequireToken); // preview URLs need the token unless switched off
    }
}
