using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Http.Auth;
using static Midori.Operator.Tests.Http.ApiTestHost;

namespace Midori.Operator.Tests.Http.Endpoints;

/// <summary>Per-caller rate limit: 429 problem with Retry-After, other callers unaffected.</summary>
public sealed class ApiRateLimitTests : IAsyncLifetime
{
    private ApiTestHost _host = null!;

    public async Task InitializeAsync() => _host = await StartAsync(new Dictionary<string, string?>
    {
        ["Api:RateLimitPerSecond"] = "1",
        ["Api:RateLimitBurst"] = "3",
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task OverTheRate_Is429WithRetryAfter_PerCaller()
    {
        using var teamA = _host.Client(TokenA);
        using var teamB = _host.Client(TokenB);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.NotFound, (await teamA.GetAsync($"{Previews(TeamA)}/x")).StatusCode);
        }

        var limited = await teamA.GetAsync($"{Previews(TeamA)}/x");

        await PreviewApiTests.AssertProblemAsync(limited, HttpStatusCode.TooManyRequests, "over its limit");
        Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.NotFound, (await teamB.GetAsync($"{Previews(TeamB)}/x")).StatusCode);
    }
}
