using Midori.Operator.Testing;
using Midori.Operator.Tests.Packaging;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.KubeApiServer;

/// <summary>
/// The real kubectl scaling a PreviewSandboxPool through its scale subresource, as the README and the sample tell
/// platform teams to (and as an HPA or KEDA writes it): discovery leads kubectl to autoscaling/v1, the precondition
/// flag is checked against the Scale it reads.
/// </summary>
public sealed class KubectlScaleTests(ITestOutputHelper output) : IAsyncLifetime
{
    private KubectlSession _kubectl = null!;

    public async Task InitializeAsync() => _kubectl = await KubectlSession.StartAsync(output, RepositoryPaths.PoolCrdFile);

    public async Task DisposeAsync() => await _kubectl.DisposeAsync();

    [KubectlFact]
    public void KubectlScale_SetsSpecReplicas_AndHonoursCurrentReplicas()
    {
        // arrange: the sample pool (two replicas)
        Assert.Contains("created", _kubectl.Run($"apply -f {Path.Combine(RepositoryPaths.Root, "config", "samples", "preview.midori.dev_v1alpha1_previewsandboxpool.yaml")}"));

        // act
        var scaled = _kubectl.Run("scale psbpool vite-warm --replicas=5");

        // assert
        Assert.Contains("scaled", scaled);
        Assert.Equal("5", _kubectl.Run("get psbpool vite-warm -o jsonpath={.spec.replicas}"));
        Assert.Equal("2", _kubectl.Run("get psbpool vite-warm -o jsonpath={.metadata.generation}"));

        // act: a precondition that no longer holds
        var (code, _, stderr) = _kubectl.RunFailing("scale psbpool vite-warm --current-replicas=2 --replicas=1");

        // assert: refused, nothing written
        Assert.NotEqual(0, code);
        Assert.Contains("Expected replicas to be 2, was 5", stderr);
        Assert.Equal("5", _kubectl.Run("get psbpool vite-warm -o jsonpath={.spec.replicas}"));

        // act + assert: the current count as precondition passes
        Assert.Contains("scaled", _kubectl.Run("scale psbpool vite-warm --current-replicas=5 --replicas=0"));
        Assert.Equal("0", _kubectl.Run("get psbpool vite-warm -o jsonpath={.spec.replicas}"));
    }
}
