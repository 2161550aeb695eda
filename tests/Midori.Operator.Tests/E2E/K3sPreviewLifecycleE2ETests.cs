using Testcontainers.K3s;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.E2E;

/// <summary>
/// The same lifecycle scenario against a real k3s API server in a container (Testcontainers.K3s): real schema
/// pruning, CEL, RBAC defaults and garbage collection. Skipped, with the reason, where no Docker engine runs.
/// </summary>
[Trait("Category", "E2E")]
[Trait("Requires", "Docker")]
public sealed class K3sPreviewLifecycleE2ETests(ITestOutputHelper output) : PreviewLifecycleScenario(output)
{
    [DockerFact]
    public Task Lifecycle_OnK3s_ApplyServeKeepAliveExpireWakeSuspendResumeDelete() => RunLifecycleAsync();

    private K3sContainer? _k3s;
    private string? _kubeconfigPath;

    protected override async Task<string?> KubeconfigAsync()
    {
        _k3s = new K3sBuilder("rancher/k3s:v1.31.4-k3s1").Build();
        await _k3s.StartAsync();
        _kubeconfigPath = Path.Combine(Path.GetTempPath(), $"midori-k3s-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(_kubeconfigPath, await _k3s.GetKubeconfigAsync());
        return _kubeconfigPath;
    }

    protected override async Task CleanupClusterAsync()
    {
        if (_k3s is not null)
        {
            await _k3s.DisposeAsync();
        }

        if (_kubeconfigPath is not null)
        {
            File.Delete(_kubeconfigPath);
        }
    }
}

/// <summary>A fact that needs a Docker engine; skipped with the reason where none answers (MinikubeFact pattern).</summary>
public sealed class DockerFactAttribute : FactAttribute
{
    public DockerFactAttribute()
    {
        var hasEngine = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOCKER_HOST")) || File.Exists("/var/run/docker.sock");
        if (!hasEngine)
        {
            Skip = "No Docker engine (no /var/run/docker.sock, DOCKER_HOST unset): the k3s scenario needs one. The same scenario "
                + "runs against the in-process API server, and against any cluster with MIDORI_E2E_KUBECONFIG.";
        }
    }
}
