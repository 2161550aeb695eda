using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Providers;
using Midori.Operator.Testing.Builders;

namespace Midori.Operator.Tests.Controllers;

/// <summary>Decision tables for the retention tiers: pause vs delete at each cut, boot grace, heads-up time, paused retention.</summary>
public sealed class SandboxLifecyclePolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    private static PreviewSandboxLifecycle Lifecycle(string? onIdle = null, string? onExpire = null, int? retention = null, int? minRunning = null, int? warning = null) =>
        new() { OnIdle = onIdle, OnExpire = onExpire, PausedRetentionSeconds = retention, MinRunningSeconds = minRunning, ExpiryWarningSeconds = warning };

    private static SandboxSnapshot Running(PreviewSandboxLifecycle? lifecycle, int startedSecondsAgo, int? activitySecondsAgo, int ttl = 1800, int idle = 300)
    {
        var resource = new PreviewSandboxBuilder().WithTtl(ttl).WithIdleTimeout(idle).Build();
        resource.Spec.Lifecycle = lifecycle;
        resource.Status = new PreviewSandboxStatus { Phase = Phases.Running, SandboxId = "sbx-1", StartedAt = Now.AddSeconds(-startedSecondsAgo).UtcDateTime };
        return new SandboxSnapshot(resource, Now, RemoteObservation.Running, true, activitySecondsAgo is { } a ? Now.AddSeconds(-a) : null);
    }

    public static TheoryData<string, string?, string?, bool, SandboxCut, CutOutcome> Outcomes => new()
    {
        { "defaults delete at the idle cut (today's behaviour)", null, null, true, SandboxCut.Idle, CutOutcome.Delete },
        { "defaults delete at the TTL cut (today's behaviour)", null, null, true, SandboxCut.Ttl, CutOutcome.Delete },
        { "onIdle Pause pauses at the idle cut", LifecycleActions.Pause, null, true, SandboxCut.Idle, CutOutcome.Pause },
        { "onIdle Pause leaves the TTL cut deleting", LifecycleActions.Pause, null, true, SandboxCut.Ttl, CutOutcome.Delete },
        { "onExpire Pause pauses at the TTL cut", null, LifecycleActions.Pause, true, SandboxCut.Ttl, CutOutcome.Pause },
        { "onExpire Pause leaves the idle cut deleting", null, LifecycleActions.Pause, true, SandboxCut.Idle, CutOutcome.Delete },
        { "Pause on a provider that cannot pause deletes", LifecycleActions.Pause, LifecycleActions.Pause, false, SandboxCut.Idle, CutOutcome.Delete },
        { "an unknown value (built in code) deletes", "Hibernate", null, true, SandboxCut.Idle, CutOutcome.Delete },
    };

    [Theory]
    [MemberData(nameof(Outcomes))]
    public void OutcomeOf_DecisionTable(string description, string? onIdle, string? onExpire, bool canPause, SandboxCut cut, CutOutcome expected)
    {
        // act
        var outcome = SandboxLifecyclePolicy.OutcomeOf(cut, Lifecycle(onIdle, onExpire), canPause);

        // assert
        Assert.True(expected == outcome, $"{description}: expected {expected}, got {outcome}");
    }

    [Theory]
    [InlineData("no grace: last activity + idle timeout", 0, 400, 300, 0)]
    [InlineData("grace over, activity decides", 120, 400, 100, 200)]
    [InlineData("a slow boot without heartbeats is not cut before the grace ends", 600, 60, 60, 540)]
    [InlineData("grace shorter than the idle window changes nothing", 100, 60, 60, 240)]
    public void IdleDeadline_HonoursMinRunning(string description, int minRunning, int startedSecondsAgo, int activitySecondsAgo, int expectedSecondsFromNow)
    {
        // arrange
        var snapshot = Running(Lifecycle(minRunning: minRunning), startedSecondsAgo, activitySecondsAgo);

        // act
        var deadline = snapshot.IdleDeadline;

        // assert
        Assert.True(Now.AddSeconds(expectedSecondsFromNow) == deadline, $"{description}: expected now+{expectedSecondsFromNow}s, got {deadline:O}");
    }

    [Fact]
    public void Evaluate_WithinMinRunning_NoIdleExpiry_ButTtlStillCuts()
    {
        // arrange: idle for 400 s (timeout 300) but started 400 s ago with a 600 s boot grace
        var withinGrace = Running(Lifecycle(minRunning: 600), startedSecondsAgo: 400, activitySecondsAgo: 400);
        var pastTtl = Running(Lifecycle(minRunning: 600), startedSecondsAgo: 1800, activitySecondsAgo: 1);
        var settings = new PolicySettings(ProbeFailureThreshold: 3, MaxBackoff: TimeSpan.FromMinutes(5));

        // act
        var kept = SandboxPolicies.Evaluate(withinGrace, settings);
        var expired = SandboxPolicies.Evaluate(pastTtl, settings);

        // assert
        Assert.Equal(SandboxAction.KeepRunning, kept.Action);
        Assert.Equal((SandboxAction.Expire, PreviewSandboxConditions.Reasons.TtlExpired), (expired.Action, expired.Reason));
    }

    public static TheoryData<string, int, int?, int, int, SandboxCut, int, int?> Cuts => new()
    {
        // description, startedAgo, activityAgo, ttl, warning → cut, cut at (s from now), warn at (s from now)
        { "idle comes first; default 60 s heads-up", 100, 100, 1800, 60, SandboxCut.Idle, 200, 140 },
        { "TTL comes first with fresh activity", 1750, 1, 1800, 60, SandboxCut.Ttl, 50, -10 },
        { "warning longer than half the idle timeout is shortened for the idle cut", 100, 100, 1800, 3600, SandboxCut.Idle, 200, 50 },
        { "warning 0 sends none", 100, 100, 1800, 0, SandboxCut.Idle, 200, null },
        { "TTL warning is not shortened", 1700, 1, 1800, 200, SandboxCut.Ttl, 100, -100 },
    };

    [Theory]
    [MemberData(nameof(Cuts))]
    public void NextCut_PicksTheEarlierCut_AndItsHeadsUp(string description, int startedAgo, int? activityAgo, int ttl, int warning, SandboxCut cut, int cutAt, int? warnAt)
    {
        // arrange
        var snapshot = Running(Lifecycle(onIdle: LifecycleActions.Pause, warning: warning), startedAgo, activityAgo, ttl);

        // act
        var planned = SandboxLifecyclePolicy.NextCut(snapshot, providerCanPause: true);

        // assert
        Assert.NotNull(planned);
        Assert.True((cut, Now.AddSeconds(cutAt)) == (planned.Cut, planned.At), $"{description}: got {planned.Cut} at {planned.At:O}");
        Assert.Equal(warnAt is { } w ? Now.AddSeconds(w) : null, planned.WarnAt);
        Assert.Equal(cut == SandboxCut.Idle ? CutOutcome.Pause : CutOutcome.Delete, planned.Outcome);
    }

    [Fact]
    public void NextCut_TieGoesToTheTtl()
    {
        // arrange: both deadlines 100 s from now
        var snapshot = Running(Lifecycle(), startedSecondsAgo: 1700, activitySecondsAgo: 200);

        // act
        var planned = SandboxLifecyclePolicy.NextCut(snapshot, providerCanPause: false);

        // assert
        Assert.Equal((SandboxCut.Ttl, Now.AddSeconds(100)), (planned!.Cut, planned.At));
    }

    [Theory]
    [InlineData("before the heads-up time: nothing", -30, null, null)]
    [InlineData("at the heads-up time: warn with the time left", 0, null, 60)]
    [InlineData("already warned for this cut: nothing", 10, 0, null)]
    [InlineData("warned for an earlier deadline (activity moved it): warn again", 10, -120, 50)]
    [InlineData("the cut itself is due: no heads-up, the cut happens", 60, null, null)]
    public void WarningDue_DecisionTable(string description, int secondsAfterWarnAt, int? lastWarnedCutOffset, int? expectedRemaining)
    {
        // arrange: a cut at T+60 s, heads-up at T
        var warnAt = Now;
        var cut = new PlannedCut(SandboxCut.Idle, warnAt.AddSeconds(60), CutOutcome.Pause, warnAt);
        DateTimeOffset? lastWarned = lastWarnedCutOffset is { } o ? cut.At.AddSeconds(o) : null;

        // act
        var remaining = SandboxLifecyclePolicy.WarningDue(cut, warnAt.AddSeconds(secondsAfterWarnAt), lastWarned);

        // assert
        Assert.True((expectedRemaining is { } r ? TimeSpan.FromSeconds(r) : (TimeSpan?)null) == remaining, $"{description}: got {remaining}");
    }

    [Theory]
    [InlineData("inside the retention: wait paused", 300, false, false, SandboxAction.Wait, PreviewSandboxConditions.Reasons.Paused)]
    [InlineData("retention over, no archive tier: delete (Expire)", 600, false, false, SandboxAction.Expire, PreviewSandboxConditions.Reasons.IdleExpired)]
    [InlineData("retention over, provider archives: archive", 600, true, false, SandboxAction.Archive, PreviewSandboxConditions.Reasons.Archived)]
    [InlineData("archived, inside the archive period: wait archived", 900, true, true, SandboxAction.Wait, PreviewSandboxConditions.Reasons.Archived)]
    [InlineData("archived, archive period over: delete (Expire)", 1200, true, true, SandboxAction.Expire, PreviewSandboxConditions.Reasons.IdleExpired)]
    public void Evaluate_PausedPreview_RetentionTiers(string description, int pausedSecondsAgo, bool canArchive, bool archived, SandboxAction action, string reason)
    {
        // arrange: paused with a 600 s retention, no activity since
        var resource = new PreviewSandboxBuilder().Build();
        resource.Spec.Lifecycle = Lifecycle(onIdle: LifecycleActions.Pause, retention: 600);
        var pausedAt = Now.AddSeconds(-pausedSecondsAgo).UtcDateTime;
        resource.Status = new PreviewSandboxStatus
        {
            Phase = Phases.Paused, SandboxId = "sbx-1", PausedAt = pausedAt, EndedAt = pausedAt,
            ArchivedAt = archived ? Now.AddSeconds(600 - pausedSecondsAgo).UtcDateTime : null,
        };
        var snapshot = new SandboxSnapshot(resource, Now, RemoteObservation.NotChecked, null, null);

        // act
        var verdict = SandboxPolicies.Evaluate(snapshot, new PolicySettings(3, TimeSpan.FromMinutes(5), ProviderCanArchive: canArchive));

        // assert
        Assert.True((action, reason) == (verdict.Action, verdict.Reason), $"{description}: got {verdict}");
    }

    [Fact]
    public void WarningDue_SameCutRecordedWithLessPrecision_IsNotWarnedAgain()
    {
        // arrange: the cut time carries ticks; status kept it to the microsecond
        var cut = new PlannedCut(SandboxCut.Idle, Now.AddSeconds(60).AddTicks(1234), CutOutcome.Delete, Now);
        var recorded = Now.AddSeconds(60).AddTicks(1230);

        // act
        var remaining = SandboxLifecyclePolicy.WarningDue(cut, Now.AddSeconds(5), recorded);

        // assert
        Assert.Null(remaining);
    }

    [Theory]
    [InlineData("heads-up ahead, never sent: requeue at it", -30, null, 0)]
    [InlineData("heads-up ahead, sent for an earlier deadline: requeue at it", -30, -120, 0)]
    [InlineData("heads-up time passed: nothing to schedule (the pass warns or has warned)", 10, null, null)]
    [InlineData("heads-up ahead but already sent for this cut: nothing", -30, 0, null)]
    public void NextWarningAt_DecisionTable(string description, int secondsAfterWarnAt, int? lastWarnedCutOffset, int? expectedSecondsAfterWarnAt)
    {
        // arrange: a cut at T+60 s, heads-up at T
        var cut = new PlannedCut(SandboxCut.Ttl, Now.AddSeconds(60), CutOutcome.Delete, Now);
        DateTimeOffset? lastWarned = lastWarnedCutOffset is { } o ? cut.At.AddSeconds(o) : null;

        // act
        var next = SandboxLifecyclePolicy.NextWarningAt(cut, Now.AddSeconds(secondsAfterWarnAt), lastWarned);

        // assert
        Assert.True((expectedSecondsAfterWarnAt is { } e ? Now.AddSeconds(e) : (DateTimeOffset?)null) == next, $"{description}: got {next}");
    }

    [Theory]
    [InlineData("inside the retention: keep until its end", 3000, false, false, PausedOutcome.Keep, 600)]
    [InlineData("retention over, no archive tier: delete", 3600, false, false, PausedOutcome.Delete, null)]
    [InlineData("retention over, provider archives: archive, delete after as long again", 3600, true, false, PausedOutcome.Archive, 3600)]
    [InlineData("archived and inside the second period: keep", 5000, true, true, PausedOutcome.Keep, 2200)]
    [InlineData("archived and the second period over: delete", 7200, true, true, PausedOutcome.Delete, null)]
    public void Paused_RetentionTiers(string description, int pausedSecondsAgo, bool canArchive, bool archived, PausedOutcome expected, int? untilSecondsFromNow)
    {
        // act
        var verdict = SandboxLifecyclePolicy.Paused(Now.AddSeconds(-pausedSecondsAgo), Now, Lifecycle(retention: 3600), canArchive, archived);

        // assert
        Assert.True(expected == verdict.Outcome, $"{description}: got {verdict.Outcome}");
        Assert.Equal(untilSecondsFromNow is { } u ? Now.AddSeconds(u) : null, verdict.Until);
    }

    [Theory]
    [InlineData(SandboxState.Stopped, StartKinds.Resume)]
    [InlineData(SandboxState.Running, StartKinds.Resume)]
    [InlineData(SandboxState.Pending, StartKinds.Resume)]
    [InlineData(SandboxState.Error, StartKinds.Recreate)]
    [InlineData(null, StartKinds.Recreate)]
    public void WakeKind_ResumesWhatTheProviderStillHolds_RecreatesOtherwise(SandboxState? state, string expected)
    {
        // act + assert
        Assert.Equal(expected, SandboxLifecyclePolicy.WakeKind(state));
    }
}
