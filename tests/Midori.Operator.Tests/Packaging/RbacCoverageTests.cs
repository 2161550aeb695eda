using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;
using Midori.Operator.Testing.E2E;
using Midori.DevApiServer;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.Packaging;

/// <summary>
/// Least privilege, checked against what the code really calls: the real operator (leader election on, local provider)
/// runs a lifecycle against the test API server while a handler in its own Kubernetes client records every request.
/// Each request maps to (apiGroup, resource[/subresource], verb); config/rbac must allow every one, and every verb it
/// grants must have been used (or be listed below with the reason it is needed without a request of its own).
/// When new code calls the API server, this test names the rule to add to config/rbac (and the chart's copy).
/// </summary>
[Trait("Category", "Packaging")]
public sealed class RbacCoverageTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Namespace = "midori-rbac";
    private static readonly TimeSpan Bound = TestWaits.Bound;

    /// <summary>Granted without a request of their own; each with the reason.</summary>
    private static readonly Dictionary<Permission, string> NeededWithoutARequest = new()
    {
        // The token Secret carries an ownerReference with blockOwnerDeletion=true; with the OwnerReferencesPermissionEnforcement
        // admission plugin (OpenShift, hardened clusters) that needs update on the owner's finalizers subresource.
        [new("preview.midori.dev", "previewsandboxes/finalizers", "update")] = "blockOwnerDeletion on owned Secrets",
        // The lifecycle scenario drives the reconciler only; these are the HTTP API's calls (create a preview, stop with
        // ?purge) and retention's delete, exercised by the Http and retention tests against the same client.
        [new("preview.midori.dev", "previewsandboxes", "create")] = "HTTP API: POST previews",
        [new("preview.midori.dev", "previewsandboxes", "delete")] = "HTTP API purge and retention",
        // The reconciler reads from the informer's store; a GET is its fallback before the first list and the HTTP API's read.
        [new("preview.midori.dev", "previewsandboxes", "get")] = "reconciler's read before the informer has synced; HTTP API",
        // A recreation replaces the token Secret the status names in one request; the read is the HTTP API's and the
        // gateway's (the preview token) and the create → AlreadyExists path's (a Secret left from an earlier object).
        [new("", "secrets", "get")] = "HTTP API and gateway read the preview token; create → AlreadyExists",
    };

    private readonly string _root = Path.Combine(Path.GetTempPath(), "midori-rbac-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly ConcurrentQueue<(string Method, string Path, string Query)> _requests = new();
    private DevKubeApiServer _server = null!;
    private IKubernetes _client = null!;

    public async Task InitializeAsync()
    {
        _server = await DevKubeApiServer.StartAsync();
        await _server.ApplyCrdAsync(RepositoryPaths.CrdFile);
        await _server.ApplyCrdAsync(RepositoryPaths.PolicyCrdFile);
        await _server.ApplyCrdAsync(RepositoryPaths.PoolCrdFile);
        _client = new k8s.Kubernetes(_server.CreateClientConfiguration());

        // A policy that selects the namespace by label, so the run reads namespace labels and lists + watches policies.
        await _client.CustomObjects.CreateClusterCustomObjectAsync(new V1Alpha1PreviewSandboxPolicy
        {
            Metadata = new V1ObjectMeta { Name = "rbac-policy" },
            Spec = new PreviewSandboxPolicySpec
            {
                NamespaceSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = Namespace } },
                Providers = ["local"],
            },
        }, GroupVersion.Group, GroupVersion.Version, PolicyGroupVersion.Plural);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task ConfigRbac_AllowsEveryRequestTheOperatorMakes_AndGrantsNothingUnused()
    {
        // arrange
        var configuration = _server.CreateClientConfiguration();
        var host = await OperatorTestHost.StartAsync(configuration, new Dictionary<string, string?>
        {
            ["Operator:WatchNamespace"] = Namespace,
            ["LeaderElection:Enabled"] = "true",
            ["LeaderElection:LeaseNamespace"] = Namespace,
            ["LeaderElection:LeaseDuration"] = "00:00:03",
            ["LeaderElection:RenewDeadline"] = "00:00:02",
            ["LeaderElection:RetryPeriod"] = "00:00:00.250",
            ["Providers:Local:RootDirectory"] = _root,
            ["Providers:Local:RequireToken"] = "true", // a token per sandbox, so a recreation rewrites the Secret
        }, services => services.AddSingleton<IKubernetes>(new k8s.Kubernetes(configuration, new RecordingHandler(_requests))));

        // act: the lifecycle that exercises every kind of call the operator makes
        await RunLifecycleAsync();
        await host.DisposeAsync(); // graceful stop: drains and releases the Lease

        // assert
        var rules = RbacRules.Load("role.yaml").Concat(RbacRules.Load("leader_election_role.yaml")).ToList();
        var used = _requests.Select(r => Permission.Of(r.Method, r.Path, r.Query)).ToHashSet();
        foreach (var permission in used.OrderBy(p => p.ToString(), StringComparer.Ordinal))
        {
            output.WriteLine($"used: {permission}");
        }

        var missing = used.Where(p => !rules.Any(r => r.Allows(p))).Select(p => p.ToString()).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0, $"config/rbac (role.yaml / leader_election_role.yaml) does not allow: {string.Join("; ", missing)}. Add these rules there and copy the file to charts/midori-operator/files/rbac/.");
        var granted = rules.SelectMany(r => r.Expand()).ToHashSet();
        var unused = granted.Where(g => !used.Contains(g) && !NeededWithoutARequest.ContainsKey(g)).Select(p => p.ToString()).Order(StringComparer.Ordinal).ToList();
        Assert.True(unused.Count == 0, $"config/rbac grants verbs the operator never used: {string.Join("; ", unused)}. Remove them, or list them in NeededWithoutARequest with the reason.");
    }

    [Theory]
    [InlineData("GET", "/apis/preview.midori.dev/v1alpha1/namespaces/ns/previewsandboxes/a", "", "preview.midori.dev previewsandboxes get")]
    [InlineData("GET", "/apis/preview.midori.dev/v1alpha1/previewsandboxes", "limit=250", "preview.midori.dev previewsandboxes list")]
    [InlineData("GET", "/apis/preview.midori.dev/v1alpha1/namespaces/ns/previewsandboxes", "watch=true&allowWatchBookmarks=true", "preview.midori.dev previewsandboxes watch")]
    [InlineData("PATCH", "/apis/preview.midori.dev/v1alpha1/namespaces/ns/previewsandboxes/a/status", "", "preview.midori.dev previewsandboxes/status patch")]
    [InlineData("POST", "/api/v1/namespaces/ns/secrets", "", " secrets create")]
    [InlineData("PUT", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", "", "coordination.k8s.io leases update")]
    [InlineData("DELETE", "/api/v1/namespaces/ns/configmaps", "", " configmaps deletecollection")]
    [InlineData("GET", "/api/v1/namespaces/ns", "", " namespaces get")]
    [InlineData("POST", "/apis/authentication.k8s.io/v1/tokenreviews", "", "authentication.k8s.io tokenreviews create")]
    public void Permission_Of_MapsRequestsLikeTheApiServer(string method, string path, string query, string expected)
    {
        Assert.Equal(expected, Permission.Of(method, path, query).ToString());
    }

    private async Task RunLifecycleAsync()
    {
        await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = "files", NamespaceProperty = Namespace },
            Data = new Dictionary<string, string> { ["index.html"] = "<h1>rbac</h1>" },
        }, Namespace);
        // A warm pool of one: the pool controller lists + watches pools and writes the pool's status.
        await _client.CustomObjects.CreateNamespacedCustomObjectAsync(new V1Alpha1PreviewSandboxPool
        {
            Metadata = new V1ObjectMeta { Name = "rbac-pool", NamespaceProperty = Namespace },
            Spec = new PreviewSandboxPoolSpec { Replicas = 1 },
        }, GroupVersion.Group, GroupVersion.Version, Namespace, PoolGroupVersion.Plural);
        var resource = new PreviewSandboxBuilder().Named("rbac-demo", Namespace).WithConfigMap("files", ("index.html", "index.html")).Build();
        await _client.CustomObjects.CreateNamespacedCustomObjectAsync(resource, GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural);
        var ready = await WaitForAsync(IsReady, "Ready");

        // recreate (new sandbox, new token: the Secret is read and replaced), then suspend/resume twice (the repeated
        // Suspended event is aggregated into the first one with a patch), then delete (finalizer removed)
        await PatchAsync(new { metadata = new { annotations = new Dictionary<string, string> { [GroupVersion.RecreateAnnotation] = "1" } } });
        var recreated = await WaitForAsync(p => IsReady(p) && p!.Status!.SandboxId != ready!.Status!.SandboxId, "Ready after recreation");
        for (var round = 0; round < 2; round++)
        {
            await PatchAsync(new { spec = new { suspend = true } });
            await WaitForAsync(p => p?.Status?.Phase == Phases.Stopped, "Stopped");
            await PatchAsync(new { spec = new { suspend = false } });
            await WaitForAsync(p => IsReady(p) && p!.Status!.ObservedGeneration == p.Metadata.Generation, "Ready after resume");
        }

        await WaitUntilAsync(() => _requests.Any(r => r.Method == "PATCH" && r.Path.Contains("/events/", StringComparison.Ordinal)), "the repeated event to be aggregated");
        await WaitUntilAsync(() => _requests.Any(r => r.Method == "PATCH" && r.Path.EndsWith("/previewsandboxpools/rbac-pool/status", StringComparison.Ordinal)), "the pool's status");
        await _client.CustomObjects.DeleteNamespacedCustomObjectAsync(GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural, "rbac-demo");
        await WaitForAsync(p => p is null, "deletion");
        Assert.NotNull(recreated);
    }

    private Task PatchAsync(object patch) =>
        _client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch(KubernetesJson.Serialize(patch), V1Patch.PatchType.MergePatch),
            GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural, "rbac-demo");

    private static bool IsReady(V1Alpha1PreviewSandbox? p) =>
        p?.Status?.Conditions?.FirstOrDefault(c => c.Type == PreviewSandboxConditions.Ready)?.Status == "True";

    private async Task<V1Alpha1PreviewSandbox?> WaitForAsync(Func<V1Alpha1PreviewSandbox?, bool> condition, string what)
    {
        V1Alpha1PreviewSandbox? current = null;
        await WaitUntilAsync(async () =>
        {
            try
            {
                current = await _client.CustomObjects.GetNamespacedCustomObjectAsync<V1Alpha1PreviewSandbox>(GroupVersion.Group, GroupVersion.Version, Namespace, GroupVersion.Plural, "rbac-demo");
            }
            catch (k8s.Autorest.HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                current = null;
            }

            return condition(current);
        }, what);
        return current;
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    /// <summary>Bounded poll of observable state (the e2e pattern).</summary>
    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        using var cts = new CancellationTokenSource(Bound);
        while (!await condition())
        {
            if (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"Timed out waiting for {what}");
            }

            await Task.Delay(50);
        }
    }

    private sealed class RecordingHandler(ConcurrentQueue<(string Method, string Path, string Query)> requests) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            requests.Enqueue((request.Method.Method, request.RequestUri!.AbsolutePath, request.RequestUri.Query.TrimStart('?')));
            return base.SendAsync(request, cancellationToken);
        }
    }
}

/// <summary>One RBAC permission: API group ("" for core), resource (with "/subresource"), verb.</summary>
internal readonly record struct Permission(string Group, string Resource, string Verb)
{
    public override string ToString() => $"{Group} {Resource} {Verb}";

    /// <summary>The API server's request-info rules: which (group, resource, verb) a REST request needs.</summary>
    public static Permission Of(string method, string path, string query)
    {
        var segments = path.Trim('/').Split('/');
        string group;
        int rest;
        if (segments[0] == "api")
        {
            group = string.Empty;
            rest = 2; // api/v1/...
        }
        else if (segments[0] == "apis")
        {
            group = segments[1];
            rest = 3; // apis/group/version/...
        }
        else
        {
            throw new ArgumentException($"not a resource path: {path}");
        }

        var parts = segments[rest..];
        if (parts.Length >= 3 && parts[0] == "namespaces")
        {
            parts = parts[2..]; // namespaces/{ns}/{resource}/...
        }

        var resource = parts[0];
        var name = parts.Length > 1 ? parts[1] : null;
        if (parts.Length > 2)
        {
            resource += "/" + parts[2];
        }

        var watch = query.Split('&').Any(p => p.Equals("watch=true", StringComparison.OrdinalIgnoreCase) || p.Equals("watch=1", StringComparison.Ordinal));
        var verb = method switch
        {
            "GET" when name is not null => "get",
            "GET" when watch => "watch",
            "GET" => "list",
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" when name is not null => "delete",
            "DELETE" => "deletecollection",
            _ => method.ToLowerInvariant(),
        };
        return new Permission(group, resource, verb);
    }
}

/// <summary>A PolicyRule from config/rbac.</summary>
internal sealed record RbacRules(IReadOnlyList<string> ApiGroups, IReadOnlyList<string> Resources, IReadOnlyList<string> Verbs)
{
    public static IEnumerable<RbacRules> Load(string file)
    {
        var role = Manifests.Load("config", "rbac", file).Objects.Single();
        foreach (var rule in role["rules"]!.AsArray())
        {
            Assert.Null(rule!["resourceNames"]); // the checks below do not model resourceNames
            yield return new RbacRules(Strings(rule["apiGroups"]), Strings(rule["resources"]), Strings(rule["verbs"]));
        }
    }

    public bool Allows(Permission p) =>
        (ApiGroups.Contains(p.Group) || ApiGroups.Contains("*"))
        && (Resources.Contains(p.Resource) || Resources.Contains("*"))
        && (Verbs.Contains(p.Verb) || Verbs.Contains("*"));

    public IEnumerable<Permission> Expand() =>
        from g in ApiGroups from r in Resources from v in Verbs select new Permission(g, r, v);

    private static List<string> Strings(JsonNode? node) => node?.AsArray().Select(n => (string)n!).ToList() ?? [];
}
