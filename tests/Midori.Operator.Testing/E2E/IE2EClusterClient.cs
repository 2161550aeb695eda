using k8s;
using k8s.Autorest;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Testing.E2E;

/// <summary>
/// The Kubernetes operations the e2e scenarios make, behind one seam so the same scenario runs through the .NET client
/// (<see cref="KubernetesClusterClient"/>) or through the <c>kubectl</c> binary (<see cref="KubectlClusterClient"/>).
/// </summary>
public interface IE2EClusterClient : IDisposable
{
    /// <summary>Creates or updates the CRD in <paramref name="crdFile"/> and returns once the server reports it Established.</summary>
    Task InstallCrdAsync(string crdFile, CancellationToken cancellationToken);

    Task CreateNamespaceAsync(string name, CancellationToken cancellationToken);

    /// <summary>Best effort: a leftover test namespace is harmless and visible.</summary>
    Task DeleteNamespaceAsync(string name);

    Task<V1Alpha1PreviewSandbox> CreateAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken);

    /// <summary>The resource, or null when it does not exist.</summary>
    Task<V1Alpha1PreviewSandbox?> GetAsync(string @namespace, string name, CancellationToken cancellationToken);

    Task MergePatchAsync(string @namespace, string name, string patchJson, CancellationToken cancellationToken);

    Task AnnotateAsync(string @namespace, string name, string key, string value, CancellationToken cancellationToken);

    /// <summary>Asks for deletion and returns without waiting for finalizers.</summary>
    Task DeleteAsync(string @namespace, string name, CancellationToken cancellationToken);

    Task<V1Secret?> GetSecretAsync(string @namespace, string name, CancellationToken cancellationToken);

    /// <summary>The namespace's events as text, for a timeout's message.</summary>
    Task<string> DescribeEventsAsync(string @namespace, CancellationToken cancellationToken);
}

/// <summary>The scenarios' operations through the KubernetesClient library (the in-process API server or a real cluster).</summary>
public sealed class KubernetesClusterClient(IKubernetes client) : IE2EClusterClient
{
    public async Task InstallCrdAsync(string crdFile, CancellationToken cancellationToken)
    {
        var crd = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(await File.ReadAllTextAsync(crdFile, cancellationToken));
        try
        {
            await client.ApiextensionsV1.CreateCustomResourceDefinitionAsync(crd, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.Conflict)
        {
            var existing = await client.ApiextensionsV1.ReadCustomResourceDefinitionAsync(crd.Metadata.Name, cancellationToken: cancellationToken);
            crd.Metadata.ResourceVersion = existing.Metadata.ResourceVersion;
            await client.ApiextensionsV1.ReplaceCustomResourceDefinitionAsync(crd, crd.Metadata.Name, cancellationToken: cancellationToken);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TestWaits.Bound);
        while (true)
        {
            var current = await client.ApiextensionsV1.ReadCustomResourceDefinitionAsync(crd.Metadata.Name, cancellationToken: timeout.Token);
            if (current.Status?.Conditions?.Any(c => c.Type == "Established" && c.Status == "True") == true)
            {
                return;
            }

            await Task.Delay(200, timeout.Token);
        }
    }

    public Task CreateNamespaceAsync(string name, CancellationToken cancellationToken) =>
        client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = name } }, cancellationToken: cancellationToken);

    public async Task DeleteNamespaceAsync(string name)
    {
        try
        {
            await client.CoreV1.DeleteNamespaceAsync(name);
        }
        catch (HttpOperationException)
        {
            // Best effort (see the interface).
        }
    }

    public Task<V1Alpha1PreviewSandbox> CreateAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken) =>
        client.CustomObjects.CreateNamespacedCustomObjectAsync<V1Alpha1PreviewSandbox>(
            resource, GroupVersion.Group, GroupVersion.Version, resource.Metadata.NamespaceProperty, GroupVersion.Plural, cancellationToken: cancellationToken);

    public async Task<V1Alpha1PreviewSandbox?> GetAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await client.CustomObjects.GetNamespacedCustomObjectAsync<V1Alpha1PreviewSandbox>(GroupVersion.Group, GroupVersion.Version, @namespace, GroupVersion.Plural, name, cancellationToken);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public Task MergePatchAsync(string @namespace, string name, string patchJson, CancellationToken cancellationToken) =>
        client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch(patchJson, V1Patch.PatchType.MergePatch),
            GroupVersion.Group, GroupVersion.Version, @namespace, GroupVersion.Plural, name, cancellationToken: cancellationToken);

    public Task AnnotateAsync(string @namespace, string name, string key, string value, CancellationToken cancellationToken) =>
        MergePatchAsync(@namespace, name, KubernetesJson.Serialize(new { metadata = new { annotations = new Dictionary<string, string> { [key] = value } } }), cancellationToken);

    public Task DeleteAsync(string @namespace, string name, CancellationToken cancellationToken) =>
        client.CustomObjects.DeleteNamespacedCustomObjectAsync(GroupVersion.Group, GroupVersion.Version, @namespace, GroupVersion.Plural, name, cancellationToken: cancellationToken);

    public async Task<V1Secret?> GetSecretAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await client.CoreV1.ReadNamespacedSecretAsync(name, @namespace, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task<string> DescribeEventsAsync(string @namespace, CancellationToken cancellationToken)
    {
        var events = await client.CoreV1.ListNamespacedEventAsync(@namespace, cancellationToken: cancellationToken);
        return string.Join('\n', events.Items.Select(e => $"{e.Type} {e.Reason} {e.InvolvedObject?.Name}: {e.Message}"));
    }

    public void Dispose() => client.Dispose();
}
