using System.Diagnostics;
using k8s;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Testing.E2E;

/// <summary>
/// The scenarios' operations through the <c>kubectl</c> binary, as a user types them: <c>apply -f</c>, <c>wait --for</c>,
/// <c>get -o json</c>, <c>patch --type merge</c>, <c>annotate</c>, <c>delete</c>, <c>get events</c>. Every call has a bound and
/// fails with kubectl's own output. A private discovery cache keeps each call to its own requests after the first.
/// </summary>
public sealed class KubectlClusterClient(string kubectl, string kubeconfig, string cacheDirectory) : IE2EClusterClient
{
    public const string KubectlVariable = "MIDORI_KUBECTL";

    private const string Resource = GroupVersion.Plural + "." + GroupVersion.Group;

    /// <summary>MIDORI_KUBECTL, else the first kubectl on PATH; null when there is none.</summary>
    public static string? Find()
    {
        var candidates = new List<string?> { Environment.GetEnvironmentVariable(KubectlVariable) };
        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator).Select(dir => Path.Combine(dir, "kubectl")));
        return candidates.FirstOrDefault(c => !string.IsNullOrEmpty(c) && File.Exists(c));
    }

    public async Task InstallCrdAsync(string crdFile, CancellationToken cancellationToken)
    {
        // Server-side apply: idempotent whether the CRD is already there (the dev stack installs it) or not.
        await RunAsync(["apply", "--server-side", "--force-conflicts", "-f", crdFile], cancellationToken);
        var name = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(await File.ReadAllTextAsync(crdFile, cancellationToken)).Metadata.Name;
        await RunAsync(["wait", "--for=condition=Established", $"customresourcedefinitions.apiextensions.k8s.io/{name}", $"--timeout={(int)TestWaits.Bound.TotalSeconds}s"], cancellationToken);
    }

    public Task CreateNamespaceAsync(string name, CancellationToken cancellationToken) =>
        RunAsync(["apply", "-f", "-"], cancellationToken, stdin: KubernetesJson.Serialize(new V1Namespace { ApiVersion = "v1", Kind = "Namespace", Metadata = new V1ObjectMeta { Name = name } }));

    public async Task DeleteNamespaceAsync(string name)
    {
        using var timeout = new CancellationTokenSource(TestWaits.Bound);
        await RunAsync(["delete", "namespace", name, "--wait=false", "--ignore-not-found"], timeout.Token, allowFailure: true);
    }

    public async Task<V1Alpha1PreviewSandbox> CreateAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        resource.ApiVersion ??= GroupVersion.ApiVersion;
        resource.Kind ??= GroupVersion.Kind;
        var output = await RunAsync(["apply", "-f", "-", "-o", "json"], cancellationToken, stdin: KubernetesJson.Serialize(resource));
        return KubernetesJson.Deserialize<V1Alpha1PreviewSandbox>(output);
    }

    public async Task<V1Alpha1PreviewSandbox?> GetAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        var output = await RunAsync(["get", Resource, name, "-n", @namespace, "-o", "json", "--ignore-not-found"], cancellationToken);
        return string.IsNullOrWhiteSpace(output) ? null : KubernetesJson.Deserialize<V1Alpha1PreviewSandbox>(output);
    }

    public Task MergePatchAsync(string @namespace, string name, string patchJson, CancellationToken cancellationToken) =>
        RunAsync(["patch", Resource, name, "-n", @namespace, "--type", "merge", "-p", patchJson], cancellationToken);

    public Task AnnotateAsync(string @namespace, string name, string key, string value, CancellationToken cancellationToken) =>
        RunAsync(["annotate", "--overwrite", $"{Resource}/{name}", "-n", @namespace, $"{key}={value}"], cancellationToken);

    public Task DeleteAsync(string @namespace, string name, CancellationToken cancellationToken) =>
        RunAsync(["delete", Resource, name, "-n", @namespace, "--wait=false"], cancellationToken);

    public async Task<V1Secret?> GetSecretAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        var output = await RunAsync(["get", "secret", name, "-n", @namespace, "-o", "json", "--ignore-not-found"], cancellationToken);
        return string.IsNullOrWhiteSpace(output) ? null : KubernetesJson.Deserialize<V1Secret>(output);
    }

    public Task<string> DescribeEventsAsync(string @namespace, CancellationToken cancellationToken) =>
        RunAsync(["get", "events", "-n", @namespace, "--sort-by=.metadata.creationTimestamp"], cancellationToken, allowFailure: true);

    public void Dispose()
    {
    }

    private async Task<string> RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken, string? stdin = null, bool allowFailure = false)
    {
        var info = new ProcessStartInfo(kubectl)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["--kubeconfig", kubeconfig, "--cache-dir", cacheDirectory, .. arguments])
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {kubectl}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin.AsMemory(), cancellationToken);
            process.StandardInput.Close();
        }

        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(TestWaits.Bound);
        try
        {
            await process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var (output, error) = (await stdout, await stderr);
        if (process.ExitCode != 0 && !allowFailure)
        {
            throw new InvalidOperationException($"kubectl {string.Join(' ', arguments)} exited {process.ExitCode}: {error.Trim()}{(output.Length > 0 ? "\n" + output.Trim() : string.Empty)}");
        }

        return allowFailure && process.ExitCode != 0 ? error : output;
    }
}
