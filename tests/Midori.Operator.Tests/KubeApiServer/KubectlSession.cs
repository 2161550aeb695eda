using Midori.DevApiServer;
using Midori.Operator.Tests.Packaging;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.KubeApiServer;

/// <summary>
/// The real kubectl against a fresh test API server over HTTPS (kubectl sends its token only over TLS), with its own
/// kubeconfig, discovery cache and scratch directory; every command and what it printed go to the test's output.
/// </summary>
internal sealed class KubectlSession : IAsyncDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly DevCertificates _certificates;
    private readonly string _kubeconfig;

    private KubectlSession(ITestOutputHelper output, DevCertificates certificates, DevKubeApiServer server, string directory)
    {
        _output = output;
        _certificates = certificates;
        Server = server;
        Directory = directory;
        _kubeconfig = Path.Combine(directory, "kubeconfig");
    }

    public DevKubeApiServer Server { get; }

    /// <summary>Scratch directory for manifests (removed on dispose).</summary>
    public string Directory { get; }

    public static async Task<KubectlSession> StartAsync(ITestOutputHelper output, params string[] crdFiles)
    {
        var certificates = DevCertificates.Create(TimeProvider.System);
        var server = await DevKubeApiServer.StartAsync(new DevKubeApiServerOptions { ServerCertificate = certificates.Server, CertificateAuthority = certificates.Authority });
        foreach (var crd in crdFiles)
        {
            await server.ApplyCrdAsync(crd);
        }

        var session = new KubectlSession(output, certificates, server, System.IO.Directory.CreateTempSubdirectory("midori-kubectl-").FullName);
        await File.WriteAllTextAsync(session._kubeconfig, server.CreateKubeconfig());
        return session;
    }

    /// <summary>Runs <c>kubectl -n default {command}</c>, which must succeed; returns its trimmed output.</summary>
    public string Run(string command)
    {
        var (_, stdout, stderr) = ExternalTool.Kubectl.Run(Arguments(command));
        _output.WriteLine($"$ kubectl {command}\n{stdout}{stderr}");
        return stdout.Trim();
    }

    /// <summary>Runs a command that may fail.</summary>
    public (int Code, string Stdout, string Stderr) RunFailing(string command)
    {
        var result = ExternalTool.Kubectl.Run(Arguments(command), allowFailure: true);
        _output.WriteLine($"$ kubectl {command}\n{result.Stdout}{result.Stderr}");
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        _certificates.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }

    private string Arguments(string command) => $"--kubeconfig {_kubeconfig} --cache-dir {Path.Combine(Directory, "kube-cache")} -n default {command}";
}
