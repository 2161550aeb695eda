using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Midori.Operator.Providers;
using Midori.Operator.Providers.E2B;
using Midori.Operator.Testing.Fakes.E2B;
using Midori.Operator.Files;

// Upload time and request count for a 1,000-file / 20 MB project through the real E2B provider (options, pipeline,
// multipart encoding) into the loopback fake's envd: batched (default settings) versus one request per file.
// Usage: dotnet run -c Release --project benchmarks/Midori.Operator.Benchmarks.E2B [-- --files 1000 --mb 20 --runs 3 --latency-ms 0,2]
var arguments = Arguments.Parse(args);
var random = new Random(42);
var perFile = (int)(arguments.Megabytes * 1024 * 1024 / arguments.Files);
var files = Enumerable.Range(0, arguments.Files)
    .Select(i => new SandboxFile($"src/module{i / 50:D2}/file{i:D4}.js", RandomBytes(random, perFile)))
    .ToList();
var totalBytes = files.Sum(f => (long)f.Content.Length);

Console.WriteLine($"E2B upload: {files.Count} files, {totalBytes / 1024.0 / 1024.0:0.0} MiB, {arguments.Runs} runs per row (median), Release={!IsDebug()}");
Console.WriteLine();
Console.WriteLine("| mode | latency per request | requests | median time | MiB/s |");
Console.WriteLine("| --- | --- | ---: | ---: | ---: |");
foreach (var latency in arguments.LatenciesMs)
{
    foreach (var (mode, batchFiles) in new[] { ("batched (8 MiB / 500 files per request)", 500), ("one-by-one", 1) })
    {
        await using var fake = await FakeE2BServer.StartAsync(new FakeE2BOptions { Latency = TimeSpan.FromMilliseconds(latency) });
        var settings = fake.ProviderSettings();
        settings["Providers:E2B:UploadBatchFiles"] = batchFiles.ToString(CultureInfo.InvariantCulture);
        var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build())
            .AddLogging(b => b.SetMinimumLevel(LogLevel.Warning))
            .AddE2BSandboxProvider()
            .BuildServiceProvider();
        await using (services)
        {
            var provider = services.GetRequiredService<E2BSandboxProvider>();
            var times = new List<TimeSpan>();
            var requests = 0;
            for (var run = 0; run < arguments.Runs + 1; run++) // first run warms up (JIT, connections) and is not counted
            {
                var sandbox = await provider.CreateAsync(new SandboxCreateRequest($"bench-{run}", "bench", "bench", "bench", null, 3000,
                    TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(5), new Dictionary<string, string>()), CancellationToken.None);
                fake.ClearRequests();
                var stopwatch = Stopwatch.StartNew();
                await provider.UploadFilesAsync(sandbox.Id, files, CancellationToken.None);
                stopwatch.Stop();
                if (fake.Sandbox(sandbox.Id)!.Files.Count != files.Count)
                {
                    throw new InvalidOperationException("upload incomplete");
                }

                if (run > 0)
                {
                    times.Add(stopwatch.Elapsed);
                    requests = fake.CountRequests("POST", "/files");
                }

                await provider.DeleteAsync(sandbox.Id, CancellationToken.None);
            }

            var median = times.Order().ElementAt(times.Count / 2);
            Console.WriteLine($"| {mode} | {latency} ms | {requests:N0} | {median.TotalMilliseconds:N0} ms | {totalBytes / 1024.0 / 1024.0 / median.TotalSeconds:0.0} |");
        }
    }
}

static byte[] RandomBytes(Random random, int length)
{
    var bytes = new byte[length];
    random.NextBytes(bytes);
    return bytes;
}

static bool IsDebug()
{
#if DEBUG
    return true;
#else
    return false;
#endif
}

internal sealed record Arguments(int Files, double Megabytes, int Runs, IReadOnlyList<int> LatenciesMs)
{
    public static Arguments Parse(string[] args)
    {
        var files = 1000;
        var megabytes = 20.0;
        var runs = 3;
        IReadOnlyList<int> latencies = [0, 2];
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--files": files = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--mb": megabytes = double.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--runs": runs = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--latency-ms": latencies = args[i + 1].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList(); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }

        return new Arguments(files, megabytes, runs, latencies);
    }
}
