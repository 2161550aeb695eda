using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Options;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;

namespace Midori.Operator.Tests.Controllers;

/// <summary>
/// The heads-up before an idle or TTL cut through the real reconciler (fakes, FakeTimeProvider): a Kubernetes Event and
/// a lifecycle notification once per cut, anchored in status.lastExpiryWarning, requeued at the warning time, and sent
/// again when a heartbeat moves the idle deadline.
/// </summary>
public sealed class SandboxExpiryWarningTests
{
    // Health checks far apart, so the requeue is the warning's own timer and not the next probe.
    private readonly ReconcilerHarness _h = new(new OperatorOptions { HealthCheckInterval = TimeSpan.FromMinutes(9) });

    private IReadOnlyList<Testing.Fakes.RecordedEvent> Warnings => [.. _h.Events.Events.Where(e => e.Reason == PreviewSandboxConditions.Reasons.ExpiryWarning)];

    private async Task StartAsync(int idle = 300, int ttl = 3600, PreviewSandboxLifecycle? lifecycle = null)
    {
        var resource = new PreviewSandboxBuilder().WithIdleTimeout(idle).WithTtl(ttl).WithFile("a.txt", "A").Build();
        resource.Spec.Lifecycle = lifecycle;
        _h.Client.Create(resource);
        await _h.ReconcileAsync();
        Assert.Equal(Phases.Running, _h.Get().Status!.Phase);
    }

    [Fact]
    public async Task IdleCut_WarnsOnceAtWarnAt_WithTheRemainingTime_AndRequeuesAtIt()
    {
        // arrange: idle cut at T0+300 s, heads-up 60 s before (the default)
        await StartAsync();

        // act 1: a pass before the heads-up is due
        var early = await _h.ReconcileAsync();

        // assert 1: nothing sent, the next pass is at the heads-up time
        Assert.Empty(Warnings);
        Assert.Null(_h.Get().Status!.LastExpiryWarning);
        Assert.Equal(TimeSpan.FromSeconds(240), early.RequeueAfter);

        // act 2: the heads-up time comes
        _h.Time.Advance(TimeSpan.FromSeconds(240));
        var due = await _h.ReconcileAsync();

        // assert 2: one Event with the time left and the cut, the anchor in status, the observer told
        var warning = Assert.Single(Warnings);
        Assert.Contains("60s", warning.Message, StringComparison.Ordinal);
        Assert.Contains("idle timeout", warning.Message, StringComparison.Ordinal);
        Assert.Contains("deleted", warning.Message, StringComparison.Ordinal);
        var anchor = _h.Get().Status!.LastExpiryWarning!;
        Assert.Equal((ExpiryCuts.Idle, ReconcilerHarness.T0.AddSeconds(300).UtcDateTime, _h.Time.GetUtcNow().UtcDateTime), (anchor.Cut, anchor.CutAt, anchor.Time));
        Assert.Contains(_h.Observer.Log, l => l.StartsWith("expiry-warning", StringComparison.Ordinal) && l.EndsWith("Idle Delete 60s", StringComparison.Ordinal));
        Assert.Equal(TimeSpan.FromSeconds(60), due.RequeueAfter);

        // act 3: more passes before the cut
        _h.Time.Advance(TimeSpan.FromSeconds(20));
        var statusBefore = k8s.KubernetesJson.Serialize(_h.Get().Status);
        await _h.ReconcileAsync();

        // assert 3: not sent twice, status untouched
        Assert.Single(Warnings);
        Assert.Equal(statusBefore, k8s.KubernetesJson.Serialize(_h.Get().Status));
    }

    [Fact]
    public async Task HeartbeatAfterTheWarning_MovesTheDeadline_AndEarnsANewWarningLater()
    {
        // arrange: warned for the cut at T0+300 s
        await StartAsync();
        _h.Time.Advance(TimeSpan.FromSeconds(240));
        await _h.ReconcileAsync();
        Assert.Single(Warnings);

        // act 1: the user comes back at T0+250 s (idle cut now at T0+550 s)
        _h.Time.Advance(TimeSpan.FromSeconds(10));
        _h.Heartbeat(_h.Time.GetUtcNow());
        var afterHeartbeat = await _h.ReconcileAsync();

        // assert 1: no warning now, the next pass at the new heads-up time (T0+490 s)
        Assert.Single(Warnings);
        Assert.Equal(TimeSpan.FromSeconds(240), afterHeartbeat.RequeueAfter);

        // act 2
        _h.Time.Advance(TimeSpan.FromSeconds(240));
        await _h.ReconcileAsync();

        // assert 2: a second warning, for the new deadline
        Assert.Equal(2, Warnings.Count);
        Assert.Equal(ReconcilerHarness.T0.AddSeconds(550).UtcDateTime, _h.Get().Status!.LastExpiryWarning!.CutAt);
        Assert.Equal(Phases.Running, _h.Get().Status!.Phase);
    }

    [Fact]
    public async Task TtlCut_WithOnExpirePause_SaysTtlAndPaused()
    {
        // arrange: TTL 600 s ends long before the idle cut; 120 s of heads-up
        await StartAsync(idle: 3600, ttl: 600, lifecycle: new PreviewSandboxLifecycle { OnExpire = LifecycleActions.Pause, ExpiryWarningSeconds = 120 });
        _h.Heartbeat(_h.Time.GetUtcNow());

        // act
        _h.Time.Advance(TimeSpan.FromSeconds(480));
        await _h.ReconcileAsync();

        // assert
        var warning = Assert.Single(Warnings);
        Assert.Contains("TTL in 120s", warning.Message, StringComparison.Ordinal);
        Assert.Contains("paused", warning.Message, StringComparison.Ordinal);
        Assert.Equal(ExpiryCuts.Ttl, _h.Get().Status!.LastExpiryWarning!.Cut);
        Assert.Contains(_h.Observer.Log, l => l.EndsWith("TTL Pause 120s", StringComparison.Ordinal));

        // and the cut itself still happens at the TTL
        _h.Time.Advance(TimeSpan.FromSeconds(120));
        await _h.ReconcileAsync();
        Assert.Equal(Phases.Paused, _h.Get().Status!.Phase);
    }

    [Fact]
    public async Task WarningsOff_SendNothing()
    {
        // arrange
        await StartAsync(lifecycle: new PreviewSandboxLifecycle { ExpiryWarningSeconds = 0 });

        // act: through the heads-up window to the cut
        _h.Time.Advance(TimeSpan.FromSeconds(250));
        await _h.ReconcileAsync();
        _h.Time.Advance(TimeSpan.FromSeconds(50));
        await _h.ReconcileAsync();

        // assert
        Assert.Empty(Warnings);
        Assert.Null(_h.Get().Status!.LastExpiryWarning);
        Assert.Equal(Phases.Expired, _h.Get().Status!.Phase);
    }
}
