using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Midori.Operator.Diagnostics;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Daytona;
using Midori.Operator.Testing.Fakes;
using Midori.Operator.Files;

namespace Midori.Operator.Benchmarks;

/// <summary>
/// Upload time and request count for one project (default 1,000 files / 20 MB) through a real provider stack (DI, typed
/// clients, resilience pipeline, HTTP on loopback) against the provider's fake: batched (the provider's way) versus one
/// request per file, sequential and 4 at a time; once on bare loopback and once with an emulated round trip per request
/// (a remote service is not 0 ms away). Usage: <c>-- upload [files=1000] [mb=20] [runs=3] [latency=20]</c>.
/// </summary>
internal static class UploadBenchmark
{
    public static async Task RunAsync(IReadOnlyDictionary<string, string> settings)
    {
        var fileCount = int.Parse(settings.GetValueOrDefault("files", "1000"), CultureInfo.InvariantCulture);
        var totalBytes = long.Parse(settings.GetValueOrDefault("mb", "20"), CultureInfo.InvariantCulture) * 1024 * 1024;
        var runs = int.Parse(settings.GetValueOrDefault("runs", "3"), CultureInfo.InvariantCulture);
        var latency = TimeSpan.FromMilliseconds(int.Parse(settings.GetValueOrDefault("latency", "20"), CultureInfo.InvariantCulture));
        var files = Project(fileCount, totalBytes);
        Console.WriteLine($"Upload benchmark — {fileCount} files, {files.Sum(f => (long)f.Content.Length) / 1024.0 / 1024.0:0.0} MiB, median of {runs} run(s), loopback fake");
        Console.WriteLine();
        Console.WriteLine("| provider | mode | round trip | requests | time (median) | min | max |");
        Console.WriteLine("| --- | --- | ---: | ---: | ---: | ---: | ---: |");

        await using var fake = await FakeDaytona.StartAsync();
        await using var services = DaytonaServices(fake);
        var provider = services.GetRequiredService<DaytonaSandboxProvider>();
        var sandbox = await provider.CreateAsync(new SandboxCreateRequest(Guid.NewGuid().ToString(), "bench", "upload", "bench", null, 3000,
            TimeSpan.FromHours(1), TimeSpan.FromMinutes(30), new Dictionary<string, string>()), CancellationToken.None);
        await provider.UploadFilesAsync(sandbox.Id, files.Take(1).ToList(), CancellationToken.None); // warm-up: connections, JIT

        foreach (var roundTrip in new[] { TimeSpan.Zero, latency })
        {
            fake.Latency = roundTrip;
            await MeasureAsync("daytona", "batched (bulk-upload, ≤8 MiB / ≤500 files per request)", roundTrip, fake, runs,
                () => provider.UploadFilesAsync(sandbox.Id, files, CancellationToken.None));
            await MeasureAsync("daytona", "one request per file, sequential", roundTrip, fake, runs, async () =>
            {
                foreach (var file in files)
                {
                    await provider.UploadFilesAsync(sandbox.Id, [file], CancellationToken.None);
                }
            });
            await MeasureAsync("daytona", "one request per file, 4 in flight", roundTrip, fake, runs, () => Parallel.ForEachAsync(files,
                new ParallelOptions { MaxDegreeOfParallelism = 4 },
                async (file, ct) => await provider.UploadFilesAsync(sandbox.Id, [file], ct)));
        }
    }

    private static async Task MeasureAsync(string providerName, string mode, TimeSpan roundTrip, FakeDaytona fake, int runs, Func<Task> upload)
    {
        var times = new List<TimeSpan>();
        var requests = 0;
        for (var run = 0; run < runs; run++)
        {
            var before = fake.Count("upload");
            var stopwatch = Stopwatch.StartNew();
            await upload();
            times.Add(stopwatch.Elapsed);
            requests = fake.Count("upload") - before;
        }

        times.Sort();
        Console.WriteLine($"| {providerName} | {mode} | {Ms(roundTrip)} | {requests} | {Ms(times[times.Count / 2])} | {Ms(times[0])} | {Ms(times[^1])} |");
    }

    private static string Ms(TimeSpan time) => $"{time.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)} ms";

    /// <summary>A project-like mix: many small files and a few large ones, summing to <paramref name="totalBytes"/>.</summary>
    private static List<SandboxFile> Project(int count, long totalBytes)
    {
        var random = new Random(42);
        var weights = Enumerable.Range(0, count).Select(i => i % 100 == 0 ? 40.0 : 0.5 + random.NextDouble()).ToArray();
        var scale = totalBytes / weights.Sum();
        return [.. weights.Select((w, i) =>
        {
            var content = new byte[(int)(w * scale)];
            random.NextBytes(content);
            return new SandboxFile($"src/module{i / 50}/file{i}.js", content);
        })];
    }

    private static ServiceProvider DaytonaServices(FakeDaytona fake)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Providers:Daytona:ApiUrl"] = fake.ApiUrl.ToString(),
            ["Providers:Daytona:ApiKey"] = fake.ApiKey,
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Error));
        services.AddMetrics();
        services.AddSingleton<MidoriMetrics>();
        services.AddDaytonaSandboxProvider(configuration);
        return services.BuildServiceProvider();
    }
}
