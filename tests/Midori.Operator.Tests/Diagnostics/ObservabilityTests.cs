using System.Diagnostics;
using System.Net;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Diagnostics.Telemetry;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;
using Midori.Operator.Testing.E2E;
using Midori.DevApiServer;
using OpenTelemetry.Trace;

namespace Midori.Operator.Tests.Diagnostics;

/// <summary>The real operator host against the test API server with the local provider: what /metrics and the meter report.</summary>
[Trait("Category", "Observability")]
[Collection(ProcessWideMetricsCollection.Name)]
public sealed class ObservabilityTests : IAsyncLifetime
{
    private const string Namespace = "midori-metrics";
    private static readonly TimeSpan Bound = TestWaits.Bound;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "midori-metrics-" + Guid.NewGuid().ToString("N")[..8]);
    private DevKubeApiServer _server = null!;
    private IKubernetes _client = null!;

    public async Task InitializeAsync()
    {
        _server = await DevKubeApiServer.StartAsync();
        await _server.ApplyCrdAsync(RepositoryPaths.CrdFile);
        _client = new k8s.Kubernetes(_server.CreateClientConfiguration());
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task Metrics_CreateThenManualRecreate_RecordedOnTheMeterAndServedInPrometheusFormat()
    {
        // arrange
        await using var host = await StartHostAsync();
        using var meter = new MeterReader(host.Services.GetRequiredService<MidoriMetrics>().Meter);
        var resource = new PreviewSandboxBuilder().Named("metrics-demo", Namespace).Build();

        // act: create → Ready, then a manual recreate → Ready again
        await _client.CustomObjects.CreateNamespacedCustomObjectAsync(resource, GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural);
        var first = await WaitForAsync("metrics-demo", IsReady, "Ready");
        await _client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(KubernetesJson.Serialize(new { metadata = new { annotations = new Dictionary<string, string> { [GroupVersion.RecreateAnnotation] = "1" } } }), V1Patch.PatchType.MergePatch),
            GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural, "metrics-demo");
        await WaitForAsync("metrics-demo", p => IsReady(p) && p!.Status!.SandboxId != first.Status!.SandboxId, "Ready with a new sandbox");
        using var http = new HttpClient();
        var response = await http.GetAsync(new Uri(host.BaseAddress, "/metrics"));
        var text = await response.Content.ReadAsStringAsync();

        // assert: the host's own meter
        Assert.True(meter.Sum("midori.reconcile.count", ("result", "success")) >= 2);
        Assert.True(meter.Samples("midori.reconcile.duration", ("result", "success")) >= 2);
        Assert.True(meter.Samples("midori.queue.wait") >= 2);
        Assert.Equal(1, meter.Samples("midori.sandbox.time_to_ready", ("kind", "create"), ("provider", "local")));
        Assert.Equal(1, meter.Samples("midori.sandbox.time_to_ready", ("kind", "recreate"), ("provider", "local")));
        Assert.Equal(1, meter.Sum("midori.sandbox.recreations", ("reason", "manual"), ("success", "true")));
        Assert.Equal(1, meter.Gauge("midori.sandboxes", ("phase", Phases.Running)));
        Assert.Equal(0, meter.Gauge("midori.sandboxes", ("phase", Phases.Expired)));
        Assert.Equal(1, meter.Gauge("midori.leader"));
        Assert.NotNull(meter.Gauge("midori.queue.depth"));

        // assert: the scrape is valid text format and carries the families dashboards use
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        var scrape = PrometheusText.Parse(text);
        foreach (var (family, type) in new[]
        {
            ("midori_reconcile_count_total", "counter"), ("midori_reconcile_duration_seconds", "histogram"),
            ("midori_queue_wait_seconds", "histogram"), ("midori_queue_depth", "gauge"), ("midori_sandboxes", "gauge"),
            ("midori_leader", "gauge"), ("midori_sandbox_time_to_ready_seconds", "histogram"), ("midori_sandbox_recreations_total", "counter"),
        })
        {
            Assert.True(scrape.Types.TryGetValue(family, out var declared), $"{family} missing from /metrics");
            Assert.Equal(type, declared);
        }

        Assert.Contains(scrape.Find("midori_sandboxes", ("phase", Phases.Running)), s => s.Value >= 1);
        Assert.Contains(scrape.Find("midori_sandbox_time_to_ready_seconds_count", ("kind", "create"), ("provider", "local")), s => s.Value >= 1);
    }

    [Fact]
    public async Task Tracing_OffByDefault_OtlpWhenConfigured()
    {
        // arrange / act
        await using var plain = await StartHostAsync();
        await using var traced = await StartHostAsync(new() { ["Telemetry:TracingExporter"] = "Otlp", ["Telemetry:OtlpEndpoint"] = "http://127.0.0.1:4317" });

        // assert
        Assert.Null(plain.Services.GetService<TracerProvider>());
        Assert.NotNull(traced.Services.GetService<TracerProvider>());
    }

    [Fact]
    public async Task Tracing_Reconcile_SpansForReconcileAndEachProviderCall()
    {
        // arrange
        var spans = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == MidoriTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                lock (spans)
                {
                    spans.Add(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using var host = await StartHostAsync();
        var resource = new PreviewSandboxBuilder().Named("traced", Namespace).Build();

        // act
        await _client.CustomObjects.CreateNamespacedCustomObjectAsync(resource, GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural);
        await WaitForAsync("traced", IsReady, "Ready");

        // assert: a reconcile span of this object is the parent of provider spans (other tests' spans are filtered out by namespace)
        List<Activity> mine;
        lock (spans)
        {
            mine = [.. spans];
        }

        var reconciles = mine.Where(a => a.OperationName == "reconcile PreviewSandbox" && (string?)a.GetTagItem("k8s.namespace.name") == Namespace).ToList();
        Assert.Contains(reconciles, r => (string?)r.GetTagItem("midori.reconcile.result") == ReconcileOutcomes.Success);
        var providerCalls = mine.Where(a => reconciles.Any(r => r.SpanId == a.ParentSpanId) && a.OperationName.StartsWith("provider ", StringComparison.Ordinal)).ToList();
        Assert.Contains(providerCalls, a => a.OperationName == "provider create" && (string?)a.GetTagItem("midori.provider") == "local");
        Assert.Contains(providerCalls, a => a.OperationName == "provider upload_files");
    }

    private Task<OperatorTestHost> StartHostAsync(Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Operator:WatchNamespace"] = Namespace,
            ["Providers:Local:RootDirectory"] = _root,
        };
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }

        return OperatorTestHost.StartAsync(_server.CreateClientConfiguration(), settings);
    }

    private static bool IsReady(V1Alpha1PreviewSandbox? p) =>
        p?.Status?.Conditions?.FirstOrDefault(c => c.Type == PreviewSandboxConditions.Ready)?.Status == "True";

    /// <summary>Bounded poll of observable state (the e2e pattern).</summary>
    private async Task<V1Alpha1PreviewSandbox> WaitForAsync(string name, Func<V1Alpha1PreviewSandbox?, bool> condition, string what)
    {
        using var cts = new CancellationTokenSource(Bound);
        V1Alpha1PreviewSandbox? current = null;
        try
        {
            while (true)
            {
                current = await _client.CustomObjects.GetNamespacedCustomObjectAsync<V1Alpha1PreviewSandbox>(
                    GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural, name, cts.Token);
                if (condition(current))
                {
                    return current;
                }

                await Task.Delay(50, cts.Token);
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"Timed out waiting for {what}; last status {KubernetesJson.Serialize(current?.Status)}");
        }
    }
}

/// <summary>
/// The OpenTelemetry exporter listens to every meter named "Midori.Operator" in the process, so a scrape taken while
/// another test's host records would mix that host's series into this one's (duplicate series, non-cumulative
/// buckets). Production runs one host per process; these tests get the process to themselves.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideMetricsCollection
{
    public const string Name = "Process-wide metrics";
}
