using Midori.Operator.Options;

namespace Midori.Operator.Tests.HighAvailability;

public sealed class LeaderElectionOptionsTests
{
    [Theory]
    [InlineData(15, 10, 2, true)]     // defaults: a leader notices loss after ≤ 12 s, a follower may take over after 15 s
    [InlineData(3, 2, 0.25, true)]    // the HA tests' timings
    [InlineData(15, 14, 5, false)]    // 19 s to notice > 15 s lease: two leaders possible
    [InlineData(10, 8, 2, false)]     // exactly the lease duration: no margin
    public void Validate_RenewDeadlinePlusRetryPeriod_MustBeShorterThanLease(double lease, double renew, double retry, bool valid)
    {
        // arrange
        var options = new LeaderElectionOptions
        {
            LeaseDuration = TimeSpan.FromSeconds(lease),
            RenewDeadline = TimeSpan.FromSeconds(renew),
            RetryPeriod = TimeSpan.FromSeconds(retry),
        };

        // act
        var result = new LeaderElectionOptionsValidator().Validate(null, options);

        // assert
        Assert.Equal(valid, result.Succeeded);
    }
}
