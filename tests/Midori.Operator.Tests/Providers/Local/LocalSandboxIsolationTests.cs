using System.Globalization;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Local;

namespace Midori.Operator.Tests.Providers.Local;

/// <summary>
/// A hostile <c>spec.command</c> against the real bubblewrap sandbox: everything it tries to reach of the operator fails.
/// These need a working bwrap (.ci/setup.d installs it); where it is missing they fail rather than skip, because then
/// the provider refuses commands and the isolation claim would be untested.
/// </summary>
public sealed class LocalSandboxIsolationTests
{
    private const string PythonServer = "exec python3 -m http.server \"$PORT\" --bind \"$HOST\"";

    // Each probe prints "<name>=ok" when the attempt succeeded and "<name>=denied" when it failed.
    private const string Probes = """
        probe() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name=ok"; else echo "$name=denied"; fi; }
        {
          probe read-operator-environ cat "/proc/$OPERATOR_PID/environ"
          probe see-operator-pid test -e "/proc/$OPERATOR_PID"
          probe read-outside-file cat "$OUTSIDE_FILE"
          probe list-outside-dir ls "$OUTSIDE_DIR"
          probe read-service-account ls /var/run/secrets/kubernetes.io/serviceaccount
          probe read-root-home ls /root
          probe write-usr touch /usr/midori-escape
          probe write-etc touch /etc/midori-escape
          probe write-root touch /midori-escape
          probe write-outside sh -c 'echo x > "$OUTSIDE_DIR/escape"'
          probe write-project touch ./written
          probe write-home touch "$HOME/written"
          echo "uid=$(id -u)"
          echo "pids=$(ls /proc | grep -c '^[0-9]')"
          echo "pid1-environ=$(tr '\0' ' ' < /proc/1/environ | wc -c)"
          echo "secret-anywhere=$(cat /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n' | grep -c MIDORI_ISOLATION_SECRET)"
          echo "env-names=$(env | cut -d= -f1 | sort | tr '\n' ',')"
        } > report.txt
        """;

    [Fact]
    public async Task Command_HostileProbes_CannotReachOperatorProcessFilesSecretsOrEnvironment()
    {
        // arrange
        await using var harness = new LocalProviderHarness(TimeProvider.System);
        using var cts = LocalProviderHarness.Cancel();
        var outsideDir = Path.Combine(harness.Root, "outside");
        Directory.CreateDirectory(outsideDir);
        var outsideFile = Path.Combine(outsideDir, "operator-secret.txt");
        await File.WriteAllTextAsync(outsideFile, "operator-secret", cts.Token);
        Environment.SetEnvironmentVariable("MIDORI_ISOLATION_SECRET", "s3cr3t-in-operator-env");
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        var environment = new Dictionary<string, string>
        {
            ["OPERATOR_PID"] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
            ["OUTSIDE_FILE"] = outsideFile,
            ["OUTSIDE_DIR"] = outsideDir,
            ["GREETING"] = "hi",
        };

        // act
        try
        {
            await harness.Provider.StartAsync(info.Id, new SandboxStartRequest(Probes + "\n" + PythonServer, 3000, environment), cts.Token);
        }
        finally
        {
            Environment.SetEnvironmentVariable("MIDORI_ISOLATION_SECRET", null);
        }

        var report = (await File.ReadAllLinesAsync(Path.Combine(harness.Root, info.Id, "project", "report.txt"), cts.Token))
            .Select(line => line.Split('=', 2))
            .ToDictionary(parts => parts[0], parts => parts.Length > 1 ? parts[1] : "", StringComparer.Ordinal);

        // assert
        foreach (var probe in new[]
                 {
                     "read-operator-environ", "see-operator-pid", "read-outside-file", "list-outside-dir", "read-service-account",
                     "read-root-home", "write-usr", "write-etc", "write-root", "write-outside",
                 })
        {
            Assert.True(report[probe] == "denied", $"{probe} should fail inside the sandbox; report: {string.Join("; ", report)}");
        }

        Assert.Equal("ok", report["write-project"]);
        Assert.Equal("ok", report["write-home"]);
        Assert.Equal("65534", report["uid"]);
        Assert.InRange(int.Parse(report["pids"], CultureInfo.InvariantCulture), 1, 10); // its own PID namespace, not the host's
        Assert.Equal("0", report["pid1-environ"]); // bwrap's own PID 1 carries no operator environment either
        Assert.Equal("0", report["secret-anywhere"]);
        var names = report["env-names"].Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        names.ExceptWith(["PWD", "SHLVL", "_", "OLDPWD"]); // set by the shell itself
        Assert.Equal(new SortedSet<string>(["GREETING", "HOME", "HOST", "OPERATOR_PID", "OUTSIDE_DIR", "OUTSIDE_FILE", "PATH", "PORT"], StringComparer.Ordinal),
            new SortedSet<string>(names, StringComparer.Ordinal));
        Assert.False(File.Exists(Path.Combine(outsideDir, "escape")));
        Assert.False(File.Exists("/usr/midori-escape"));
    }

    [Fact]
    public async Task Command_BubblewrapUnavailable_IsRefusedWithIsolationUnavailableAndNothingRuns()
    {
        // arrange
        await using var harness = new LocalProviderHarness(TimeProvider.System, o => o.BubblewrapPath = "/nonexistent/bwrap");
        using var cts = LocalProviderHarness.Cancel();
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);

        // act
        var error = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.StartAsync(
            info.Id, new SandboxStartRequest("touch ran; " + PythonServer, 3000, new Dictionary<string, string>()), cts.Token));
        await harness.Provider.StartAsync(info.Id, LocalProviderHarness.StaticStart(), cts.Token); // static previews need no sandbox

        // assert
        Assert.Equal(PreviewSandboxConditions.Reasons.IsolationUnavailable, error.Reason);
        Assert.False(error.IsTransient);
        Assert.Contains("bubblewrap", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(harness.Root, info.Id, "project", "ran")));
        Assert.Equal(SandboxState.Running, (await harness.Provider.GetAsync(info.Id, cts.Token))!.State);
    }

    [Fact]
    public async Task Probe_OnThisMachine_BubblewrapConfinesCommands()
    {
        // arrange
        await using var harness = new LocalProviderHarness(TimeProvider.System);

        // act
        var problem = await harness.Provider.IsolationProblemAsync();

        // assert: CI installs bubblewrap (.ci/setup.d/40-bubblewrap.sh); without it every command preview is refused
        Assert.Null(problem);
    }

    [Fact]
    public async Task Create_CrashBetweenSpawnAndListen_NewInstanceReapsTheProcess()
    {
        // arrange: the seam stalls right after spawn, as if the operator died before the server listened
        await using var harness = new LocalProviderHarness(TimeProvider.System);
        using var cts = LocalProviderHarness.Cancel();
        using var stuck = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        var spawned = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Provider.AfterSpawn = async (pid, token) =>
        {
            spawned.TrySetResult(pid);
            await Task.Delay(Timeout.Infinite, token);
        };
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        var start = harness.Provider.StartAsync(info.Id, new SandboxStartRequest("sleep 300 & " + PythonServer, 3000, new Dictionary<string, string>()), stuck.Token);
        try
        {
            var bwrap = await spawned.Task.WaitAsync(cts.Token);
            var recorded = harness.ServerPid(info.Id); // on disk before the process is awaited
            int[] tree = [];
            var shellStarted = await LocalProviderHarness.EventuallyAsync(() =>
            {
                tree = [.. ProcessTree.Descendants(bwrap), bwrap];
                return Task.FromResult(tree.Length >= 4); // bwrap, its PID-1, python, sleep
            });

            // act: a new instance over the same root, the stalled one never finishing
            var restarted = harness.NewProvider();
            var loaded = await restarted.GetAsync(info.Id, cts.Token);

            // assert
            Assert.Equal(bwrap, recorded);
            Assert.True(shellStarted, $"the sandboxed command started; tree: {string.Join(",", tree)}");
            Assert.True(await LocalProviderHarness.EventuallyAsync(() => Task.FromResult(tree.All(LocalProviderHarness.ProcessIsGone))),
                "every process of the crashed start is reaped");
            var marked = ProcessTree.WithMarker(BubblewrapSandbox.MarkerPrefix);
            Assert.DoesNotContain(marked, tree.Contains);
            Assert.Equal(SandboxState.Stopped, loaded!.State);
        }
        finally
        {
            await stuck.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => start);
        }
    }

    [Fact]
    public async Task Command_ProcessKilled_ReportsDeathWithOwnerAtOnce()
    {
        // arrange
        var deaths = new SandboxDeathNotifier();
        var reported = new TaskCompletionSource<SandboxDeath>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = deaths.Subscribe(death => reported.TrySetResult(death));
        await using var harness = new LocalProviderHarness(TimeProvider.System, deaths: deaths);
        using var cts = LocalProviderHarness.Cancel();
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        await harness.Provider.StartAsync(info.Id, new SandboxStartRequest(PythonServer, 3000, new Dictionary<string, string>()), cts.Token);

        // act
        System.Diagnostics.Process.GetProcessById(Assert.Single(harness.SandboxedProcesses(info.Id, "python3"))).Kill();
        var death = await reported.Task.WaitAsync(cts.Token);

        // assert
        Assert.Equal(new SandboxDeath(ProviderNames.Local, info.Id, "default", "demo", death.Detail), death);
        Assert.Contains("exited", death.Detail, StringComparison.Ordinal);
        Assert.Equal(SandboxState.Error, (await harness.Provider.GetAsync(info.Id, cts.Token))!.State);
    }
}
