using System.Diagnostics;
using System.Globalization;
using k8s;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Benchmarks;
using Midori.Operator.Controllers;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;
using Midori.Operator.Testing.E2E;
using Midori.Operator.Testing.Fakes;
using Midori.DevApiServer;

// Prints the README's figures. Usage: dotnet run -c Release --project benchmarks/Midori.Operator.Benchmarks [-- count=1000 expiry=200 workers=8]
var settings = args.Select(a => a.Split('=', 2)).Where(a => a.Length == 2).ToDictionary(a => a[0], a => a[1]);
if (args.Contains("upload"))
{
    await UploadBenchmark.RunAsync(settings); // provider upload figures: dotnet run -c Release --project benchmarks/Midori.Operator.Benchmarks -- upload
    return;
}

if (args.Contains("lifecycle"))
{
    await LifecycleBenchmark.RunAsync(settings); // time to Ready: cold create, warm claim, resume, recreate: dotnet run -c Release --project benchmarks/Midori.Operator.Benchmarks -- lifecycle
    return;
}

if (args.Contains("requests"))
{
    await RequestBudgetBenchmark.RunAsync(settings); // API-server requests per preview: dotnet run -c Release --project benchmarks/Midori.Operator.Benchmarks -- requests [count=100 idle=60 via=kubectl|api]
    return;
}

if (args.Contains("local-scale"))
{
    await LocalScaleBenchmark.RunAsync(settings); // threads, RSS and heap per running local preview: dotnet run -c Release --project benchmarks/Midori.Operator.Benchmarks -- local-scale [count=1000]
    return;
}

if (args.Contains("gateway"))
{
    await GatewayBenchmark.RunAsync(settings); // preview gateway figures: dotnet run -c Release --project benchmarks/Midori.Operator.Benchmarks -- gateway
    return;
}

var count = int.Parse(settings.GetValueOrDefault("count", "1000"), CultureInfo.InvariantCulture);
var expiryCount = int.Parse(settings.GetValueOrDefault("expiry", "200"), CultureInfo.InvariantCulture);
var workers = settings.GetValueOrDefault("workers", "8");

Console.WriteLine($"Midori Operator benchmarks — {Environment.ProcessorCount} cores, .NET {Environment.Version}, workers={workers}");

await using var server = await DevKubeApiServer.StartAsync();
await server.ApplyCrdAsync(RepositoryPaths.CrdFile);
var provider = new FakeSandboxProvider(TimeProvider.System);
var observer = new RecordingLifecycleObserver();
var counter = new ReconcileCounter();
var requests = new CountingHandler();
await using var host = await OperatorTestHost.StartAsync(server.CreateClientConfiguration(), new Dictionary<string, string?>
{
    ["Operator:Workers"] = workers,
    ["Operator:HealthCheckInterval"] = "00:05:00",
    ["Logging:LogLevel:Default"] = settings.GetValueOrDefault("log", "Error"),
}, services =>
{
    services.RemoveAll<IKubernetes>();
    services.AddSingleton<IKubernetes>(sp => RuntimeServiceCollectionExtensions.CreateKubernetesClient(sp, requests));
    services.RemoveAll<ISandboxProvider>();
    services.AddSingleton<ISandboxProvider>(provider);
    services.RemoveAll<IPreviewProbe>();
    services.AddSingleton<IPreviewProbe>(new FakePreviewProbe());
    services.AddSingleton<ISandboxLifecycleObserver>(observer);
    services.AddSingleton(counter);
    services.RemoveAll<IReconciler>();
    services.AddScoped<PreviewSandboxReconciler>();
    services.AddScoped<IReconciler>(sp => new CountingReconciler(sp.GetRequiredService<PreviewSandboxReconciler>(), counter));
});
using var client = new Kubernetes(server.CreateClientConfiguration());
var queueWaits = new System.Collections.Concurrent.ConcurrentQueue<double>();
var meter = host.Services.GetRequiredService<Midori.Operator.Diagnostics.MidoriMetrics>().Meter;
using var listener = new System.Diagnostics.Metrics.MeterListener
{
    InstrumentPublished = (instrument, l) =>
    {
        if (ReferenceEquals(instrument.Meter, meter) && instrument.Name == "midori.queue.wait")
        {
            l.EnableMeasurementEvents(instrument);
        }
    },
};
listener.SetMeasurementEventCallback<double>((_, seconds, _, _) => queueWaits.Enqueue(seconds * 1000));
listener.Start();
var requestsBefore = requests.Total;
var heapBefore = ForcedHeap();

// 1. Time for N PreviewSandboxes to reach Ready.
var ready = new TaskCompletionSource();
var readyCount = 0;
var submitted = new System.Collections.Concurrent.ConcurrentDictionary<string, TimeSpan>(StringComparer.Ordinal);
var timeToReady = new System.Collections.Concurrent.ConcurrentQueue<double>();
var sw = Stopwatch.StartNew();
observer.BecameReady += resource =>
{
    if (submitted.TryGetValue(resource.Metadata.Name, out var at))
    {
        timeToReady.Enqueue((sw.Elapsed - at).TotalMilliseconds);
    }

    if (Interlocked.Increment(ref readyCount) == count)
    {
        ready.TrySetResult();
    }
};
await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
{
    var psb = new PreviewSandboxBuilder().Named($"bench-{i:D5}").WithIdleTimeout(3600).WithTtl(7200).Build();
    submitted[psb.Metadata.Name] = sw.Elapsed;
    await client.CustomObjects.CreateNamespacedCustomObjectAsync(psb, GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural, cancellationToken: ct);
});
var created = sw.Elapsed;
await ready.Task.WaitAsync(TimeSpan.FromMinutes(5));
var toReady = sw.Elapsed;
var reconciles = counter.Count;
var heapAtReady = ForcedHeap();
var readyTimes = timeToReady.Order().ToArray();
Console.WriteLine($"ready:     {count} PreviewSandboxes Ready in {toReady.TotalSeconds:F2} s → {count / toReady.TotalSeconds:F0} sandboxes/s (creates submitted in {created.TotalSeconds:F2} s); "
    + $"time to Ready p50 {Percentile(readyTimes, 0.50):F0} ms, p99 {Percentile(readyTimes, 0.99):F0} ms; load average {RequestBudgetBenchmark.LoadAverage()}");
Console.WriteLine($"reconcile: {reconciles} reconciles in {toReady.TotalSeconds:F2} s → {reconciles / toReady.TotalSeconds:F0} reconciles/s ({(double)reconciles / count:F2} per sandbox); "
    + $"{(requests.Total - requestsBefore) / (double)count:F2} operator API requests per sandbox so far");
Console.WriteLine($"memory:    {(heapAtReady - heapBefore) / 1024.0 / count:F1} KiB managed heap per Ready preview (fake remote provider; includes the in-process test API server's copy of each object, Secret and Event)");
Console.WriteLine($"server:    {server.OpenWatchCount} watches open; requests the API server saw during the burst (all clients): "
    + string.Join(", ", server.Requests.Entries.GroupBy(r => $"{r.Method} {ServerResource(r)}{(r.Query.Contains("watch=", StringComparison.Ordinal) ? " (watch)" : "")}")
        .OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count()}")));
var burstWaits = queueWaits.Order().ToArray();
Console.WriteLine($"queue:     wait after due p50 {Percentile(burstWaits, 0.50):F0} ms, p99 {Percentile(burstWaits, 0.99):F0} ms (burst of {count})");

// 1b. Offered load: previews created at a steady rate; the queue wait must stay short (p99 < 1 s at 100/s).
var rate = int.Parse(settings.GetValueOrDefault("rate", "100"), CultureInfo.InvariantCulture);
var rateSeconds = int.Parse(settings.GetValueOrDefault("rateSeconds", "10"), CultureInfo.InvariantCulture);
queueWaits.Clear();
var offeredReady = new TaskCompletionSource();
var offeredTarget = count + rate * rateSeconds;
observer.BecameReady += _ =>
{
    if (Volatile.Read(ref readyCount) >= offeredTarget)
    {
        offeredReady.TrySetResult();
    }
};
timeToReady.Clear();
var pace = Stopwatch.StartNew();
var offered = 0;
var pending = new List<Task>();
while (offered < rate * rateSeconds)
{
    var due = (int)Math.Min(rate * rateSeconds, pace.Elapsed.TotalSeconds * rate);
    for (; offered < due; offered++)
    {
        var psb = new PreviewSandboxBuilder().Named($"paced-{offered:D5}").WithIdleTimeout(3600).WithTtl(7200).Build();
        submitted[psb.Metadata.Name] = sw.Elapsed;
        pending.Add(client.CustomObjects.CreateNamespacedCustomObjectAsync(psb, GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural));
    }

    await Task.Delay(10);
}
await Task.WhenAll(pending);
await offeredReady.Task.WaitAsync(TimeSpan.FromMinutes(5));
var offeredWaits = queueWaits.Order().ToArray();
var offeredReadyTimes = timeToReady.Order().ToArray();
Console.WriteLine($"offered:   {rate} previews/s for {rateSeconds} s (achieved {offered / pace.Elapsed.TotalSeconds:F0}/s): queue wait p50 {Percentile(offeredWaits, 0.50):F0} ms, p99 {Percentile(offeredWaits, 0.99):F0} ms; "
    + $"time to Ready p50 {Percentile(offeredReadyTimes, 0.50):F0} ms, p99 {Percentile(offeredReadyTimes, 0.99):F0} ms; load average {RequestBudgetBenchmark.LoadAverage()}");

// 2. Idle-expiry lateness: sandboxes with the minimum idle timeout, no heartbeats; lateness = expiry time − deadline.
var expiries = new TaskCompletionSource();
var expiredCount = 0;
observer.ExpiredAfter += (_, _) =>
{
    if (Interlocked.Increment(ref expiredCount) == expiryCount)
    {
        expiries.TrySetResult();
    }
};
var before = observer.ExpiryLateness.Count;
await Parallel.ForEachAsync(Enumerable.Range(0, expiryCount), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
{
    var psb = new PreviewSandboxBuilder().Named($"idle-{i:D5}").WithIdleTimeout(10).WithTtl(600).Build();
    await client.CustomObjects.CreateNamespacedCustomObjectAsync(psb, GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural, cancellationToken: ct);
});
try
{
    await expiries.Task.WaitAsync(TimeSpan.FromSeconds(60));
}
catch (TimeoutException)
{
    var queue = host.Services.GetRequiredService<ReconcileQueue>();
    var informer = host.Services.GetRequiredService<PreviewSandboxInformer>();
    Console.WriteLine($"stuck: expired {expiredCount}/{expiryCount}; queue in-flight {queue.InFlight}, pending {queue.Count}, due {queue.Depth}; informer rv {informer.LastResourceVersion}, server rv {server.CurrentResourceVersion}, open watches {server.OpenWatchCount}, reconciles {counter.Count}");
    var list = await client.CustomObjects.ListNamespacedCustomObjectAsync<V1Alpha1PreviewSandboxList>(GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural);
    foreach (var stuck in list.Items.Where(i => i.Metadata.Name.StartsWith("idle-", StringComparison.Ordinal) && i.Status?.Phase != Phases.Expired).Take(5))
    {
        Console.WriteLine($"not expired: {stuck.Metadata.Name} gen={stuck.Metadata.Generation} finalizers={string.Join(',', stuck.Metadata.Finalizers ?? [])} status={KubernetesJson.Serialize(stuck.Status)}");
    }

    throw;
}
var lateness = observer.ExpiryLateness.Skip(before).Select(l => l.TotalMilliseconds).Order().ToArray();
Console.WriteLine($"expiry:    {lateness.Length} idle expiries, lateness after deadline p50 {Percentile(lateness, 0.50):F1} ms, p99 {Percentile(lateness, 0.99):F1} ms, max {lateness[^1]:F1} ms");

// 3. Operator memory (whole benchmark process: operator + test API server + fakes).
GC.Collect();
GC.WaitForPendingFinalizers();
using var process = Process.GetCurrentProcess();
process.Refresh();
Console.WriteLine($"memory:    working set {process.WorkingSet64 / 1024.0 / 1024.0:F0} MiB, managed heap {GC.GetTotalMemory(false) / 1024.0 / 1024.0:F0} MiB with {count + rate * rateSeconds + expiryCount} PreviewSandboxes (includes the in-process API server)");

static long ForcedHeap()
{
    GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
    GC.WaitForPendingFinalizers();
    return GC.GetTotalMemory(forceFullCollection: true);
}

// The resource a request addressed, without namespace and name: enough to tell watches, lists and writes apart.
static string ServerResource(Midori.DevApiServer.RecordedRequest r)
{
    var parts = r.Path.Split('/', StringSplitOptions.RemoveEmptyEntries);
    var ns = Array.IndexOf(parts, "namespaces");
    return ns >= 0 && parts.Length > ns + 2 ? string.Join('/', parts.Skip(ns + 2).Where((_, i) => i != 1)) : parts.LastOrDefault() ?? "/";
}

static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
