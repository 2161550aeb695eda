using System.Text.Json.Nodes;
using Midori.DevApiServer;

namespace Midori.Operator.Tests.KubeApiServer;

/// <summary>The project's PreviewSandbox CRD, applied to the test server: every CEL rule fires, defaults and pruning work.</summary>
public sealed class ProjectCrdTests : IAsyncLifetime
{
    private const string ValidSpec = """{"projectId":"p1","source":{"snapshotId":"s1"}}""";

    private DevKubeApiServer _server = null!;
    private RawApi _api = null!;

    public async Task InitializeAsync()
    {
        _server = await DevKubeApiServer.StartAsync();
        await _server.ApplyCrdAsync(RepoPaths.ProjectCrd);
        _api = new RawApi(_server);
    }

    public async Task DisposeAsync()
    {
        _api.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Create_MinimalSandbox_AppliesNestedDefaults()
    {
        // act
        var (code, body, _) = await _api.CreateAsync(RawApi.Sandboxes, Sandbox("s", ValidSpec));

        // assert
        Assert.Equal(201, code);
        var spec = body["spec"]!;
        Assert.Equal(1800, (int)spec["ttlSeconds"]!);
        Assert.Equal(300, (int)spec["idleTimeoutSeconds"]!);
        Assert.Equal(3000, (int)spec["port"]!);
        Assert.False((bool)spec["suspend"]!);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"enabled":true,"maxAttempts":5,"cooldownSeconds":30}"""), spec["recreate"]));
        Assert.True(JsonNode.DeepEquals(
            JsonNode.Parse("""{"onIdle":"Delete","onExpire":"Delete","pausedRetentionSeconds":86400,"minRunningSeconds":0,"expiryWarningSeconds":60}"""), spec["lifecycle"]));
        Assert.Equal(1, (int)body["metadata"]!["generation"]!);
    }

    [Fact]
    public async Task Create_StatusIsTheSchemaDefault_UntilTheStatusSubresourceWritesIt()
    {
        // act: a create cannot set status (the subresource is on), and the schema's status default fills it
        var (code, created, _) = await _api.CreateAsync(RawApi.Sandboxes,
            """{"apiVersion":"preview.midori.dev/v1alpha1","kind":"PreviewSandbox","metadata":{"name":"fresh"},"spec":{"projectId":"p1","source":{"snapshotId":"s1"}},"status":{"phase":"Running"}}""");
        var (_, read, _) = await _api.GetAsync(RawApi.Sandboxes + "/fresh");
        var (patched, written, _) = await _api.MergePatchAsync(RawApi.Sandboxes + "/fresh/status", """{"status":{"phase":"Running","provider":"local"}}""");

        // assert
        Assert.Equal(201, code);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"phase":"Pending"}"""), created["status"]));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"phase":"Pending"}"""), read["status"]));
        Assert.Equal(200, patched);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"phase":"Running","provider":"local"}"""), written["status"]));
    }

    [Theory]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"ttlSeconds":30}""", "spec.ttlSeconds", "Invalid value: \"integer\": ttlSeconds must be between 60 and 86400")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"ttlSeconds":90000,"idleTimeoutSeconds":10}""", "spec.ttlSeconds", "Invalid value: \"integer\": ttlSeconds must be between 60 and 86400")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"idleTimeoutSeconds":5}""", "spec.idleTimeoutSeconds", "Invalid value: \"integer\": idleTimeoutSeconds must be between 10 and 86400")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"ttlSeconds":600,"idleTimeoutSeconds":700}""", "spec", "Invalid value: \"object\": idleTimeoutSeconds must not exceed ttlSeconds (1800 when not set)")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"idleTimeoutSeconds":3600}""", "spec", "Invalid value: \"object\": idleTimeoutSeconds must not exceed ttlSeconds (1800 when not set)")]
    [InlineData("""{"projectId":"p","source":{}}""", "spec.source", "Invalid value: \"object\": exactly one of snapshotId, inline or configMapRef must be set")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s","configMapRef":{"name":"c"}}}""", "spec.source", "Invalid value: \"object\": exactly one of snapshotId, inline or configMapRef must be set")]
    [InlineData("""{"projectId":"p","source":{"inline":[{"path":"../etc/passwd","content":""}]}}""", "spec.source.inline[0].path", "Invalid value: \"string\": path must be relative, without '..' segments or backslashes")]
    [InlineData("""{"projectId":"p","source":{"inline":[{"path":"/abs","content":""}]}}""", "spec.source.inline[0].path", "Invalid value: \"string\": path must be relative, without '..' segments or backslashes")]
    [InlineData("""{"projectId":"p","source":{"inline":[{"path":"a\\\\b","content":""}]}}""", "spec.source.inline[0].path", "Invalid value: \"string\": path must be relative, without '..' segments or backslashes")]
    [InlineData("""{"projectId":"p","source":{"configMapRef":{"name":"c","items":[{"key":"k","path":"x/../../y"}]}}}""", "spec.source.configMapRef.items[0].path", "Invalid value: \"string\": path must be relative, without '..' segments or backslashes")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"recreate":{"maxAttempts":0}}""", "spec.recreate.maxAttempts", "Invalid value: \"integer\": maxAttempts must be between 1 and 100")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"lifecycle":{"pausedRetentionSeconds":30}}""", "spec.lifecycle.pausedRetentionSeconds", "Invalid value: \"integer\": pausedRetentionSeconds must be between 60 and 2592000")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"lifecycle":{"minRunningSeconds":-1}}""", "spec.lifecycle.minRunningSeconds", "Invalid value: \"integer\": minRunningSeconds must be between 0 and 3600")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"lifecycle":{"expiryWarningSeconds":4000}}""", "spec.lifecycle.expiryWarningSeconds", "Invalid value: \"integer\": expiryWarningSeconds must be between 0 and 3600")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"ttlSeconds":600,"idleTimeoutSeconds":60,"lifecycle":{"minRunningSeconds":600}}""", "spec", "Invalid value: \"object\": lifecycle.minRunningSeconds must be below ttlSeconds (1800 when not set)")]
    public async Task Create_RuleViolated_Returns422WithCause(string spec, string field, string message)
    {
        // act
        var (code, body, _) = await _api.CreateAsync(RawApi.Sandboxes, Sandbox("bad", spec));

        // assert
        Assert.Equal(422, code);
        Assert.Equal("Invalid", (string?)body["reason"]);
        var causes = body["details"]!["causes"]!.AsArray();
        Assert.Contains(causes, c => (string?)c!["field"] == field && (string?)c["message"] == message);
    }

    [Theory]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"ttlSeconds":-5}""", "spec.ttlSeconds")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"idleTimeoutSeconds":0}""", "spec.idleTimeoutSeconds")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"lifecycle":{"minRunningSeconds":5000}}""", "spec.lifecycle.minRunningSeconds")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"lifecycle":{"expiryWarningSeconds":5000}}""", "spec.lifecycle.expiryWarningSeconds")]
    public async Task Create_OutOfRangeDuration_ReportsOnlyThatField(string spec, string field)
    {
        // act
        var (code, body, _) = await _api.CreateAsync(RawApi.Sandboxes, Sandbox("bad-range", spec));

        // assert: not also "idleTimeoutSeconds must not exceed ttlSeconds", which the user may never have set
        Assert.Equal(422, code);
        var causes = body["details"]!["causes"]!.AsArray();
        Assert.Equal([field], causes.Select(c => (string?)c!["field"]));
    }

    [Theory]
    [InlineData("js/app..min.js")]
    [InlineData("..hidden/x")]
    [InlineData("a/b..")]
    public async Task Create_PathWithDotsInsideASegment_IsAccepted(string path)
    {
        // act
        var (code, body, _) = await _api.CreateAsync(RawApi.Sandboxes,
            Sandbox("dots-" + Math.Abs(path.GetHashCode(StringComparison.Ordinal)), $$$"""{"projectId":"p","source":{"inline":[{"path":"{{{path}}}","content":""}]}}"""));

        // assert
        Assert.True(code == 201, body.ToJsonString());
    }

    [Theory]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"provider":"aws"}""", "FieldValueNotSupported", "spec.provider")]
    [InlineData("""{"projectId":"","source":{"snapshotId":"s"}}""", "FieldValueInvalid", "spec.projectId")]
    [InlineData("""{"source":{"snapshotId":"s"}}""", "FieldValueRequired", "spec.projectId")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"port":70000}""", "FieldValueInvalid", "spec.port")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"env":[{"name":"1BAD"}]}""", "FieldValueInvalid", "spec.env[0].name")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"env":[{"name":"A"},{"name":"A"}]}""", "FieldValueDuplicate", "spec.env[1]")]
    [InlineData("""{"projectId":"p","source":{"inline":[]}}""", "FieldValueInvalid", "spec.source.inline")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"port":"80"}""", "FieldValueTypeInvalid", "spec.port")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"ttlSeconds":1e300}""", "FieldValueTypeInvalid", "spec.ttlSeconds")] // beyond int64 (and decimal): a number, not a 500
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"port":1.5}""", "FieldValueTypeInvalid", "spec.port")]
    [InlineData("""{"projectId":"p","source":{"snapshotId":"s"},"lifecycle":{"onIdle":"Hibernate"}}""", "FieldValueNotSupported", "spec.lifecycle.onIdle")]
    public async Task Create_SchemaViolated_Returns422WithReason(string spec, string reason, string field)
    {
        // act
        var (code, body, _) = await _api.CreateAsync(RawApi.Sandboxes, Sandbox("bad", spec));

        // assert
        Assert.Equal(422, code);
        Assert.Contains(body["details"]!["causes"]!.AsArray(), c => (string?)c!["reason"] == reason && (string?)c["field"] == field);
    }

    [Fact]
    public async Task Create_TooLongTemplate_ReportsTooLongAndSkipsCel()
    {
        // act
        var (code, body, _) = await _api.CreateAsync(RawApi.Sandboxes, Sandbox("bad", $$"""{"projectId":"p","source":{"snapshotId":"s"},"template":"{{new string('x', 254)}}"}"""));

        // assert
        Assert.Equal(422, code);
        var causes = body["details"]!["causes"]!.AsArray();
        Assert.Equal("Too long: may not be longer than 253", (string?)causes[0]!["message"]);
        Assert.Equal("<nil>", (string?)causes[1]!["field"]);
    }

    [Theory]
    [InlineData("""{"spec":{"projectId":"other"}}""", "spec.projectId", "Invalid value: \"string\": projectId is immutable")]
    [InlineData("""{"spec":{"provider":"local"}}""", "spec", "Invalid value: \"object\": provider is immutable")]
    public async Task Patch_ImmutableFieldChanged_Returns422(string patch, string field, string message)
    {
        // arrange
        await _api.CreateAsync(RawApi.Sandboxes, Sandbox("s", ValidSpec));

        // act
        var (code, body, _) = await _api.MergePatchAsync($"{RawApi.Sandboxes}/s", patch);

        // assert
        Assert.Equal(422, code);
        Assert.Contains(body["details"]!["causes"]!.AsArray(), c => (string?)c!["field"] == field && (string?)c["message"] == message);
    }

    [Fact]
    public async Task Patch_ProviderRemoved_Returns422BecausePresenceIsImmutable()
    {
        // arrange
        await _api.CreateAsync(RawApi.Sandboxes, Sandbox("s", """{"projectId":"p","source":{"snapshotId":"s"},"provider":"e2b"}"""));

        // act
        var (code, body, _) = await _api.MergePatchAsync($"{RawApi.Sandboxes}/s", """{"spec":{"provider":null}}""");

        // assert
        Assert.Equal(422, code);
        Assert.Contains("provider is immutable", (string?)body["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Patch_MutableFieldChanged_BumpsGeneration()
    {
        // arrange
        await _api.CreateAsync(RawApi.Sandboxes, Sandbox("s", ValidSpec));

        // act
        var (code, body, _) = await _api.MergePatchAsync($"{RawApi.Sandboxes}/s", """{"spec":{"ttlSeconds":3600,"suspend":true}}""");

        // assert
        Assert.Equal(200, code);
        Assert.Equal(2, (int)body["metadata"]!["generation"]!);
    }

    [Fact]
    public async Task PatchStatus_UnknownStatusField_IsPrunedWithWarning()
    {
        // arrange
        await _api.CreateAsync(RawApi.Sandboxes, Sandbox("s", ValidSpec));

        // act
        var (code, body, response) = await _api.MergePatchAsync($"{RawApi.Sandboxes}/s/status", """{"status":{"phase":"Running","bogus":"x"}}""");

        // assert
        Assert.Equal(200, code);
        Assert.Equal("Running", (string?)body["status"]!["phase"]);
        Assert.False(body["status"]!.AsObject().ContainsKey("bogus"));
        Assert.Equal("299 - \"unknown field \\\"status.bogus\\\"\"", Assert.Single(response.Headers.GetValues("Warning")));
    }

    [Fact]
    public async Task Create_SampleManifest_IsAccepted()
    {
        // arrange
        var sample = YamlToJson.ConvertDocuments(await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "config", "samples", "preview.midori.dev_v1alpha1_previewsandbox.yaml")))[0];

        // act
        var (code, body, _) = await _api.CreateAsync(RawApi.Sandboxes, sample.ToJsonString());

        // assert
        Assert.True(code == 201, body.ToJsonString());
    }

    private static string Sandbox(string name, string spec)
        => $$"""{"apiVersion":"preview.midori.dev/v1alpha1","kind":"PreviewSandbox","metadata":{"name":"{{name}}"},"spec":{{spec}}}""";
}
