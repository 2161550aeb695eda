using System.Diagnostics;
using System.Text;
using Midori.Operator.Testing;
using Midori.Operator.Testing.E2E;
using Midori.Operator.Tests.Persistence;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.Clients;

/// <summary>
/// The TypeScript client and React hooks (clients/typescript) run under <c>node --test</c> against the real operator:
/// this test starts the operator host (Kestrel on a loopback port, local provider, PostgreSQL from MIDORI_TEST_PG, the
/// in-process Kubernetes API server) and fails with node's output when node fails. Needs node and the package's
/// dependencies (<c>npm ci</c>, done by .ci/setup.d/40-node-client.sh); without them it skips, except under CI=true.
/// </summary>
[Trait("Category", "E2E")]
public sealed class TypeScriptClientTests(PostgresDatabase database, ITestOutputHelper output) : IClassFixture<PostgresDatabase>
{
    private const string Token = "token-sdk-client-0123456789";

    private static string PackageDirectory => Path.Combine(RepositoryPaths.Root, "clients", "typescript");

    [SkippableNodeFact]
    public async Task Client_and_hooks_pass_their_tests_against_the_running_operator()
    {
        var root = Path.Combine(Path.GetTempPath(), "midori-sdk-" + Guid.NewGuid().ToString("N")[..8]);
        await using var env = await E2EEnvironment.StartAsync();
        await using var host = await OperatorTestHost.StartAsync(env.Configuration, new Dictionary<string, string?>
        {
            ["ConnectionStrings:Midori"] = database.ConnectionString,
            ["Operator:WatchNamespace"] = env.Namespace,
            ["Operator:HealthCheckInterval"] = "00:00:02",
            ["Operator:HealthProbeTimeout"] = "00:00:01",
            ["Providers:Local:RootDirectory"] = root,
            ["Api:Tokens:0:Name"] = "editor",
            ["Api:Tokens:0:Token"] = Token,
            ["Api:Tokens:0:Namespaces:0"] = env.Namespace,
        });
        try
        {
            var (exitCode, text) = await RunAsync(NodeEnvironment.Npm, ["test"], new Dictionary<string, string>
            {
                ["MIDORI_API_URL"] = host.BaseAddress.ToString().TrimEnd('/'),
                ["MIDORI_API_TOKEN"] = Token,
                ["MIDORI_NAMESPACE"] = env.Namespace,
            }, TimeSpan.FromMinutes(10));
            output.WriteLine(text);
            Assert.True(exitCode == 0, $"npm test exited with {exitCode}:\n{text}");
            Assert.Contains("# fail 0", text, StringComparison.Ordinal);
            Assert.Contains("# skipped 0", text, StringComparison.Ordinal); // the live tests really ran
        }
        finally
        {
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, string[] arguments, IDictionary<string, string> environment, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = PackageDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var text = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (text) { text.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (text) { text.AppendLine(e.Data); } } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            lock (text)
            {
                text.AppendLine($"(killed after {timeout})");
            }

            return (-1, text.ToString());
        }

        process.WaitForExit(); // drains the redirected streams
        lock (text)
        {
            return (process.ExitCode, text.ToString());
        }
    }
}

/// <summary>Where node and npm are, and whether the client package's dependencies are installed.</summary>
public static class NodeEnvironment
{
    public static string? Node => Find("node");

    public static string Npm => Find("npm") ?? "npm";

    public static string? SkipReason
    {
        get
        {
            if (PostgresTestEnvironment.SkipReason is { } pg)
            {
                return pg;
            }

            if (PostgresTestEnvironment.IsCi)
            {
                return null; // under CI a missing node or npm ci fails the test instead
            }

            if (Node is null || Find("npm") is null)
            {
                return "node/npm not found on PATH; .ci/setup.d/40-node-client.sh installs them";
            }

            return Directory.Exists(Path.Combine(RepositoryPaths.Root, "clients", "typescript", "node_modules"))
                ? null
                : "clients/typescript has no node_modules; run `npm ci` there (or source .ci/setup.d/40-node-client.sh)";
        }
    }

    private static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}

/// <summary>A fact that needs PostgreSQL, node and the client's npm dependencies (see <see cref="NodeEnvironment"/>).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class SkippableNodeFactAttribute : FactAttribute
{
    public SkippableNodeFactAttribute()
    {
        if (NodeEnvironment.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
