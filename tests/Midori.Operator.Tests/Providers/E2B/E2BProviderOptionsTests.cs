using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Midori.Operator.Providers.E2B;

namespace Midori.Operator.Tests.Providers.E2B;

public sealed class E2BProviderOptionsTests
{
    private static E2BProviderOptions Resolve(Dictionary<string, string?> settings)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        services.AddLogging();
        services.AddE2BSandboxProvider();
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<E2BProviderOptions>>().Value;
    }

    [Fact]
    public void Defaults_MatchE2BsPublicService()
    {
        var options = Resolve([]);
        Assert.Equal(new Uri("https://api.e2b.app"), options.ApiUrl);
        Assert.Equal("e2b.app", options.Domain);
        Assert.Equal("base", options.DefaultTemplate);
        Assert.True(options.Secure);
        Assert.Null(options.ApiKey);
    }

    [Fact]
    public void ApiKey_FallsBackToE2BsOwnVariable_ButTheSectionWins()
    {
        Assert.Equal("e2b_from_env", Resolve(new() { ["E2B_API_KEY"] = "e2b_from_env" }).ApiKey);
        Assert.Equal("e2b_section", Resolve(new() { ["E2B_API_KEY"] = "e2b_from_env", ["Providers:E2B:ApiKey"] = "e2b_section" }).ApiKey);
    }

    public static TheoryData<string, string, string> InvalidSettings => new()
    {
        { "ApiUrl", "ftp://api.e2b.app", "ApiUrl" },
        { "EnvdUrl", "not a url", "EnvdUrl" },
        { "PreviewUrlTemplate", "https://{domain}/", "PreviewUrlTemplate" },
        { "ProjectDirectory", "project", "ProjectDirectory" },
        { "UploadBatchFiles", "0", "UploadBatchFiles" },
        { "Http:AttemptTimeout", "00:00:00", "AttemptTimeout" },
    };

    [Theory]
    [MemberData(nameof(InvalidSettings))]
    public void InvalidSettings_FailValidationNamingTheKey(string key, string value, string expected)
    {
        var ex = Assert.ThrowsAny<Exception>(() => Resolve(new() { ["Providers:E2B:" + key] = value }));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PrivatePreviews_NeedSecureSandboxes()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Resolve(new() { ["Providers:E2B:Secure"] = "false", ["Providers:E2B:AllowPublicTraffic"] = "false" }));
        Assert.Contains("AllowPublicTraffic=false needs Secure=true", ex.Message, StringComparison.Ordinal);
    }
}
