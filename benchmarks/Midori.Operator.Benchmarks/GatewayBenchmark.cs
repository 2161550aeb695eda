using System.Diagnostics;
using System.Globalization;
using System.Net;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Testing.Fakes;
using Midori.Operator.Testing.Fakes.E2B;
using Midori.Operator.Testing.Gateway;

namespace Midori.Operator.Benchmarks;

/// <summary>
/// The gateway's figures: added latency against the sandbox directly on loopback, requests/s, URL changes and failed
/// requests across recreations under steady traffic, and wake-on-traffic time to first byte per provider.
/// Usage: dotnet run -c Release --project benchmarks/Midori.Operator.Benchmarks -- gateway [requests=5000 concurrency=32 seconds=5 recreations=100]
/// </summary>
internal static class GatewayBenchmark
{
    public static async Task RunAsync(IReadOnlyDictionary<string, string> settings)
    {
        var requests = Int(settings, "requests", 5000);
        var concurrency = Int(settings, "concurrency", 32);
        var seconds = Int(settings, "seconds", 5);
        var recreations = Int(settings, "recreations", 100);
        Console.WriteLine($"Gateway benchmark — {Environment.ProcessorCount} cores, .NET {Environment.Version}, load average {LoadAverage()}");

        await using (var stack = await GatewayTestStack.StartAsync(new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Error" }))
        {
            var ready = await stack.CreateReadyAsync("bench");
            using var gateway = await BrowserAsync(stack, "bench");
            var direct = new HttpClient(new SocketsHttpHandler { UseCookies = false });
            direct.DefaultRequestHeaders.Add(DevServerSandboxProvider.TokenHeader, stack.Provider is { } p ? await TokenAsync(stack, ready) : null);
            var directUrl = new Uri(new Uri(ready.Status!.SandboxUrl!), "about/");
            var gatewayUrl = stack.PathUrl("bench", relative: "about/");

            // 1. latency, sequential, after a warm-up
            var directLatency = await SequentialAsync(direct, directUrl, requests);
            var gatewayLatency = await SequentialAsync(gateway, gatewayUrl, requests);
            Console.WriteLine($"latency ({requests} sequential GETs, 12-byte page): direct p50 {Ms(directLatency, 0.50)} p99 {Ms(directLatency, 0.99)}; " +
                $"through the gateway p50 {Ms(gatewayLatency, 0.50)} p99 {Ms(gatewayLatency, 0.99)}; added p50 {Added(gatewayLatency, directLatency, 0.50)} p99 {Added(gatewayLatency, directLatency, 0.99)}");

            // 2. throughput
            var directRate = await ThroughputAsync(direct, directUrl, concurrency, seconds);
            var gatewayRate = await ThroughputAsync(gateway, gatewayUrl, concurrency, seconds);
            Console.WriteLine($"throughput ({concurrency} in flight, {seconds} s): direct {directRate:N0} req/s, through the gateway {gatewayRate:N0} req/s; load average {LoadAverage()}");

            // 3. recreations under steady traffic
            using var stop = new CancellationTokenSource();
            long ok = 0, failed = 0;
            var traffic = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        using var response = await gateway.GetAsync(gatewayUrl);
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            Interlocked.Increment(ref ok);
                        }
                        else
                        {
                            Interlocked.Increment(ref failed);
                        }
                    }
                    catch (HttpRequestException)
                    {
                        Interlocked.Increment(ref failed);
                    }
                }
            })).ToList();
            var urls = new HashSet<string> { ready.Status.PreviewUrl! };
            var sandbox = ready.Status.SandboxId;
            var clock = Stopwatch.StartNew();
            for (var i = 1; i <= recreations; i++)
            {
                await stack.Environment.MergePatchAsync("bench", new { metadata = new { annotations = new Dictionary<string, string> { [GroupVersion.RecreateAnnotation] = $"bench-{i}" } } }, CancellationToken.None);
                var previous = sandbox;
                var next = await stack.WaitForAsync("bench", r => GatewayTestStack.IsReady(r) && r!.Status!.SandboxId != previous, $"recreation {i}");
                sandbox = next!.Status!.SandboxId;
                urls.Add(next.Status.PreviewUrl!);
            }

            await stop.CancelAsync();
            await Task.WhenAll(traffic);
            Console.WriteLine($"recreations: {recreations} in {clock.Elapsed.TotalSeconds:F1} s under 4 clients of steady traffic; previewUrl changes {urls.Count - 1}; " +
                $"requests {ok + failed:N0}, failed {failed}");
            direct.Dispose();
        }

        // 4. wake on traffic: time to first byte of the request that wakes an expired preview
        Console.WriteLine($"wake on traffic (idle 10 s → Expired, then one GET held by the gateway): {await WakeAsync("local", null)}");
        await using (var daytona = await FakeDaytona.StartAsync())
        {
            Console.WriteLine($"  daytona fake: {await WakeAsync("daytona", new Dictionary<string, string?>
            {
                ["Providers:Daytona:ApiUrl"] = daytona.ApiUrl.ToString(),
                ["Providers:Daytona:ApiKey"] = daytona.ApiKey,
                ["Providers:Daytona:PollInterval"] = "00:00:00.100",
            })}");
        }

        await using (var e2b = await FakeE2BServer.StartAsync())
        {
            var e2bSettings = e2b.ProviderSettings().ToDictionary(e => e.Key, e => e.Value);
            e2bSettings["Providers:E2B:AllowPublicTraffic"] = "false";
            e2bSettings["Providers:E2B:StartupPollInterval"] = "00:00:00.100";
            Console.WriteLine($"  e2b fake: {await WakeAsync("e2b", e2bSettings)}");
        }
    }

    private static async Task<string> WakeAsync(string provider, IDictionary<string, string?>? providerSettings)
    {
        var settings = new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Error" };
        foreach (var (key, value) in providerSettings ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        await using var stack = await GatewayTestStack.StartAsync(settings, realProviders: true);
        var ready = await stack.CreateReadyAsync("wake", b => b.WithProvider(provider).WithIdleTimeout(10));
        using var browser = await BrowserAsync(stack, "wake");
        await stack.WaitForAsync("wake", r => r?.Status?.Phase == Phases.Expired, "Expired", TimeSpan.FromSeconds(90));
        var clock = Stopwatch.StartNew();
        using var response = await browser.GetAsync(stack.PathUrl("wake", relative: "about/"), HttpCompletionOption.ResponseHeadersRead);
        var ttfb = clock.Elapsed;
        var woken = await stack.Environment.GetAsync("wake", CancellationToken.None);
        return $"{provider}: {(int)response.StatusCode} after {ttfb.TotalMilliseconds:F0} ms (new sandbox {woken!.Status!.SandboxId != ready.Status!.SandboxId})";
    }

    private static async Task<HttpClient> BrowserAsync(GatewayTestStack stack, string name)
    {
        var browser = GatewayTestStack.Browser(new CookieContainer());
        using var first = await browser.GetAsync((await stack.LinkAsync(name)).Url);
        first.EnsureSuccessStatusCode();
        return browser;
    }

    private static async Task<string?> TokenAsync(GatewayTestStack stack, V1Alpha1PreviewSandbox ready)
    {
        var secret = await stack.Environment.GetSecretAsync(ready.Status!.TokenSecretRef!.Name, CancellationToken.None);
        return System.Text.Encoding.UTF8.GetString(secret!.Data[ready.Status.TokenSecretRef.Key]);
    }

    private static async Task<double[]> SequentialAsync(HttpClient http, Uri url, int count)
    {
        for (var i = 0; i < 500; i++)
        {
            using var warm = await http.GetAsync(url);
            warm.EnsureSuccessStatusCode();
        }

        var samples = new double[count];
        for (var i = 0; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            using var response = await http.GetAsync(url);
            await response.Content.ReadAsByteArrayAsync();
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            response.EnsureSuccessStatusCode();
        }

        Array.Sort(samples);
        return samples;
    }

    private static async Task<double> ThroughputAsync(HttpClient http, Uri url, int concurrency, int seconds)
    {
        long done = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var response = await http.GetAsync(url);
                await response.Content.ReadAsByteArrayAsync();
                if (response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref done);
                }
            }
        })));
        return done / clock.Elapsed.TotalSeconds;
    }

    private static string Ms(double[] sorted, double quantile) => $"{sorted[(int)Math.Min(sorted.Length - 1, quantile * sorted.Length)]:F2} ms";

    private static string Added(double[] gateway, double[] direct, double quantile)
    {
        var index = (int)Math.Min(gateway.Length - 1, quantile * gateway.Length);
        return $"{gateway[index] - direct[index]:F2} ms";
    }

    /// <summary>The 1/5/15-minute load average (Linux): the figures mean little without it on a shared machine.</summary>
    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" / ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static int Int(IReadOnlyDictionary<string, string> settings, string key, int fallback) =>
        settings.TryGetValue(key, out var value) ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;
}
