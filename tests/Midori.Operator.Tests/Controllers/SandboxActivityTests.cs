using Microsoft.Extensions.Time.Testing;
using Midori.DevStack.Store;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;

namespace Midori.Operator.Tests.Controllers;

/// <summary>When status.lastActivityTime moves: the decision table, and what it saves with an editor open.</summary>
public sealed class SandboxActivityTests
{
    private static readonly DateTimeOffset Recorded = ReconcilerHarness.T0;

    private readonly FakeTimeProvider _time = new(ReconcilerHarness.T0);
    private readonly InMemoryPreviewStore _store;
    private readonly ReconcilerHarness _h;
    private DateTimeOffset _next;

    public SandboxActivityTests()
    {
        _store = new InMemoryPreviewStore(_time);
        _h = new ReconcilerHarness(new Options.OperatorOptions { HealthCheckInterval = TimeSpan.FromSeconds(30) }, new HarnessStore(Activity: _store), _time);
    }

    // idle 300 s: a quarter is 75 s; the recorded activity's deadline is T0 + 300 s
    [Theory]
    [InlineData(null, 10, null, 10, true)] // nothing recorded yet
    [InlineData(0, 0, null, 10, false)] // nothing newer
    [InlineData(0, 74, null, 80, false)] // the store is ahead, by less than a quarter
    [InlineData(0, 75, null, 80, true)] // ... by a quarter
    [InlineData(0, 30, 30, 40, true)] // an annotation newer than the record: that write is paid for
    [InlineData(0, 30, 0, 40, false)] // an annotation no newer than the record
    [InlineData(0, 60, 600, 70, true)] // an annotation in the future counts as now: newer than the record
    [InlineData(200, 260, null, 500, true)] // the recorded deadline (T0 + 500 s) has come: status must not show a passed deadline
    public void Records_DecisionTable(int? recordedAt, int latestAt, int? annotatedAt, int nowAt, bool records)
    {
        // arrange
        var builder = new PreviewSandboxBuilder().WithIdleTimeout(300);
        if (annotatedAt is { } annotated)
        {
            builder.WithAnnotation(GroupVersion.HeartbeatAnnotation, Heartbeat.Format(Recorded.AddSeconds(annotated)));
        }

        var resource = builder.Build();
        DateTimeOffset? recorded = recordedAt is { } r ? Recorded.AddSeconds(r) : null;

        // act
        var result = SandboxActivity.Records(recorded, Recorded.AddSeconds(latestAt), resource, startedAt: Recorded, Recorded.AddSeconds(nowAt));

        // assert
        Assert.Equal(records, result);
    }

    [Fact]
    public async Task EditorOpen_HeartbeatsInTheStoreEvery5s_StatusMovesOncePerQuarterOfTheIdleTimeout()
    {
        // arrange
        await CreateRunningAsync();
        var writes = _h.Client.StatusWrites;

        // act: ten minutes of an open editor
        await HeartbeatsForAsync(600);

        // assert: every 90 s (the first 30 s check a quarter past the record), not at every 30 s check (20 writes)
        var status = _h.Get().Status!;
        Assert.Equal(Phases.Running, status.Phase);
        Assert.Equal(6, _h.Client.StatusWrites - writes);
        var recorded = SandboxSnapshot.ToOffset(status.LastActivityTime!.Value);
        Assert.InRange(_time.GetUtcNow() - recorded, TimeSpan.Zero, TimeSpan.FromSeconds(75));
        Assert.Equal(recorded.AddSeconds(300), SandboxSnapshot.ToOffset(status.IdleDeadline!.Value));
    }

    [Fact]
    public async Task EditorClosed_WithTheRecordBehind_TheWarningCarriesTheFreshestActivity_AndTheCutFollows()
    {
        // arrange: heartbeats for 100 s leave the record behind the store; the warning is 60 s before the cut
        await CreateRunningAsync();
        await HeartbeatsForAsync(100);
        var lastActivity = _time.GetUtcNow();
        Assert.True(SandboxSnapshot.ToOffset(_h.Get().Status!.LastActivityTime!.Value) < lastActivity);
        var writes = _h.Client.StatusWrites;

        // act: no more activity; each pass when its requeue falls due, until the cut
        for (var passes = 0; _h.Get().Status!.Phase == Phases.Running && passes < 50; passes++)
        {
            _time.Advance(_next - _time.GetUtcNow());
            _next = _time.GetUtcNow() + ((await _h.ReconcileAsync()).RequeueAfter ?? TimeSpan.FromHours(1));
        }

        // assert: the warning's write and the cut's, nothing between them; the cut came at the freshest deadline
        Assert.Equal(Phases.Expired, _h.Get().Status!.Phase);
        Assert.Equal(2, _h.Client.StatusWrites - writes);
        Assert.Equal(lastActivity.AddSeconds(300), _time.GetUtcNow());
    }

    /// <summary>A Running preview with idle 300 s, health checks every 30 s; heartbeats reach the store only (no annotation).</summary>
    private async Task CreateRunningAsync()
    {
        _h.Client.Create(new PreviewSandboxBuilder().WithIdleTimeout(300).Build());
        _next = _time.GetUtcNow() + (await _h.ReconcileAsync()).RequeueAfter!.Value;
    }

    /// <summary>A heartbeat into the store every 5 s for <paramref name="seconds"/>, each pass when its requeue falls due.</summary>
    private async Task HeartbeatsForAsync(int seconds)
    {
        for (var second = 5; second <= seconds; second += 5)
        {
            _time.Advance(TimeSpan.FromSeconds(5));
            await _store.RecordActivityAsync([(new PreviewKey("default", "demo"), _time.GetUtcNow())], default);
            if (_time.GetUtcNow() >= _next)
            {
                _next = _time.GetUtcNow() + (await _h.ReconcileAsync()).RequeueAfter!.Value;
            }
        }
    }

}
