using Microsoft.Extensions.Configuration;
using Midori.Operator.Options;
using Midori.Operator.Providers.Local;

namespace Midori.Operator.Tests.Providers.Local;

public sealed class LocalProviderActivationTests
{
    private static readonly Func<string, bool> TokenMounted = path => path == LocalProviderServiceCollectionExtensions.ServiceAccountTokenPath;

    [Theory]
    [InlineData(null, false, true)]    // developer machine: on
    [InlineData(null, true, false)]    // in-cluster: off unless asked for
    [InlineData("true", true, true)]   // explicitly enabled in-cluster
    [InlineData("false", false, false)] // explicitly disabled anywhere
    public void IsLocalProviderEnabled_InClusterOrExplicit_Decides(string? enabled, bool inCluster, bool expected)
    {
        // arrange
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Providers:Local:Enabled"] = enabled }).Build();
        string? Environment(string name) => inCluster && name == "KUBERNETES_SERVICE_HOST" ? "10.96.0.1" : null;

        // act
        var actual = LocalProviderServiceCollectionExtensions.IsLocalProviderEnabled(configuration, Environment, TokenMounted);

        // assert
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void IsLocalProviderEnabled_ServiceHostWithoutToken_IsNotInCluster()
    {
        // arrange
        var configuration = new ConfigurationBuilder().Build();

        // act
        var actual = LocalProviderServiceCollectionExtensions.IsLocalProviderEnabled(configuration, _ => "10.96.0.1", _ => false);

        // assert
        Assert.True(actual);
    }

    [Fact]
    public void IsLocalProviderEnabled_NotABoolean_Throws()
    {
        // arrange
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Providers:Local:Enabled"] = "maybe" }).Build();

        // act / assert
        var error = Assert.Throws<InvalidOperationException>(() => LocalProviderServiceCollectionExtensions.IsLocalProviderEnabled(configuration, _ => null, _ => false));
        Assert.Contains("Providers:Local:Enabled", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/var/run/secrets")]
    [InlineData("/var")]
    [InlineData("/etc")]
    [InlineData("/")]
    [InlineData("relative/path")]
    public void Validator_SensitiveOrRelativeReadOnlyPath_Fails(string path)
    {
        // arrange
        var options = new LocalProviderOptions { SandboxReadOnlyPaths = [path] };

        // act
        var result = new LocalProviderOptionsValidator().Validate(null, options);

        // assert
        Assert.True(result.Failed, path);
    }

    [Fact]
    public void Validator_ToolchainPath_Passes()
    {
        // arrange / act
        var result = new LocalProviderOptionsValidator().Validate(null, new LocalProviderOptions { SandboxReadOnlyPaths = ["/opt/node"] });

        // assert
        Assert.True(result.Succeeded);
    }
}

public sealed class SecretFilesConfigurationTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "midori-secret-files-" + Guid.NewGuid().ToString("N"));

    public SecretFilesConfigurationTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void AddSecretFiles_DirectoryAndFileVariables_BecomeSettingsOverTheEnvironment()
    {
        // arrange: a mounted Secret (one key per file, with the ..data entries Kubernetes adds) and a NAME_FILE variable
        File.WriteAllText(Path.Combine(_dir, "ConnectionStrings__Midori"), "Host=pg;Password=from-file\n");
        File.WriteAllText(Path.Combine(_dir, "Providers__E2B__ApiKey"), "e2b_key");
        Directory.CreateDirectory(Path.Combine(_dir, "..2026_12_02"));
        File.WriteAllText(Path.Combine(_dir, ".hidden"), "ignored");
        var tokenFile = Path.Combine(_dir, "..2026_12_02", "token");
        File.WriteAllText(tokenFile, "api-token\r\n");
        var variables = new Dictionary<string, string>
        {
            ["Api__Tokens__0__Token_FILE"] = tokenFile,
            ["DAYTONA_API_KEY_FILE"] = tokenFile,
            ["TF_CLI_CONFIG_FILE"] = "/nonexistent/unrelated", // not setting-shaped: never read
        };
        var builder = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Midori"] = "from-env" });

        // act
        var configuration = builder.AddSecretFiles(name => name == SecretFilesConfiguration.DirectoryVariable ? _dir : null, variables).Build();

        // assert
        Assert.Equal("Host=pg;Password=from-file", configuration["ConnectionStrings:Midori"]);
        Assert.Equal("e2b_key", configuration["Providers:E2B:ApiKey"]);
        Assert.Equal("api-token", configuration["Api:Tokens:0:Token"]);
        Assert.Equal("api-token", configuration["DAYTONA_API_KEY"]);
        Assert.Null(configuration[".hidden"]);
        Assert.Null(configuration["TF_CLI_CONFIG"]);
    }

    [Fact]
    public void AddSecretFiles_NamedFileMissing_FailsWithoutTheContent()
    {
        // arrange
        var variables = new Dictionary<string, string> { ["ConnectionStrings__Midori_FILE"] = Path.Combine(_dir, "absent") };

        // act
        var error = Assert.Throws<InvalidOperationException>(() => new ConfigurationBuilder().AddSecretFiles(_ => null, variables));

        // assert
        Assert.Contains("ConnectionStrings__Midori_FILE", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddSecretFiles_ExplicitDirectoryMissing_Fails()
    {
        // arrange / act / assert
        Assert.Throws<InvalidOperationException>(() => new ConfigurationBuilder().AddSecretFiles(_ => "/nonexistent/secrets", new Dictionary<string, string>()));
    }
}
