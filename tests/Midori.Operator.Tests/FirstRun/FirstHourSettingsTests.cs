using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Providers.E2B;

namespace Midori.Operator.Tests.FirstRun;

/// <summary>What a newcomer's settings do: providers nobody asked for stay away, bad values read as one clear line, standard .NET address settings win.</summary>
public sealed class FirstHourSettingsTests
{
    [Theory]
    [InlineData(new string[0], false)]                                  // local-only user: no e2b, no warning about its key
    [InlineData(new[] { "E2B_API_KEY=e2b_x" }, true)]                   // E2B's own variable
    [InlineData(new[] { "Providers:E2B:ApiUrl=http://127.0.0.1:1" }, true)] // any setting of the section
    [InlineData(new[] { "E2B_API_KEY=e2b_x", "Providers:E2B:Enabled=false" }, false)]
    [InlineData(new[] { "Providers:E2B:Enabled=true" }, true)]          // forced on: a missing key shows on the resources
    [InlineData(new[] { "Operator:DefaultProvider=e2b" }, true)]        // the chart's default: a missing key shows as CredentialsMissing
    public void E2B_RegistersOnlyWhenConfigured(string[] settings, bool expected)
    {
        // arrange
        var configuration = Configuration(settings);
        var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration);

        // act
        services.AddE2BSandboxProvider(configuration);

        // assert
        Assert.Equal(expected, services.Any(d => d.ServiceType == typeof(E2BSandboxProvider)));
        Assert.Equal(expected, services.Any(d => d.ServiceType == typeof(ISandboxProvider)));
    }

    [Fact]
    public void OutOfRangeValue_NamesKeyValueAndRange()
    {
        // arrange
        using var provider = Options(["Operator:RetainExpiredFor=00:00:10", "Operator:Workers=0"]);

        // act
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<OperatorOptions>>().Value);

        // assert
        var lines = SettingsValidation.Describe(error)!;
        Assert.Contains("Operator:RetainExpiredFor = 00:00:10 is out of range: allowed 00:01:00 to 365.00:00:00.", lines);
        Assert.Contains(lines, l => l.StartsWith("Operator:Workers = 0 is out of range: allowed 1 to ", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("DataAnnotation", StringComparison.Ordinal));
    }

    [Fact]
    public void MissingRequiredValue_IsReportedOnce_ByKey()
    {
        // arrange
        using var provider = Options(["Operator:DefaultProvider="]);

        // act
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<OperatorOptions>>().Value);

        // assert
        var lines = SettingsValidation.Describe(error)!;
        Assert.Equal("Operator:DefaultProvider is required.", Assert.Single(lines, l => l.Contains("DefaultProvider", StringComparison.Ordinal)));
    }

    [Fact]
    public void ValidValues_Pass()
    {
        // arrange
        using var provider = Options(["Operator:RetainExpiredFor=00:05:00"]);

        // act
        var options = provider.GetRequiredService<IOptions<OperatorOptions>>().Value;

        // assert
        Assert.Equal(TimeSpan.FromMinutes(5), options.RetainExpiredFor);
    }

    [Fact]
    public void Describe_OtherExceptions_IsNull() => Assert.Null(SettingsValidation.Describe(new InvalidOperationException("x")));

    [Theory]
    [InlineData(new string[0], false)]
    [InlineData(new[] { "urls=http://0.0.0.0:9000" }, true)]        // ASPNETCORE_URLS, --urls and Urls all land here
    [InlineData(new[] { "http_ports=8081" }, true)]                // ASPNETCORE_HTTP_PORTS (the container images' default)
    [InlineData(new[] { "Kestrel:Endpoints:Http:Url=http://127.0.0.1:9001" }, true)]
    public void DefaultUrls_ApplyOnlyWhenNothingChoosesEndpoints(string[] settings, bool chooses)
        => Assert.Equal(chooses, HostingExtensions.ChoosesEndpoints(Configuration(settings)));

    [Fact]
    public void AppSettings_DoNotSetUrls()
    {
        // a Urls key in appsettings.json outranks ASPNETCORE_URLS: the default lives in code instead
        var configuration = new ConfigurationBuilder().AddJsonFile(Path.Combine(Testing.RepositoryPaths.Root, "src", "Midori.Operator", "appsettings.json")).Build();
        Assert.False(HostingExtensions.ChoosesEndpoints(configuration));
    }

    private static IConfigurationRoot Configuration(string[] settings) => new ConfigurationBuilder()
        .AddInMemoryCollection(settings.Select(s => s.Split('=', 2)).Select(kv => new KeyValuePair<string, string?>(kv[0], kv[1])))
        .Build();

    private static ServiceProvider Options(string[] settings)
    {
        var services = new ServiceCollection().AddSingleton<IConfiguration>(Configuration(settings));
        services.AddOptions<OperatorOptions>().BindConfiguration(OperatorOptions.SectionName).ValidateSettings(OperatorOptions.SectionName);
        return services.BuildServiceProvider();
    }
}
