using System.Diagnostics;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers.Local;
using Midori.Operator.Testing.Builders;
using Midori.Operator.Testing.E2E;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.E2E;

/// <summary>
/// The real operator and the real local provider: a dev server killed from outside turns the resource Ready=False
/// through the provider's death report. Health checks are an hour apart and resync a day, so nothing else can notice
/// in time; the wait is a bounded poll (generous for a loaded machine) and the measured delay is printed, not asserted.
/// </summary>
[Trait("Category", "E2E")]
public sealed class LocalSandboxDeathE2ETests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "midori-e2e-death-" + Guid.NewGuid().ToString("N")[..8]);
    private E2EEnvironment _env = null!;
    private IOperatorUnderTest _host = null!;

    public async Task InitializeAsync()
    {
        _env = await E2EEnvironment.StartAsync(E2ETarget.FromEnvironment());
        _host = await _env.StartOperatorAsync(new Dictionary<string, string?>
        {
            ["Operator:WatchNamespace"] = _env.Namespace,
            ["Operator:HealthCheckInterval"] = "01:00:00",
            ["Operator:ResyncInterval"] = "1.00:00:00",
            ["Providers:Local:RootDirectory"] = _root,
        });
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _env.DisposeAsync();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task DevServerKilled_ResourceGoesNotReadyWithoutWaitingForHealthCheck()
    {
        // arrange
        const string name = "dies";
        var manifest = new PreviewSandboxBuilder().Named(name, _env.Namespace).WithTtl(600).WithIdleTimeout(600)
            .WithRecreate(enabled: false).WithCommand("exec python3 -m http.server \"$PORT\" --bind \"$HOST\"").Build();
        await _env.CreateAsync(manifest, CancellationToken.None);
        var ready = await _env.WaitForAsync(name, p => Ready(p)?.Status == "True", TimeSpan.FromSeconds(60), "Ready=True");
        var sandboxId = ready!.Status!.SandboxId!;
        var bwrap = ServerPid(sandboxId);
        var python = ProcessTree.Descendants(bwrap).Single(pid => File.ReadAllText($"/proc/{pid}/comm").Trim().StartsWith("python3", StringComparison.Ordinal));

        // act
        var clock = Stopwatch.StartNew();
        Process.GetProcessById(python).Kill();
        var notReady = await _env.WaitForAsync(name, p => Ready(p)?.Status == "False", TimeSpan.FromSeconds(30), "Ready=False after the kill");
        clock.Stop();
        output.WriteLine($"Ready=False {clock.ElapsedMilliseconds} ms after the dev server was killed ({Ready(notReady)!.Reason}: {Ready(notReady)!.Message})");

        // assert
        Assert.Equal("False", Ready(notReady)!.Status);
        Assert.NotEqual(Phases.Running, notReady!.Status!.Phase);
    }

    private int ServerPid(string sandboxId)
    {
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(_root, sandboxId, "sandbox.json")));
        return json.RootElement.GetProperty("serverPid").GetInt32();
    }

    private static k8s.Models.V1Condition? Ready(V1Alpha1PreviewSandbox? p) =>
        p?.Status?.Conditions?.FirstOrDefault(c => c.Type == PreviewSandboxConditions.Ready);
}
