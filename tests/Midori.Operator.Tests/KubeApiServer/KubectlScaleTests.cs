using Midori.DevApiServer;
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
    private readonly string _dir = Directory.CreateTempSubdirectory("midori-scale-").FullName;
    private DevCertificates _certificates = null!;
    private DevKubeApiServer _server = null!;
    private string _kubeconfig = null!;

    public async Task InitializeAsync()
    {
        // HTTPS: kubectl sends its token only over TLS.
        _certificates = DevCertificates.Create(TimeProvider.System);
        _server = await DevKubeApiServer.StartAsync(new DevKubeApiServerOptions { ServerCertificate = _certificates.Server, CertificateAuthority = _certificates.Authority });
        await _server.ApplyCrdAsync(RepositoryPaths.PoolCrdFile);
        _kubeconfig = Path.Combine(_dir, "kubeconfig");
        await File.WriteAllTextAsync(_kubeconfig, _server.CreateKubeconfig());
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _certificates.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [KubectlFact]
    public void KubectlScale_SetsSpecReplicas_AndHonoursCurrentReplicas()
    {
        // arrange: the sample pool (two replicas)
        Assert.Contains("created", Kubectl($"apply -f {Path.Combine(RepositoryPaths.Root, "config", "samples", "preview.midori.dev_v1alpha1_previewsandboxpool.yaml")}"));

        // act
        var scaled = Kubectl("scale psbpool vite-warm --replicas=5");

        // assert
        Assert.Contains("scaled", scaled);
        Assert.Equal("5", Kubectl("get psbpool vite-warm -o jsonpath={.spec.replicas}"));
        Assert.Equal("2", Kubectl("get psbpool vite-warm -o jsonpath={.metadata.generation}"));

        // act: a precondition that no longer holds
        var (code, _, stderr) = KubectlFailing("scale psbpool vite-warm --current-replicas=2 --replicas=1");

        // assert: refused, nothing written
        Assert.NotEqual(0, code);
        Assert.Contains("Expected replicas to be 2, was 5", stderr);
        Assert.Equal("5", Kubectl("get psbpool vite-warm -o jsonpath={.spec.replicas}"));

        // act + assert: the current count as precondition passes
        Assert.Contains("scaled", Kubectl("scale psbpool vite-warm --current-replicas=5 --replicas=0"));
        Assert.Equal("0", Kubectl("get psbpool vite-warm -o jsonpath={.spec.replicas}"));
    }

    private string Arguments(string command) => $"--kubeconfig {_kubeconfig} --cache-dir {Path.Combine(_dir, "kube-cache")} -n default {command}";

    private string Kubectl(string command)
    {
        var (_, stdout, stderr) = ExternalTool.Kubectl.Run(Arguments(command));
        output.WriteLine($"$ kubectl {command}\n{stdout}{stderr}");
        return stdout.Trim();
    }

    private (int Code, string Stdout, string Stderr) KubectlFailing(string command)
    {
        var result = ExternalTool.Kubectl.Run(Arguments(command), allowFailure: true);
        output.WriteLine($"$ kubectl {command}\n{result.Stdout}{result.Stderr}");
        return result;
    }
}
