using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Controllers;
using Midori.Operator.Diagnostics;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using Midori.Operator.Testing;
using Midori.Operator.Testing.E2E;
using Midori.Operator.Testing.Fakes;
using Midori.DevApiServer;
using Midori.DevStack.Store;
using Midori.Operator.Api.V1Alpha1;

// Prints the HTTP API's figures. Usage:
//   dotnet run -c Release --project benchmarks/Midori.Operator.HttpBenchmarks [-- previews=200 seconds=10 clients=64 idle=20]
// The operator runs in-process on loopback Kestrel against the in-process test API server, the in-memory store and an
// instant fake provider, so the figures are the API's own cost (HTTP, auth, rate limiter, JSON, cache, store calls).
var settings = args.Select(a => a.Split('=', 2)).Where(a => a.Length == 2).ToDictionary(a => a[0], a => a[1]);
int Setting(string name, int fallback) => int.Parse(settings.GetValueOrDefault(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
var previewCount = Setting("previews", 200);
var seconds = Setting("seconds", 10);
var clients = Setting("clients", 64);
var idleSeconds = Setting("idle", 20);
const string Namespace = "bench";
const string Token = "benchmark-token-0123456789";

Console.WriteLine($"Midori HTTP API benchmarks — {Environment.ProcessorCount} cores, .NET {Environment.Version}; {previewCount} previews, {clients} clients, {seconds} s per run, idle timeout {idleSeconds} s");
if (Environment.GetEnvironmentVariable("MIDORI_TEST_PG") is { Length: > 0 })
{
    Console.WriteLine("note: MIDORI_TEST_PG is set, but the PostgreSQL store is not on this branch yet; using the in-memory store.");
}

await using var server = await DevKubeApiServer.StartAsync();
await server.ApplyCrdAsync(RepositoryPaths.CrdFile);
var store = new InMemoryPreviewStore(TimeProvider.System);
var provider = new FakeSandboxProvider(TimeProvider.System);
await using var host = await OperatorTestHost.StartAsync(server.CreateClientConfiguration(), new Dictionary<string, string?>
{
    ["Operator:HealthCheckInterval"] = "00:05:00",
    ["Logging:LogLevel:Default"] = settings.GetValueOrDefault("log", "Error"),
    ["Api:Tokens:0:Name"] = "bench",
    ["Api:Tokens:0:Token"] = Token,
    ["Api:Tokens:0:Namespaces:0"] = "*",
    ["Api:RateLimitPerSecond"] = "1000000",
    ["Api:RateLimitBurst"] = "1000000",
}, services =>
{
    services.RemoveAll<ISandboxProvider>();
    services.AddSingleton<ISandboxProvider>(provider);
    services.RemoveAll<IPreviewProbe>();
    services.AddSingleton<IPreviewProbe>(new FakePreviewProbe());
    services.AddSingleton<IPreviewStore>(store);
    services.AddSingleton<ISnapshotFileSource>(sp => new StoreSnapshotFileSource(store, sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<StoreSnapshotFileSource>>()));
});

using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
{
    BaseAddress = host.BaseAddress,
    Timeout = TimeSpan.FromSeconds(60),
};
http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
var previewsUrl = $"/api/v1/namespaces/{Namespace}/previews";
var rows = new List<(string Figure, string Value, string Target)>();

// Metrics straight from the operator's meter: heartbeats received and annotation writes to the API server.
var meter = host.Services.GetRequiredService<MidoriMetrics>().Meter;
long heartbeatWrites = 0;
using var listener = new MeterListener
{
    InstrumentPublished = (instrument, l) =>
    {
        if (ReferenceEquals(instrument.Meter, meter) && instrument.Name == "midori.heartbeats.apiserver_writes")
        {
            l.EnableMeasurementEvents(instrument);
        }
    },
};
listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref heartbeatWrites, value));
listener.Start();

// ---- setup: previews through the API, all Ready ----------------------------------------------------------------
var setup = Stopwatch.StartNew();
var names = new string[previewCount];
await Parallel.ForEachAsync(Enumerable.Range(0, previewCount), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
{
    var response = await http.PostAsJsonAsync($"{previewsUrl}?wait=true&timeoutSeconds=120", new
    {
        projectId = $"bench-{i}",
        idleTimeoutSeconds = idleSeconds,
        ttlSeconds = 3600,
        files = new[] { new { path = "index.html", content = $"<h1>{i}</h1>" } },
    }, ct);
    var body = await response.Content.ReadAsStringAsync(ct);
    if (!response.IsSuccessStatusCode || JsonNode.Parse(body)?["ready"]?.GetValue<bool>() != true)
    {
        throw new InvalidOperationException($"create {i} failed: {(int)response.StatusCode} {body}");
    }

    names[i] = (string)JsonNode.Parse(body)!["name"]!;
});
Console.WriteLine($"setup: {previewCount} previews Ready through POST ?wait=true in {setup.Elapsed.TotalSeconds:F1} s");

// ---- 1. heartbeats -----------------------------------------------------------------------------------------------
// Warm up (JIT, connections), then measure. Each preview gets heartbeats round-robin from all clients.
await RunAsync(TimeSpan.FromSeconds(2), i => http.PostAsync($"{previewsUrl}/{names[i % previewCount]}/heartbeat", null));
var writesBefore = Interlocked.Read(ref heartbeatWrites);
var batchesBefore = store.ActivityBatches;
var (heartbeats, heartbeatElapsed, heartbeatLatencies) = await RunAsync(TimeSpan.FromSeconds(seconds),
    i => http.PostAsync($"{previewsUrl}/{names[i % previewCount]}/heartbeat", null));
var writes = Interlocked.Read(ref heartbeatWrites) - writesBefore;
var batches = store.ActivityBatches - batchesBefore;
var perSecond = heartbeats / heartbeatElapsed.TotalSeconds;
var quarter = idleSeconds / 4.0;
var allowedWrites = previewCount * ((int)Math.Ceiling(heartbeatElapsed.TotalSeconds / quarter) + 1);
rows.Add(("heartbeats / s (HTTP, durable in store before reply)", $"{perSecond:N0}", "≥ 5,000"));
rows.Add(("heartbeat latency p50 / p99", $"{Percentile(heartbeatLatencies, 0.50):F2} / {Percentile(heartbeatLatencies, 0.99):F2} ms", ""));
rows.Add(("API-server annotation writes during the run", $"{writes:N0} for {heartbeats:N0} heartbeats", $"≤ {allowedWrites:N0} (1 per preview per {quarter:F0} s + 1)"));
rows.Add(("annotation writes per preview per idle/4", $"{writes / (double)previewCount / (heartbeatElapsed.TotalSeconds / quarter):F2}", "≤ 1"));
rows.Add(("store round trips (activity batches)", $"{batches:N0} ({heartbeats / Math.Max(1, batches):N0} heartbeats per batch)", ""));

// The same through the service alone (no HTTP, no load generator's sockets): the API's own ceiling on this machine.
var heartbeatService = host.Services.GetRequiredService<HeartbeatService>();
var serviceCount = 0L;
var serviceWatch = Stopwatch.StartNew();
await Task.WhenAll(Enumerable.Range(0, clients).Select(async worker =>
{
    for (var i = worker; serviceWatch.Elapsed < TimeSpan.FromSeconds(Math.Max(3, seconds / 2)); i += clients)
    {
        await heartbeatService.RecordAsync(new PreviewKey(Namespace, names[i % previewCount]), CancellationToken.None);
        Interlocked.Increment(ref serviceCount);
    }
}));
rows.Add(("heartbeats / s (service alone, no HTTP; store + throttle)", $"{serviceCount / serviceWatch.Elapsed.TotalSeconds:N0}", ""));

// ---- 2. status reads ---------------------------------------------------------------------------------------------
await RunAsync(TimeSpan.FromSeconds(1), i => http.GetAsync($"{previewsUrl}/{names[i % previewCount]}"));
foreach (var concurrency in new[] { 1, 8, clients })
{
    var (reads, readElapsed, latencies) = await RunAsync(TimeSpan.FromSeconds(Math.Max(3, seconds / 2)),
        i => http.GetAsync($"{previewsUrl}/{names[i % previewCount]}"), concurrency);
    rows.Add(($"status reads / s, {concurrency} concurrent client(s)", $"{reads / readElapsed.TotalSeconds:N0}", ""));
    rows.Add(($"status read latency p50 / p99, {concurrency} concurrent", $"{Percentile(latencies, 0.50):F2} / {Percentile(latencies, 0.99):F2} ms", concurrency <= 8 ? "p99 < 5 ms" : ""));
}

// The service alone (what the route adds to HTTP): status document from the cache.
var previews = host.Services.GetRequiredService<PreviewService>();
var serviceLatencies = new List<double>();
for (var i = 0; i < 200_000; i++)
{
    var start = Stopwatch.GetTimestamp();
    _ = await previews.GetStatusAsync(new PreviewKey(Namespace, names[i % previewCount]), CancellationToken.None);
    serviceLatencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
}

rows.Add(("status document from the cache (service, no HTTP) p50 / p99", $"{Percentile(serviceLatencies, 0.50) * 1000:F1} / {Percentile(serviceLatencies, 0.99) * 1000:F1} µs", ""));

// ---- 3. one-line patch vs full put of a 5,000-line file ----------------------------------------------------------
var lines = Enumerable.Range(1, 5000).Select(i => $"    const value{i:D4} = compute({i}, \"some text on line {i}\");").ToArray();
// A preview of its own with a long idle timeout: the heartbeat previews above may have gone idle by now.
var bigCreated = await http.PostAsJsonAsync($"{previewsUrl}?wait=true&timeoutSeconds=120", new
{
    projectId = "bench-big",
    idleTimeoutSeconds = 1800,
    files = new[] { new { path = "src/big.js", content = string.Join('\n', lines) } },
});
var bigName = (string)JsonNode.Parse(await bigCreated.Content.ReadAsStringAsync())!["name"]!;
const int Iterations = 60;
var patchTimes = new List<double>();
var putTimes = new List<double>();
long patchRequestBytes = 0, patchResponseBytes = 0, putRequestBytes = 0, putResponseBytes = 0;
for (var i = 0; i < Iterations; i++)
{
    var line = 2500 + (i % 100);
    var old = lines[line - 1];
    lines[line - 1] = $"    const value{line:D4} = compute({line}, \"edited {i}\");";
    var patchBody = new JsonObject
    {
        ["files"] = new JsonArray(new JsonObject
        {
            ["path"] = "src/big.js",
            ["operations"] = new JsonArray(new JsonObject { ["type"] = "replace", ["line"] = line, ["content"] = lines[line - 1], ["oldContent"] = old }),
        }),
    }.ToJsonString();
    var (patchMs, patchIn, patchOut) = await TimedAsync(HttpMethod.Patch, $"{previewsUrl}/{bigName}/files", patchBody);
    patchTimes.Add(patchMs);
    patchRequestBytes += patchIn;
    patchResponseBytes += patchOut;

    old = lines[line - 1];
    lines[line - 1] = $"    const value{line:D4} = compute({line}, \"put {i}\");";
    var putBody = new JsonObject { ["files"] = new JsonArray(new JsonObject { ["path"] = "src/big.js", ["content"] = string.Join('\n', lines) }) }.ToJsonString();
    var (putMs, putIn, putOut) = await TimedAsync(HttpMethod.Put, $"{previewsUrl}/{bigName}/files", putBody);
    putTimes.Add(putMs);
    putRequestBytes += putIn;
    putResponseBytes += putOut;
}

var sandboxFile = Encoding.UTF8.GetString(provider.Find(((await store.GetWorkingCopyAsync(new PreviewKey(Namespace, bigName), CancellationToken.None))!.PushedSandboxId)!)!.Files["src/big.js"]);
if (sandboxFile != string.Join('\n', lines))
{
    throw new InvalidOperationException("the sandbox does not hold the final file");
}

rows.Add(("one-line PATCH of a 5,000-line file: request / response bytes", $"{patchRequestBytes / Iterations:N0} / {patchResponseBytes / Iterations:N0} B", ""));
rows.Add(("full PUT of the same file: request / response bytes", $"{putRequestBytes / Iterations:N0} / {putResponseBytes / Iterations:N0} B", ""));
rows.Add(("one-line PATCH round trip p50 / p99 (commit + push)", $"{Percentile(patchTimes, 0.50):F2} / {Percentile(patchTimes, 0.99):F2} ms", ""));
rows.Add(("full PUT round trip p50 / p99 (commit + line diff + push)", $"{Percentile(putTimes, 0.50):F2} / {Percentile(putTimes, 0.99):F2} ms", ""));

// ---- table -------------------------------------------------------------------------------------------------------
Console.WriteLine();
var width = rows.Max(r => r.Figure.Length);
var valueWidth = rows.Max(r => r.Value.Length);
Console.WriteLine($"| {"figure".PadRight(width)} | {"measured".PadRight(valueWidth)} | target");
Console.WriteLine($"|{new string('-', width + 2)}|{new string('-', valueWidth + 2)}|-------");
foreach (var (figure, value, target) in rows)
{
    Console.WriteLine($"| {figure.PadRight(width)} | {value.PadRight(valueWidth)} | {target}");
}

return 0;

// Runs `send` from `concurrency` loops until `duration` passes; every reply must be a success.
async Task<(long Count, TimeSpan Elapsed, List<double> LatenciesMs)> RunAsync(TimeSpan duration, Func<int, Task<HttpResponseMessage>> send, int? concurrency = null)
{
    var count = 0L;
    var latencies = new List<double>[concurrency ?? clients];
    var watch = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, concurrency ?? clients).Select(async worker =>
    {
        var mine = latencies[worker] = [];
        var i = worker;
        while (watch.Elapsed < duration)
        {
            var start = Stopwatch.GetTimestamp();
            using var response = await send(i);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            }

            await response.Content.LoadIntoBufferAsync();
            mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            Interlocked.Increment(ref count);
            i += concurrency ?? clients;
        }
    }));
    return (count, watch.Elapsed, [.. latencies.SelectMany(l => l)]);
}

async Task<(double Ms, long RequestBytes, long ResponseBytes)> TimedAsync(HttpMethod method, string url, string json)
{
    using var request = new HttpRequestMessage(method, url) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
    var requestBytes = Encoding.UTF8.GetByteCount(json);
    var start = Stopwatch.GetTimestamp();
    using var response = await http.SendAsync(request);
    var body = await response.Content.ReadAsByteArrayAsync();
    var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    if (!response.IsSuccessStatusCode || JsonNode.Parse(body)?["pushed"]?.GetValue<bool>() != true)
    {
        throw new InvalidOperationException($"{method} failed: {(int)response.StatusCode} {Encoding.UTF8.GetString(body)}");
    }

    return (elapsed, requestBytes, body.Length);
}

static double Percentile(List<double> values, double p)
{
    if (values.Count == 0)
    {
        return double.NaN;
    }

    values.Sort();
    return values[Math.Min(values.Count - 1, (int)Math.Ceiling(p * values.Count) - 1)];
}
