using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Providers;

namespace Midori.Operator.Tests.Controllers;

/// <summary>Decision tables of the warm-pool policy: fill, scale down, rotation, broken/dirty/stuck members, backoff, status.</summary>
public sealed class PoolPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
    private static readonly PoolSettings Settings = new(MaxParallelCreates: 4, MinRemaining: TimeSpan.FromMinutes(5), PendingGrace: TimeSpan.FromMinutes(2),
        BackoffBaseSeconds: 5, MaxBackoff: TimeSpan.FromMinutes(5), Resync: TimeSpan.FromSeconds(30));

    private static WarmMember Member(string id, SandboxState state = SandboxState.Running, int ageSeconds = 60, int lifeLeftSeconds = 3000, bool dirty = false, bool outdated = false) =>
        new(id, state, Now.AddSeconds(-ageSeconds), Now.AddSeconds(lifeLeftSeconds), dirty, outdated);

    private static PoolSnapshot Snapshot(int desired, IReadOnlyList<WarmMember> members, int failed = 0, int lastFailureSecondsAgo = 0, bool available = true) =>
        new(desired, 3600, members, Now, failed, failed > 0 ? Now.AddSeconds(-lastFailureSecondsAgo) : null, available);

    public static TheoryData<string, PoolSnapshot, int, string[], string> Decisions => new()
    {
        { "empty pool of 2 creates 2", Snapshot(2, []), 2, [], PoolReasons.Filling },
        { "a pass creates at most MaxParallelCreates", Snapshot(10, []), 4, [], PoolReasons.Filling },
        { "full pool does nothing", Snapshot(2, [Member("a"), Member("b")]), 0, [], PoolReasons.Filled },
        { "replicas 0 removes every member", Snapshot(0, [Member("a"), Member("b")]), 0, ["a:surplus", "b:surplus"], PoolReasons.Filled },
        { "scale down removes pending ones first", Snapshot(1, [Member("run"), Member("pend", SandboxState.Pending)]), 0, ["pend:surplus"], PoolReasons.Filled },
        { "scale down then removes the one with least life", Snapshot(1, [Member("old", lifeLeftSeconds: 1000), Member("new")]), 0, ["old:surplus"], PoolReasons.Filled },
        { "a broken member is replaced", Snapshot(1, [Member("x", SandboxState.Error)]), 1, ["x:broken"], PoolReasons.Filling },
        { "a stopped member is replaced", Snapshot(1, [Member("x", SandboxState.Stopped)]), 1, ["x:stopped"], PoolReasons.Filling },
        { "a dirty member (files, no claimant) is replaced", Snapshot(1, [Member("x", dirty: true)]), 1, ["x:dirty"], PoolReasons.Filling },
        { "a member near its end is rotated out", Snapshot(1, [Member("x", lifeLeftSeconds: 120)]), 1, ["x:expiring"], PoolReasons.Filling },
        { "a member pending past the grace is replaced", Snapshot(1, [Member("x", SandboxState.Pending, ageSeconds: 600)]), 1, ["x:stuck"], PoolReasons.Filling },
        { "a young pending member counts (it is started)", Snapshot(1, [Member("x", SandboxState.Pending, ageSeconds: 10)]), 0, [], PoolReasons.Filled },
        { "after one failure the next try waits the base delay", Snapshot(2, [], failed: 1, lastFailureSecondsAgo: 2), 0, [], PoolReasons.BackingOff },
        { "after the base delay the next try runs", Snapshot(2, [], failed: 1, lastFailureSecondsAgo: 6), 2, [], PoolReasons.Filling },
        { "three failures: 20 s", Snapshot(2, [], failed: 3, lastFailureSecondsAgo: 15), 0, [], PoolReasons.BackingOff },
        { "a full pool ignores old failures", Snapshot(1, [Member("a")], failed: 3, lastFailureSecondsAgo: 1), 0, [], PoolReasons.Filled },
        { "provider down: no creations", Snapshot(2, [], available: false), 0, [], PoolReasons.ProviderUnavailable },
        { "members of an earlier start stay until replacements run", Snapshot(2, [Member("old1", outdated: true), Member("old2", outdated: true)]), 2, [], PoolReasons.Filling },
        { "half replaced: the old ones stay", Snapshot(2, [Member("old", outdated: true), Member("new")]), 1, [], PoolReasons.Filling },
        { "replacements running: the old ones go", Snapshot(2, [Member("old", outdated: true), Member("a"), Member("b")]), 0, ["old:outdated"], PoolReasons.Filled },
        { "a pending member of an earlier start is not started", Snapshot(1, [Member("old", SandboxState.Pending, ageSeconds: 10, outdated: true)]), 1, ["old:outdated"], PoolReasons.Filling },
        { "a broken member of an earlier start is broken", Snapshot(1, [Member("old", SandboxState.Error, outdated: true)]), 1, ["old:broken"], PoolReasons.Filling },
    };

    [Theory]
    [MemberData(nameof(Decisions))]
    public void Decide_DecisionTable(string description, PoolSnapshot snapshot, int expectedCreates, string[] expectedRemovals, string expectedReason)
    {
        // act
        var decision = PoolPolicy.Decide(snapshot, Settings);

        // assert
        Assert.True(expectedCreates == decision.Create, $"{description}: creates {decision.Create}");
        Assert.Equal(expectedRemovals.Select(r => r.Replace("stopped", PoolPolicy.Broken, StringComparison.Ordinal)).Order(),
            decision.Remove.Select(r => $"{r.Id}:{r.Reason}").Order());
        Assert.Equal(expectedReason, decision.Reason);
    }

    [Fact]
    public void Decide_OutdatedMembers_AreOutgoing_NotCounted_AndTheNextPassComesSoon()
    {
        // act
        var decision = PoolPolicy.Decide(Snapshot(1, [Member("old", outdated: true)]), Settings);
        var status = PoolPolicy.StatusAfter(decision, null, desired: 1, created: 0, failed: 0, claimed: 0, Now, generation: 2, "preview.midori.dev/pool=warm");

        // assert: claimable meanwhile, not in the counts the scale subresource reads, looked at again within a second
        Assert.Equal(["old"], decision.Outgoing!.Select(m => m.Id));
        Assert.Empty(decision.Keep);
        Assert.Equal((0, 0), (status.Replicas, status.ReadyReplicas));
        Assert.Equal(TimeSpan.FromSeconds(1), decision.RequeueAfter);
    }

    [Fact]
    public void Decide_BackingOff_RequeuesWhenTheBackoffEnds()
    {
        // act: 2 failures → 10 s after the last one, 4 s of it passed
        var decision = PoolPolicy.Decide(Snapshot(1, [], failed: 2, lastFailureSecondsAgo: 4), Settings);

        // assert
        Assert.Equal(TimeSpan.FromSeconds(6), decision.RequeueAfter);
    }

    [Fact]
    public void Decide_Filled_RequeuesAtTheNextRotation()
    {
        // act: the member reaches MinRemaining (5 min before its end) in 100 s
        var decision = PoolPolicy.Decide(Snapshot(1, [Member("a", lifeLeftSeconds: 400)]), Settings);

        // assert
        Assert.Equal(TimeSpan.FromSeconds(30), PoolPolicy.Decide(Snapshot(1, [Member("a")]), Settings).RequeueAfter);
        Assert.Equal(TimeSpan.FromSeconds(30), decision.RequeueAfter); // capped by the resync
        Assert.Equal(TimeSpan.FromSeconds(10), PoolPolicy.Decide(Snapshot(1, [Member("a", lifeLeftSeconds: 310)]), Settings).RequeueAfter);
    }

    [Fact]
    public void MinRemaining_IsAtMostAQuarterOfTheTtl()
    {
        Assert.Equal(TimeSpan.FromSeconds(75), PoolPolicy.MinRemaining(300, Settings));
        Assert.Equal(TimeSpan.FromMinutes(5), PoolPolicy.MinRemaining(3600, Settings));
    }

    [Fact]
    public void StatusAfter_CountsReadyAndCreated_AdvancesAndClearsTheFailureAnchors()
    {
        // arrange
        var decision = PoolPolicy.Decide(Snapshot(3, [Member("a")]), Settings);

        // act
        var partly = PoolPolicy.StatusAfter(decision, null, 3, created: 1, failed: 1, claimed: 2, Now, 4, "preview.midori.dev/pool=p");
        var recovered = PoolPolicy.StatusAfter(decision, partly, 3, created: 2, failed: 0, claimed: 0, Now.AddSeconds(10), 4, "preview.midori.dev/pool=p");

        // assert
        Assert.Equal((2, 2, 2L, 1), (partly.Replicas!.Value, partly.ReadyReplicas!.Value, partly.Claimed!.Value, partly.FailedAttempts!.Value));
        Assert.Equal(Now.UtcDateTime, partly.LastFailureTime);
        Assert.Equal(("False", PoolReasons.BackingOff), (partly.Conditions![0].Status, partly.Conditions[0].Reason));
        Assert.Equal((3, 3, 2L), (recovered.Replicas!.Value, recovered.ReadyReplicas!.Value, recovered.Claimed!.Value));
        Assert.Null(recovered.FailedAttempts);
        Assert.Null(recovered.LastFailureTime);
        Assert.Equal(("True", PoolReasons.Filled, 4L), (recovered.Conditions![0].Status, recovered.Conditions[0].Reason, recovered.Conditions[0].ObservedGeneration!.Value));
        Assert.False(PoolPolicy.SameStatus(partly, recovered));
        Assert.True(PoolPolicy.SameStatus(recovered, PoolPolicy.StatusAfter(decision, recovered, 3, created: 2, failed: 0, claimed: 0, Now.AddSeconds(20), 4, "preview.midori.dev/pool=p")));
    }
}
