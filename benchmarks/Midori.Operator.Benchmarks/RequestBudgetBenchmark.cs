using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using k8s;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;
using Midori.Operator.Testing.E2E;
using Midori.Operator.Testing.Fakes;
using Midori.DevStack.Store;

namespace Midori.Operator.Benchmarks;

/// <summary>
/// Requests per preview, counted: every request the operator's own Kubernetes client sends (a counting handler on
/// that client), per verb and resource, for each phase of a lifecycle: create → Ready, heartbeats through the HTTP
/// API, idle expiry, wake (a heartbeat on the expired preview), delete. Against the in-process test API server, or the
/// cluster named by MIDORI_E2E_KUBECONFIG (same code; the CRD is installed there). Creates and deletes go straight to
/// the API server as kubectl would, so they are not the operator's; heartbeats and wake-ups come through its HTTP API.
/// </summary>
internal static class RequestBudgetBenchmark
{
    private const string Token = "benchmark-token-0123456789";

    public static async Task RunAsync(IReadOnlyDictionary<string, string> settings)
    {
        int Setting(string name, int fallback) => int.Parse(settings.GetValueOrDefault(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        var count = Setting("count", 100);
        var heartbeatSeconds = Setting("heartbeat", 60);
        var heartbeatEvery = Setting("every", 5);
        var idleSeconds = Setting("idle", 60);
        var settle = TimeSpan.FromSeconds(Setting("settle", 3));
        var viaApi = settings.GetValueOrDefault("via", "kubectl") switch
        {
            "api" => true,
            "kubectl" => false,
            var other => throw new ArgumentException($"via={other}: kubectl (creates straight to the API server) or api (POST /previews)"),
        };

        await using var environment = await E2EEnvironment.StartAsync();
        Console.WriteLine($"requests: {count} previews against the {environment.Description}, namespace {environment.Namespace}; idle timeout {idleSeconds} s, "
            + $"heartbeats every {heartbeatEvery} s for {heartbeatSeconds} s; created {(viaApi ? "through the HTTP API (its create is counted)" : "straight to the API server")}; "
            + $"{Environment.ProcessorCount} cores, load average {LoadAverage()}");

        var counter = new CountingHandler();
        var provider = new FakeSandboxProvider(TimeProvider.System);
        var observer = new RecordingLifecycleObserver();
        var store = new InMemoryPreviewStore(TimeProvider.System);
        await using var host = await OperatorTestHost.StartAsync(environment.Configuration, new Dictionary<string, string?>
        {
            ["Operator:Workers"] = settings.GetValueOrDefault("workers", "8"),
            ["Logging:LogLevel:Default"] = settings.GetValueOrDefault("log", "Error"),
            ["Api:Tokens:0:Name"] = "bench",
            ["Api:Tokens:0:Token"] = Token,
            ["Api:Tokens:0:Namespaces:0"] = "*",
            ["Api:RateLimitPerSecond"] = "1000000",
            ["Api:RateLimitBurst"] = "1000000",
        }, services =>
        {
            services.RemoveAll<IKubernetes>();
            services.AddSingleton<IKubernetes>(sp => RuntimeServiceCollectionExtensions.CreateKubernetesClient(sp, counter));
            services.RemoveAll<ISandboxProvider>();
            services.AddSingleton<ISandboxProvider>(provider);
            services.RemoveAll<IPreviewProbe>();
            services.AddSingleton<IPreviewProbe>(new FakePreviewProbe());
            services.AddSingleton<ISandboxLifecycleObserver>(observer);
            services.AddSingleton<IPreviewStore>(store);
            services.AddMidoriStoreConsumers(); // as in production with a store: the reconciler reads stored activity and snapshots
        });
        var queue = host.Services.GetRequiredService<ReconcileQueue>();
        using var http = new HttpClient { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);

        var ready = 0;
        var expired = 0;
        observer.BecameReady += _ => Interlocked.Increment(ref ready);
        observer.ExpiredAfter += (_, _) => Interlocked.Increment(ref expired);
        var names = Enumerable.Range(0, count).Select(i => $"budget-{i:D5}").ToArray();
        var phases = new List<(string Name, IReadOnlyDictionary<(string Verb, string Resource), long> Counts)>();
        var devLogBefore = environment.Server?.Requests.Entries.Count ?? 0;
        await SettleAsync(counter, queue, settle); // startup list/watch/leases are not a preview's

        async Task PhaseAsync(string name, Func<Task> run)
        {
            var before = counter.Snapshot();
            var watch = Stopwatch.StartNew();
            await run();
            await SettleAsync(counter, queue, settle);
            var after = counter.Snapshot();
            phases.Add((name, after.ToDictionary(kv => kv.Key, kv => kv.Value - before.GetValueOrDefault(kv.Key)).Where(kv => kv.Value > 0).ToDictionary()));
            Console.WriteLine($"  phase {name}: {watch.Elapsed.TotalSeconds:F1} s");
        }

        await PhaseAsync("create → Ready", async () =>
        {
            await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (name, ct) =>
            {
                if (viaApi)
                {
                    var body = new { projectId = name, name, idleTimeoutSeconds = idleSeconds, ttlSeconds = 7200, files = new[] { new { path = "index.html", content = "<h1>hi</h1>" } } };
                    (await http.PostAsJsonAsync($"/api/v1/namespaces/{environment.Namespace}/previews", body, ct)).EnsureSuccessStatusCode();
                }
                else
                {
                    await environment.CreateAsync(new PreviewSandboxBuilder().Named(name, environment.Namespace).WithIdleTimeout(idleSeconds).WithTtl(7200).Build(), ct);
                }
            });
            await WaitAsync(() => Volatile.Read(ref ready) >= count, "all Ready");
        });

        await PhaseAsync($"{heartbeatSeconds} s of heartbeats", async () =>
        {
            var end = Stopwatch.StartNew();
            while (end.Elapsed < TimeSpan.FromSeconds(heartbeatSeconds))
            {
                var round = Stopwatch.StartNew();
                await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (name, ct) =>
                    (await http.PostAsync($"/api/v1/namespaces/{environment.Namespace}/previews/{name}/heartbeat", null, ct)).EnsureSuccessStatusCode());
                var rest = TimeSpan.FromSeconds(heartbeatEvery) - round.Elapsed;
                if (rest > TimeSpan.Zero)
                {
                    await Task.Delay(rest);
                }
            }
        });

        await PhaseAsync("idle expiry", () => WaitAsync(() => Volatile.Read(ref expired) >= count, "all Expired", TimeSpan.FromSeconds(idleSeconds * 3 + 60)));

        await PhaseAsync("wake", async () =>
        {
            await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (name, ct) =>
                (await http.PostAsync($"/api/v1/namespaces/{environment.Namespace}/previews/{name}/heartbeat", null, ct)).EnsureSuccessStatusCode());
            await WaitAsync(() => Volatile.Read(ref ready) >= 2 * count, "all Ready again");
        });

        await PhaseAsync("delete", async () =>
        {
            await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (name, ct) => await environment.DeleteAsync(name, ct));
            await WaitAsync(() => CountAsync(environment).GetAwaiter().GetResult() == 0, "all gone");
        });

        Console.WriteLine();
        Console.WriteLine($"Operator requests to the API server per preview ({count} previews; verb resource: per preview):");
        double lifecycle = 0;
        foreach (var (name, counts) in phases)
        {
            var total = counts.Values.Sum() / (double)count;
            lifecycle += total;
            var detail = string.Join(", ", counts.OrderBy(kv => kv.Key.Resource, StringComparer.Ordinal).ThenBy(kv => kv.Key.Verb, StringComparer.Ordinal)
                .Select(kv => $"{kv.Key.Verb} {kv.Key.Resource} {kv.Value / (double)count:F2}"));
            var writes = counts.Where(kv => kv.Key.Verb is "create" or "update" or "patch" or "delete").Sum(kv => kv.Value) / (double)count;
            Console.WriteLine($"  {name,-24} {total,6:F2} ({writes:F2} writes): {detail}");
        }

        Console.WriteLine($"  {"whole lifecycle",-24} {lifecycle,6:F2}");
        if (environment.Server is { } server)
        {
            // Cross-check against the test API server's own log: everything it saw minus what the benchmark itself sent.
            Console.WriteLine($"  (test API server log: {server.Requests.Entries.Count - devLogBefore} requests in the run, the operator's handler counted {phases.Sum(p => p.Counts.Values.Sum())} of them in the phases)");
        }

        Console.WriteLine($"load average after: {LoadAverage()}");
    }

    private static async Task<int> CountAsync(E2EEnvironment environment)
    {
        var list = await environment.Client.CustomObjects.ListNamespacedCustomObjectAsync<V1Alpha1PreviewSandboxList>(
            GroupVersion.Group, GroupVersion.Version, environment.Namespace, GroupVersion.Plural);
        return list.Items.Count;
    }

    /// <summary>Waits until nothing is queued or running and the operator sent nothing for <paramref name="quiet"/>.</summary>
    private static async Task SettleAsync(CountingHandler counter, ReconcileQueue queue, TimeSpan quiet)
    {
        var last = counter.Total;
        var since = Stopwatch.StartNew();
        var limit = Stopwatch.StartNew();
        while (since.Elapsed < quiet && limit.Elapsed < TimeSpan.FromMinutes(2))
        {
            await Task.Delay(100);
            if (counter.Total != last || queue.Depth > 0 || queue.InFlight > 0)
            {
                last = counter.Total;
                since.Restart();
            }
        }
    }

    private static async Task WaitAsync(Func<bool> done, string what, TimeSpan? bound = null)
    {
        var limit = Stopwatch.StartNew();
        while (!done())
        {
            if (limit.Elapsed > (bound ?? TimeSpan.FromMinutes(5)))
            {
                throw new TimeoutException($"not {what} after {limit.Elapsed}");
            }

            await Task.Delay(100);
        }
    }

    internal static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
