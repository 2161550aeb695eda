using System.Text.Json.Nodes;
using Midori.DevApiServer;

namespace Midori.Operator.Tests.KubeApiServer;

/// <summary>Write semantics of the test API server: generation, status subresource, finalizers, GC, preconditions, patches.</summary>
public sealed class ResourceSemanticsTests : IAsyncLifetime
{
    private const string W1 = RawApi.Widgets + "/w1";

    private DevKubeApiServer _server = null!;
    private RawApi _api = null!;

    public async Task InitializeAsync()
    {
        _server = await DevKubeApiServer.StartAsync();
        _server.ApplyCrdYaml(RawApi.WidgetCrd);
        _api = new RawApi(_server);
    }

    public async Task DisposeAsync()
    {
        _api.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Patch_LabelsAnnotationsFinalizersOnly_KeepsGeneration()
    {
        // arrange
        await CreateWidgetAsync();

        // act
        var (code, body, _) = await _api.MergePatchAsync(W1, """{"metadata":{"labels":{"a":"b"},"annotations":{"x":"y"},"finalizers":["f"]}}""");

        // assert
        Assert.Equal(200, code);
        Assert.Equal(1, Generation(body));
    }

    [Fact]
    public async Task Patch_SameSpec_IsNoOpWithoutNewResourceVersion()
    {
        // arrange
        var (_, created, _) = await CreateWidgetAsync();

        // act
        var (_, body, _) = await _api.MergePatchAsync(W1, """{"spec":{"size":2}}""");

        // assert
        Assert.Equal(Rv(created), Rv(body));
    }

    [Fact]
    public async Task Create_WithStatus_DropsStatusBecauseOfSubresource()
    {
        // act
        var (_, body, _) = await _api.CreateAsync(RawApi.Widgets, """{"metadata":{"name":"w1"},"spec":{"size":2},"status":{"phase":"X"}}""");

        // assert
        Assert.False(body.ContainsKey("status"));
    }

    [Fact]
    public async Task ReplaceStatus_SpecAndLabelsInBody_WritesOnlyStatus()
    {
        // arrange
        var (_, created, _) = await CreateWidgetAsync();
        var body = $$$"""{"metadata":{"name":"w1","resourceVersion":"{{{Rv(created)}}}","labels":{"l":"v"}},"spec":{"size":9},"status":{"phase":"Up"}}""";

        // act
        var (code, updated, _) = await _api.SendAsync("PUT", W1 + "/status", body);

        // assert
        Assert.Equal(200, code);
        Assert.Equal("Up", (string?)updated["status"]!["phase"]);
        Assert.Equal(2, (int)updated["spec"]!["size"]!);
        Assert.Null(updated["metadata"]!["labels"]);
        Assert.Equal(1, Generation(updated));
    }

    [Fact]
    public async Task Replace_StaleResourceVersion_Returns409Conflict()
    {
        // arrange
        var (_, created, _) = await CreateWidgetAsync();
        await _api.MergePatchAsync(W1, """{"spec":{"size":3}}""");

        // act
        var (code, body, _) = await _api.SendAsync("PUT", W1, $$$"""{"metadata":{"name":"w1","resourceVersion":"{{{Rv(created)}}}"},"spec":{"size":4}}""");

        // assert
        Assert.Equal(409, code);
        Assert.Equal("Conflict", (string?)body["reason"]);
    }

    [Fact]
    public async Task Replace_WithoutResourceVersion_Returns422ForCustomResources()
    {
        // arrange
        await CreateWidgetAsync();

        // act
        var (code, body, _) = await _api.SendAsync("PUT", W1, """{"metadata":{"name":"w1"},"spec":{"size":4}}""");

        // assert
        Assert.Equal(422, code);
        Assert.Equal("Widget.demo.example.com \"w1\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update", (string?)body["message"]);
    }

    [Fact]
    public async Task Patch_StaleResourceVersionPrecondition_Returns409()
    {
        // arrange
        await CreateWidgetAsync();

        // act
        var (code, _, _) = await _api.MergePatchAsync(W1, """{"metadata":{"resourceVersion":"1"},"spec":{"size":3}}""");

        // assert
        Assert.Equal(409, code);
    }

    [Fact]
    public async Task JsonPatch_AllOperations_AppliedInOrder()
    {
        // arrange
        await _api.CreateAsync(RawApi.Widgets, """{"metadata":{"name":"w1"},"spec":{"size":2,"tags":["a","b"]}}""");
        const string patch = """
            [{"op":"test","path":"/spec/size","value":2},
             {"op":"replace","path":"/spec/size","value":5},
             {"op":"add","path":"/spec/tags/-","value":"c"},
             {"op":"remove","path":"/spec/tags/0"},
             {"op":"add","path":"/metadata/labels","value":{}},
             {"op":"copy","from":"/spec/tags/0","path":"/metadata/labels/first"},
             {"op":"move","from":"/spec/tags/1","path":"/spec/owner"}]
            """;

        // act
        var (code, body, _) = await _api.JsonPatchAsync(W1, patch);

        // assert
        Assert.Equal(200, code);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"size":5,"tags":["b"],"owner":"c"}"""), body["spec"]), body["spec"]!.ToJsonString());
        Assert.Equal("b", (string?)body["metadata"]!["labels"]!["first"]);
    }

    [Theory]
    [InlineData("""[{"op":"test","path":"/spec/size","value":99}]""")]
    [InlineData("""[{"op":"remove","path":"/spec/nothing"}]""")]
    [InlineData("""[{"op":"replace","path":"/spec/tags/7","value":1}]""")]
    public async Task JsonPatch_FailingOperation_Returns422WithoutDetails(string patch)
    {
        // arrange
        await CreateWidgetAsync();

        // act
        var (code, body, _) = await _api.JsonPatchAsync(W1, patch);

        // assert
        Assert.Equal(422, code);
        Assert.Equal("the server rejected our request due to an error in our request", (string?)body["message"]);
    }

    [Fact]
    public async Task Patch_StrategicMergeOnCustomResource_Returns415()
    {
        // arrange
        await CreateWidgetAsync();

        // act
        var (code, body, _) = await _api.SendAsync("PATCH", W1, """{"spec":{"size":3}}""", "application/strategic-merge-patch+json");

        // assert
        Assert.Equal(415, code);
        Assert.Equal("UnsupportedMediaType", (string?)body["reason"]);
    }

    [Fact]
    public async Task Delete_WithFinalizer_MarksDeletionAndBumpsGeneration_ThenFinalizerRemovalDeletes()
    {
        // arrange
        await _api.CreateAsync(RawApi.Widgets, """{"metadata":{"name":"w1","finalizers":["demo/cleanup"]},"spec":{"size":2}}""");

        // act
        var (deleteCode, marked, _) = await _api.SendAsync("DELETE", W1);
        var (stillThereCode, _, _) = await _api.GetAsync(W1);
        var (addCode, _, _) = await _api.MergePatchAsync(W1, """{"metadata":{"finalizers":["demo/cleanup","other"]}}""");
        var (removeCode, _, _) = await _api.MergePatchAsync(W1, """{"metadata":{"finalizers":null}}""");
        var (goneCode, _, _) = await _api.GetAsync(W1);

        // assert
        Assert.Equal(200, deleteCode);
        Assert.NotNull(marked["metadata"]!["deletionTimestamp"]);
        Assert.Equal(0, (int)marked["metadata"]!["deletionGracePeriodSeconds"]!);
        Assert.Equal(2, Generation(marked));
        Assert.Equal(200, stillThereCode);
        Assert.Equal(422, addCode);
        Assert.Equal(200, removeCode);
        Assert.Equal(404, goneCode);
    }

    [Fact]
    public async Task Delete_WithoutFinalizers_ReturnsSuccessStatusAndRemoves()
    {
        // arrange
        await CreateWidgetAsync();

        // act
        var (code, body, _) = await _api.SendAsync("DELETE", W1);

        // assert
        Assert.Equal(200, code);
        Assert.Equal("Success", (string?)body["status"]);
        Assert.Equal(404, (await _api.GetAsync(W1)).Code);
    }

    [Fact]
    public async Task Create_Secret_MergesStringDataIntoBase64Data()
    {
        // act
        var (code, body, _) = await _api.CreateAsync("/api/v1/namespaces/default/secrets", """{"metadata":{"name":"s"},"data":{"a":"eA=="},"stringData":{"token":"abc"}}""");

        // assert
        Assert.Equal(201, code);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"a":"eA==","token":"YWJj"}"""), body["data"]));
        Assert.Equal("Opaque", (string?)body["type"]);
        Assert.False(body.ContainsKey("stringData"));
    }

    [Fact]
    public async Task Create_WithResourceVersion_Returns500LikeEtcd()
    {
        // act
        var (code, body, _) = await _api.CreateAsync(RawApi.Widgets, """{"metadata":{"name":"w1","resourceVersion":"5"},"spec":{"size":2}}""");

        // assert
        Assert.Equal(500, code);
        Assert.Equal("Internal error occurred: resourceVersion should not be set on objects to be created", (string?)body["message"]);
    }

    [Fact]
    public async Task Create_GenerateName_AssignsUniqueName()
    {
        // act
        var (code, body, _) = await _api.CreateAsync(RawApi.Widgets, """{"metadata":{"generateName":"w-"},"spec":{"size":2}}""");

        // assert
        Assert.Equal(201, code);
        Assert.Matches("^w-[a-z0-9]{5}$", (string?)body["metadata"]!["name"]);
    }

    [Fact]
    public async Task List_LabelSelectorAndLimit_PagesThroughMatches()
    {
        // arrange
        foreach (var (name, tier) in new[] { ("a", "web"), ("b", "db"), ("c", "web"), ("d", "web") })
        {
            await _api.CreateAsync(RawApi.Widgets, $$$"""{"metadata":{"name":"{{{name}}}","labels":{"tier":"{{{tier}}}"}},"spec":{"size":1}}""");
        }

        // act
        var (_, first, _) = await _api.GetAsync(RawApi.Widgets + "?labelSelector=tier%3Dweb&limit=2");
        var token = Uri.EscapeDataString((string)first["metadata"]!["continue"]!);
        var (_, second, _) = await _api.GetAsync(RawApi.Widgets + $"?labelSelector=tier%3Dweb&limit=2&continue={token}");

        // assert
        Assert.Equal("WidgetList", (string?)first["kind"]);
        Assert.Equal(["a", "c"], first["items"]!.AsArray().Select(i => (string)i!["metadata"]!["name"]!));
        Assert.Equal(["d"], second["items"]!.AsArray().Select(i => (string)i!["metadata"]!["name"]!));
        Assert.Equal(1, (int)first["metadata"]!["remainingItemCount"]!);
    }

    [Fact]
    public async Task List_ExactOlderResourceVersion_ReturnsStateAtThatVersion()
    {
        // arrange
        var (_, created, _) = await CreateWidgetAsync();
        await _api.MergePatchAsync(W1, """{"spec":{"size":7}}""");

        // act
        var (code, list, _) = await _api.GetAsync(RawApi.Widgets + $"?resourceVersion={Rv(created)}&resourceVersionMatch=Exact");

        // assert
        Assert.Equal(200, code);
        Assert.Equal(2, (int)list["items"]![0]!["spec"]!["size"]!);
    }

    [Fact]
    public async Task Request_InjectedFault_FailsThenRecovers()
    {
        // arrange
        _server.Faults.FailNext(1, 503, method: "POST", pathPrefix: RawApi.Widgets);

        // act
        var (failedCode, failed, _) = await CreateWidgetAsync();
        var (okCode, _, _) = await CreateWidgetAsync();

        // assert
        Assert.Equal(503, failedCode);
        Assert.Equal("ServiceUnavailable", (string?)failed["reason"]);
        Assert.Equal(201, okCode);
        Assert.Equal(2, _server.Requests.Entries.Count(r => r is { Method: "POST", IsWrite: true } && r.Path == RawApi.Widgets));
    }

    [Fact]
    public async Task Request_WithoutToken_Returns403ForAnonymous()
    {
        // arrange
        using var http = new HttpClient { BaseAddress = _server.BaseAddress };

        // act
        using var response = await http.GetAsync(new Uri("/api/v1/namespaces/default/secrets/x", UriKind.Relative));
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        // assert
        Assert.Equal(403, (int)response.StatusCode);
        Assert.Equal("secrets is forbidden: User \"system:anonymous\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\"", (string?)body["message"]);
    }

    private Task<(int Code, JsonObject Body, HttpResponseMessage Response)> CreateWidgetAsync()
        => _api.CreateAsync(RawApi.Widgets, """{"metadata":{"name":"w1"},"spec":{"size":2}}""");

    private static int Generation(JsonObject obj) => (int)obj["metadata"]!["generation"]!;

    private static string Rv(JsonObject obj) => (string)obj["metadata"]!["resourceVersion"]!;
}
