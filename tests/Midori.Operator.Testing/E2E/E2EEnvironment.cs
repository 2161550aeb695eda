using k8s;
using k8s.Autorest;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;
using Midori.DevApiServer;

namespace Midori.Operator.Testing.E2E;

/// <summary>
/// Where the e2e scenarios run: the in-process test API server by default, or a real cluster when
/// <c>MIDORI_E2E_KUBECONFIG</c> names a kubeconfig. The scenarios are the same code either way.
/// </summary>
public sealed class E2EEnvironment : IAsyncDisposable
{
    public const string KubeconfigVariable = "MIDORI_E2E_KUBECONFIG";

    private readonly DevKubeApiServer? _server;

    private E2EEnvironment(KubernetesClientConfiguration configuration, string @namespace, DevKubeApiServer? server)
    {
        Configuration = configuration;
        Namespace = @namespace;
        _server = server;
        Client = new k8s.Kubernetes(configuration);
    }

    public KubernetesClientConfiguration Configuration { get; }

    public IKubernetes Client { get; }

    public string Namespace { get; }

    public bool IsRealCluster => _server is null;

    /// <summary>The in-process test API server (its request log, faults); null against a real cluster.</summary>
    public DevKubeApiServer? Server => _server;

    public string Description => IsRealCluster ? $"real cluster {Configuration.Host}" : $"test API server {Configuration.Host}";

    /// <summary>Starts against <paramref name="kubeconfig"/>, else <c>MIDORI_E2E_KUBECONFIG</c>, else the test API server.</summary>
    public static async Task<E2EEnvironment> StartAsync(string? kubeconfig = null, CancellationToken cancellationToken = default)
    {
        var @namespace = $"midori-e2e-{Guid.NewGuid().ToString("N")[..8]}";
        kubeconfig ??= Environment.GetEnvironmentVariable(KubeconfigVariable);
        E2EEnvironment environment;
        if (!string.IsNullOrWhiteSpace(kubeconfig))
        {
            environment = new E2EEnvironment(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig), @namespace, server: null);
        }
        else
        {
            var server = await DevKubeApiServer.StartAsync();
            environment = new E2EEnvironment(server.CreateClientConfiguration(), @namespace, server);
        }

        await environment.InstallCrdAsync(cancellationToken);
        await environment.Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = @namespace } }, cancellationToken: cancellationToken);
        return environment;
    }

    /// <summary>Creates or updates the checked-in CRD and waits until the server reports it Established.</summary>
    private async Task InstallCrdAsync(CancellationToken cancellationToken)
    {
        var crd = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(await File.ReadAllTextAsync(RepositoryPaths.CrdFile, cancellationToken));
        try
        {
            await Client.ApiextensionsV1.CreateCustomResourceDefinitionAsync(crd, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.Conflict)
        {
            var existing = await Client.ApiextensionsV1.ReadCustomResourceDefinitionAsync(crd.Metadata.Name, cancellationToken: cancellationToken);
            crd.Metadata.ResourceVersion = existing.Metadata.ResourceVersion;
            await Client.ApiextensionsV1.ReplaceCustomResourceDefinitionAsync(crd, crd.Metadata.Name, cancellationToken: cancellationToken);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (true)
        {
            var current = await Client.ApiextensionsV1.ReadCustomResourceDefinitionAsync(crd.Metadata.Name, cancellationToken: timeout.Token);
            if (_server is not null || current.Status?.Conditions?.Any(c => c.Type == "Established" && c.Status == "True") == true)
            {
                return;
            }

            await Task.Delay(200, timeout.Token);
        }
    }

    public Task<V1Alpha1PreviewSandbox> CreateAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken) =>
        Client.CustomObjects.CreateNamespacedCustomObjectAsync<V1Alpha1PreviewSandbox>(resource, GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural, cancellationToken: cancellationToken);

    public async Task<V1Alpha1PreviewSandbox?> GetAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return await Client.CustomObjects.GetNamespacedCustomObjectAsync<V1Alpha1PreviewSandbox>(GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural, name, cancellationToken);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public Task MergePatchAsync(string name, object patch, CancellationToken cancellationToken) =>
        Client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch(KubernetesJson.Serialize(patch), V1Patch.PatchType.MergePatch),
            GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural, name, cancellationToken: cancellationToken);

    /// <summary>What <c>kubectl annotate --overwrite psb/NAME preview.midori.dev/heartbeat=$(date -u +%FT%TZ)</c> does.</summary>
    public Task HeartbeatAsync(string name, DateTimeOffset at, CancellationToken cancellationToken) =>
        MergePatchAsync(name, new { metadata = new { annotations = new Dictionary<string, string> { [GroupVersion.HeartbeatAnnotation] = at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture) } } }, cancellationToken);

    public Task DeleteAsync(string name, CancellationToken cancellationToken) =>
        Client.CustomObjects.DeleteNamespacedCustomObjectAsync(GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural, name, cancellationToken: cancellationToken);

    public async Task<V1Secret?> GetSecretAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return await Client.CoreV1.ReadNamespacedSecretAsync(name, Namespace, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>Polls until <paramref name="condition"/> holds: the bounded wait e2e scenarios are allowed.</summary>
    public async Task<V1Alpha1PreviewSandbox?> WaitForAsync(string name, Func<V1Alpha1PreviewSandbox?, bool> condition, TimeSpan timeout, string what)
    {
        using var cts = new CancellationTokenSource(timeout);
        V1Alpha1PreviewSandbox? last = null;
        try
        {
            while (true)
            {
                last = await GetAsync(name, cts.Token);
                if (condition(last))
                {
                    return last;
                }

                await Task.Delay(100, cts.Token);
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"Timed out after {timeout} waiting for {what} on {Description}; last seen: {(last is null ? "<none>" : KubernetesJson.Serialize(last.Status))}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (IsRealCluster)
        {
            try
            {
                await Client.CoreV1.DeleteNamespaceAsync(Namespace);
            }
            catch (HttpOperationException)
            {
                // Best effort: a leftover test namespace is harmless and visible.
            }
        }

        Client.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
