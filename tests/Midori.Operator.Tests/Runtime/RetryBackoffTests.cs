using Midori.Operator.Runtime;

namespace Midori.Operator.Tests.Runtime;

public sealed class RetryBackoffTests
{
    public static TheoryData<int, double> WatchDelays => new()
    {
        { 0, 2 },
        { 1, 2 },
        { 2, 4 },
        { 3, 8 },
        { 5, 32 },
        { 6, 32 },
        { 100, 32 },
    };

    [Theory]
    [MemberData(nameof(WatchDelays))]
    public void Compute_WatchBackoffWithoutJitter_TwoToTheMinOfNAndFiveSeconds(int failures, double expectedSeconds)
    {
        // arrange
        var backoff = RetryBackoff.ForWatch(() => 0);

        // act
        var delay = backoff.Compute(failures);

        // assert
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), delay);
    }

    [Fact]
    public void Compute_ManyFailures_CappedAtMaxDelay()
    {
        // arrange
        var backoff = RetryBackoff.ForReconcile(TimeSpan.FromSeconds(10), () => 0);

        // act
        var delays = Enumerable.Range(1, 20).Select(backoff.Compute).ToList();

        // assert
        Assert.Equal(TimeSpan.FromSeconds(1), delays[0]);
        Assert.Equal(TimeSpan.FromSeconds(2), delays[1]);
        Assert.Equal(TimeSpan.FromSeconds(8), delays[3]);
        Assert.All(delays.Skip(4), d => Assert.Equal(TimeSpan.FromSeconds(10), d));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    [InlineData(0.999999)]
    [InlineData(1.0)]
    public void Compute_Jitter_WithinZeroAndMaxJitter(double jitter)
    {
        // arrange
        var backoff = new RetryBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(32), 5, TimeSpan.FromSeconds(1), () => jitter);

        // act
        var delay = backoff.Compute(1);

        // assert
        Assert.InRange(delay, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(3) - TimeSpan.FromTicks(1));
    }

    [Fact]
    public void Compute_DefaultRandomJitter_StaysInBounds()
    {
        // arrange
        var backoff = RetryBackoff.ForWatch();

        // act
        var delays = Enumerable.Range(0, 200).Select(_ => backoff.Compute(3)).ToList();

        // assert
        Assert.All(delays, d => Assert.InRange(d, TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(9)));
        Assert.True(delays.Distinct().Count() > 1);
    }
}
