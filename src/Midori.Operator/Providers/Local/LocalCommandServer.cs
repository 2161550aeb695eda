using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Midori.Operator.Providers.Local;

/// <summary>
/// Command mode: <c>/bin/sh -c</c> in the project directory inside a <see cref="BubblewrapSandbox"/>. bwrap itself is
/// started with an empty environment (its PID-1 helper is visible inside the sandbox, so it must carry nothing of the
/// operator's), and the command sees only PATH, HOME, the spec's env and then <c>PORT</c>/<c>HOST</c>. stdout/stderr go to
/// <c>logs/server.log</c>. argv[0] of the shell is a marker naming the sandbox, so a restarted operator finds and reaps
/// what a crashed one left (<see cref="LocalSandboxProvider"/>). With a required token the command listens on a
/// loopback inner port and a <see cref="LocalHttpFront"/> forwarder gates it.
/// </summary>
internal sealed class LocalCommandServer : ILocalSandboxServer
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Wrapper script: $1 = log file, $2 = the user's command. Redirects once, then evaluates the command in this
    /// shell, so <c>exec …</c> in the command replaces the shell.
    /// </summary>
    private const string Wrapper = "exec >>\"$1\" 2>&1 </dev/null; __midori_cmd=$2; shift 2; eval \"$__midori_cmd\"";

    private readonly Process _process;
    private readonly TimeProvider _timeProvider;
    private readonly TimeSpan _gracePeriod;
    private LocalHttpFront? _gate;
    private volatile bool _stopping;
    private int _stopped;
    private int _exitReported;

    private LocalCommandServer(Process process, int port, TimeProvider timeProvider, TimeSpan gracePeriod)
    {
        _process = process;
        _timeProvider = timeProvider;
        _gracePeriod = gracePeriod;
        Port = port;
    }

    public string Mode => _gate is null ? "command in bubblewrap" : "command in bubblewrap behind token gate";

    public int Port { get; private set; }

    public int? UnexpectedExitCode { get; private set; }

    /// <summary>Host pid of the outer bwrap process; the sandbox's PID namespace dies with it.</summary>
    public int ProcessId { get; private set; }

    /// <summary>Raised once when the process ends without being asked to (argument: exit code).</summary>
    public event Action<int>? ExitedUnexpectedly;

    /// <param name="onSpawned">Called with the host pid right after the process exists, before it listens (to record it).</param>
    /// <param name="afterSpawn">Test seam: runs between spawn and the readiness wait, where a crash is most likely to orphan.</param>
    public static async Task<LocalCommandServer> StartAsync(
        LocalFrontServer fronts,
        LocalCommandLaunch launch,
        Action<int> onSpawned,
        Func<int, CancellationToken, Task>? afterSpawn,
        TimeProvider timeProvider,
        CancellationToken cancellationToken)
    {
        // behind the token gate the dev server itself must not be reachable from outside: loopback only
        var bindAddress = launch.BindAddress;
        var listenAddress = launch.RequiredToken is null ? bindAddress
            : bindAddress.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback;
        var port = AllocatePort(listenAddress);
        var environment = new Dictionary<string, string>(launch.Environment, StringComparer.Ordinal)
        {
            ["PORT"] = port.ToString(CultureInfo.InvariantCulture),
            ["HOST"] = listenAddress.ToString(),
        };

        var startInfo = new ProcessStartInfo { FileName = launch.BubblewrapPath, UseShellExecute = false };
        startInfo.Environment.Clear();
        foreach (var arg in BubblewrapSandbox.Arguments(launch.SandboxDirectory, environment, launch.ExtraReadOnlyPaths))
        {
            startInfo.ArgumentList.Add(arg);
        }

        foreach (var arg in new[] { "/bin/sh", "-c", Wrapper, launch.Marker, BubblewrapSandbox.LogsMount + "/" + LocalSandboxPaths.ServerLogFileName, launch.Command })
        {
            startInfo.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = await ProcessSpawner.StartAsync(startInfo).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new SandboxProviderException(LocalSandboxProvider.ProviderName, $"Could not run the dev-server command: {ex.Message}", isTransient: false, ex);
        }

        var server = new LocalCommandServer(process, port, timeProvider, launch.GracePeriod) { ProcessId = process.Id };
        process.Exited += (_, _) => server.OnExited();
        if (process.HasExited)
        {
            server.OnExited(); // ended before the subscription
        }

        try
        {
            onSpawned(process.Id);
            if (afterSpawn is not null)
            {
                await afterSpawn(process.Id, cancellationToken).ConfigureAwait(false);
            }

            await server.WaitUntilListeningAsync(new IPEndPoint(LoopbackFor(listenAddress), port), launch.LogFile, launch.StartupTimeout, cancellationToken).ConfigureAwait(false);
            if (launch.RequiredToken is not null)
            {
                server._gate = await fronts.OpenForwarderAsync(
                    new IPEndPoint(listenAddress, port), bindAddress, launch.RequiredToken, cancellationToken).ConfigureAwait(false);
                server.Port = server._gate.Port;
            }
        }
        catch
        {
            await server.StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        return server;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        _stopping = true;
        if (_gate is not null)
        {
            using var gateGrace = new CancellationTokenSource(_gracePeriod, _timeProvider);
            using var gateLinked = CancellationTokenSource.CreateLinkedTokenSource(gateGrace.Token, cancellationToken);
            await _gate.StopAsync(gateLinked.Token).ConfigureAwait(false);
            await _gate.DisposeAsync().ConfigureAwait(false);
        }

        try
        {
            // SIGTERM to the dev-server tree (bwrap's PID-1 ignores it), so servers can shut down cleanly
            var pid = ProcessId;
            foreach (var child in ProcessTree.Descendants(pid))
            {
                ProcessTree.Signal(child, ProcessTree.SigTerm);
            }

            using var grace = new CancellationTokenSource(_gracePeriod, _timeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(grace.Token, cancellationToken);
            try
            {
                await _process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // grace period over
            }

            // killing bwrap kills its PID-1 (--die-with-parent), and the kernel then kills every process of the namespace
            foreach (var child in ProcessTree.Descendants(pid))
            {
                ProcessTree.Signal(child, ProcessTree.SigKill);
            }

            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            _process.Dispose();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    /// <summary>Binds port 0 to learn a free port, then releases it for the command (tiny race; fine locally).</summary>
    internal static int AllocatePort(IPAddress bindAddress)
    {
        using var listener = new Socket(bindAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(bindAddress, 0));
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    internal static IPAddress LoopbackFor(IPAddress bindAddress) =>
        bindAddress.Equals(IPAddress.Any) ? IPAddress.Loopback
        : bindAddress.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback
        : bindAddress;

    private async Task WaitUntilListeningAsync(IPEndPoint endpoint, string logFile, TimeSpan startupTimeout, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(startupTimeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        var exited = _process.WaitForExitAsync(CancellationToken.None);
        try
        {
            while (true)
            {
                if (exited.IsCompleted)
                {
                    throw new SandboxProviderException(
                        LocalSandboxProvider.ProviderName,
                        $"The dev-server command exited with code {_process.ExitCode} before listening on PORT{LogTail(logFile)}",
                        isTransient: false);
                }

                if (await CanConnectAsync(endpoint, linked.Token).ConfigureAwait(false))
                {
                    return;
                }

                await Task.WhenAny(exited, Task.Delay(PollInterval, _timeProvider, linked.Token)).ConfigureAwait(false);
                linked.Token.ThrowIfCancellationRequested();
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new SandboxProviderException(
                LocalSandboxProvider.ProviderName,
                $"The dev-server command did not listen on PORT within {startupTimeout}{LogTail(logFile)}",
                isTransient: true);
        }
    }

    private static async Task<bool> CanConnectAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Last lines of the server log for the status message (the user's own output, not ours).</summary>
    private static string LogTail(string logFile)
    {
        try
        {
            var lines = File.ReadLines(logFile).TakeLast(3).Select(l => l.Length > 200 ? l[..200] : l).ToArray();
            return lines.Length == 0 ? "" : ": " + string.Join(" | ", lines);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    private void OnExited()
    {
        if (_stopping || Interlocked.Exchange(ref _exitReported, 1) == 1)
        {
            return;
        }

        int code;
        try
        {
            code = _process.ExitCode;
        }
        catch (InvalidOperationException)
        {
            return;
        }

        UnexpectedExitCode = code;
        ExitedUnexpectedly?.Invoke(code);
    }
}

/// <summary>Everything one sandboxed dev-server start needs.</summary>
internal sealed record LocalCommandLaunch(
    string Command,
    IReadOnlyDictionary<string, string> Environment,
    string SandboxDirectory,
    string LogFile,
    string Marker,
    string BubblewrapPath,
    IReadOnlyList<string> ExtraReadOnlyPaths,
    IPAddress BindAddress,
    string? RequiredToken,
    TimeSpan StartupTimeout,
    TimeSpan GracePeriod);
