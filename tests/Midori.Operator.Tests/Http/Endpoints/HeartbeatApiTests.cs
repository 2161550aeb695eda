using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Http.Services;
using Midori.Operator.Kubernetes;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Persistence;
using static Midori.Operator.Tests.Http.ApiTestHost;

namespace Midori.Operator.Tests.Http.Endpoints;

/// <summary>Heartbeats: durable in the store at once, annotation at most once per idle/4 per preview, wake on Expired.</summary>
public sealed class HeartbeatApiTests : IAsyncLifetime
{
    private ApiTestHost _host = null!;
    private MeterListener _listener = null!;
    private long _received;
    private long _writes;

    public async Task InitializeAsync()
    {
        _host = await StartAsync();
        var meter = _host.Services.GetRequiredService<MidoriMetrics>().Meter;
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter, meter) && instrument.Name.StartsWith("midori.heartbeats.", StringComparison.Ordinal))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name == "midori.heartbeats.received")
            {
                Interlocked.Add(ref _received, value);
            }
            else
            {
                Interlocked.Add(ref _writes, value);
            }
        });
        _listener.Start();
    }

    public async Task DisposeAsync()
    {
        _listener.Dispose();
        await _host.DisposeAsync();
    }

    private async Task<JsonNode> HeartbeatAsync(HttpClient client, string name)
    {
        var response = await client.PostAsync($"{Previews(TeamA)}/{name}/heartbeat", content: null);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!;
    }

    [Fact]
    public async Task Heartbeat_IsDurableInTheStoreAtOnce_AndAnnotatesTheFirstTime()
    {
        var name = (string)(await _host.CreateReadyAsync(TeamA, "hb-first", TextFile("index.html", "x")))["name"]!;
        using var client = _host.Client();
        var now = _host.Time.GetUtcNow();

        var body = await HeartbeatAsync(client, name);

        Assert.True((bool)body["annotationWritten"]!);
        Assert.Equal(now.AddSeconds(300), DateTimeOffset.Parse((string)body["idleDeadline"]!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(now, await _host.Store.GetLastActivityAsync(new PreviewKey(TeamA, name), CancellationToken.None));
        var resource = await _host.GetResourceAsync(TeamA, name);
        Assert.Equal(Heartbeat.Format(now), resource.Metadata.Annotations[GroupVersion.HeartbeatAnnotation]);
        Assert.Equal((1, 1), (Interlocked.Read(ref _received), Interlocked.Read(ref _writes)));
    }

    [Fact]
    public async Task ManyHeartbeats_WriteTheAnnotationAtMostOncePerQuarterOfTheIdleTimeout()
    {
        var name = (string)(await _host.CreateReadyAsync(TeamA, "hb-throttle", TextFile("index.html", "x")))["name"]!;
        using var client = _host.Client();
        var idle = TimeSpan.FromSeconds(300);
        var step = TimeSpan.FromSeconds(5);
        var start = _host.Time.GetUtcNow();
        var annotations = new List<string>();

        for (var i = 0; i < 60; i++)
        {
            // A burst of concurrent heartbeats (several tabs), then 5 s of silence.
            var bodies = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => HeartbeatAsync(client, name)));
            Assert.True(bodies.Count(b => (bool)b["annotationWritten"]!) <= 1);
            var resource = await _host.GetResourceAsync(TeamA, name);
            annotations.Add(resource.Metadata.Annotations[GroupVersion.HeartbeatAnnotation]);
            _host.Time.Advance(step);
        }

        var elapsed = _host.Time.GetUtcNow() - start;
        var allowed = (int)Math.Ceiling(elapsed / (idle / 4)) + 1;
        var writes = Interlocked.Read(ref _writes);
        Assert.Equal(240, Interlocked.Read(ref _received));
        Assert.InRange(writes, allowed - 1, allowed);
        Assert.Equal(writes, annotations.Distinct().Count());

        // Never two writes closer than idle/4.
        var times = annotations.Distinct().Select(a => DateTimeOffset.Parse(a, System.Globalization.CultureInfo.InvariantCulture)).Order().ToList();
        Assert.All(times.Zip(times.Skip(1)), pair => Assert.True(pair.Second - pair.First >= idle / 4, $"{pair.First} → {pair.Second}"));

        // Every heartbeat is still recorded: the store has the latest.
        Assert.Equal(start + (59 * step), await _host.Store.GetLastActivityAsync(new PreviewKey(TeamA, name), CancellationToken.None));
        Assert.True(_host.Store.ActivityBatches <= 240);
    }

    [Fact]
    public async Task Heartbeat_OnAnExpiredPreview_WritesTheAnnotationAtOnce_AndWakesIt()
    {
        using var client = _host.Client();
        var response = await client.PostAsJsonAsync($"{Previews(TeamA)}?wait=true&timeoutSeconds=30",
            new { projectId = "hb-wake", idleTimeoutSeconds = 10, files = new[] { TextFile("index.html", "x") } });
        var name = (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["name"]!;
        await HeartbeatAsync(client, name);

        // Silence past the idle timeout: the reconciler's timer fires and the preview expires.
        _host.Time.Advance(TimeSpan.FromSeconds(11));
        var expired = await WaitForExpiredAsync(name);

        Assert.NotNull(expired);
        var endedAt = PreviewStatusMapper.ToOffset(expired!.Status!.EndedAt)!.Value;

        _host.Time.Advance(TimeSpan.FromMilliseconds(500));

        var body = await HeartbeatAsync(client, name);

        Assert.True((bool)body["annotationWritten"]!);
        Assert.True((bool)body["waking"]!);
        Assert.Equal(2, Interlocked.Read(ref _writes));
        var woken = await _host.WaitForAsync(TeamA, name, PreviewStatusMapper.IsReady);
        Assert.Equal(RecreationReasons.IdleWake, woken!.Status!.LastRecreation!.Reason);
    }

    [Theory]
    [InlineData(Phases.Running, false)]
    [InlineData(Phases.Expired, true)]
    [InlineData(Phases.Paused, true)]
    public void IsDue_RightAfterTheSandboxEnded_OnlyWhenNothingServes(string phase, bool due)
    {
        // arrange: the last annotation a second old (well inside idle/4), the sandbox ended after it
        var service = _host.Services.GetRequiredService<HeartbeatService>();
        var now = _host.Time.GetUtcNow();
        var resource = new Midori.Operator.Testing.Builders.PreviewSandboxBuilder().Named("hb-due").WithIdleTimeout(600).Build();
        resource.Metadata.NamespaceProperty = TeamA;
        resource.Metadata.Annotations = new Dictionary<string, string> { [GroupVersion.HeartbeatAnnotation] = Heartbeat.Format(now.AddSeconds(-2)) };
        resource.Status = new PreviewSandboxStatus { Phase = phase, EndedAt = now.AddSeconds(-1).UtcDateTime };

        // act
        var isDue = service.IsDue(new PreviewKey(TeamA, "hb-due"), resource, now);

        // assert: an Expired or a Paused preview is woken by the first heartbeat after it ended, not a quarter later
        Assert.Equal(due, isDue);
    }

    [Fact]
    public async Task Heartbeat_WhileOtherWritesKeepMovingTheObject_StillWritesTheAnnotation()
    {
        // arrange: before each of the next 3 conditional annotation patches, another write lands on the object (as the
        // reconciler's status write for this very activity does), so each patch meets a newer resourceVersion
        RacingWritesClient racing = null!;
        await using var host = await StartAsync(configureServices: services =>
        {
            services.RemoveAll<IPreviewSandboxClient>();
            services.AddSingleton<IPreviewSandboxClient>(sp => racing = new RacingWritesClient(new KubernetesPreviewSandboxClient(sp.GetRequiredService<IKubernetes>())));
        });
        var name = (string)(await host.CreateReadyAsync(TeamA, "hb-racing", TextFile("index.html", "x")))["name"]!;
        using var client = host.Client();
        racing.RacingWrites = 3;

        // act
        var body = await HeartbeatAsync(client, name);

        // assert
        Assert.True((bool)body["annotationWritten"]!, body.ToJsonString());
        Assert.Equal(0, racing.RacingWrites);
        var resource = await host.GetResourceAsync(TeamA, name);
        Assert.Equal(Heartbeat.Format(host.Time.GetUtcNow()), resource.Metadata.Annotations[GroupVersion.HeartbeatAnnotation]);
    }

    [Fact]
    public async Task WholeSecondHeartbeat_InTheSameSecondAsTheExpiry_WakesIt()
    {
        // arrange: an expired preview whose endedAt has a sub-second part
        using var client = _host.Client();
        var start = _host.Time.GetUtcNow();
        _host.Time.SetUtcNow(new DateTimeOffset(start.Year, start.Month, start.Day, start.Hour, start.Minute, start.Second, TimeSpan.Zero).AddSeconds(1).AddMilliseconds(100));
        var response = await client.PostAsJsonAsync($"{Previews(TeamA)}?wait=true&timeoutSeconds=30",
            new { projectId = "hb-whole-second", idleTimeoutSeconds = 10, files = new[] { TextFile("index.html", "x") } });
        var name = (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["name"]!;
        _host.Time.Advance(TimeSpan.FromSeconds(10.5));
        var expired = await WaitForExpiredAsync(name);

        Assert.NotNull(expired);
        var endedAt = PreviewStatusMapper.ToOffset(expired!.Status!.EndedAt)!.Value;
        var wholeSecond = new DateTimeOffset(endedAt.Year, endedAt.Month, endedAt.Day, endedAt.Hour, endedAt.Minute, endedAt.Second, TimeSpan.Zero);
        Assert.True(wholeSecond < endedAt, $"endedAt {endedAt:O} has no sub-second part");

        // act: what `kubectl annotate … heartbeat=$(date -u +%FT%TZ)` writes in that same second
        await _host.AnnotateAsync(TeamA, name, GroupVersion.HeartbeatAnnotation, wholeSecond.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture));

        // assert
        var woken = await _host.WaitForAsync(TeamA, name, PreviewStatusMapper.IsReady);
        Assert.Equal(RecreationReasons.IdleWake, woken!.Status!.LastRecreation!.Reason);
        Assert.Null(woken.Status.HeartbeatAtExpiry);
    }

    [Fact]
    public async Task InvalidHeartbeat_IsReportedOnTheResource_WithAnEventAndInTheReadyMessage()
    {
        // arrange
        var name = (string)(await _host.CreateReadyAsync(TeamA, "hb-invalid", TextFile("index.html", "x")))["name"]!;

        // act
        await _host.AnnotateAsync(TeamA, name, GroupVersion.HeartbeatAnnotation, "now");

        // assert
        var reported = await _host.WaitForAsync(TeamA, name, r => r?.Status?.Conditions?.FirstOrDefault(c => c.Type == "Ready")?.Message?.Contains("\"now\"", StringComparison.Ordinal) == true);
        Assert.Contains("not an RFC 3339 time", reported!.Status!.Conditions!.First(c => c.Type == "Ready").Message, StringComparison.Ordinal);
        // bounded poll of observable state: the event sender posts in the background
        using var deadline = new CancellationTokenSource(Midori.Operator.Testing.TestWaits.Bound);
        var events = await _host.Kubernetes.CoreV1.ListNamespacedEventAsync(TeamA);
        while (!events.Items.Any(e => e.Reason == "InvalidHeartbeat" && e.InvolvedObject.Name == name) && !deadline.IsCancellationRequested)
        {
            await Task.Delay(50);
            events = await _host.Kubernetes.CoreV1.ListNamespacedEventAsync(TeamA);
        }

        Assert.Contains(events.Items, e => e.Reason == "InvalidHeartbeat" && e.Type == "Warning" && e.Message.Contains("\"now\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Heartbeat_ForAMissingPreview_Is404()
    {
        using var client = _host.Client();
        await PreviewApiTests.AssertProblemAsync(await client.PostAsync($"{Previews(TeamA)}/missing/heartbeat", null), HttpStatusCode.NotFound, "does not exist");
    }

    /// <summary>Lands an unrelated annotation write right before each of the next <see cref="RacingWrites"/> conditional patches.</summary>
    private sealed class RacingWritesClient(IPreviewSandboxClient inner) : IPreviewSandboxClient
    {
        private int _racingWrites;

        public int RacingWrites { get => Volatile.Read(ref _racingWrites); set => Volatile.Write(ref _racingWrites, value); }

        public async Task<V1Alpha1PreviewSandbox?> PatchAnnotationsIfMatchAsync(string @namespace, string name, string resourceVersion,
            IReadOnlyDictionary<string, string?> annotations, CancellationToken cancellationToken)
        {
            var left = Interlocked.Decrement(ref _racingWrites);
            if (left >= 0)
            {
                await inner.PatchAnnotationsAsync(@namespace, name, new Dictionary<string, string?> { ["test.midori.dev/racing-write"] = left.ToString(System.Globalization.CultureInfo.InvariantCulture) }, cancellationToken);
            }
            else
            {
                Interlocked.Exchange(ref _racingWrites, 0);
            }

            return await inner.PatchAnnotationsIfMatchAsync(@namespace, name, resourceVersion, annotations, cancellationToken);
        }

        public Task<V1Alpha1PreviewSandbox?> GetAsync(string @namespace, string name, CancellationToken cancellationToken) => inner.GetAsync(@namespace, name, cancellationToken);

        public Task<PreviewSandboxPage> ListAsync(string? @namespace, string? continueToken, CancellationToken cancellationToken) => inner.ListAsync(@namespace, continueToken, cancellationToken);

        public IAsyncEnumerable<PreviewSandboxWatchEvent> WatchAsync(string? @namespace, string resourceVersion, TimeSpan timeout, CancellationToken cancellationToken) =>
            inner.WatchAsync(@namespace, resourceVersion, timeout, cancellationToken);

        public Task<V1Alpha1PreviewSandbox> PatchStatusAsync(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, CancellationToken cancellationToken) =>
            inner.PatchStatusAsync(resource, status, cancellationToken);

        public Task<V1Alpha1PreviewSandbox> SetFinalizersAsync(V1Alpha1PreviewSandbox resource, IList<string> finalizers, CancellationToken cancellationToken) =>
            inner.SetFinalizersAsync(resource, finalizers, cancellationToken);

        public Task<V1Alpha1PreviewSandbox> PatchAnnotationsAsync(string @namespace, string name, IReadOnlyDictionary<string, string?> annotations, CancellationToken cancellationToken) =>
            inner.PatchAnnotationsAsync(@namespace, name, annotations, cancellationToken);

        public Task<V1ConfigMap?> GetConfigMapAsync(string @namespace, string name, CancellationToken cancellationToken) => inner.GetConfigMapAsync(@namespace, name, cancellationToken);

        public Task ApplyTokenSecretAsync(V1Alpha1PreviewSandbox owner, string secretName, string key, string token, CancellationToken cancellationToken) =>
            inner.ApplyTokenSecretAsync(owner, secretName, key, token, cancellationToken);

        public Task<V1Alpha1PreviewSandbox> CreateAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken) => inner.CreateAsync(resource, cancellationToken);

        public Task<bool> DeleteAsync(string @namespace, string name, CancellationToken cancellationToken) => inner.DeleteAsync(@namespace, name, cancellationToken);

        public Task<V1Alpha1PreviewSandbox?> PatchSpecAsync(string @namespace, string name, JsonObject specPatch, CancellationToken cancellationToken) =>
            inner.PatchSpecAsync(@namespace, name, specPatch, cancellationToken);

        public Task<bool> DeleteIfUnchangedAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken) => inner.DeleteIfUnchangedAsync(resource, cancellationToken);

        public Task<string?> ReadSecretValueAsync(string @namespace, string name, string key, CancellationToken cancellationToken) =>
            inner.ReadSecretValueAsync(@namespace, name, key, cancellationToken);
    }

    // A reconcile still running when the clock jumps may requeue itself a moment later on the fake clock: nudge it on.
    private async Task<V1Alpha1PreviewSandbox?> WaitForExpiredAsync(string name)
    {
        for (var nudge = 0; nudge < 50; nudge++)
        {
            var (resource, matched) = await _host.TryWaitForAsync(TeamA, name, r => r?.Status?.Phase == Phases.Expired, TimeSpan.FromSeconds(1));
            if (matched)
            {
                return resource;
            }

            _host.Time.Advance(TimeSpan.FromMilliseconds(100));
        }

        return null;
    }
}
