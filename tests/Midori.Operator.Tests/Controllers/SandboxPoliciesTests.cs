using k8s.Models;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Testing.Builders;

namespace Midori.Operator.Tests.Controllers;

/// <summary>Decision tables for the pure policy chain: no fakes, no IO, just snapshots in and verdicts out.</summary>
public sealed class SandboxPoliciesTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private static readonly PolicySettings Settings = new(ProbeFailureThreshold: 3, MaxBackoff: TimeSpan.FromMinutes(5));

    public sealed record Case(
        string Phase,
        int StartedSecondsAgo = 60,
        int? ActivitySecondsAgo = 10,
        RemoteObservation Remote = RemoteObservation.Running,
        bool? ProbeHealthy = true,
        int ProbeFailures = 0,
        int FailedAttempts = 0,
        int? LastFailureSecondsAgo = null,
        int? EndedSecondsAgo = null,
        string? ReadyReason = null,
        bool Suspend = false,
        bool RecreateEnabled = true,
        string? RecreateAnnotation = null,
        string? ObservedRecreate = null,
        long Generation = 1,
        long ObservedGeneration = 1,
        string? HeartbeatAnnotation = null,
        string? HeartbeatAtExpiry = null);

    public static TheoryData<string, Case, SandboxAction, string> Table => new()
    {
        { "healthy running sandbox keeps running", new Case(Phases.Running), SandboxAction.KeepRunning, PreviewSandboxConditions.Reasons.SandboxReady },
        { "no activity for the idle timeout expires it", new Case(Phases.Running, StartedSecondsAgo: 400, ActivitySecondsAgo: 300), SandboxAction.Expire, PreviewSandboxConditions.Reasons.IdleExpired },
        { "one second before the idle deadline keeps running", new Case(Phases.Running, StartedSecondsAgo: 400, ActivitySecondsAgo: 299), SandboxAction.KeepRunning, PreviewSandboxConditions.Reasons.SandboxReady },
        { "TTL reached wins over fresh activity", new Case(Phases.Running, StartedSecondsAgo: 1800, ActivitySecondsAgo: 1), SandboxAction.Expire, PreviewSandboxConditions.Reasons.TtlExpired },
        { "activity after idle expiry wakes it", new Case(Phases.Expired, ActivitySecondsAgo: 5, EndedSecondsAgo: 60, ReadyReason: PreviewSandboxConditions.Reasons.IdleExpired), SandboxAction.Recreate, PreviewSandboxConditions.Reasons.Recreating },
        { "activity older than the expiry does not wake it", new Case(Phases.Expired, ActivitySecondsAgo: 120, EndedSecondsAgo: 60, ReadyReason: PreviewSandboxConditions.Reasons.IdleExpired), SandboxAction.Wait, PreviewSandboxConditions.Reasons.IdleExpired },
        { "a whole-second heartbeat in the same second as the expiry, written after it, wakes it", new Case(Phases.Expired, ActivitySecondsAgo: 60, EndedSecondsAgo: 60, ReadyReason: PreviewSandboxConditions.Reasons.IdleExpired, HeartbeatAnnotation: "2026-11-23T11:59:00Z", HeartbeatAtExpiry: "2026-11-23T11:53:10Z"), SandboxAction.Recreate, PreviewSandboxConditions.Reasons.Recreating },
        { "a first heartbeat written after an expiry without one wakes it", new Case(Phases.Expired, ActivitySecondsAgo: 61, EndedSecondsAgo: 60, ReadyReason: PreviewSandboxConditions.Reasons.IdleExpired, HeartbeatAnnotation: "2026-11-23T11:58:59Z", HeartbeatAtExpiry: ""), SandboxAction.Recreate, PreviewSandboxConditions.Reasons.Recreating },
        { "the heartbeat recorded at expiry does not wake it", new Case(Phases.Expired, ActivitySecondsAgo: 400, EndedSecondsAgo: 60, ReadyReason: PreviewSandboxConditions.Reasons.IdleExpired, HeartbeatAnnotation: "2026-11-23T11:53:20Z", HeartbeatAtExpiry: "2026-11-23T11:53:20Z"), SandboxAction.Wait, PreviewSandboxConditions.Reasons.IdleExpired },
        { "an invalid heartbeat value written after the expiry does not wake it", new Case(Phases.Expired, ActivitySecondsAgo: 400, EndedSecondsAgo: 60, ReadyReason: PreviewSandboxConditions.Reasons.IdleExpired, HeartbeatAnnotation: "now", HeartbeatAtExpiry: "2026-11-23T11:53:20Z"), SandboxAction.Wait, PreviewSandboxConditions.Reasons.IdleExpired },
        { "expired with recreate disabled stays expired", new Case(Phases.Expired, ActivitySecondsAgo: 5, EndedSecondsAgo: 60, RecreateEnabled: false), SandboxAction.Wait, PreviewSandboxConditions.Reasons.RecreateDisabled },
        { "provider lost the sandbox: recreate", new Case(Phases.Running, Remote: RemoteObservation.Lost, ProbeHealthy: null), SandboxAction.Recreate, PreviewSandboxConditions.Reasons.SandboxLost },
        { "probe failures below threshold keep running", new Case(Phases.Running, ProbeHealthy: false, ProbeFailures: 1), SandboxAction.KeepRunning, PreviewSandboxConditions.Reasons.SandboxReady },
        { "third failed probe in a row: recreate", new Case(Phases.Running, ProbeHealthy: false, ProbeFailures: 2), SandboxAction.Recreate, PreviewSandboxConditions.Reasons.SandboxLost },
        { "provider outage concludes nothing", new Case(Phases.Running, Remote: RemoteObservation.Unknown, ProbeHealthy: null), SandboxAction.KeepRunning, PreviewSandboxConditions.Reasons.SandboxReady },
        { "lost with recreate disabled fails", new Case(Phases.Running, Remote: RemoteObservation.Lost, ProbeHealthy: null, RecreateEnabled: false), SandboxAction.Fail, PreviewSandboxConditions.Reasons.SandboxLost },
        { "lost after max attempts fails", new Case(Phases.Running, Remote: RemoteObservation.Lost, ProbeHealthy: null, FailedAttempts: 5, LastFailureSecondsAgo: 600), SandboxAction.Fail, PreviewSandboxConditions.Reasons.RecreateExhausted },
        { "recreating inside the backoff window waits", new Case(Phases.Recreating, FailedAttempts: 2, LastFailureSecondsAgo: 10, Remote: RemoteObservation.NotChecked), SandboxAction.Wait, PreviewSandboxConditions.Reasons.BackingOff },
        { "recreating after the backoff window creates", new Case(Phases.Recreating, FailedAttempts: 2, LastFailureSecondsAgo: 31, Remote: RemoteObservation.NotChecked), SandboxAction.Create, PreviewSandboxConditions.Reasons.Recreating },
        { "first retry after one failure is immediate", new Case(Phases.Creating, FailedAttempts: 1, LastFailureSecondsAgo: 0, Remote: RemoteObservation.NotChecked), SandboxAction.Create, PreviewSandboxConditions.Reasons.Provisioning },
        { "creation failures past max attempts fail", new Case(Phases.Creating, FailedAttempts: 6, LastFailureSecondsAgo: 3600, Remote: RemoteObservation.NotChecked), SandboxAction.Fail, PreviewSandboxConditions.Reasons.RecreateExhausted },
        { "new resource creates", new Case(Phases.Pending, Remote: RemoteObservation.NotChecked), SandboxAction.Create, PreviewSandboxConditions.Reasons.Provisioning },
        { "suspend removes a running sandbox", new Case(Phases.Running, Suspend: true), SandboxAction.Suspend, PreviewSandboxConditions.Reasons.Suspended },
        { "suspend wins over idle expiry", new Case(Phases.Running, StartedSecondsAgo: 900, ActivitySecondsAgo: 800, Suspend: true), SandboxAction.Suspend, PreviewSandboxConditions.Reasons.Suspended },
        { "stopped and resumed creates", new Case(Phases.Stopped, Remote: RemoteObservation.NotChecked), SandboxAction.Create, PreviewSandboxConditions.Reasons.Provisioning },
        { "new recreate annotation replaces a running sandbox", new Case(Phases.Running, RecreateAnnotation: "r2", ObservedRecreate: "r1"), SandboxAction.Recreate, PreviewSandboxConditions.Reasons.Recreating },
        { "already handled recreate annotation is ignored", new Case(Phases.Running, RecreateAnnotation: "r1", ObservedRecreate: "r1"), SandboxAction.KeepRunning, PreviewSandboxConditions.Reasons.SandboxReady },
        { "failed stays failed", new Case(Phases.Failed, ReadyReason: PreviewSandboxConditions.Reasons.RecreateExhausted, Remote: RemoteObservation.NotChecked), SandboxAction.Wait, PreviewSandboxConditions.Reasons.RecreateExhausted },
        { "failed and the spec changed restarts", new Case(Phases.Failed, Generation: 2, ObservedGeneration: 1, Remote: RemoteObservation.NotChecked), SandboxAction.Restart, PreviewSandboxConditions.Reasons.Provisioning },
        { "failed and a recreate requested recreates", new Case(Phases.Failed, RecreateAnnotation: "again", Remote: RemoteObservation.NotChecked), SandboxAction.Recreate, PreviewSandboxConditions.Reasons.Recreating },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Evaluate_DecisionTable_ReturnsExpectedAction(string description, Case c, SandboxAction expectedAction, string expectedReason)
    {
        // arrange
        var snapshot = Snapshot(c);

        // act
        var verdict = SandboxPolicies.Evaluate(snapshot, Settings);

        // assert
        Assert.True(expectedAction == verdict.Action, $"{description}: expected {expectedAction}, got {verdict.Action} ({verdict.Reason}: {verdict.Message})");
        Assert.Equal(expectedReason, verdict.Reason);
    }

    [Theory]
    [InlineData(PreviewSandboxConditions.Reasons.IdleExpired, RecreationReasons.IdleWake)]
    [InlineData(PreviewSandboxConditions.Reasons.TtlExpired, RecreationReasons.Expired)]
    public void Evaluate_WhenWokenAfterExpiry_RecordsWhyItExpired(string expiredReason, string expectedRecreationReason)
    {
        // arrange
        var snapshot = Snapshot(new Case(Phases.Expired, ActivitySecondsAgo: 1, EndedSecondsAgo: 30, ReadyReason: expiredReason));

        // act
        var verdict = SandboxPolicies.Evaluate(snapshot, Settings);

        // assert
        Assert.Equal(SandboxAction.Recreate, verdict.Action);
        Assert.Equal(expectedRecreationReason, verdict.RecreationReason);
    }

    [Fact]
    public void Evaluate_WhenBackingOff_NotBeforeIsLastFailurePlusBackoff()
    {
        // arrange: 3 failures, cooldown 30 s → 60 s after the last failure
        var snapshot = Snapshot(new Case(Phases.Recreating, FailedAttempts: 3, LastFailureSecondsAgo: 10, Remote: RemoteObservation.NotChecked));

        // act
        var verdict = SandboxPolicies.Evaluate(snapshot, Settings);

        // assert
        Assert.Equal(SandboxAction.Wait, verdict.Action);
        Assert.Equal(Now.AddSeconds(50), verdict.NotBefore);
    }

    [Theory]
    [InlineData(0, 30, 0)]
    [InlineData(1, 30, 0)]
    [InlineData(2, 30, 30)]
    [InlineData(3, 30, 60)]
    [InlineData(4, 30, 120)]
    [InlineData(5, 30, 240)]
    [InlineData(6, 30, 300)]
    [InlineData(40, 30, 300)]
    [InlineData(3, 0, 0)]
    public void Backoff_IsImmediateThenExponentialAndCapped(int failures, int cooldown, int expectedSeconds)
    {
        // act
        var delay = SandboxPolicies.Backoff(failures, cooldown, TimeSpan.FromMinutes(5));

        // assert
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), delay);
    }

    private static SandboxSnapshot Snapshot(Case c)
    {
        var builder = new PreviewSandboxBuilder().WithRecreate(c.RecreateEnabled, maxAttempts: 5, cooldownSeconds: 30).Suspended(c.Suspend);
        if (c.RecreateAnnotation is not null)
        {
            builder.WithAnnotation(GroupVersion.RecreateAnnotation, c.RecreateAnnotation);
        }

        if (c.HeartbeatAnnotation is not null)
        {
            builder.WithAnnotation(GroupVersion.HeartbeatAnnotation, c.HeartbeatAnnotation);
        }

        var resource = builder.Build();
        resource.Metadata.Generation = c.Generation;
        var conditions = new List<V1Condition>();
        if (c.ReadyReason is not null)
        {
            conditions.Add(new V1Condition { Type = PreviewSandboxConditions.Ready, Status = "False", Reason = c.ReadyReason, Message = "m" });
        }

        resource.Status = new PreviewSandboxStatus
        {
            Phase = c.Phase,
            SandboxId = c.Phase is Phases.Running or Phases.Expired or Phases.Recreating ? "sbx-1" : null,
            StartedAt = Now.AddSeconds(-c.StartedSecondsAgo).UtcDateTime,
            ProbeFailures = c.ProbeFailures,
            FailedAttempts = c.FailedAttempts,
            LastFailureTime = c.LastFailureSecondsAgo is { } f ? Now.AddSeconds(-f).UtcDateTime : null,
            EndedAt = c.EndedSecondsAgo is { } e ? Now.AddSeconds(-e).UtcDateTime : null,
            ObservedRecreateRequest = c.ObservedRecreate,
            HeartbeatAtExpiry = c.HeartbeatAtExpiry,
            ObservedGeneration = c.ObservedGeneration,
            Conditions = conditions,
            LastRecreation = c.Phase == Phases.Recreating ? new RecreationRecord { Reason = RecreationReasons.Error, OldSandboxId = "sbx-0" } : null,
        };
        var activity = c.ActivitySecondsAgo is { } a ? Now.AddSeconds(-a) : (DateTimeOffset?)null;
        return new SandboxSnapshot(resource, Now, c.Remote, c.ProbeHealthy, activity);
    }
}
