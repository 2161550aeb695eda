using System.Diagnostics;
using System.Globalization;

namespace Midori.Operator.Providers.Local;

/// <summary>
/// How a dev-server command is confined: <c>bwrap</c> (bubblewrap) with new user, PID, IPC, UTS and cgroup namespaces,
/// no capabilities, uid/gid 65534, an empty environment (only PATH, HOME, PORT, HOST and the spec's env), a fresh
/// <c>/proc</c> of its own PID namespace, and a file system of read-only system directories plus the sandbox's own
/// <c>project/</c>, <c>home/</c> and <c>logs/</c> (the only writable places besides a private <c>/tmp</c>). Nothing else of the host is
/// mounted: not the operator's files, not <c>/var/run/secrets</c>, not <c>/root</c>. The network namespace is shared, so the
/// dev server can listen on its port for the preview front; see the README's security model for what that means.
/// </summary>
internal static class BubblewrapSandbox
{
    /// <summary>Inside the sandbox: the project directory (cwd), home, logs.</summary>
    public const string ProjectMount = "/sandbox/project";
    public const string HomeMount = "/sandbox/home";
    public const string LogsMount = "/sandbox/logs";
    public const string SandboxPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>argv[0] of the sandboxed shell starts with this, followed by the sandbox directory: how orphans are found after a crash.</summary>
    public const string MarkerPrefix = "midori-sandbox:";

    /// <summary>Unprivileged identity inside the sandbox (nobody).</summary>
    private const string SandboxUid = "65534";

    // Top-level directories that are symlinks into /usr on merged-/usr systems and plain directories elsewhere.
    private static readonly string[] SystemDirectories = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

    // Only what programs need to run, resolve names and speak TLS; never the whole of /etc (it may hold mounted secrets).
    private static readonly string[] EtcEntries =
    [
        "/etc/alternatives", "/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/resolv.conf", "/etc/hosts",
        "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/services", "/etc/protocols", "/etc/localtime",
        "/etc/mime.types", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/os-release",
    ];

    /// <summary>The bwrap executable: the configured path, else the first <c>bwrap</c> on a standard system path.</summary>
    public static string? Locate(string? configured)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return File.Exists(configured) ? configured : null;
        }

        return new[] { "/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap" }.FirstOrDefault(File.Exists);
    }

    /// <summary>
    /// bwrap arguments for one sandbox, up to (not including) the program. <paramref name="sandboxDirectory"/> holds
    /// <c>project/</c>, <c>home/</c> and <c>logs/</c>; every other host path is read-only or absent.
    /// </summary>
    public static List<string> Arguments(string sandboxDirectory, IReadOnlyDictionary<string, string> environment, IEnumerable<string> extraReadOnlyPaths)
    {
        var args = new List<string>
        {
            "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--uid", SandboxUid, "--gid", SandboxUid,
            "--cap-drop", "ALL",
            "--die-with-parent", // the whole PID namespace dies with the spawning thread (a long-lived one, see ProcessSpawner)
            "--new-session",     // no TIOCSTI into the operator's terminal
            "--hostname", "sandbox",
            "--clearenv",
            "--ro-bind", "/usr", "/usr",
        };

        foreach (var directory in SystemDirectories)
        {
            var info = new DirectoryInfo(directory);
            if (info.LinkTarget is { } target)
            {
                args.AddRange(["--symlink", target, directory]);
            }
            else if (info.Exists)
            {
                args.AddRange(["--ro-bind", directory, directory]);
            }
        }

        foreach (var entry in EtcEntries.Concat(extraReadOnlyPaths))
        {
            args.AddRange(["--ro-bind-try", entry, entry]);
        }

        args.AddRange(
        [
            "--proc", "/proc",
            "--dev", "/dev",
            "--tmpfs", "/tmp",
            "--bind", Path.Combine(sandboxDirectory, LocalSandboxPaths.ProjectDirectoryName), ProjectMount,
            "--bind", Path.Combine(sandboxDirectory, LocalSandboxPaths.HomeDirectoryName), HomeMount,
            "--bind", Path.Combine(sandboxDirectory, LocalSandboxPaths.LogsDirectoryName), LogsMount,
            "--remount-ro", "/",
            "--chdir", ProjectMount,
            "--setenv", "PATH", SandboxPath,
            "--setenv", "HOME", HomeMount,
        ]);

        foreach (var (name, value) in environment)
        {
            args.AddRange(["--setenv", name, value]);
        }

        return args;
    }

    /// <summary>
    /// Runs <c>/bin/true</c> under the same confinement once: bwrap may be installed yet unable to create namespaces
    /// (a container without user namespaces, a seccomp profile). Null when it works, else why not.
    /// </summary>
    public static async Task<string?> ProbeAsync(string? configuredPath, string scratchDirectory, IEnumerable<string> extraReadOnlyPaths, CancellationToken cancellationToken)
    {
        if (Locate(configuredPath) is not { } bwrap)
        {
            return configuredPath is null
                ? "bubblewrap (bwrap) is not installed; install the 'bubblewrap' package"
                : $"bubblewrap was configured at '{configuredPath}' but that file does not exist";
        }

        var directory = Path.Combine(scratchDirectory, ".probe-" + Guid.NewGuid().ToString("N"));
        try
        {
            foreach (var name in new[] { LocalSandboxPaths.ProjectDirectoryName, LocalSandboxPaths.HomeDirectoryName, LocalSandboxPaths.LogsDirectoryName })
            {
                Directory.CreateDirectory(Path.Combine(directory, name));
            }

            var startInfo = new ProcessStartInfo { FileName = bwrap, UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            startInfo.Environment.Clear();
            foreach (var arg in Arguments(directory, new Dictionary<string, string>(), extraReadOnlyPaths).Where(a => a != "--die-with-parent"))
            {
                startInfo.ArgumentList.Add(arg);
            }

            startInfo.ArgumentList.Add("/bin/sh");
            startInfo.ArgumentList.Add("-c");
            startInfo.ArgumentList.Add("test -w " + ProjectMount + " && ! test -e /var/run/secrets");
            using var process = Process.Start(startInfo) ?? throw new InvalidOperationException("bwrap did not start");
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            var error = (await stderr.ConfigureAwait(false)).Trim();
            return process.ExitCode == 0
                ? null
                : $"bubblewrap cannot create its sandbox here (exit {process.ExitCode.ToString(CultureInfo.InvariantCulture)}{(error.Length > 0 ? ": " + Truncate(error) : "")}); "
                  + "user namespaces may be disabled or blocked by a seccomp profile";
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            return $"bubblewrap could not be run: {ex.Message}";
        }
        finally
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // best effort; a leftover empty probe directory is harmless
            }
        }
    }

    private static string Truncate(string text) => text.Length > 300 ? text[..300] + "…" : text;
}
