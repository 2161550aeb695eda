using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Testing.Builders;
using Conditions = Midori.Operator.Api.V1Alpha1.PreviewSandboxConditions;
using Reasons = Midori.Operator.Api.V1Alpha1.PreviewSandboxConditions.Reasons;

namespace Midori.Operator.Tests.Controllers;

public sealed class SandboxStatusBuilderTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(T0);

    [Fact]
    public void Changed_OnlyWhenTheWorkingStatusDiffersFromTheLastWrite()
    {
        var pass = Builder(generation: 3);
        Assert.False(pass.Changed);

        pass.To(Phases.Pending);
        Assert.True(pass.Changed);

        pass.Published(WithStatus(pass.Resource, pass.Status));
        Assert.False(pass.Changed);

        pass.To(Phases.Pending); // same value again: nothing to write
        Assert.False(pass.Changed);
    }

    [Fact]
    public void Operations_StampTheGeneration_ObservedOnlyWhenAskedFor()
    {
        var pass = Builder(generation: 7);

        pass.To(Phases.Creating).InProgress(Reasons.Provisioning, "Creating the sandbox");
        Assert.Null(pass.Status.ObservedGeneration);
        Assert.All(pass.Status.Conditions!, c => Assert.Equal(7, c.ObservedGeneration));

        pass.To(Phases.Running).Ready("Preview is serving").Observed();
        Assert.Equal(7, pass.Status.ObservedGeneration);
    }

    // Which conditions each named operation leaves, as (type, status, reason); Ready first.
    public static TheoryData<string, string[]> Table => new()
    {
        { "ready", ["Ready=True/SandboxReady", "Progressing=False/AsExpected", "Degraded=False/AsExpected", "FilesInSync=True/InSync"] },
        { "ready-degraded", ["Ready=True/SandboxReady", "Progressing=False/AsExpected", "Degraded=True/SandboxReady", "FilesInSync=False/SyncFailed"] },
        { "in-progress", ["Ready=False/Provisioning", "Progressing=True/Provisioning", "Degraded=False/AsExpected", "Reconciling=True/Provisioning"] },
        { "not-ready", ["Ready=False/IdleExpired", "Progressing=False/AsExpected", "Degraded=False/AsExpected"] },
        { "failed", ["Ready=False/RecreateExhausted", "Progressing=False/AsExpected", "Degraded=True/RecreateExhausted", "Stalled=True/RecreateExhausted"] },
        { "removal-pending", ["Ready=True/IdleExpired", "Progressing=True/IdleExpired", "Degraded=True/IdleExpired", "FilesInSync=True/InSync", "Reconciling=True/IdleExpired"] },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void NamedOperation_LeavesConsistentConditions(string operation, string[] expected)
    {
        var pass = Builder(generation: 1);
        pass.To(Phases.Running).Ready("Preview is serving", files: FilesState.Synced("h1")); // the state each row starts from

        _ = operation switch
        {
            "ready" => pass.Ready("Preview is serving", files: FilesState.Synced("h2")),
            "ready-degraded" => pass.Ready("Preview is serving", "Files behind", FilesState.Behind(Reasons.SyncFailed, "push failed")),
            "in-progress" => pass.To(Phases.Creating).InProgress(Reasons.Provisioning, "Creating the sandbox"),
            "not-ready" => pass.To(Phases.Expired).NotReady(Reasons.IdleExpired, "No activity"),
            "failed" => pass.To(Phases.Failed).NotReady(Reasons.RecreateExhausted, "Gave up", degraded: "Gave up"),
            "removal-pending" => pass.RemovalPending(Reasons.IdleExpired, "provider down"),
            _ => throw new ArgumentOutOfRangeException(nameof(operation)),
        };

        Assert.Equal(expected, pass.Status.Conditions!.Select(c => $"{c.Type}={c.Status}/{c.Reason}"));
    }

    [Fact]
    public void LastTransitionTime_MovesOnlyWhenTheValueFlips()
    {
        var pass = Builder(generation: 1);
        pass.To(Phases.Creating).InProgress(Reasons.Provisioning, "Creating the sandbox");
        _time.Advance(TimeSpan.FromSeconds(30));

        pass.To(Phases.Running).Ready("Preview is serving");

        Assert.Equal(T0.AddSeconds(30).UtcDateTime, Find(pass, Conditions.Ready).LastTransitionTime); // False → True
        Assert.Equal(T0.UtcDateTime, Find(pass, Conditions.Degraded).LastTransitionTime); // stayed False
    }

    [Fact]
    public void AppendToReady_AddsTheNoteOnce_AndNeedsAReadyCondition()
    {
        var pass = Builder(generation: 1);
        Assert.False(pass.AppendToReady("note"));

        pass.To(Phases.Running).Ready("Preview is serving");
        Assert.True(pass.AppendToReady("note"));
        Assert.True(pass.AppendToReady("note"));

        Assert.Equal("Preview is serving. note", Find(pass, Conditions.Ready).Message);
    }

    private SandboxStatusBuilder Builder(long generation)
    {
        var resource = new PreviewSandboxBuilder().Build();
        resource.Metadata.Generation = generation;
        resource.Status = new PreviewSandboxStatus { Provider = "local" };
        return new SandboxStatusBuilder(resource, "local", _time);
    }

    private static V1Alpha1PreviewSandbox WithStatus(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status) =>
        new() { ApiVersion = resource.ApiVersion, Kind = resource.Kind, Metadata = resource.Metadata, Spec = resource.Spec, Status = status };

    private static k8s.Models.V1Condition Find(SandboxStatusBuilder pass, string type) => ConditionSet.Find(pass.Status.Conditions, type)!;
}
