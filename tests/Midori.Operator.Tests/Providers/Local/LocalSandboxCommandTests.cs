using System.Globalization;
using System.Net;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Local;

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
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        await harness.Provider.UploadFilesAsync(info.Id, [LocalProviderHarness.Text("index.html", "from python")], cts.Token);
        var command = "sleep 300 & " + PythonServer;

        // act
        await harness.Provider.StartAsync(info.Id, new SandboxStartRequest(command, 3000, new Dictionary<string, string>()), cts.Token);
        var preview = await harness.Provider.GetPreviewAsync(info.Id, 3000, cts.Token);
        using var response = await harness.GetAsync(preview.Url, "/", preview.Token);
        var body = await response.Content.ReadAsStringAsync(cts.Token);
        var state = (await harness.Provider.GetAsync(info.Id, cts.Token))!.State;
        var bwrap = harness.ServerPid(info.Id);
        var tree = ProcessTree.Descendants(bwrap).Append(bwrap).ToArray();
        await harness.Provider.DeleteAsync(info.Id, cts.Token);

        // assert
        Assert.Equal("from python", body);
        Assert.Equal(SandboxState.Running, state);
        Assert.True(tree.Length >= 4, $"bwrap, its PID-1, python and sleep; got {tree.Length}"); // outer bwrap, ns init, python, sleep
        Assert.True(await LocalProviderHarness.EventuallyAsync(() => Task.FromResult(tree.All(LocalProviderHarness.ProcessIsGone))));
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
        Assert.Matches(@"greeting=hi port=\d+", log); // the inner port behind the token gate
        Assert.NotNull(preview.Token);
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
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        var request = new SandboxStartRequest(PythonServer, 3000, new Dictionary<string, string>());
        await harness.Provider.StartAsync(info.Id, request, cts.Token);
        var python = harness.SandboxedProcesses(info.Id, "python3");

        // act
        System.Diagnostics.Process.GetProcessById(Assert.Single(python)).Kill();
        var sawError = await LocalProviderHarness.EventuallyAsync(
            async () => (await harness.Provider.GetAsync(info.Id, cts.Token))!.State == SandboxState.Error);
        await harness.Provider.StartAsync(info.Id, request, cts.Token);
        var preview = await harness.Provider.GetPreviewAsync(info.Id, 3000, cts.Token);
        using var response = await harness.GetAsync(preview.Url, "/", preview.Token);

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
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        await harness.Provider.StartAsync(info.Id, new SandboxStartRequest(PythonServer, 3000, new Dictionary<string, string>()), cts.Token);
        var pid = Assert.Single(harness.SandboxedProcesses(info.Id, "python3"));

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
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        await harness.Provider.StartAsync(info.Id, new SandboxStartRequest(PythonServer, 3000, new Dictionary<string, string>()), cts.Token);
        var pid = Assert.Single(harness.SandboxedProcesses(info.Id, "python3"));

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
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        var envFile = Path.Combine(harness.Root, info.Id, "project", "env");

        // act
        await harness.Provider.StartAsync(
            info.Id, new SandboxStartRequest("echo \"$HOST $PORT\" > env; " + PythonServer, 3000, new Dictionary<string, string>()), cts.Token);
        var preview = await harness.Provider.GetPreviewAsync(info.Id, 3000, cts.Token);
        var env = (await File.ReadAllTextAsync(envFile, cts.Token)).Trim().Split(' ');

        // assert
        Assert.Equal("127.0.0.1", env[0]);
        Assert.NotEqual(preview.Url.Port.ToString(CultureInfo.InvariantCulture), env[1]);
    }
}
