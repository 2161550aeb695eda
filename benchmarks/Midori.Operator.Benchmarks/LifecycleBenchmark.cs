using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Midori.Operator.Diagnostics;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Daytona;
using Midori.Operator.Providers.E2B;
using Midori.Operator.Providers.Local;
using Midori.Operator.Testing.Fakes;
using Midori.Operator.Testing.Fakes.E2B;
using Midori.Operator.Files;

namespace Midori.Operator.Benchmarks;

/// <summary>
/// Time to Ready of the four ways a preview gets a running sandbox, through the real provider stacks (DI, typed
/// clients, resilience pipeline, HTTP on loopback) against the loopback fakes, and through the real local provider:
/// <list type="bullet">
/// <item>cold create: create, upload every file, install dependencies, start and boot the dev server, read the preview URL;</item>
/// <item>warm claim: the pool created the sandbox and booted its dev server beforehand (<c>spec.command</c>, untimed):
/// upload every file, the same start (which leaves the running server alone), preview, verify the manifest;</item>
/// <item>resume: a paused sandbox holds the files and the installed dependencies: resume, push the one changed file,
/// start (booting again only where the pause stopped the processes), preview, verify the manifest;</item>
/// <item>recreate: delete the old sandbox, then as cold create, and verify the manifest.</item>
/// </list>
/// The fakes answer at once, so each request gets <c>rtt</c> of network round trip (the fakes' Latency) and what a
/// backend spends real time on gets a modelled duration: sandbox creation (E2B ~0.5 s, Daytona ~0.2 s, the published
/// time-to-first-command medians), E2B resume ~1 s (memory restore, the server keeps running), Daytona start (not
/// published; taken equal to its creation; processes restart). What the project costs inside the sandbox is the
/// second model: a static site needs no install and no boot; an app project (by default) 8 s of dependency install
/// on a fresh disk and 1.5 s of dev-server boot wherever the server starts from nothing. Without <c>install=</c> or
/// <c>boot=</c> both projects are printed; with either, one table for that project. Runs go <c>parallel</c> at a time.
/// Usage: <c>-- lifecycle [runs=50] [files=50] [rtt=20] [install=ms] [boot=ms] [parallel=10]</c>.
/// </summary>
internal static class LifecycleBenchmark
{
    /// <summary>What the backend spends: creating a sandbox, resuming a paused one, and whether its processes survive a pause.</summary>
    private sealed record Model(TimeSpan Create, TimeSpan Resume, bool ResumeKeepsServer);

    /// <summary>What the project spends inside a sandbox: installing dependencies on a fresh disk, booting its dev server.</summary>
    private sealed record Project(string Name, TimeSpan Install, TimeSpan Boot);

    public static async Task RunAsync(IReadOnlyDictionary<string, string> settings)
    {
        int Setting(string key, int fallback) => int.Parse(settings.GetValueOrDefault(key, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        var runs = Setting("runs", 50);
        var fileCount = Setting("files", 50);
        var rtt = TimeSpan.FromMilliseconds(Setting("rtt", 20));
        var parallel = Setting("parallel", 10);
        var files = ProjectFiles(fileCount);
        IReadOnlyList<Project> projects = settings.ContainsKey("install") || settings.ContainsKey("boot")
            ? [new Project("custom project", TimeSpan.FromMilliseconds(Setting("install", 0)), TimeSpan.FromMilliseconds(Setting("boot", 0)))]
            : [new Project("static site", TimeSpan.Zero, TimeSpan.Zero), new Project("app project", TimeSpan.FromMilliseconds(8000), TimeSpan.FromMilliseconds(1500))];

        Console.WriteLine($"Lifecycle benchmark — time to Ready, {runs} runs per cell ({parallel} at a time), {fileCount} files / {files.Sum(f => f.Content.Length) / 1024} KiB, "
                          + $"round trip {rtt.TotalMilliseconds:0} ms per request on the fakes, {Environment.ProcessorCount} cores");
        foreach (var project in projects)
        {
            Console.WriteLine();
            Console.WriteLine($"{project.Name}: dependency install {project.Install.TotalMilliseconds:0} ms on a fresh disk, dev-server boot {project.Boot.TotalMilliseconds:0} ms");
            Console.WriteLine();
            Console.WriteLine("| provider | cold create p50 / p99 | warm claim p50 / p99 | resume p50 / p99 | recreate p50 / p99 | cold ÷ claim | cold ÷ resume |");
            Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
            await ProjectRowsAsync(project, files, rtt, runs, parallel);
        }
    }

    private static async Task ProjectRowsAsync(Project project, IReadOnlyList<SandboxFile> files, TimeSpan rtt, int runs, int parallel)
    {
        await using (var fake = await FakeE2BServer.StartAsync(new FakeE2BOptions { Latency = rtt }))
        {
            await using var services = Services(fake.ProviderSettings(), (s, _) => s.AddE2BSandboxProvider());
            var provider = services.GetRequiredService<E2BSandboxProvider>();
            await RowAsync("e2b (fake)", provider, new Model(TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(1000), ResumeKeepsServer: true), project, files, runs, parallel);
        }

        await using (var fake = await FakeDaytona.StartAsync())
        {
            fake.Latency = rtt;
            await using var services = Services(new Dictionary<string, string?>
            {
                ["Providers:Daytona:ApiUrl"] = fake.ApiUrl.ToString(),
                ["Providers:Daytona:ApiKey"] = fake.ApiKey,
            }, (s, configuration) => s.AddDaytonaSandboxProvider(configuration));
            var provider = services.GetRequiredService<DaytonaSandboxProvider>();
            await RowAsync("daytona (fake)", provider, new Model(TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(200), ResumeKeepsServer: false), project, files, runs, parallel);
        }

        var root = Path.Combine(Path.GetTempPath(), "midori-lifecycle-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var local = new LocalSandboxProvider(Microsoft.Extensions.Options.Options.Create(new LocalProviderOptions { RootDirectory = root }),
                TimeProvider.System, NullLogger<LocalSandboxProvider>.Instance);
            // the local provider's own costs (directories, processes, ports), no modelled network or backend time
            await RowAsync("local", local, new Model(TimeSpan.Zero, TimeSpan.Zero, ResumeKeepsServer: false), project, files, runs, parallel);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task RowAsync(string name, ISandboxProvider provider, Model model, Project project, IReadOnlyList<SandboxFile> files, int runs, int parallel)
    {
        // the pool's start and the preview's are the same (the pool's spec.command and port), so a claim keeps the server
        var start = new SandboxStartRequest(null, 3000, new Dictionary<string, string>());
        var changed = new SandboxFile(files[0].Path, [.. files[0].Content, (byte)'\n']);

        async Task<string> CreateAsync(string owner)
        {
            var info = await provider.CreateAsync(new SandboxCreateRequest(owner, "bench", "bench", "bench", null, 3000, TimeSpan.FromHours(1), TimeSpan.FromMinutes(30),
                new Dictionary<string, string>()), CancellationToken.None);
            await Task.Delay(model.Create);
            return info.Id;
        }

        // install: dependencies on a fresh disk; boot: the dev server starting from nothing
        async Task StartAsync(string id, bool install, bool boot)
        {
            if (install)
            {
                await Task.Delay(project.Install);
            }

            await provider.StartAsync(id, start, CancellationToken.None);
            if (boot)
            {
                await Task.Delay(project.Boot);
            }

            _ = await provider.GetPreviewAsync(id, 3000, CancellationToken.None);
        }

        async Task VerifyAsync(string id)
        {
            var manifest = await provider.GetFileManifestAsync(id, CancellationToken.None) ?? throw new InvalidOperationException("sandbox gone");
            if (manifest.Count < files.Count)
            {
                throw new InvalidOperationException($"manifest lists {manifest.Count} of {files.Count} files");
            }
        }

        var cold = await MeasureAsync(runs, parallel, _ => Task.FromResult(Guid.NewGuid().ToString()), async owner =>
        {
            var id = await CreateAsync(owner);
            await provider.UploadFilesAsync(id, files, CancellationToken.None);
            await StartAsync(id, install: true, boot: true);
            return id;
        }, provider);

        var claim = await MeasureAsync(runs, parallel, async _ =>
        {
            // what the pool did before anyone claimed: create, install, boot the dev server
            var id = await CreateAsync(Guid.NewGuid().ToString());
            await StartAsync(id, install: true, boot: true);
            return id;
        }, async id =>
        {
            await provider.UploadFilesAsync(id, files, CancellationToken.None);
            await StartAsync(id, install: false, boot: false);
            await VerifyAsync(id);
            return id;
        }, provider);

        var resume = await MeasureAsync(runs, parallel, async _ =>
        {
            var id = await CreateAsync(Guid.NewGuid().ToString());
            await provider.UploadFilesAsync(id, files, CancellationToken.None);
            await StartAsync(id, install: false, boot: false);
            await provider.PauseAsync(id, CancellationToken.None);
            return id;
        }, async id =>
        {
            _ = await provider.ResumeAsync(id, DateTimeOffset.UtcNow.AddHours(1), CancellationToken.None) ?? throw new InvalidOperationException("paused sandbox gone");
            await Task.Delay(model.Resume);
            await provider.UploadFilesAsync(id, [changed], CancellationToken.None);
            await StartAsync(id, install: false, boot: !model.ResumeKeepsServer);
            await VerifyAsync(id);
            return id;
        }, provider);

        var recreate = await MeasureAsync(runs, parallel, async _ =>
        {
            var id = await CreateAsync(Guid.NewGuid().ToString());
            await provider.UploadFilesAsync(id, files, CancellationToken.None);
            return id;
        }, async old =>
        {
            await provider.DeleteAsync(old, CancellationToken.None);
            var id = await CreateAsync(Guid.NewGuid().ToString());
            await provider.UploadFilesAsync(id, files, CancellationToken.None);
            await StartAsync(id, install: true, boot: true);
            await VerifyAsync(id);
            return id;
        }, provider);

        Console.WriteLine($"| {name} | {Ms(P(cold, 50))} / {Ms(P(cold, 99))} | {Ms(P(claim, 50))} / {Ms(P(claim, 99))} | {Ms(P(resume, 50))} / {Ms(P(resume, 99))} "
                          + $"| {Ms(P(recreate, 50))} / {Ms(P(recreate, 99))} | {Ratio(cold, claim)} | {Ratio(cold, resume)} |");
    }

    /// <summary>Prepares each run untimed, times <paramref name="timed"/>, deletes the sandbox afterwards (untimed).</summary>
    private static async Task<List<TimeSpan>> MeasureAsync(int runs, int parallel, Func<int, Task<string>> prepare, Func<string, Task<string>> timed, ISandboxProvider provider)
    {
        // one untimed warm-up per path: JIT, connection pools
        await provider.DeleteAsync(await timed(await prepare(-1)), CancellationToken.None);
        var times = new List<TimeSpan>();
        await Parallel.ForEachAsync(Enumerable.Range(0, runs), new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (run, _) =>
        {
            var input = await prepare(run);
            var stopwatch = Stopwatch.StartNew();
            var id = await timed(input);
            stopwatch.Stop();
            lock (times)
            {
                times.Add(stopwatch.Elapsed);
            }

            await provider.DeleteAsync(id, CancellationToken.None);
        });
        times.Sort();
        return times;
    }

    private static TimeSpan P(List<TimeSpan> sorted, int percentile) =>
        sorted[Math.Clamp((int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];

    private static string Ratio(List<TimeSpan> baseline, List<TimeSpan> faster) =>
        (P(baseline, 50).TotalMilliseconds / Math.Max(P(faster, 50).TotalMilliseconds, 0.001)).ToString("0.0", CultureInfo.InvariantCulture) + "×";

    private static string Ms(TimeSpan time) => time.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + " ms";

    private static ServiceProvider Services(IDictionary<string, string?> settings, Action<IServiceCollection, IConfiguration> add)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Error));
        services.AddMetrics();
        services.AddSingleton<MidoriMetrics>();
        add(services, configuration);
        return services.BuildServiceProvider();
    }

    /// <summary>A small web project: <paramref name="count"/> text files of 1–8 KiB.</summary>
    private static List<SandboxFile> ProjectFiles(int count)
    {
        var random = new Random(7);
        return [.. Enumerable.Range(0, count).Select(i =>
        {
            var content = new byte[1024 + random.Next(7 * 1024)];
            for (var b = 0; b < content.Length; b++)
            {
                content[b] = (byte)('a' + random.Next(26));
            }

            return new SandboxFile(i == 0 ? "index.html" : $"src/part{i / 10}/file{i}.js", content);
        })];
    }
}
