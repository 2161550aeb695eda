using k8s.Models;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Http.Services;
using Midori.Operator.Options;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;

namespace Midori.Operator.Tests.Controllers;

/// <summary>Retention of finished previews: the pure decision table, then the reconciler on a FakeTimeProvider.</summary>
public sealed class SandboxRetentionTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private static readonly RetentionSettings Retention = new(TimeSpan.FromHours(2), TimeSpan.FromHours(24));
    private static readonly PolicySettings Settings = new(3, TimeSpan.FromMinutes(5), Retention);

    public enum Owner
    {
        Api,
        Hand,
        HandOptIn,
        ApiOptOut,
    }

    public sealed record Case(string Phase, Owner Owner, int EndedMinutesAgo, bool Suspend = false, int? ActivityMinutesAgo = null,
        string? RecreateAnnotation = null, long Generation = 1, bool RetentionOff = false);

    public static TheoryData<string, Case, SandboxAction, DateTimeOffset?> Table => new()
    {
        { "API-made, stopped 2 h: deleted", new Case(Phases.Stopped, Owner.Api, 120, Suspend: true), SandboxAction.Delete, null },
        { "API-made, stopped 1 h 59: waits until the 2 h mark", new Case(Phases.Stopped, Owner.Api, 119, Suspend: true), SandboxAction.Wait, Now.AddMinutes(1) },
        { "API-made, failed 2 h: deleted", new Case(Phases.Failed, Owner.Api, 121), SandboxAction.Delete, null },
        { "API-made, expired 2 h: kept (24 h for expired)", new Case(Phases.Expired, Owner.Api, 120), SandboxAction.Wait, Now.AddHours(22) },
        { "API-made, expired 24 h: deleted", new Case(Phases.Expired, Owner.Api, 24 * 60), SandboxAction.Delete, null },
        { "hand-made, stopped 3 days: never deleted", new Case(Phases.Stopped, Owner.Hand, 3 * 24 * 60, Suspend: true), SandboxAction.Wait, null },
        { "hand-made, expired 3 days: never deleted", new Case(Phases.Expired, Owner.Hand, 3 * 24 * 60), SandboxAction.Wait, null },
        { "hand-made with retention: delete, expired 24 h: deleted", new Case(Phases.Expired, Owner.HandOptIn, 24 * 60), SandboxAction.Delete, null },
        { "API-made with retention: keep, failed 3 days: kept", new Case(Phases.Failed, Owner.ApiOptOut, 3 * 24 * 60), SandboxAction.Wait, null },
        { "API-made, expired 24 h but woken by activity: recreated, not deleted", new Case(Phases.Expired, Owner.Api, 24 * 60, ActivityMinutesAgo: 1), SandboxAction.Recreate, null },
        { "API-made, stopped 2 h but resumed: created, not deleted", new Case(Phases.Stopped, Owner.Api, 120), SandboxAction.Create, null },
        { "API-made, failed 2 h but recreate requested: recreated", new Case(Phases.Failed, Owner.Api, 120, RecreateAnnotation: "again"), SandboxAction.Recreate, null },
        { "API-made, failed 2 h but spec changed: restarted", new Case(Phases.Failed, Owner.Api, 120, Generation: 2), SandboxAction.Restart, null },
        { "retention switched off: kept", new Case(Phases.Stopped, Owner.Api, 5 * 24 * 60, Suspend: true, RetentionOff: true), SandboxAction.Wait, null },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Evaluate_RetentionTable_ReturnsExpectedAction(string description, Case c, SandboxAction expected, DateTimeOffset? expectedNotBefore)
    {
        // arrange
        var snapshot = Snapshot(c);

        // act
        var verdict = SandboxPolicies.Evaluate(snapshot, c.RetentionOff ? Settings with { Retention = null } : Settings);

        // assert
        Assert.True(expected == verdict.Action, $"{description}: expected {expected}, got {verdict.Action} ({verdict.Reason}: {verdict.Message})");
        if (expected == SandboxAction.Wait)
        {
            Assert.Equal(expectedNotBefore, verdict.NotBefore);
        }

        if (expected == SandboxAction.Delete)
        {
            Assert.Equal(EventReasons.RetentionElapsed, verdict.Reason);
        }
    }

    [Fact]
    public void Apply_KeepsAnEarlierNotBeforeOfTheChain()
    {
        // arrange: the chain already wants to come back in 5 minutes; retention is due in an hour
        var snapshot = Snapshot(new Case(Phases.Stopped, Owner.Api, 60, Suspend: true));
        var waiting = new PolicyVerdict(SandboxAction.Wait, "Suspended", "m", NotBefore: Now.AddMinutes(5));

        // act
        var verdict = SandboxRetention.Apply(snapshot, Retention, waiting);

        // assert
        Assert.Equal(Now.AddMinutes(5), verdict.NotBefore);
    }

    [Fact]
    public async Task Reconcile_ApiCreatedPreviewStoppedTwoHours_IsDeletedAtTheDeadlineAndFinalized()
    {
        // arrange: resync of a day, so the requeue shows the retention timer itself
        var h = new ReconcilerHarness(new OperatorOptions { ResyncInterval = TimeSpan.FromDays(1) });
        var resource = new PreviewSandboxBuilder().Build();
        resource.Metadata.Labels = new Dictionary<string, string> { [SandboxLabels.CreatedBy] = SandboxLabels.CreatedByApi };
        h.Client.Create(resource);
        await h.ReconcileAsync();
        h.Client.UpdateSpec("default", "demo", s => s.Suspend = true);

        // act 1: suspend → Stopped, requeue exactly at endedAt + 2 h
        var stopped = await h.ReconcileAsync();

        // assert 1
        Assert.Equal(Phases.Stopped, h.Get().Status!.Phase);
        Assert.Equal(ReconcilerHarness.T0.UtcDateTime, h.Get().Status!.EndedAt);
        Assert.Equal(TimeSpan.FromHours(2), stopped.RequeueAfter);

        // act 2: one minute early nothing happens; at the deadline the resource is deleted, then finalized
        h.Time.Advance(TimeSpan.FromMinutes(119));
        var early = await h.ReconcileAsync();
        Assert.Equal(TimeSpan.FromMinutes(1), early.RequeueAfter);
        Assert.Null(h.Get().Metadata.DeletionTimestamp);
        h.Time.Advance(TimeSpan.FromMinutes(1));
        await h.ReconcileAsync();
        Assert.NotNull(h.Get().Metadata.DeletionTimestamp);
        await h.ReconcileAsync();

        // assert 2
        Assert.Null(h.Client.Peek("default", "demo"));
        Assert.Contains(EventReasons.RetentionElapsed, h.Events.Reasons);
        Assert.Contains(h.Observer.Log, l => l.StartsWith("deleted", StringComparison.Ordinal));
        Assert.Empty(h.Provider.Sandboxes);
    }

    [Fact]
    public async Task Reconcile_HandMadePreviewExpiredForDays_IsKept()
    {
        // arrange
        var h = new ReconcilerHarness(new OperatorOptions { ResyncInterval = TimeSpan.FromHours(1) });
        h.Client.Create(new PreviewSandboxBuilder().Build());
        await h.ReconcileAsync();
        h.Time.Advance(TimeSpan.FromMinutes(5));
        await h.ReconcileAsync();
        Assert.Equal(Phases.Expired, h.Get().Status!.Phase);

        // act
        h.Time.Advance(TimeSpan.FromDays(3));
        var result = await h.ReconcileAsync();

        // assert
        Assert.Null(h.Get().Metadata.DeletionTimestamp);
        Assert.Equal(Phases.Expired, h.Get().Status!.Phase);
        Assert.Equal(TimeSpan.FromHours(1), result.RequeueAfter);
    }

    [Fact]
    public async Task Reconcile_OptedInHandMadePreviewExpired24Hours_IsDeleted()
    {
        // arrange
        var h = new ReconcilerHarness(new OperatorOptions { ResyncInterval = TimeSpan.FromDays(1) });
        h.Client.Create(new PreviewSandboxBuilder().WithAnnotation(GroupVersion.RetentionAnnotation, GroupVersion.RetentionDelete).Build());
        await h.ReconcileAsync();
        h.Time.Advance(TimeSpan.FromMinutes(5));
        var expired = await h.ReconcileAsync();
        Assert.Equal(Phases.Expired, h.Get().Status!.Phase);
        Assert.Equal(TimeSpan.FromHours(24), expired.RequeueAfter);

        // act
        h.Time.Advance(TimeSpan.FromHours(24));
        await h.ReconcileAsync();
        await h.ReconcileAsync();

        // assert
        Assert.Null(h.Client.Peek("default", "demo"));
    }

    private static SandboxSnapshot Snapshot(Case c)
    {
        var builder = new PreviewSandboxBuilder().Suspended(c.Suspend);
        if (c.Owner == Owner.HandOptIn)
        {
            builder.WithAnnotation(GroupVersion.RetentionAnnotation, GroupVersion.RetentionDelete);
        }

        if (c.Owner == Owner.ApiOptOut)
        {
            builder.WithAnnotation(GroupVersion.RetentionAnnotation, GroupVersion.RetentionKeep);
        }

        if (c.RecreateAnnotation is not null)
        {
            builder.WithAnnotation(GroupVersion.RecreateAnnotation, c.RecreateAnnotation);
        }

        var resource = builder.Build();
        if (c.Owner is Owner.Api or Owner.ApiOptOut)
        {
            resource.Metadata.Labels = new Dictionary<string, string> { [SandboxLabels.CreatedBy] = SandboxLabels.CreatedByApi };
        }

        resource.Metadata.Generation = c.Generation;
        resource.Status = new PreviewSandboxStatus
        {
            Phase = c.Phase,
            EndedAt = Now.AddMinutes(-c.EndedMinutesAgo).UtcDateTime,
            ObservedGeneration = 1,
            Conditions = [new V1Condition { Type = PreviewSandboxConditions.Ready, Status = "False", Reason = PreviewSandboxConditions.Reasons.IdleExpired, Message = "m" }],
        };
        var activity = c.ActivityMinutesAgo is { } a ? Now.AddMinutes(-a) : Now.AddMinutes(-c.EndedMinutesAgo - 5);
        return new SandboxSnapshot(resource, Now, RemoteObservation.NotChecked, null, activity);
    }
}
