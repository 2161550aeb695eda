using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Midori.Operator.Tests.Persistence;

/// <summary>
/// A PostgreSQL cluster of the test's own (initdb + pg_ctl on a free port and a fresh data directory), so a test can
/// stop and restart it without disturbing the shared server at MIDORI_TEST_PG. Needs the server binaries
/// (Debian's postgresql, installed by .ci/setup.d/10-postgres.sh); as root the server runs as the postgres user.
/// </summary>
public sealed class PrivatePostgresCluster : IAsyncDisposable
{
    private readonly string _bin;
    private readonly string _root;
    private readonly bool _asPostgresUser;

    private PrivatePostgresCluster(string bin, string root, int port, bool asPostgresUser)
    {
        _bin = bin;
        _root = root;
        Port = port;
        _asPostgresUser = asPostgresUser;
    }

    public int Port { get; }

    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=midori;Timeout=5;Command Timeout=10";

    private string Data => Path.Combine(_root, "data");

    /// <summary>The newest <c>/usr/lib/postgresql/N/bin</c> with initdb, or null.</summary>
    public static string? FindBinaries() =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")))
                .OrderBy(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0).LastOrDefault()
            : null;

    /// <summary>Null when a private cluster can be started here; under CI=true never a reason (the test must fail instead).</summary>
    public static string? SkipReason =>
        PostgresTestEnvironment.IsCi || FindBinaries() is not null ? null : "PostgreSQL server binaries (initdb, pg_ctl) not found; `source .ci/setup.d/10-postgres.sh` installs them";

    public static async Task<PrivatePostgresCluster> StartAsync()
    {
        var bin = FindBinaries() ?? throw new InvalidOperationException("PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql");
        var root = Path.Combine(Path.GetTempPath(), "midori-private-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root);
        var asPostgres = Environment.UserName == "root";
        var cluster = new PrivatePostgresCluster(bin, root, FreePort(), asPostgres);
        if (asPostgres)
        {
            await cluster.RunAsync("/bin/chown", "postgres", root);
        }

        await cluster.PgAsync("initdb", "-D", cluster.Data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale");
        await cluster.StartAgainAsync();
        await using (var admin = new NpgsqlConnection($"Host=127.0.0.1;Port={cluster.Port};Username=postgres;Database=postgres;Pooling=false"))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand("CREATE DATABASE midori", admin);
            await create.ExecuteNonQueryAsync();
        }

        return cluster;
    }

    /// <summary>A fast restart: connected sessions are terminated (57P01), new ones refused until the server is back.</summary>
    public Task RestartAsync() => PgCtlAsync("restart", "-m", "fast");

    public Task StopAsync() => PgCtlAsync("stop", "-m", "fast");

    public Task StartAgainAsync() =>
        PgCtlAsync("start", "-o", $"-c listen_addresses=127.0.0.1 -p {Port} -k {_root} -c fsync=off -c max_connections=100");

    public async ValueTask DisposeAsync()
    {
        try
        {
            await PgCtlAsync("stop", "-m", "immediate");
        }
        catch (InvalidOperationException)
        {
            // already stopped
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private Task PgCtlAsync(string action, params string[] more) =>
        PgAsync("pg_ctl", ["-D", Data, "-l", Path.Combine(_root, "server.log"), "-w", "-t", "60", action, .. more]);

    private Task PgAsync(string tool, params string[] arguments) =>
        _asPostgresUser
            ? RunAsync("/usr/sbin/runuser", ["-u", "postgres", "--", Path.Combine(_bin, tool), .. arguments])
            : RunAsync(Path.Combine(_bin, tool), arguments);

    private async Task RunAsync(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _root };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            var log = Path.Combine(_root, "server.log");
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', arguments)} exited {process.ExitCode}: {await output}{await error}"
                + (File.Exists(log) ? "\n" + string.Join('\n', File.ReadLines(log).TakeLast(20)) : string.Empty));
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
