using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Options;
using Midori.Operator.Runtime;

namespace Midori.Operator.Tests.Runtime;

public sealed class ClientRateLimitHandlerTests
{
    [Fact]
    public void Reserve_BurstThenQps_WaitsForTheNextToken()
    {
        // arrange
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var limiter = new ClientRateLimitHandler(qps: 10, burst: 2, time);

        // act
        var first = limiter.Reserve();
        var second = limiter.Reserve();
        var third = limiter.Reserve();
        time.Advance(TimeSpan.FromMilliseconds(300)); // refills the one owed plus two: capped at the burst
        var afterRefill = new[] { limiter.Reserve(), limiter.Reserve(), limiter.Reserve() };

        // assert
        Assert.Equal(TimeSpan.Zero, first);
        Assert.Equal(TimeSpan.Zero, second);
        Assert.Equal(TimeSpan.FromMilliseconds(100), third);
        Assert.Equal([TimeSpan.Zero, TimeSpan.Zero, TimeSpan.FromMilliseconds(100)], afterRefill);
    }

    [Theory]
    [InlineData(8, 4, 1000, 2000, "MaxWorkers")]
    [InlineData(8, 32, 1000, 500, "ApiBurst")]
    public void Validate_InconsistentLimits_NamesTheSetting(int workers, int maxWorkers, double qps, int burst, string setting)
    {
        // arrange
        var options = new OperatorOptions { Workers = workers, MaxWorkers = maxWorkers, ApiQps = qps, ApiBurst = burst };

        // act
        var result = new OperatorOptionsValidator().Validate(null, options);

        // assert
        Assert.True(result.Failed);
        Assert.Contains($"Operator:{setting}", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_Defaults_Pass()
    {
        // act
        var result = new OperatorOptionsValidator().Validate(null, new OperatorOptions());

        // assert
        Assert.True(result.Succeeded, result.FailureMessage);
    }
}
