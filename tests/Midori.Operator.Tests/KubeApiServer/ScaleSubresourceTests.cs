using System.Text.Json.Nodes;
using Midori.DevApiServer;
using Midori.Operator.Testing;

namespace Midori.Operator.Tests.KubeApiServer;

/// <summary>
/// The scale subresource of a custom resource as kube-apiserver serves it (the PreviewSandboxPool CRD's
/// <c>subresources.scale</c>): an autoscaling/v1 Scale read from spec/status, writes that change only the spec replicas,
/// keep the status, bump the generation and pass the resource's own validation, a resourceVersion precondition, and
/// discovery entries kubectl scale needs.
/// </summary>
public sealed class ScaleSubresourceTests : IAsyncLifetime
{
    private const string Pools = "/apis/preview.midori.dev/v1alpha1/namespaces/default/previewsandboxpools";
    private const string Scale = Pools + "/warm/scale";
    private DevKubeApiServer _server = null!;
    private RawApi _api = null!;

    public async Task InitializeAsync()
    {
        _server = await DevKubeApiServer.StartAsync();
        await _server.ApplyCrdAsync(RepositoryPaths.PoolCrdFile);
        _api = new RawApi(_server);
        var (created, _, _) = await _api.CreateAsync(Pools, """{"apiVersion":"preview.midori.dev/v1alpha1","kind":"PreviewSandboxPool","metadata":{"name":"warm"},"spec":{"replicas":2}}""");
        Assert.Equal(201, created);
        var (status, _, _) = await _api.MergePatchAsync(Pools + "/warm/status", """{"status":{"replicas":2,"readyReplicas":1,"selector":"preview.midori.dev/pool=warm"}}""");
        Assert.Equal(200, status);
    }

    public async Task DisposeAsync()
    {
        _api.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Get_AnswersAnAutoscalingScale_FromTheConfiguredPaths()
    {
        // act
        var (code, scale, _) = await _api.GetAsync(Scale);
        var (_, pool, _) = await _api.GetAsync(Pools + "/warm");

        // assert
        Assert.Equal(200, code);
        Assert.Equal(("Scale", "autoscaling/v1"), ((string?)scale["kind"], (string?)scale["apiVersion"]));
        Assert.Equal(("warm", "default"), ((string?)scale["metadata"]!["name"], (string?)scale["metadata"]!["namespace"]));
        Assert.Equal((string?)pool["metadata"]!["uid"], (string?)scale["metadata"]!["uid"]);
        Assert.Equal((string?)pool["metadata"]!["resourceVersion"], (string?)scale["metadata"]!["resourceVersion"]);
        Assert.Equal(2, (int)scale["spec"]!["replicas"]!);
        Assert.Equal((2, "preview.midori.dev/pool=warm"), ((int)scale["status"]!["replicas"]!, (string?)scale["status"]!["selector"]));
    }

    [Fact]
    public async Task MergePatch_WritesOnlyTheSpecReplicas_BumpsGeneration_KeepsStatus()
    {
        // act
        var (code, scale, _) = await _api.MergePatchAsync(Scale, """{"spec":{"replicas":5},"status":{"replicas":99}}""");
        var (_, pool, _) = await _api.GetAsync(Pools + "/warm");

        // assert: the Scale answer reflects the write; the status of the pool is the operator's, untouched
        Assert.Equal(200, code);
        Assert.Equal((5, 2), ((int)scale["spec"]!["replicas"]!, (int)scale["status"]!["replicas"]!));
        Assert.Equal(5, (int)pool["spec"]!["replicas"]!);
        Assert.Equal(2L, (long)pool["metadata"]!["generation"]!);
        Assert.Equal((2, 1), ((int)pool["status"]!["replicas"]!, (int)pool["status"]!["readyReplicas"]!));
        Assert.Contains(pool["metadata"]!["managedFields"]!.AsArray(), e => (string?)e!["subresource"] == "scale");
    }

    [Fact]
    public async Task Put_WithCurrentResourceVersion_Writes_WithAStaleOne_Conflicts()
    {
        // arrange
        var (_, current, _) = await _api.GetAsync(Scale);
        var rv = (string)current["metadata"]!["resourceVersion"]!;
        current["spec"] = new JsonObject { ["replicas"] = 3 };

        // act
        var (code, written, _) = await _api.SendAsync("PUT", Scale, current.ToJsonString());
        var (stale, conflict, _) = await _api.SendAsync("PUT", Scale, current.ToJsonString());

        // assert
        Assert.Equal(200, code);
        Assert.Equal(3, (int)written["spec"]!["replicas"]!);
        Assert.NotEqual(rv, (string?)written["metadata"]!["resourceVersion"]);
        Assert.Equal(409, stale);
        Assert.Equal("Conflict", (string?)conflict["reason"]);
        Assert.Contains("previewsandboxpools.preview.midori.dev \"warm\"", (string?)conflict["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadReplicas_AreRejected_AndNothingIsWritten()
    {
        // act
        var (negative, negativeBody, _) = await _api.MergePatchAsync(Scale, """{"spec":{"replicas":-1}}""");
        var (tooMany, tooManyBody, _) = await _api.MergePatchAsync(Scale, """{"spec":{"replicas":101}}""");
        var (text, _, _) = await _api.MergePatchAsync(Scale, """{"spec":{"replicas":"many"}}""");
        var (apply, _, _) = await _api.SendAsync("PATCH", Scale + "?fieldManager=hpa", """{"spec":{"replicas":4}}""", "application/apply-patch+yaml");
        var (_, pool, _) = await _api.GetAsync(Pools + "/warm");

        // assert: the Scale's own validation, then the pool's CEL bound; a string is a decoding error
        Assert.Equal(422, negative);
        Assert.Equal("Scale.autoscaling \"warm\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0", (string?)negativeBody["message"]);
        Assert.Equal(422, tooMany);
        Assert.Contains("replicas must be between 0 and 100", (string?)tooManyBody["message"], StringComparison.Ordinal);
        Assert.Equal(400, text);
        Assert.Equal(415, apply);
        Assert.Equal(2, (int)pool["spec"]!["replicas"]!);
    }

    [Fact]
    public async Task MissingObject_And_ResourceWithoutScale_Are404()
    {
        // arrange
        await _server.ApplyCrdAsync(RepositoryPaths.CrdFile);

        // act
        var (missing, _, _) = await _api.GetAsync(Pools + "/nope/scale");
        var (noScale, _, _) = await _api.GetAsync(RawApi.Sandboxes + "/any/scale");

        // assert
        Assert.Equal(404, missing);
        Assert.Equal(404, noScale);
    }

    [Fact]
    public async Task Discovery_ListsTheScaleSubresourceInAutoscalingV1()
    {
        // act
        var (_, legacy, _) = await _api.GetAsync("/apis/preview.midori.dev/v1alpha1");
        var (_, aggregated, _) = await _api.SendAsync("GET", "/apis", accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");

        // assert
        var entry = legacy["resources"]!.AsArray().Single(r => (string?)r!["name"] == "previewsandboxpools/scale")!;
        Assert.Equal(("autoscaling", "v1", "Scale"), ((string?)entry["group"], (string?)entry["version"], (string?)entry["kind"]));
        var pools = aggregated["items"]!.AsArray().Single(g => (string?)g!["metadata"]!["name"] == "preview.midori.dev")!["versions"]![0]!["resources"]!
            .AsArray().Single(r => (string?)r!["resource"] == "previewsandboxpools")!;
        Assert.Equal(["status", "scale"], pools["subresources"]!.AsArray().Select(s => (string?)s!["subresource"]));
        Assert.Equal("autoscaling", (string?)pools["subresources"]![1]!["responseKind"]!["group"]);
    }
}
