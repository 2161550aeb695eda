using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Local;

namespace Midori.Operator.Benchmarks;

/// <summary>
/// What N running local previews cost the operator process: threads, RSS and managed heap with N static sandboxes
/// started and served once, then after deleting them all (`-- local-scale count=1000`).
/// </summary>
internal static class LocalScaleBenchmark
{
    public static async Task RunAsync(IReadOnlyDictionary<string, string> settings)
    {
        var count = int.Parse(settings.GetValueOrDefault("count", "1000"), CultureInfo.InvariantCulture);
        var cycles = int.Parse(settings.GetValueOrDefault("cycles", "2"), CultureInfo.InvariantCulture);
        var root = Path.Combine(Path.GetTempPath(), "midori-local-scale", Guid.NewGuid().ToString("N"));
        Console.WriteLine($"Local provider scale — {count} static previews; {Environment.ProcessorCount} cores, load average {RequestBudgetBenchmark.LoadAverage()}");
        using var http = new HttpClient(new SocketsHttpHandler { UseCookies = false, PooledConnectionLifetime = TimeSpan.FromSeconds(1) });
        var idle = Sample();
        Console.WriteLine($"idle:      {idle}");
        var provider = new LocalSandboxProvider(
            Microsoft.Extensions.Options.Options.Create(new LocalProviderOptions { RootDirectory = root }), TimeProvider.System, NullLogger<LocalSandboxProvider>.Instance);
        try
        {
          for (var cycle = 1; cycle <= cycles; cycle++)
          {
            var ids = new string[count];
            var sw = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            {
                var info = await provider.CreateAsync(new SandboxCreateRequest($"uid-{cycle}-{i}", "default", $"p-{i}", $"project-{i}", null, 3000,
                    TimeSpan.FromHours(1), TimeSpan.FromMinutes(30), new Dictionary<string, string>()), ct);
                await provider.UploadFilesAsync(info.Id, [new SandboxFile("index.html", "<p>hello</p>"u8.ToArray())], ct);
                await provider.StartAsync(info.Id, new SandboxStartRequest(null, 3000, new Dictionary<string, string>()), ct);
                var preview = await provider.GetPreviewAsync(info.Id, 3000, ct);
                using var request = new HttpRequestMessage(HttpMethod.Get, preview.Url);
                request.Headers.Add(LocalHttpFront.TokenHeader, preview.Token);
                using var response = await http.SendAsync(request, ct);
                response.EnsureSuccessStatusCode();
                ids[i] = info.Id;
            });
            var running = Sample();
            Console.WriteLine($"running:   {running} ({sw.Elapsed.TotalSeconds:F1} s to start and serve all)");
            Console.WriteLine($"per preview: {(running.Threads - idle.Threads) / (double)count:F3} threads, "
                + $"{(running.Rss - idle.Rss) / 1024.0 / count:F1} KiB RSS, {(running.Heap - idle.Heap) / 1024.0 / count:F1} KiB managed heap");
            await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (id, ct) => await provider.DeleteAsync(id, ct));
            http.CancelPendingRequests();
            var deleted = Sample();
            Console.WriteLine($"deleted:   {deleted} (cycle {cycle} of {cycles})");
          }
        }
        finally
        {
            await provider.DisposeAsync();
            Directory.Delete(root, recursive: true);
        }
    }

    private static Figures Sample()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        return new Figures(self.Threads.Count, self.WorkingSet64, GC.GetTotalMemory(forceFullCollection: false));
    }

    private readonly record struct Figures(int Threads, long Rss, long Heap)
    {
        public override string ToString() =>
            $"{Threads} threads, RSS {Rss / 1048576.0:F1} MiB, managed heap {Heap / 1048576.0:F1} MiB";
    }
}
