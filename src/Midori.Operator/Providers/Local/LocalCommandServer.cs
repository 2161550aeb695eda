using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Midori.Operator.Providers.Local;

/// <summary>
/// Command mode: <c>/bin/sh -c</c> in the project directory, in its own session/process group (via <c>setsid</c>
/// when present) so stopping kills the whole tree. stdout/stderr go to <c>logs/server.log</c>. The environment is a
/// short allowlist of the operator's own variables (never its secrets) plus the request's, then <c>PORT</c>/<c>HOST</c>.
/// With a required token the command listens on an inner port and a <see cref="LocalHttpFront"/> forwarder gates it.
/// </summary>
internal sealed class LocalCommandServer : ILocalSandboxServer
{
    private const int SigTerm = 15;
    private const int SigKill = 9;
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);
    private static readonly string? SetsidPath = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);

    /// <summary>
    /// Wrapper script: $1 = log file, $2 = the user's command. Redirects once, then evaluates the command in this
    /// shell, so <c>exec …</c> in the command replaces the shell and keeps the process-group leader's pid.
    /// </summary>
    private const string Wrapper = "exec >>\"$1\" 2>&1 </dev/null; __midori_cmd=$2; shift 2; eval \"$__midori_cmd\"";

    private static readonly string[] PassThroughVariables =
    [
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
        "PYENV_ROOT", "NVM_DIR", "DOTNET_ROOT",
    ];

    private readonly Process _process;
    private readonly bool _ownProcessGroup;
    private readonly TimeProvider _timeProvider;
    private readonly TimeSpan _gracePeriod;
    private LocalHttpFront? _gate;
    private volatile bool _stopping;
    private int _stopped;

    private LocalCommandServer(Process process, bool ownProcessGroup, int port, TimeProvider timeProvider, TimeSpan gracePeriod)
    {
        _process = process;
        _ownProcessGroup = ownProcessGroup;
        _timeProvider = timeProvider;
        _gracePeriod = gracePeriod;
        Port = port;
    }

    public string Mode => _gate is null ? "command" : "command behind token gate";

    public int Port { get; private set; }

    public int? UnexpectedExitCode { get; private set; }

    /// <summary>Pid of the shell (after <c>exec</c>: of the dev server); with setsid also its process-group id.</summary>
    public int ProcessId { get; private set; }

    /// <summary>Raised once when the process ends without being asked to (argument: exit code).</summary>
    public event Action<int>? ExitedUnexpectedly;

    public static async Task<LocalCommandServer> StartAsync(
        string command,
        IReadOnlyDictionary<string, string> environment,
        string projectDirectory,
        string logFile,
        IPAddress bindAddress,
        string? requiredToken,
        TimeSpan startupTimeout,
        TimeSpan gracePeriod,
        TimeProvider timeProvider,
        CancellationToken cancellationToken)
    {
        // behind the token gate the dev server itself must not be reachable from outside: loopback only
        var listenAddress = requiredToken is null ? bindAddress
            : bindAddress.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback;
        var port = AllocatePort(listenAddress);
        var startInfo = new ProcessStartInfo
        {
            FileName = SetsidPath ?? "/bin/sh",
            WorkingDirectory = projectDirectory,
            UseShellExecute = false,
        };
        if (SetsidPath is not null)
        {
            startInfo.ArgumentList.Add("/bin/sh");
        }

        foreach (var arg in new[] { "-c", Wrapper, "sh", logFile, command })
        {
            startInfo.ArgumentList.Add(arg);
        }

        startInfo.Environment.Clear();
        foreach (var name in PassThroughVariables)
        {
            if (Environment.GetEnvironmentVariable(name) is { } value)
            {
                startInfo.Environment[name] = value;
            }
        }

        foreach (var (name, value) in environment)
        {
            startInfo.Environment[name] = value;
        }

        startInfo.Environment["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        startInfo.Environment["HOST"] = listenAddress.ToString();

        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        try
        {
            if (!process.Start())
            {
                throw new InvalidOperationException("the shell did not start");
            }
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            process.Dispose();
            throw new SandboxProviderException(LocalSandboxProvider.ProviderName, $"Could not run the dev-server command: {ex.Message}", isTransient: false, ex);
        }

        var server = new LocalCommandServer(process, SetsidPath is not null, port, timeProvider, gracePeriod) { ProcessId = process.Id };
        process.Exited += (_, _) => server.OnExited();
        try
        {
            await server.WaitUntilListeningAsync(new IPEndPoint(LoopbackFor(listenAddress), port), logFile, startupTimeout, cancellationToken).ConfigureAwait(false);
            if (requiredToken is not null)
            {
                server._gate = await LocalHttpFront.StartForwarderAsync(
                    new IPEndPoint(listenAddress, port), bindAddress, requiredToken, cancellationToken).ConfigureAwait(false);
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
            await _gate.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await _gate.DisposeAsync().ConfigureAwait(false);
        }

        try
        {
            Signal(SigTerm);
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

            // the leader may be gone while children (npm → node) linger in the group: always finish them off
            Signal(SigKill);
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
        catch (IOException)
        {
            return "";
        }
    }

    private void OnExited()
    {
        if (_stopping)
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

    private void Signal(int signal)
    {
        int pid;
        try
        {
            if (_process.HasExited && !_ownProcessGroup)
            {
                return;
            }

            pid = _process.Id;
        }
        catch (InvalidOperationException)
        {
            return;
        }

        // negative pid: the whole process group that setsid made with the shell as leader; ESRCH when all are gone
        _ = Kill(_ownProcessGroup ? -pid : pid, signal);
    }

    // DllImport rather than LibraryImport: the signature is blittable, and LibraryImport would need AllowUnsafeBlocks
    /// <summary>
    /// Kills a dev server left behind by an operator that crashed (setsid keeps it alive): only when
    /// <c>/proc/{pid}</c> still leads its own process group and runs in <paramref name="projectDirectory"/>, so a
    /// reused pid is never hit. Returns true when something was killed.
    /// </summary>
    internal static bool KillOrphan(int pid, string projectDirectory)
    {
        if (pid <= 1)
        {
            return false;
        }

        try
        {
            var cwd = new DirectoryInfo($"/proc/{pid}/cwd").LinkTarget;
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var sameDirectory = cwd is not null
                && Path.TrimEndingDirectorySeparator(cwd) == Path.TrimEndingDirectorySeparator(Path.GetFullPath(projectDirectory));
            if (!sameDirectory || fields.Length < 3 || fields[2] != pid.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                return false;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false; // gone, or not ours to inspect
        }

        return Kill(-pid, SigKill) == 0;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Kill(int pid, int signal);
}
