using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Midori.DevApiServer;
using Midori.Operator.Testing;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.FirstRun;

/// <summary>
/// The operator executable as a newcomer starts it (`dotnet Midori.Operator.dll` with the repository's appsettings.json):
/// what it prints when the CRD is missing or a setting is wrong, and that standard .NET settings choose its address.
/// </summary>
[Trait("Category", "FirstRun")]
public sealed class OperatorFirstRunTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(2);
    private const string CrdMissingLine = "The PreviewSandbox CRD (previewsandboxes.preview.midori.dev) is not installed";

    [Fact]
    public async Task StartedBeforeTheCrd_SaysOnceWhatIsMissing_RetriesQuietly_AndWorksOnceItIsInstalled()
    {
        // arrange: an API server without the CRD; the address chosen the standard .NET way
        await using var server = await DevKubeApiServer.StartAsync();
        var port = FreePort();
        await using var run = OperatorProcess.Start(server, output, [], new() { ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}" });

        // act: let both list/watch loops fail several times
        await run.WaitForOutputAsync(CrdMissingLine);
        await Poll(() => server.Requests.Entries.Count(r => r.Method == "GET" && r.Path.EndsWith("/previewsandboxes", StringComparison.Ordinal)) >= 4,
            "the operator to retry the PreviewSandbox list a few times");

        // assert: said once, without a stack trace or the server's raw 404 text
        var log = run.Output;
        Assert.Equal(1, Occurrences(log, CrdMissingLine));
        Assert.Contains("kubectl apply -k config/crd", log, StringComparison.Ordinal);
        Assert.DoesNotContain("404 page not found", log, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);

        // ASPNETCORE_URLS chose the address (appsettings.json no longer shadows it)
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        Assert.Equal("ok", await http.GetStringAsync("/healthz"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/readyz")).StatusCode);

        // installing the CRD needs no restart
        await server.ApplyCrdAsync(Path.Combine(RepositoryPaths.Root, "config", "crd", "bases", "preview.midori.dev_previewsandboxes.yaml"));
        await PollAsync(async () => (await http.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "/readyz once the CRD is installed");
        await run.WaitForOutputAsync("The PreviewSandbox CRD is installed now");
        Assert.Equal(1, Occurrences(run.Output, CrdMissingLine));
    }

    [Fact]
    public async Task OutOfRangeSetting_EndsInOneLineNamingKeyValueAndRange_WithNonZeroExit()
    {
        // arrange
        await using var server = await DevKubeApiServer.StartAsync();
        await server.ApplyCrdAsync(Path.Combine(RepositoryPaths.Root, "config", "crd", "bases", "preview.midori.dev_previewsandboxes.yaml"));

        // act
        await using var run = OperatorProcess.Start(server, output, ["--Operator:RetainExpiredFor=00:00:10", "--Urls=http://127.0.0.1:0"], []);
        var exitCode = await run.WaitForExitAsync(Generous);

        // assert
        Assert.Equal(2, exitCode);
        var log = run.Output;
        Assert.Contains("midori-operator: invalid setting: Operator:RetainExpiredFor = 00:00:10 is out of range: allowed 00:01:00 to 365.00:00:00.", log, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", log, StringComparison.Ordinal);
    }

    private static int Occurrences(string text, string value)
    {
        var count = 0;
        for (var at = text.IndexOf(value, StringComparison.Ordinal); at >= 0; at = text.IndexOf(value, at + value.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task Poll(Func<bool> condition, string what) => await PollAsync(() => Task.FromResult(condition()), what);

    private static async Task PollAsync(Func<Task<bool>> condition, string what)
    {
        var until = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            Assert.True(until.Elapsed < Generous, $"timed out waiting for {what}");
            await Task.Delay(200);
        }
    }

    /// <summary>`dotnet Midori.Operator.dll` run from the operator's project folder, so it reads the repository's appsettings.json.</summary>
    private sealed class OperatorProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _log = new();
        private readonly ITestOutputHelper _output;
        private readonly string _directory;

        private OperatorProcess(Process process, ITestOutputHelper output, string directory)
        {
            _process = process;
            _output = output;
            _directory = directory;
        }

        public string Output
        {
            get
            {
                lock (_log)
                {
                    return _log.ToString();
                }
            }
        }

        public static OperatorProcess Start(DevKubeApiServer server, ITestOutputHelper output, string[] arguments, Dictionary<string, string> environment)
        {
            var directory = Directory.CreateTempSubdirectory("midori-first-run-").FullName;
            var kubeconfig = Path.Combine(directory, "kubeconfig");
            File.WriteAllText(kubeconfig, server.CreateKubeconfig());
            var info = new ProcessStartInfo("dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = Path.Combine(RepositoryPaths.Root, "src", "Midori.Operator"),
            };
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Midori.Operator.dll"));
            foreach (var argument in arguments)
            {
                info.ArgumentList.Add(argument);
            }

            // A newcomer's environment: no inherited test settings, the kubeconfig just written.
            foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("ASPNETCORE_", StringComparison.Ordinal) || k.StartsWith("Operator__", StringComparison.Ordinal)).ToList())
            {
                info.Environment.Remove(key);
            }

            info.Environment["KUBECONFIG"] = kubeconfig;
            info.Environment["DOTNET_ENVIRONMENT"] = "Production";
            foreach (var (key, value) in environment)
            {
                info.Environment[key] = value;
            }

            var process = Process.Start(info)!;
            var run = new OperatorProcess(process, output, directory);
            process.OutputDataReceived += (_, e) => run.Append(e.Data);
            process.ErrorDataReceived += (_, e) => run.Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return run;
        }

        public async Task WaitForOutputAsync(string text)
        {
            var until = Stopwatch.StartNew();
            while (!Output.Contains(text, StringComparison.Ordinal))
            {
                if (_process.HasExited)
                {
                    Assert.Fail($"the operator exited ({_process.ExitCode}) before printing \"{text}\":\n{Output}");
                }

                Assert.True(until.Elapsed < Generous, $"timed out waiting for \"{text}\":\n{Output}");
                await Task.Delay(100);
            }
        }

        public async Task<int> WaitForExitAsync(TimeSpan bound)
        {
            using var timeout = new CancellationTokenSource(bound);
            await _process.WaitForExitAsync(timeout.Token);
            _process.WaitForExit(); // drains the redirected streams
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }

            _output.WriteLine(Output);
            _process.Dispose();
            Directory.Delete(_directory, recursive: true);
        }

        private void Append(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_log)
            {
                _log.AppendLine(line);
            }
        }
    }
}
