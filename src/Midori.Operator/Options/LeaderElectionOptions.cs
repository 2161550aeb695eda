using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Midori.Operator.Options;

/// <summary>Leader election on a coordination.k8s.io Lease, bound from <c>LeaderElection</c>.</summary>
public sealed class LeaderElectionOptions
{
    public const string SectionName = "LeaderElection";

    /// <summary>Off: this instance reconciles alone (development). On: only the Lease holder reconciles.</summary>
    public bool Enabled { get; set; }

    [Required]
    [RegularExpression("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]
    public string LeaseName { get; set; } = "midori-operator-leader";

    /// <summary>Namespace of the Lease; empty: POD_NAMESPACE, then the service-account namespace, then <c>default</c>.</summary>
    public string? LeaseNamespace { get; set; }

    /// <summary>Holder identity; empty: POD_NAME, then the host name.</summary>
    public string? Identity { get; set; }

    [Range(typeof(TimeSpan), "00:00:02", "00:10:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(15);

    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan RenewDeadline { get; set; } = TimeSpan.FromSeconds(10);

    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan RetryPeriod { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// On graceful shutdown, after in-flight reconciles have drained, hand the Lease back (holder cleared, duration 1 s)
    /// so another replica takes over at its next retry instead of after a whole <see cref="LeaseDuration"/> (client-go ReleaseOnCancel).
    /// </summary>
    public bool ReleaseOnShutdown { get; set; } = true;
}

internal sealed class LeaderElectionOptionsValidator : IValidateOptions<LeaderElectionOptions>
{
    public ValidateOptionsResult Validate(string? name, LeaderElectionOptions options)
    {
        var errors = new List<string>();
        if (options.RenewDeadline >= options.LeaseDuration)
        {
            errors.Add("LeaderElection:RenewDeadline must be shorter than LeaderElection:LeaseDuration.");
        }

        if (options.RetryPeriod >= options.RenewDeadline)
        {
            errors.Add("LeaderElection:RetryPeriod must be shorter than LeaderElection:RenewDeadline.");
        }

        // A leader notices a failed renewal at the latest RetryPeriod + RenewDeadline after its last successful one; a
        // follower may take over LeaseDuration after it. Without this margin both could reconcile at once.
        if (options.RenewDeadline + options.RetryPeriod >= options.LeaseDuration)
        {
            errors.Add("LeaderElection:RenewDeadline + LeaderElection:RetryPeriod must be shorter than LeaderElection:LeaseDuration.");
        }

        // The fence (Runtime/LeadershipFence) holds for the whole seconds written to the Lease minus LeaseDuration − RenewDeadline;
        // a healthy leader renews every RetryPeriod, so that must be longer or the fence would lapse between renewals.
        var fenceValidity = TimeSpan.FromSeconds((int)options.LeaseDuration.TotalSeconds) - (options.LeaseDuration - options.RenewDeadline);
        if (fenceValidity <= options.RetryPeriod * 2)
        {
            errors.Add($"LeaderElection: the leadership fence would hold only {fenceValidity.TotalSeconds:0.###} s per renewal (whole seconds of LeaseDuration minus LeaseDuration − RenewDeadline); it must exceed 2 × RetryPeriod. Use a whole-second LeaseDuration or a longer RenewDeadline.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
