using System.Globalization;
using System.Net;
using Midori.Operator.Providers;

namespace Midori.Operator.Tests.Providers.Local;

/// <summary>
/// Command mode waits on real processes and sockets, so these use <see cref="TimeProvider.System"/>: the provider's
/// readiness polling goes through the injected TimeProvider and would never advance on a FakeTimeProvider.
/// </summary>
public sealed class LocalSandboxCommandTests
{
    private const string PythonServer = "exec python3 -m http.server \"$PORT\" --bind \"$HOST\"";

    [Fact]
    public async Task StartAsync_PythonCommand_ServesAndProcessTreeIsGoneAfterDelete()
    {
        // arrange
        await using var harness = new LocalProviderHarness(TimeProvider.System);
        using var cts = LocalProviderHarness.Cancel();
        var pidFile = Path.Combine(harness.Root, "pids");
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        await harness.Provider.UploadFilesAsync(info.Id, [LocalProviderHarness.Text("index.html", "from python")], cts.Token);
        var command = "sleep 300 & echo \"$$ $!\" > \"$PID_FILE\"; " + PythonServer;
        var environment = new Dictionary<string, string> { ["PID_FILE"] = pidFile };

        // act
        await harness.Provider.StartAsync(info.Id, new SandboxStartRequest(command, 3000, environment), cts.Token);
        var preview = await harness.Provider.GetPreviewAsync(info.Id, 3000, cts.Token);
        using var response = await harness.GetAsync(preview.Url, "/");
        var body = await response.Content.ReadAsStringAsync(cts.Token);
        var state = (await harness.Provider.GetAsync(info.Id, cts.Token))!.State;
        var pids = (await File.ReadAllTextAsync(pidFile, cts.Token)).Split(' ', StringSplitOptions.TrimEntries)
            .Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        await harness.Provider.DeleteAsync(info.Id, cts.Token);

        // assert
        Assert.Equal("from python", body);
        Assert.Equal(SandboxState.Running, state);
        Assert.Equal(2, pids.Length); // the shell-turned-python and its background child
        Assert.True(await LocalProviderHarness.EventuallyAsync(() => Task.FromResult(pids.All(LocalProviderHarness.ProcessIsGone))));
        Assert.True(await harness.StopsAnsweringAsync(preview.Url));
        Assert.False(Directory.Exists(Path.Combine(harness.Root, info.Id)));
    }

    [Fact]
    public async Task StartAsync_Command_WritesOutputToServerLogAndPassesEnvironment()
    {
        // arrange
        await using var harness = new LocalProviderHarness(TimeProvider.System);
        using var cts = LocalProviderHarness.Cancel();
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        var command = "echo \"greeting=$GREETING port=$PORT\"; echo oops >&2; " + PythonServer;

        // act
        await harness.Provider.StartAsync(
            info.Id, new SandboxStartRequest(command, 5173, new Dictionary<string, string> { ["GREETING"] = "hi" }), cts.Token);
        var preview = await harness.Provider.GetPreviewAsync(info.Id, 5173, cts.Token);
        var log = await File.ReadAllTextAsync(Path.Combine(harness.Root, info.Id, "logs", "server.log"), cts.Token);

        // assert
        Assert.Contains($"greeting=hi port={preview.Url.Port}", log, StringComparison.Ordinal);
        Assert.Contains("oops", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_CommandExitsImmediately_ThrowsPermanentAndReportsError()
    {
        // arrange
        await using var harness = new LocalProviderHarness(TimeProvider.System);
        using var cts = LocalProviderHarness.Cancel();
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);

        // act
        var error = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.StartAsync(
            info.Id, new SandboxStartRequest("echo cannot find package.json; exit 3", 3000, new Dictionary<string, string>()), cts.Token));
        var state = (await harness.Provider.GetAsync(info.Id, cts.Token))!.State;

        // assert
        Assert.False(error.IsTransient);
        Assert.Contains("exited with code 3", error.Message, StringComparison.Ordinal);
        Assert.Contains("cannot find package.json", error.Message, StringComparison.Ordinal);
        Assert.Equal(SandboxState.Error, state);
    }

    [Fact]
    public async Task StartAsync_CommandNeverListens_ThrowsTransientAfterStartupTimeout()
    {
        // arrange
        await using var harness = new LocalProviderHarness(TimeProvider.System, o => o.StartupTimeout = TimeSpan.FromSeconds(1));
        using var cts = LocalProviderHarness.Cancel();
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);

        // act
        var error = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.StartAsync(
            info.Id, new SandboxStartRequest("exec sleep 300", 3000, new Dictionary<string, string>()), cts.Token));

        // assert
        Assert.True(error.IsTransient);
        Assert.Contains("did not listen", error.Message, StringComparison.Ordinal);
        Assert.Equal(SandboxState.Error, (await harness.Provider.GetAsync(info.Id, cts.Token))!.State);
    }

    [Fact]
    public async Task GetAsync_CommandDiesLater_ReportsErrorAndStartRecovers()
    {
        // arrange
        await using var harness = new LocalProviderHarness(TimeProvider.System);
        using var cts = LocalProviderHarness.Cancel();
        var pidFile = Path.Combine(harness.Root, "pid");
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        var request = new SandboxStartRequest("echo $$ > \"$PID_FILE\"; " + PythonServer, 3000, new Dictionary<string, string> { ["PID_FILE"] = pidFile });
        await harness.Provider.StartAsync(info.Id, request, cts.Token);
        var pid = int.Parse((await File.ReadAllTextAsync(pidFile, cts.Token)).Trim(), CultureInfo.InvariantCulture);

        // act
        System.Diagnostics.Process.GetProcessById(pid).Kill();
        var sawError = await LocalProviderHarness.EventuallyAsync(
            async () => (await harness.Provider.GetAsync(info.Id, cts.Token))!.State == SandboxState.Error);
        await harness.Provider.StartAsync(info.Id, request, cts.Token);
        var preview = await harness.Provider.GetPreviewAsync(info.Id, 3000, cts.Token);
        using var response = await harness.GetAsync(preview.Url, "/");

        // assert
        Assert.True(sawError);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(SandboxState.Running, (await harness.Provider.GetAsync(info.Id, cts.Token))!.State);
    }

    [Fact]
    public async Task RequireToken_CommandMode_GatesTheDevServer()
    {
        // arrange
        await using var harness = new LocalProviderHarness(TimeProvider.System, o => o.RequireToken = true);
        using var cts = LocalProviderHarness.Cancel();
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        await harness.Provider.UploadFilesAsync(info.Id, [LocalProviderHarness.Text("index.html", "gated")], cts.Token);

        // act
        await harness.Provider.StartAsync(info.Id, new SandboxStartRequest(PythonServer, 3000, new Dictionary<string, string>()), cts.Token);
        var preview = await harness.Provider.GetPreviewAsync(info.Id, 3000, cts.Token);
        using var missing = await harness.GetAsync(preview.Url, "/");
        using var allowed = await harness.GetAsync(preview.Url, "/", token: preview.Token);

        // assert
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal("gated", await allowed.Content.ReadAsStringAsync(cts.Token));
    }

    [Fact]
    public async Task DisposeAsync_RunningCommand_KillsProcess()
    {
        // arrange
        await using var harness = new LocalProviderHarness(TimeProvider.System);
        using var cts = LocalProviderHarness.Cancel();
        var pidFile = Path.Combine(harness.Root, "pid");
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        await harness.Provider.StartAsync(
            info.Id,
            new SandboxStartRequest("echo $$ > \"$PID_FILE\"; " + PythonServer, 3000, new Dictionary<string, string> { ["PID_FILE"] = pidFile }),
            cts.Token);
        var pid = int.Parse((await File.ReadAllTextAsync(pidFile, cts.Token)).Trim(), CultureInfo.InvariantCulture);

        // act
        await harness.Provider.DisposeAsync();

        // assert
        Assert.True(await LocalProviderHarness.EventuallyAsync(() => Task.FromResult(LocalProviderHarness.ProcessIsGone(pid))));
    }

    [Fact]
    public async Task NewInstance_AfterCrashWithRunningCommand_KillsOrphanAndReportsStopped()
    {
        // arrange
        await using var harness = new LocalProviderHarness(TimeProvider.System);
        using var cts = LocalProviderHarness.Cancel();
        var pidFile = Path.Combine(harness.Root, "pid");
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        await harness.Provider.StartAsync(
            info.Id,
            new SandboxStartRequest("echo $$ > \"$PID_FILE\"; " + PythonServer, 3000, new Dictionary<string, string> { ["PID_FILE"] = pidFile }),
            cts.Token);
        var pid = int.Parse((await File.ReadAllTextAsync(pidFile, cts.Token)).Trim(), CultureInfo.InvariantCulture);

        // act: the first instance is never disposed, as if the operator crashed
        var restarted = harness.NewProvider();
        var loaded = await restarted.GetAsync(info.Id, cts.Token);

        // assert
        Assert.Equal(SandboxState.Stopped, loaded!.State);
        Assert.True(await LocalProviderHarness.EventuallyAsync(() => Task.FromResult(LocalProviderHarness.ProcessIsGone(pid))));
    }

    [Fact]
    public async Task RequireToken_CommandMode_DevServerListensOnLoopbackOnly()
    {
        // arrange
        await using var harness = new LocalProviderHarness(TimeProvider.System, o => o.RequireToken = true);
        using var cts = LocalProviderHarness.Cancel();
        var envFile = Path.Combine(harness.Root, "env");
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);

        // act
        await harness.Provider.StartAsync(
            info.Id,
            new SandboxStartRequest("echo \"$HOST $PORT\" > \"$ENV_FILE\"; " + PythonServer, 3000, new Dictionary<string, string> { ["ENV_FILE"] = envFile }),
            cts.Token);
        var preview = await harness.Provider.GetPreviewAsync(info.Id, 3000, cts.Token);
        var env = (await File.ReadAllTextAsync(envFile, cts.Token)).Trim().Split(' ');

        // assert
        Assert.Equal("127.0.0.1", env[0]);
        Assert.NotEqual(preview.Url.Port.ToString(CultureInfo.InvariantCulture), env[1]);
    }
}
