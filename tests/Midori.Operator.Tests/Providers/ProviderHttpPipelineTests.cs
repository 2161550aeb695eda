using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Diagnostics;
using Midori.Operator.Providers;
using Midori.Operator.Testing.Fakes;

namespace Midori.Operator.Tests.Providers;

/// <summary>The shared pipeline on a plain client against the loopback fake Daytona: which requests it retries, and Retry-After.</summary>
public sealed class ProviderHttpPipelineTests : IAsyncLifetime
{
    private FakeDaytona _fake = null!;
    private ServiceProvider _services = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _fake = await FakeDaytona.StartAsync();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMetrics();
        services.AddSingleton<MidoriMetrics>();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IProviderHealth, ProviderHealth>();
        var settings = new ProviderHttpOptions { RetryBaseDelay = TimeSpan.Zero, MaxRetries = 2, MaxRetryAfter = TimeSpan.FromSeconds(5) };
        services.AddHttpClient("test", c =>
        {
            c.BaseAddress = _fake.ApiUrl;
            c.DefaultRequestHeaders.Authorization = new("Bearer", _fake.ApiKey);
        }).AddProviderPipeline("test", _ => settings);
        _services = services.BuildServiceProvider();
        _http = _services.GetRequiredService<IHttpClientFactory>().CreateClient("test");
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _services.DisposeAsync();
        await _fake.DisposeAsync();
    }

    [Fact]
    public async Task Delete_IsRetriedOnServerErrors()
    {
        _fake.Fail("delete", 503, times: 2);

        using var response = await _http.DeleteAsync(new Uri(_fake.ApiUrl + "/sandbox/missing"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode); // third attempt reached the handler
        Assert.Equal(3, _fake.Count("delete"));
    }

    [Fact]
    public async Task Post_IsRetriedOnlyWhenMarkedIdempotent()
    {
        _fake.Fail("keep_alive", 502);
        using (var plain = new HttpRequestMessage(HttpMethod.Post, new Uri(_fake.ApiUrl + "/sandbox/x/last-activity")).WithOperation("keep_alive"))
        using (var response = await _http.SendAsync(plain))
        {
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        }

        Assert.Equal(1, _fake.Count("keep_alive"));

        _fake.Fail("keep_alive", 502);
        using var idempotent = new HttpRequestMessage(HttpMethod.Post, new Uri(_fake.ApiUrl + "/sandbox/x/last-activity")).WithOperation("keep_alive", idempotent: true);
        using var retried = await _http.SendAsync(idempotent);

        Assert.Equal(HttpStatusCode.NotFound, retried.StatusCode);
        Assert.Equal(3, _fake.Count("keep_alive"));
    }

    [Fact]
    public async Task TooManyRequests_AskingForMoreThanMaxRetryAfter_IsHandedBackAtOnce()
    {
        _fake.Fail("create", 429, headers: new Dictionary<string, string> { ["Retry-After"] = "60" });

        using var response = await _http.PostAsync(new Uri(_fake.ApiUrl + "/sandbox"), new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal(1, _fake.Count("create"));
    }

    [Fact]
    public void RetryAfter_ReadsSecondsDatesAndDaytonaThrottlerHeaders_TakingTheLongest()
    {
        using var plain = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        plain.Headers.TryAddWithoutValidation("Retry-After", "5");
        Assert.Equal(TimeSpan.FromSeconds(5), ProviderHttpPipeline.RetryAfter(plain));

        using var throttled = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        throttled.Headers.TryAddWithoutValidation("Retry-After", "2");
        throttled.Headers.TryAddWithoutValidation("Retry-After-sandbox-lifecycle", "7");
        Assert.Equal(TimeSpan.FromSeconds(7), ProviderHttpPipeline.RetryAfter(throttled));

        using var dated = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        var now = new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
        dated.Headers.Date = now;
        dated.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(now.AddSeconds(9));
        Assert.Equal(TimeSpan.FromSeconds(9), ProviderHttpPipeline.RetryAfter(dated));

        using var none = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        Assert.Null(ProviderHttpPipeline.RetryAfter(none));
    }
}
