using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Midori.Operator.Testing;
using Midori.DevApiServer;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.Packaging;

/// <summary>
/// No Docker on these machines: the Dockerfile's structure is checked here, and the app it builds (the same
/// `dotnet publish`) is started for real against the test API server.
/// </summary>
[Trait("Category", "Packaging")]
public sealed partial class DockerfileTests(ITestOutputHelper output)
{
    [Fact]
    public void Dockerfile_MultiStage_CachedRestore_NoSdkInFinal_NumericUser_ExposesTheHttpPort()
    {
        // arrange
        var stages = Stages(File.ReadAllText(Path.Combine(RepositoryPaths.Root, "Dockerfile")));
        var build = stages[0];
        var final = stages[^1];

        // assert: a build stage on the SDK, a final stage on the runtime only
        Assert.True(stages.Count >= 2, "multi-stage build expected");
        Assert.Contains("/dotnet/sdk", build.From, StringComparison.Ordinal);
        Assert.Matches("/dotnet/(aspnet|runtime)", final.From);
        Assert.DoesNotContain(final.Instructions, i => i.Args.Contains("dotnet/sdk", StringComparison.Ordinal) || i.Args.Contains("dotnet publish", StringComparison.Ordinal) || i.Args.Contains("dotnet restore", StringComparison.Ordinal));

        // assert: restore runs before the sources are copied, after copying only project/props files
        var restore = build.Instructions.FindIndex(i => i.Keyword == "RUN" && i.Args.Contains("dotnet restore", StringComparison.Ordinal));
        var copySources = build.Instructions.FindIndex(i => i.Keyword == "COPY" && i.Args.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0] == "src/");
        Assert.True(restore >= 0 && copySources > restore, "dotnet restore must come before COPY src/");
        Assert.All(build.Instructions.Take(restore).Where(i => i.Keyword == "COPY"), copy =>
            Assert.All(copy.Args.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1], source => Assert.Matches(@"(\.csproj|\.props|\.json|BannedSymbols\.txt)$", source)));
        Assert.Contains(build.Instructions, i => i.Keyword == "RUN" && i.Args.Contains("dotnet publish", StringComparison.Ordinal) && i.Args.Contains("--no-restore", StringComparison.Ordinal));
        Assert.Contains(final.Instructions, i => i.Keyword == "COPY" && i.Args.StartsWith("--from=build", StringComparison.Ordinal));

        // assert: the local provider's confinement ships with the image (command mode refuses to run without bwrap)
        Assert.Contains(final.Instructions, i => i.Keyword == "RUN" && i.Args.Contains("apt-get install", StringComparison.Ordinal) && i.Args.Contains("bubblewrap", StringComparison.Ordinal));

        // assert: non-root numeric user, exposed port = the port the app listens on, exec-form entrypoint
        var user = Assert.Single(final.Instructions, i => i.Keyword == "USER").Args;
        Assert.Matches(@"^[1-9][0-9]*(:[0-9]+)?$", user);
        var urls = UrlsPort().Match(string.Join('\n', final.Instructions.Where(i => i.Keyword == "ENV").Select(i => i.Args)));
        Assert.True(urls.Success, "Urls must be set in the final stage");
        var exposed = final.Instructions.Where(i => i.Keyword == "EXPOSE").SelectMany(i => i.Args.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Select(p => p.Split('/')[0]).ToList();
        Assert.Contains(urls.Groups["port"].Value, exposed);
        Assert.StartsWith("[\"dotnet\"", Assert.Single(final.Instructions, i => i.Keyword == "ENTRYPOINT").Args, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task PublishedApp_StartsAgainstAnApiServer_ServesHealthReadinessMetrics_LogsJson()
    {
        // arrange: the Dockerfile's publish command, into a temporary folder
        var work = Directory.CreateTempSubdirectory("midori-publish-");
        try
        {
            var publish = await RunAsync("dotnet", $"publish src/Midori.Operator/Midori.Operator.csproj -c Release -o \"{work.FullName}/app\" /p:UseAppHost=false --nologo -v quiet", TimeSpan.FromMinutes(8));
            Assert.True(publish.ExitCode == 0, $"dotnet publish failed:\n{publish.Output}");
            Assert.False(File.Exists(Path.Combine(work.FullName, "app", "Microsoft.Build.dll")), "the SDK leaked into the published app");
            await using var server = await DevKubeApiServer.StartAsync();
            await server.ApplyCrdAsync(RepositoryPaths.CrdFile);
            var kubeconfig = Path.Combine(work.FullName, "kubeconfig");
            await File.WriteAllTextAsync(kubeconfig, $"""
                apiVersion: v1
                kind: Config
                clusters: [{"{"} name: test, cluster: {"{"} server: "{server.BaseAddress.ToString().TrimEnd('/')}" {"}"} {"}"}]
                users: [{"{"} name: test, user: {"{"} token: "{server.Token}" {"}"} {"}"}]
                contexts: [{"{"} name: test, context: {"{"} cluster: test, user: test {"}"} {"}"}]
                current-context: test
                """);
            var port = FreePort();
            var start = new ProcessStartInfo("dotnet", $"\"{Path.Combine(work.FullName, "app", "Midori.Operator.dll")}\"")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = Path.Combine(work.FullName, "app"), // the image's WORKDIR: appsettings.json is found there
            };
            start.Environment["KUBECONFIG"] = kubeconfig;
            // The variable the Dockerfile uses to set the port, so a variable the app ignores would fail here.
            var urlVariable = UrlsPort().Match(File.ReadAllText(Path.Combine(RepositoryPaths.Root, "Dockerfile"))).Groups["variable"].Value;
            start.Environment[urlVariable] = $"http://127.0.0.1:{port}";
            start.Environment["Logging__Console__FormatterName"] = "json";
            start.Environment["Operator__WatchNamespace"] = "smoke";
            start.Environment["Providers__Local__RootDirectory"] = Path.Combine(work.FullName, "sandboxes");
            var lines = new List<string>();

            // act
            using var process = Process.Start(start)!;
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (lines) { lines.Add(e.Data); } } };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (lines) { lines.Add(e.Data); } } };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
            try
            {
                var ready = await PollAsync(http, "/readyz", TimeSpan.FromSeconds(60), process);
                var health = await http.GetAsync("/healthz");
                var metrics = await http.GetStringAsync("/metrics");

                // assert
                Assert.Equal(HttpStatusCode.OK, ready);
                Assert.Equal(HttpStatusCode.OK, health.StatusCode);
                Assert.Contains("# TYPE midori_leader gauge", metrics, StringComparison.Ordinal);
                List<string> snapshot;
                lock (lines)
                {
                    snapshot = [.. lines];
                }

                var json = snapshot.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l)).ToList();
                Assert.Contains(json, d => d.RootElement.TryGetProperty("EventId", out _) && d.RootElement.TryGetProperty("Category", out _) && d.RootElement.TryGetProperty("Message", out _));
                Assert.All(snapshot.Where(l => l.Length > 0), l => Assert.StartsWith("{", l, StringComparison.Ordinal));
            }
            finally
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                lock (lines)
                {
                    output.WriteLine(string.Join('\n', lines.Where(l => !l.Contains("\"LogLevel\":\"Information\"", StringComparison.Ordinal)).Take(20)));
                }
            }
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static async Task<HttpStatusCode> PollAsync(HttpClient http, string path, TimeSpan timeout, Process process)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Assert.False(process.HasExited, $"the app exited with {(process.HasExited ? process.ExitCode : 0)} before serving {path}");
            try
            {
                var response = await http.GetAsync(path, cts.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return response.StatusCode;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"{path} did not answer 200 within {timeout}");
            }

            await Task.Delay(200, cts.Token);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, string arguments, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepositoryPaths.Root };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    private sealed record Instruction(string Keyword, string Args);

    private sealed record Stage(string From, List<Instruction> Instructions);

    /// <summary>Dockerfile instructions per stage (continuation lines joined, comments and parser directives dropped).</summary>
    private static List<Stage> Stages(string dockerfile)
    {
        var logical = new List<string>();
        var current = string.Empty;
        foreach (var raw in dockerfile.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (current.Length == 0 && line.TrimStart().StartsWith('#'))
            {
                continue;
            }

            current += (current.Length > 0 ? " " : string.Empty) + line.Trim().TrimEnd('\\').Trim();
            if (!line.TrimEnd().EndsWith('\\'))
            {
                if (current.Length > 0)
                {
                    logical.Add(current);
                }

                current = string.Empty;
            }
        }

        var stages = new List<Stage>();
        foreach (var line in logical)
        {
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            var keyword = line[..space].ToUpperInvariant();
            var args = line[(space + 1)..].Trim();
            if (keyword == "FROM")
            {
                stages.Add(new Stage(args, []));
            }
            else if (stages.Count > 0)
            {
                stages[^1].Instructions.Add(new Instruction(keyword, args));
            }
        }

        return stages;
    }

    [GeneratedRegex(@"(?<variable>\bUrls|ASPNETCORE_URLS)=http://\+:(?<port>[0-9]+)")]
    private static partial Regex UrlsPort();
}
