using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Daytona;
using Midori.Operator.Testing.Fakes;
using Midori.Operator.Testing;
using Midori.Operator.Files;

namespace Midori.Operator.Tests.Providers.Daytona;

/// <summary>Rate limits, server errors, the circuit, slow uploads and credentials, against the loopback fake.</summary>
public sealed class DaytonaResilienceTests
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly TimeSpan Bound = TestWaits.Bound;

    [Theory]
    [InlineData("Retry-After", 2)]
    [InlineData("Retry-After-sandbox-create", 3)] // Daytona's per-throttler header
    public async Task RateLimited_CreateIsRetriedAfterTheAskedDelay(string header, int seconds)
    {
        var time = new ObservableTimeProvider();
        await using var harness = await DaytonaHarness.StartAsync(time: time);
        harness.Fake.Fail("create", 429, headers: new Dictionary<string, string> { [header] = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture) });

        var create = harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None);
        while (await time.CreatedTimers.ReadAsync().AsTask().WaitAsync(Bound) != TimeSpan.FromSeconds(seconds))
        {
            // pipeline timeouts arm timers too; wait for the retry delay itself
        }

        Assert.False(create.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(seconds));
        var info = await create.WaitAsync(Bound);

        Assert.Equal(2, harness.Fake.Count("create"));
        Assert.NotNull(harness.Fake.Find(info.Id));
        Assert.Equal(1, harness.Requests.Sum(("operation", "create"), ("status", "429")));
    }

    [Fact]
    public async Task RateLimited_LongerThanWeWaitInPlace_IsATransientErrorSayingHowLong()
    {
        await using var harness = await DaytonaHarness.StartAsync();
        harness.Fake.Fail("create", 429, headers: new Dictionary<string, string> { ["Retry-After-sandbox-create"] = "600" });

        var error = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None));

        Assert.True(error.IsTransient);
        Assert.Contains("rate limit", error.Message);
        Assert.Contains("600s", error.Message);
        Assert.Equal(1, harness.Fake.Count("create"));
    }

    [Fact]
    public async Task ServerErrors_IdempotentCallsAreRetried_CreateAndExecAreNot()
    {
        await using var harness = await DaytonaHarness.StartAsync();
        var info = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None);

        harness.Fake.Fail("get", 503, times: 2);
        Assert.NotNull(await harness.Provider.GetAsync(info.Id, None));
        Assert.Equal(3, harness.Fake.Count("get"));

        harness.Fake.Fail("keep_alive", 502); // POST, idempotent by contract → retried
        await harness.Provider.ExtendAsync(info.Id, DateTimeOffset.MaxValue, None);
        Assert.Equal(2, harness.Fake.Count("keep_alive"));

        harness.Fake.Fail("create", 503);
        var create = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None));
        Assert.True(create.IsTransient);
        Assert.Equal(2, harness.Fake.Count("create")); // the first (successful) one and the failed one: no retry

        harness.Fake.Fail("exec", 502);
        var exec = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.StartAsync(info.Id, DaytonaHarness.StartRequest(), None));
        Assert.True(exec.IsTransient);
        Assert.Equal(1, harness.Fake.Count("exec")); // a retry could start a second dev server
        Assert.Equal(2, harness.Requests.Sum(("operation", "get"), ("status", "503")));
    }

    [Fact]
    public async Task ServerErrorBurst_OpensTheCircuit_CallsFailFastWithoutRequests_ThenItClosesAgain()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));
        await using var harness = await DaytonaHarness.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:Daytona:Http:MaxRetries"] = "0",
            ["Providers:Daytona:Http:CircuitMinimumThroughput"] = "4",
            ["Providers:Daytona:Http:CircuitBreakDuration"] = "00:00:30",
        }, time);
        var info = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None); // 1 success in the window
        harness.Fake.Fail("get", 503, times: 3);

        for (var i = 0; i < 3; i++)
        {
            Assert.True(harness.State.Available);
            await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.GetAsync(info.Id, None));
        }

        // 3 failures of 4 calls ≥ 50% at the minimum throughput: open.
        Assert.Equal((false, ProviderHealthReasons.CircuitOpen), (harness.State.Available, harness.State.Reason));
        var fast = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.GetAsync(info.Id, None));
        Assert.True(fast.IsTransient);
        Assert.Contains("circuit open", fast.Message);
        Assert.Equal(3, harness.Fake.Count("get")); // the open circuit sent nothing

        time.Advance(TimeSpan.FromSeconds(30));
        Assert.NotNull(await harness.Provider.GetAsync(info.Id, None)); // half-open probe succeeds

        Assert.Equal((true, ProviderHealthReasons.Available), (harness.State.Available, harness.State.Reason));
    }

    [Fact]
    public async Task SlowUpload_AttemptTimesOutAndTheIdempotentUploadIsRetried()
    {
        var time = new ObservableTimeProvider();
        await using var harness = await DaytonaHarness.StartAsync(new Dictionary<string, string?> { ["Providers:Daytona:ToolboxHttp:AttemptTimeout"] = "00:00:05" }, time);
        var info = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None);
        harness.Fake.HoldUploads(1);

        var upload = harness.Provider.UploadFilesAsync(info.Id, [new SandboxFile("index.html", [1, 2, 3])], None);
        await harness.Fake.WaitForArrivalAsync("upload").WaitAsync(Bound); // first attempt is in flight and never answers
        time.Advance(TimeSpan.FromSeconds(5));
        await upload.WaitAsync(Bound);

        Assert.Equal(2, harness.Fake.Count("upload"));
        Assert.Single(harness.Fake.Find(info.Id)!.Files);
        Assert.Equal(1, harness.Requests.Sum(("operation", "upload"), ("status", "timeout")));
    }

    [Fact]
    public async Task SlowUpload_EveryAttemptTimesOut_IsATransientTimeoutError()
    {
        var time = new ObservableTimeProvider();
        await using var harness = await DaytonaHarness.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:Daytona:ToolboxHttp:AttemptTimeout"] = "00:00:05",
            ["Providers:Daytona:ToolboxHttp:MaxRetries"] = "1",
        }, time);
        var info = await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None);
        harness.Fake.HoldUploads(5);

        var upload = harness.Provider.UploadFilesAsync(info.Id, [new SandboxFile("index.html", [1])], None);
        for (var attempt = 0; attempt < 2; attempt++)
        {
            await harness.Fake.WaitForArrivalAsync("upload").WaitAsync(Bound);
            time.Advance(TimeSpan.FromSeconds(5));
        }

        var error = await Assert.ThrowsAsync<SandboxProviderException>(() => upload.WaitAsync(Bound));
        Assert.True(error.IsTransient);
        Assert.Contains("did not answer in time", error.Message);
    }

    [Fact]
    public async Task MissingCredentials_RegistersAnyway_ReportsCredentialsMissing_AndSendsNothing()
    {
        await using var harness = await DaytonaHarness.StartAsync(new Dictionary<string, string?> { ["Providers:Daytona:ApiKey"] = "" });

        Assert.Equal((false, ProviderHealthReasons.CredentialsMissing), (harness.State.Available, harness.State.Reason));
        var error = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None));
        Assert.False(error.IsTransient);
        Assert.Contains("DAYTONA_API_KEY", error.Message);
        Assert.Contains("Providers__Daytona__ApiKey", harness.State.Message);
        await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.ListAsync(null, None));
        Assert.Empty(harness.Fake.Requests);
    }

    [Fact]
    public async Task ApiKeyFromTheSdkEnvironmentVariable_IsUsedWhenTheSettingIsEmpty()
    {
        await using var fake = await FakeDaytona.StartAsync();
        await using var harness = await DaytonaHarness.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:Daytona:ApiKey"] = null,
            [DaytonaProviderOptions.ApiKeyEnvironmentVariable] = fake.ApiKey,
        }, fake: fake);

        Assert.NotNull(await harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None));
        Assert.True(harness.State.Available);
    }

    [Fact]
    public async Task WrongCredentials_ArePermanent_NamedInStatus_AndTheKeyIsNeverEchoed()
    {
        const string wrongKey = "dtn_wrong_0123456789abcdef";
        await using var harness = await DaytonaHarness.StartAsync(new Dictionary<string, string?> { ["Providers:Daytona:ApiKey"] = wrongKey });

        var error = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.CreateAsync(DaytonaHarness.CreateRequest(), None));

        Assert.False(error.IsTransient);
        Assert.Contains("rejected the API key", error.Message);
        Assert.DoesNotContain(wrongKey, error.Message);
        Assert.Equal((false, ProviderHealthReasons.CredentialsRejected), (harness.State.Available, harness.State.Reason));
        Assert.DoesNotContain(wrongKey, harness.State.Message);
        Assert.Equal(1, harness.Fake.Count("create")); // 401 is not retried
    }

    [Fact]
    public void Registration_FollowsConfiguration()
    {
        Assert.False(Registered([]));
        Assert.True(Registered(new() { ["Providers:Daytona:ApiUrl"] = "https://daytona.example/api" }));
        Assert.True(Registered(new() { [DaytonaProviderOptions.ApiKeyEnvironmentVariable] = "k" }));
        Assert.False(Registered(new() { ["Providers:Daytona:Enabled"] = "false", [DaytonaProviderOptions.ApiKeyEnvironmentVariable] = "k" }));
        Assert.True(Registered(new() { ["Providers:Daytona:Enabled"] = "true" }));
    }

    [Fact]
    public void Options_InvalidSettingsAreAllReported()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Providers:Daytona:ApiUrl"] = "ftp://daytona.example",
            ["Providers:Daytona:ProjectDirectory"] = "project",
            ["Providers:Daytona:ApiKey"] = "key with-space",
            ["Providers:Daytona:Http:AttemptTimeout"] = "00:05:00",
            ["Providers:Daytona:Http:TotalTimeout"] = "00:01:00",
            ["Providers:Daytona:UploadBatchFiles"] = "0",
        }).Build();
        using var services = Services(configuration);

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<DaytonaProviderOptions>>().Value);

        var text = string.Join('\n', error.Failures);
        Assert.Contains("ApiUrl", text);
        Assert.Contains("ProjectDirectory", text);
        Assert.Contains("whitespace", text);
        Assert.DoesNotContain("with-space", text);
        Assert.Contains("AttemptTimeout", text);
    }

    private static bool Registered(Dictionary<string, string?> settings)
    {
        using var services = Services(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        return services.GetServices<ISandboxProvider>().Any(p => p.Name == ProviderNames.Daytona);
    }

    private static ServiceProvider Services(IConfiguration configuration)
    {
        var services = new ServiceCollection();
        services.AddSingleton(configuration);
        services.AddLogging();
        services.AddMetrics();
        services.AddSingleton<Midori.Operator.Diagnostics.MidoriMetrics>();
        services.AddDaytonaSandboxProvider(configuration);
        return services.BuildServiceProvider();
    }
}
