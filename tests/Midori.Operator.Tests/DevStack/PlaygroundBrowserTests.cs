using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Midori.DevStack;
using Midori.Operator.Testing;
using Midori.Operator.Tests.Packaging;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.DevStack;

/// <summary>
/// The playground page (<c>/ui</c>) of the dev stack in a real browser: Debian's chromium driven by playwright-core
/// (<c>.ci/setup.d/50-chromium.sh</c>) through <c>Browser/playground-flow.mjs</c>, on a stack started as the one command
/// starts it (two loopback ports: the API and page on one, previews on their own origin). The flow is the seed's editor
/// flow: edit (a line PATCH, then a whole-file PUT) and the framed preview changes; stop typing and it expires; type again
/// and it wakes with the latest files. Screenshots of each stage stay in the test's artifacts folder.
/// </summary>
[Trait("Category", "DevStack")]
public sealed class PlaygroundBrowserTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Preview = "playground";
    private readonly string _data = Directory.CreateTempSubdirectory("midori-playground-").FullName;
    private DevStackHost _stack = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _stack = await DevStackHost.StartAsync([$"--DevStack:DataDirectory={_data}", "--DevStack:Port=0", "--DevStack:PreviewPort=0", "--Logging:LogLevel:Default=Warning"]);
        _http = new HttpClient { BaseAddress = _stack.ApiBaseAddress, Timeout = TestWaits.Bound * 2 };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _stack.DisposeAsync();
        Directory.Delete(_data, recursive: true);
    }

    [ChromiumFact]
    public async Task Playground_EditChangesThePreview_IdleExpiresIt_EditingAgainWakesIt_InChromium()
    {
        // arrange: a preview with the shortest idle timeout, made through the API as an editor would
        var artifacts = Browser.ArtifactsDirectory();
        var created = await Api(HttpMethod.Post, "previews?wait=true&timeoutSeconds=120", new JsonObject
        {
            ["projectId"] = Preview,
            ["name"] = Preview,
            ["idleTimeoutSeconds"] = 10,
            ["files"] = new JsonArray(new JsonObject
            {
                ["path"] = "index.html",
                ["content"] = "<!doctype html>\n<title>playground</title>\n<h1>Version 1</h1>\n<p>edited in the playground</p>\n",
            }),
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);

        // act: the browser flow (each of its waits is bounded; the whole run too)
        var (exitCode, log) = await Browser.RunAsync("playground-flow.mjs", new Dictionary<string, string>
        {
            ["PLAYGROUND_URL"] = _stack.PlaygroundUrl,
            ["PREVIEW_NAME"] = Preview,
            ["ARTIFACTS"] = artifacts,
            ["WAIT_MS"] = ((int)(TestWaits.Bound * 2).TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture),
        }, TestWaits.Bound * 10);
        output.WriteLine(log);
        output.WriteLine($"screenshots: {artifacts}");

        // assert: the browser saw every stage, and the server holds what the page typed
        Assert.True(exitCode == 0, log);
        Assert.Contains("PLAYGROUND FLOW OK", log);
        foreach (var shot in new[] { "1-edited.png", "2-expired.png", "3-woken.png" })
        {
            Assert.True(new FileInfo(Path.Combine(artifacts, shot)).Length > 0, shot);
        }

        var detail = await ReadJsonAsync($"/ui/api/namespaces/default/previews/{Preview}");
        var file = detail["files"]!.AsArray().Single(f => (string?)f!["path"] == "index.html")!;
        Assert.Contains("<h1>Version 3</h1>\n<p id=\"added\">added by the playground</p>", (string?)file["content"]);
        Assert.True(detail["recreations"]!.AsArray().Any(r => (string?)r!["reason"] == "idle_wake"), detail.ToJsonString());
    }

    [Fact]
    public async Task Playground_Page_IsLockedDown_AndItsRoutesNeedTheToken()
    {
        // act
        using var page = await _http.GetAsync("/ui");
        using var anonymous = await _http.GetAsync("/ui/api/namespaces/default/previews");
        using var unknown = await _http.GetAsync("/ui/secrets.txt");

        // assert: scripts from this origin only, frames from the previews' own origin only, no referrer, no cache
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var csp = string.Join(' ', page.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("script-src 'self'", csp);
        Assert.Contains($"frame-src {_stack.PreviewOrigin}", csp);
        Assert.Contains("frame-ancestors 'none'", csp);
        Assert.NotEqual(new Uri(_stack.PreviewOrigin!).Port, _stack.ApiBaseAddress.Port);
        Assert.Equal("no-referrer", page.Headers.GetValues("Referrer-Policy").Single());
        Assert.Contains("playground.js", await page.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("#token=", _stack.Banner());
    }

    private async Task<HttpResponseMessage> Api(HttpMethod method, string path, JsonObject body)
    {
        using var request = new HttpRequestMessage(method, $"/api/v1/namespaces/default/{path}") { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _stack.ApiToken);
        return await _http.SendAsync(request);
    }

    private async Task<JsonObject> ReadJsonAsync(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _stack.ApiToken);
        using var response = await _http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }
}

/// <summary>Debian's chromium (<c>MIDORI_CHROMIUM</c>, else PATH) and the playwright-core that drives it (npm, in <c>Browser/</c>).</summary>
internal static class Browser
{
    public static readonly string Directory = Path.Combine(RepositoryPaths.Root, "tests", "Midori.Operator.Tests", "DevStack", "Browser");

    public static readonly string? Chromium = new[] { Environment.GetEnvironmentVariable("MIDORI_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser" }
        .FirstOrDefault(p => !string.IsNullOrEmpty(p) && File.Exists(p));

    public static readonly string? Node = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator)
        .Select(dir => Path.Combine(dir, "node")).FirstOrDefault(File.Exists);

    public static string? MissingReason =>
        Chromium is null ? "chromium not found (set MIDORI_CHROMIUM or run `source .ci/setup.d/50-chromium.sh`)"
        : Node is null ? "node not found (run `source .ci/setup.d/50-chromium.sh`)"
        : !File.Exists(Path.Combine(Directory, "node_modules", "playwright-core", "package.json")) ? "playwright-core not installed (run `source .ci/setup.d/50-chromium.sh`)"
        : null;

    /// <summary>Screenshots go to MIDORI_TEST_ARTIFACTS, else next to the test assembly; kept after the run.</summary>
    public static string ArtifactsDirectory()
    {
        var root = Environment.GetEnvironmentVariable("MIDORI_TEST_ARTIFACTS") is { Length: > 0 } configured ? configured : Path.Combine(AppContext.BaseDirectory, "artifacts");
        var directory = Path.Combine(root, "playground");
        System.IO.Directory.CreateDirectory(directory);
        return directory;
    }

    public static async Task<(int ExitCode, string Log)> RunAsync(string script, IReadOnlyDictionary<string, string> environment, TimeSpan bound)
    {
        Assert.True(MissingReason is null, MissingReason); // only reached under CI=true (otherwise the fact is skipped)
        var info = new ProcessStartInfo(Node!, script) { WorkingDirectory = Directory, RedirectStandardOutput = true, RedirectStandardError = true };
        info.Environment["MIDORI_CHROMIUM"] = Chromium;
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(bound);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        return (process.ExitCode, $"{await stdout}{await stderr}");
    }
}

/// <summary>A fact that needs the browser: skipped with the reason when it is missing, unless CI=true (then it runs and fails).</summary>
internal sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (Browser.MissingReason is { } reason && !ExternalTool.IsCi)
        {
            Skip = reason;
        }
    }
}
