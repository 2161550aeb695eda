using System.Diagnostics;
using Midori.DevStack;
using Midori.Operator.Testing;
using Midori.Operator.Tests.Packaging;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.DevStack;

/// <summary>
/// The development stack as a user drives it: the real kubectl against the kubeconfig it wrote (HTTPS, token, CA), for every
/// command the README promises. The operator reconciles for real with the local provider, so Ready means a served preview.
/// </summary>
[Trait("Category", "DevStack")]
public sealed class DevStackKubectlTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(2);
    private readonly string _data = Directory.CreateTempSubdirectory("midori-devstack-").FullName;
    private DevStackHost _stack = null!;

    public async Task InitializeAsync()
        => _stack = await DevStackHost.StartAsync([$"--DevStack:DataDirectory={_data}", "--Urls=http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning"]);

    public async Task DisposeAsync()
    {
        await _stack.DisposeAsync();
        Directory.Delete(_data, recursive: true);
    }

    [KubectlFact]
    public async Task Kubectl_AppliesWaitsGetsExplainsDescribesAnnotatesPatchesWatchesAndDeletes_ThePreviewSample()
    {
        // arrange
        var sample = Path.Combine(RepositoryPaths.SamplesDirectory, "preview.midori.dev_v1alpha1_previewsandbox.yaml");
        var edited = Path.Combine(_data, "edited.yaml");
        await File.WriteAllTextAsync(edited, (await File.ReadAllTextAsync(sample)).Replace("ttlSeconds: 1800", "ttlSeconds: 2400", StringComparison.Ordinal));

        // act + assert: client-side apply, then Ready through the operator
        Assert.Contains("hello-preview created", Kubectl($"apply -f {sample}"));
        Assert.Contains("condition met", Kubectl($"wait --for=condition=Ready psb/hello-preview --timeout={(int)Generous.TotalSeconds}s"));

        // the CRD's printer columns, rendered by the server
        var table = Kubectl("get psb");
        Assert.Matches(@"NAME\s+PHASE\s+READY\s+PROVIDER\s+URL\s+EXPIRES\s+AGE", table);
        Assert.Matches(@"hello-preview\s+Running\s+True\s+local\s+http://127\.0\.0\.1:\d+/", table);
        Assert.StartsWith("http://127.0.0.1:", Kubectl("get psb hello-preview -o jsonpath={.status.previewUrl}"));

        // OpenAPI v3 for explain
        var explain = Kubectl("explain psb.spec");
        Assert.Contains("FIELD: spec <Object>", explain);
        Assert.Contains("projectId", explain);

        // describe reads the object and its events (field selector on involvedObject)
        var describe = Kubectl("describe psb hello-preview");
        Assert.Contains("Events:", describe);
        Assert.Contains("Created", describe);
        Assert.Contains("Created", Kubectl("get events --field-selector involvedObject.name=hello-preview"));

        // annotate and patch (merge)
        Assert.Contains("annotated", Kubectl("annotate --overwrite psb/hello-preview preview.midori.dev/heartbeat=2026-12-01T10:00:00Z"));
        Assert.Contains("patched", Kubectl(MergePatch("""{"spec":{"suspend":true}}""")));
        Assert.Equal("true", Kubectl("get psb hello-preview -o jsonpath={.spec.suspend}"));

        // get -w: the list, then a line per change
        using (var watch = Start("get psb -w"))
        {
            var first = await watch.StandardOutput.ReadLineAsync().WaitAsync(Generous);
            Assert.Contains("NAME", first);
            await watch.StandardOutput.ReadLineAsync().WaitAsync(Generous); // the current row
            Kubectl(MergePatch("""{"spec":{"suspend":false}}"""));
            var changed = await watch.StandardOutput.ReadLineAsync().WaitAsync(Generous);
            Assert.Contains("hello-preview", changed);
            watch.Kill();
        }

        // client-side apply of an edit (merge patch with the last-applied annotation), then server-side apply
        Assert.Contains("configured", Kubectl($"apply -f {edited}"));
        Assert.Equal("2400", Kubectl("get psb hello-preview -o jsonpath={.spec.ttlSeconds}"));
        Assert.Contains("serverside-applied", Kubectl($"apply --server-side -f {sample}"));
        Assert.Equal("1800", Kubectl("get psb hello-preview -o jsonpath={.spec.ttlSeconds}"));

        // delete waits for the operator's finalizer, then the object is gone
        Assert.Contains("deleted", Kubectl("delete psb hello-preview --timeout=120s"));
        var (code, _, stderr) = ExternalTool.Kubectl.Run(Arguments("get psb hello-preview"), allowFailure: true);
        Assert.Equal(1, code);
        Assert.Contains("NotFound", stderr);
    }

    // Process arguments follow the C runtime's quoting rules: the JSON's quotes are escaped inside one quoted argument.
    private static string MergePatch(string json) => $"patch psb hello-preview --type merge -p \"{json.Replace("\"", "\\\"", StringComparison.Ordinal)}\"";

    private string Arguments(string command) => $"--kubeconfig {_stack.KubeconfigPath} --cache-dir {Path.Combine(_data, "kube-cache")} {command}";

    private string Kubectl(string command)
    {
        var (_, stdout, stderr) = ExternalTool.Kubectl.Run(Arguments(command));
        output.WriteLine($"$ kubectl {command}\n{stdout}{stderr}");
        return stdout.Trim();
    }

    private Process Start(string command)
    {
        var info = new ProcessStartInfo(ExternalTool.Kubectl.Path!, Arguments(command)) { RedirectStandardOutput = true, RedirectStandardError = true };
        return Process.Start(info)!;
    }
}
