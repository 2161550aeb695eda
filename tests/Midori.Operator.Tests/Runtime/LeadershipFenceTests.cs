using System.Reflection;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Kubernetes;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;

namespace Midori.Operator.Tests.Runtime;

public sealed class LeadershipFenceTests : IDisposable
{
    private static readonly TimeSpan Validity = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly LeadershipFence _fence;
    private int _lapses;

    public LeadershipFenceTests()
    {
        _fence = new LeadershipFence(_time);
        _fence.Lapsed += () => Interlocked.Increment(ref _lapses);
    }

    public void Dispose() => _fence.Dispose();

    [Fact]
    public void EnsureHeld_RenewalYoungerThanValidity_Passes_ThenLapsesExactlyAtTheValidityAndReportsOnce()
    {
        // arrange
        _fence.Renewed(_time.GetTimestamp(), _time.GetUtcNow(), Validity);
        _fence.Open();

        // act
        _time.Advance(Validity - TimeSpan.FromMilliseconds(1));
        var heldJustBefore = _fence.IsHeld;
        _fence.EnsureHeld("patch status");
        _time.Advance(TimeSpan.FromMilliseconds(1));
        var heldAt = _fence.IsHeld;
        var refused = Assert.Throws<LeadershipLapsedException>(() => _fence.EnsureHeld("delete sandbox x"));
        Assert.Throws<LeadershipLapsedException>(() => _fence.EnsureHeld("patch status"));

        // assert
        Assert.True(heldJustBefore);
        Assert.False(heldAt);
        Assert.Equal("delete sandbox x", refused.Action);
        Assert.IsAssignableFrom<OperationCanceledException>(refused);
        Assert.Equal(1, Volatile.Read(ref _lapses)); // the timer reported it; the refusals did not report it again
    }

    [Fact]
    public void Renewed_BeforeTheFenceRunsOut_ExtendsItFromTheNewRenewal()
    {
        // arrange
        _fence.Renewed(_time.GetTimestamp(), _time.GetUtcNow(), Validity);
        _fence.Open();

        // act
        _time.Advance(TimeSpan.FromSeconds(8));
        _fence.Renewed(_time.GetTimestamp(), _time.GetUtcNow(), Validity);
        _time.Advance(TimeSpan.FromSeconds(8));
        var heldAfterSixteen = _fence.IsHeld;
        _time.Advance(TimeSpan.FromSeconds(2));

        // assert
        Assert.True(heldAfterSixteen);
        Assert.False(_fence.IsHeld);
        Assert.Equal(1, Volatile.Read(ref _lapses));
    }

    [Fact]
    public void Renewed_AnchoredAtTheMomentTheWriteWasSent_NotWhenItsAnswerArrived()
    {
        // arrange: the renewal request takes 3 s to come back
        var sent = _time.GetTimestamp();
        var sentWall = _time.GetUtcNow();
        _time.Advance(TimeSpan.FromSeconds(3));
        _fence.Renewed(sent, sentWall, Validity);
        _fence.Open();

        // act
        _time.Advance(TimeSpan.FromSeconds(7));

        // assert
        Assert.False(_fence.IsHeld);
    }

    [Fact]
    public void Renewed_AnOlderRenewalCompletingLate_DoesNotReplaceANewerOne()
    {
        // arrange
        var older = _time.GetTimestamp();
        var olderWall = _time.GetUtcNow();
        _time.Advance(TimeSpan.FromSeconds(2));
        _fence.Renewed(_time.GetTimestamp(), _time.GetUtcNow(), Validity);
        _fence.Open();

        // act
        _fence.Renewed(older, olderWall, Validity);
        _time.Advance(TimeSpan.FromSeconds(9));

        // assert
        Assert.True(_fence.IsHeld);
    }

    [Fact]
    public void Close_FreshRenewal_NotHeldAndNoLapseReported()
    {
        // arrange
        _fence.Renewed(_time.GetTimestamp(), _time.GetUtcNow(), Validity);
        _fence.Open();

        // act
        _fence.Close();
        _time.Advance(Validity);

        // assert
        Assert.False(_fence.IsHeld);
        Assert.Throws<LeadershipLapsedException>(() => _fence.EnsureHeld("patch status"));
        Assert.Equal(0, Volatile.Read(ref _lapses)); // leadership was given up, nothing to report
    }

    [Fact]
    public void Open_WithoutAnyRenewal_NotHeld()
    {
        // act
        _fence.Open();

        // assert
        Assert.False(_fence.IsHeld);
    }

    [Fact]
    public void OpenUnbounded_ElectionOff_HeldWhateverTheTimeUntilClosed()
    {
        // act
        _fence.OpenUnbounded();
        _time.Advance(TimeSpan.FromDays(3));
        var held = _fence.IsHeld;
        _fence.Close();

        // assert
        Assert.True(held);
        Assert.False(_fence.IsHeld);
    }

    [Fact]
    public void Elapsed_WallClockSteppedBack_DoesNotExtendTheFence()
    {
        // arrange
        var clock = new SplitClock();
        using var fence = new LeadershipFence(clock);
        fence.Renewed(clock.GetTimestamp(), clock.GetUtcNow(), Validity);
        fence.Open();

        // act: 11 s pass on the monotonic clock while the wall clock is stepped back by an hour
        clock.AdvanceMonotonic(TimeSpan.FromSeconds(11));
        clock.Wall -= TimeSpan.FromHours(1);

        // assert
        Assert.False(fence.IsHeld);
    }

    [Fact]
    public void Elapsed_HostSuspended_WallClockCountsWhatTheMonotonicClockMissed()
    {
        // arrange
        var clock = new SplitClock();
        using var fence = new LeadershipFence(clock);
        fence.Renewed(clock.GetTimestamp(), clock.GetUtcNow(), Validity);
        fence.Open();

        // act: the VM was suspended for a minute (wall clock moved, monotonic barely)
        clock.AdvanceMonotonic(TimeSpan.FromSeconds(1));
        clock.Wall += TimeSpan.FromMinutes(1);

        // assert
        Assert.False(fence.IsHeld);
    }

    [Fact]
    public void FencedSandboxProvider_FenceLapsed_EveryMutatingCallRefusedBeforeReachingTheProvider_ReadsPass()
    {
        // arrange
        var (inner, calls) = RecordingProxy<ISandboxProvider>.Create();
        var fenced = new FencedSandboxProvider(inner, _fence);

        // act
        var refused = CallEveryMethod(fenced, typeof(ISandboxProvider));

        // assert
        string[] writes = ["CreateAsync", "UploadFilesAsync", "DeleteFilesAsync", "StartAsync", "ExtendAsync", "DeleteAsync", "PauseAsync", "ResumeAsync", "ArchiveAsync"];
        Assert.Equal(string.Join(",", writes.Order(StringComparer.Ordinal)), string.Join(",", refused.Order(StringComparer.Ordinal)));
        Assert.Equal("GetAsync,GetFileManifestAsync,GetPreviewAsync,ListAsync,get_Capabilities", string.Join(",", calls.Order(StringComparer.Ordinal)));
    }

    [Fact]
    public void FencedPreviewSandboxClient_FenceLapsed_EveryWriteRefusedBeforeReachingTheApiServer_ReadsPass()
    {
        // arrange
        var (inner, calls) = RecordingProxy<IPreviewSandboxClient>.Create();
        var fenced = new FencedPreviewSandboxClient(inner, _fence);

        // act
        var refused = CallEveryMethod(fenced, typeof(IPreviewSandboxClient));

        // assert
        string[] reads = ["GetAsync", "GetConfigMapAsync", "ListAsync", "ReadSecretValueAsync", "WatchAsync"];
        Assert.Equal(string.Join(",", reads), string.Join(",", calls.Order(StringComparer.Ordinal)));
        Assert.Equal(string.Join(",", typeof(IPreviewSandboxClient).GetMethods().Select(m => m.Name).Except(reads).Order(StringComparer.Ordinal)),
            string.Join(",", refused.Order(StringComparer.Ordinal)));
    }

    [Fact]
    public void FencedSeams_FenceHeld_EveryCallReachesTheInnerSeam()
    {
        // arrange
        _fence.OpenUnbounded();
        var (provider, providerCalls) = RecordingProxy<ISandboxProvider>.Create();
        var (client, clientCalls) = RecordingProxy<IPreviewSandboxClient>.Create();

        // act
        var refused = CallEveryMethod(new FencedSandboxProvider(provider, _fence), typeof(ISandboxProvider))
            .Concat(CallEveryMethod(new FencedPreviewSandboxClient(client, _fence), typeof(IPreviewSandboxClient))).ToList();

        // assert
        Assert.Empty(refused);
        Assert.Equal(string.Join(",", typeof(ISandboxProvider).GetMethods().Select(m => m.Name).Where(n => n != "get_Name").Order(StringComparer.Ordinal)), string.Join(",", providerCalls.Order(StringComparer.Ordinal)));
        Assert.Equal(string.Join(",", typeof(IPreviewSandboxClient).GetMethods().Select(m => m.Name).Order(StringComparer.Ordinal)), string.Join(",", clientCalls.Order(StringComparer.Ordinal)));
    }

    /// <summary>Calls every method of <paramref name="contract"/> on <paramref name="target"/>; returns those the fence refused.</summary>
    private static List<string> CallEveryMethod(object target, Type contract)
    {
        var refused = new List<string>();
        foreach (var method in contract.GetMethods())
        {
            var args = method.GetParameters().Select(p => p.ParameterType == typeof(string) ? "x" : p.ParameterType.IsValueType ? Activator.CreateInstance(p.ParameterType) : null).ToArray();
            try
            {
                method.Invoke(target, args);
            }
            catch (TargetInvocationException ex) when (ex.InnerException is LeadershipLapsedException)
            {
                refused.Add(method.Name);
            }
        }

        return refused;
    }

    /// <summary>Records which members were called; answers with defaults.</summary>
    public class RecordingProxy<T> : DispatchProxy
        where T : class
    {
        private List<string> _calls = [];

        public static (T Proxy, List<string> Calls) Create()
        {
            var proxy = DispatchProxy.Create<T, RecordingProxy<T>>();
            var recording = (RecordingProxy<T>)(object)proxy;
            return (proxy, recording._calls);
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            if (targetMethod!.Name != "get_Name") // the decorators read the provider's name for their messages
            {
                _calls.Add(targetMethod.Name);
            }

            return targetMethod.ReturnType.IsValueType && targetMethod.ReturnType != typeof(void) ? Activator.CreateInstance(targetMethod.ReturnType) : null;
        }
    }

    /// <summary>A clock whose wall and monotonic readings move independently.</summary>
    private sealed class SplitClock : TimeProvider
    {
        private long _ticks = 1_000_000;

        public DateTimeOffset Wall { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override DateTimeOffset GetUtcNow() => Wall;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void AdvanceMonotonic(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
