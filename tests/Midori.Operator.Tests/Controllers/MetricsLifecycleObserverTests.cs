using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Diagnostics;
using Midori.Operator.Runtime;
using Midori.Operator.Testing.Builders;
using Midori.Operator.Tests.Diagnostics;
using Reasons = Midori.Operator.Api.V1Alpha1.PreviewSandboxConditions.Reasons;

namespace Midori.Operator.Tests.Controllers;

public sealed class MetricsLifecycleObserverTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly MidoriMetrics _metrics;
    private readonly MeterReader _reader;
    private readonly MetricsLifecycleObserver _observer;

    public MetricsLifecycleObserverTests()
    {
        _metrics = new MidoriMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        _reader = new MeterReader(_metrics.Meter);
        _observer = new MetricsLifecycleObserver(_metrics);
    }

    public static TheoryData<bool, string?, string> ReadyKinds => new()
    {
        { false, null, "create" },
        { true, RecreationReasons.IdleWake, "wake" },
        { true, RecreationReasons.Expired, "wake" },
        { true, RecreationReasons.Error, "recreate" },
        { true, RecreationReasons.Manual, "recreate" },
    };

    [Theory]
    [MemberData(nameof(ReadyKinds))]
    public void Ready_ByRecreationReason_TimeToReadyKind(bool recreated, string? reason, string kind)
    {
        // arrange
        var resource = new PreviewSandboxBuilder().Build();
        var status = new PreviewSandboxStatus { Provider = "e2b", LastRecreation = reason is null ? null : new RecreationRecord { Reason = reason } };

        // act
        _observer.Ready(resource, status, recreated, TimeSpan.FromSeconds(2));

        // assert
        Assert.Equal(1, _reader.Samples("midori.sandbox.time_to_ready", ("kind", kind), ("provider", "e2b")));
        Assert.Equal(2, _reader.Sum("midori.sandbox.time_to_ready", ("kind", kind), ("provider", "e2b")));
    }

    [Theory]
    [InlineData(Reasons.IdleExpired, "idle")]
    [InlineData(Reasons.TtlExpired, "ttl")]
    public void Expired_ConditionReason_CountedAsIdleOrTtl(string reason, string tag)
    {
        // act
        _observer.Expired(new PreviewSandboxBuilder().Build(), reason, TimeSpan.FromMilliseconds(3));

        // assert
        Assert.Equal(1, _reader.Sum("midori.sandbox.expiries", ("reason", tag)));
    }

    [Fact]
    public void RecreationCompleted_ReasonAndSuccess_Counted()
    {
        // arrange
        var resource = new PreviewSandboxBuilder().Build();

        // act
        _observer.RecreationCompleted(resource, new RecreationRecord { Reason = RecreationReasons.Error }, success: false, "boom", TimeSpan.FromSeconds(1));
        _observer.RecreationCompleted(resource, new RecreationRecord { Reason = RecreationReasons.Error }, success: true, null, TimeSpan.FromSeconds(1));
        _observer.RecreationCompleted(resource, new RecreationRecord { Reason = RecreationReasons.IdleWake }, success: true, null, TimeSpan.FromSeconds(1));

        // assert
        Assert.Equal(1, _reader.Sum("midori.sandbox.recreations", ("reason", "error"), ("success", "false")));
        Assert.Equal(1, _reader.Sum("midori.sandbox.recreations", ("reason", "error"), ("success", "true")));
        Assert.Equal(1, _reader.Sum("midori.sandbox.recreations", ("reason", "idle_wake"), ("success", "true")));
    }

    [Fact]
    public void Gauges_NoSourcesRegistered_ReportNothing_ThenReportEveryPhase()
    {
        // arrange / act
        var before = _reader.Gauge("midori.sandboxes", ("phase", Phases.Running));
        _metrics.ObserveSandboxPhases(() => new Dictionary<string, int> { [Phases.Running] = 3, [Phases.Expired] = 1 });
        _metrics.ObserveQueueDepth(() => 7);

        // assert
        Assert.Null(before);
        Assert.Equal(3, _reader.Gauge("midori.sandboxes", ("phase", Phases.Running)));
        Assert.Equal(1, _reader.Gauge("midori.sandboxes", ("phase", Phases.Expired)));
        Assert.Equal(0, _reader.Gauge("midori.sandboxes", ("phase", Phases.Failed)));
        Assert.Equal(7, _reader.Gauge("midori.queue.depth"));
    }

    [Fact]
    public void Queue_KeyHandedOutLate_WaitRecordedFromItsDueTime()
    {
        // arrange
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        using var queue = new ReconcileQueue(time, _metrics);
        queue.Add(new PreviewKey("ns", "a"));
        time.Advance(TimeSpan.FromMilliseconds(250));

        // act
        var key = queue.DequeueAsync(CancellationToken.None);

        // assert
        Assert.True(key.IsCompletedSuccessfully);
        Assert.Equal(1, _reader.Samples("midori.queue.wait"));
        Assert.Equal(0.25, _reader.Sum("midori.queue.wait"), 6);
        Assert.Equal(0, _reader.Gauge("midori.queue.depth"));
    }

    public void Dispose()
    {
        _reader.Dispose();
        _services.Dispose();
    }
}
