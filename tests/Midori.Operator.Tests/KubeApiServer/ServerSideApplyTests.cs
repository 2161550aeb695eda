using System.Text.Json.Nodes;
using Midori.DevApiServer;
using Midori.Operator.Tests.Packaging;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.KubeApiServer;

/// <summary>
/// Field ownership of custom resources as kube-apiserver keeps it: managedFields per manager, 409 conflicts over another
/// manager's fields unless forced, dropped fields removed, and kubectl's move from client-side to server-side apply.
/// Driven by the real kubectl where it matters (its messages and flags), by raw HTTP for the exact Status body.
/// </summary>
public sealed class ServerSideApplyTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Resource = "previewsandboxes.preview.midori.dev";
    private KubectlSession _kubectl = null!;

    public async Task InitializeAsync() => _kubectl = await KubectlSession.StartAsync(output, Midori.Operator.Testing.RepositoryPaths.CrdFile);

    public async Task DisposeAsync() => await _kubectl.DisposeAsync();

    [KubectlFact]
    public async Task ServerSideApply_TwoManagers_ShareAgreeingFields_ConflictOnChange_ForceTakesOver_DroppedFieldsGo()
    {
        // alice applies two files and both timeouts
        var alice = await WriteAsync("alice.yaml", Manifest(ttl: 1800, idle: 300, files: ["index.html", "about.html"]));
        Assert.Contains("serverside-applied", Kubectl($"apply --server-side --field-manager=alice -f {alice}"));
        Assert.Equal(["alice"], Managers().Select(m => m.Manager));

        // bob applies the same ttl: no conflict, both own it
        var bobSame = await WriteAsync("bob-same.yaml", Manifest(ttl: 1800, files: ["index.html"]));
        Assert.Contains("serverside-applied", Kubectl($"apply --server-side --field-manager=bob -f {bobSame}"));
        Assert.True(Owns("alice", "f:spec", "f:ttlSeconds") && Owns("bob", "f:spec", "f:ttlSeconds"));

        // bob changes it: a conflict naming alice and the field, nothing written
        var bobOther = await WriteAsync("bob-other.yaml", Manifest(ttl: 3600, files: ["index.html"]));
        var (code, _, stderr) = KubectlFailing($"apply --server-side --field-manager=bob -f {bobOther}");
        Assert.NotEqual(0, code);
        Assert.Contains("""Apply failed with 1 conflict: conflict with "alice": .spec.ttlSeconds""", stderr);
        Assert.Equal("1800", Kubectl("get psb hello-preview -o jsonpath={.spec.ttlSeconds}"));

        // --force-conflicts: bob takes the field over
        Assert.Contains("serverside-applied", Kubectl($"apply --server-side --field-manager=bob --force-conflicts -f {bobOther}"));
        Assert.Equal("3600", Kubectl("get psb hello-preview -o jsonpath={.spec.ttlSeconds}"));
        Assert.True(Owns("bob", "f:spec", "f:ttlSeconds"));
        Assert.False(Owns("alice", "f:spec", "f:ttlSeconds"));

        // alice stops applying about.html (hers alone) and idleTimeoutSeconds... and the ttl she no longer owns: the file goes,
        // bob's ttl stays; index.html stays (bob applies it too)
        var aliceLess = await WriteAsync("alice-less.yaml", Manifest(ttl: null, idle: 300, files: ["index.html"]));
        Assert.Contains("serverside-applied", Kubectl($"apply --server-side --field-manager=alice -f {aliceLess}"));
        Assert.Equal("index.html", Kubectl("get psb hello-preview -o jsonpath={.spec.source.inline[*].path}"));
        Assert.Equal("3600", Kubectl("get psb hello-preview -o jsonpath={.spec.ttlSeconds}"));

        // bob drops index.html too, but alice still applies it: it stays
        var bobBare = await WriteAsync("bob-bare.yaml", Manifest(ttl: 3600, files: []));
        Assert.Contains("serverside-applied", Kubectl($"apply --server-side --field-manager=bob -f {bobBare}"));
        Assert.Equal("index.html", Kubectl("get psb hello-preview -o jsonpath={.spec.source.inline[*].path}"));
    }

    [KubectlFact]
    public async Task ClientSideApplyThenServerSide_KubectlTakesItsFieldsOverWithoutConflict()
    {
        // client-side apply: kubectl-client-side-apply owns everything it set (defaults too), as an Update
        var first = await WriteAsync("first.yaml", Manifest(ttl: 1800, idle: 300, files: ["index.html"]));
        Assert.Contains("created", Kubectl($"apply -f {first}"));
        var csa = Assert.Single(Managers());
        Assert.Equal(("kubectl-client-side-apply", "Update"), (csa.Manager, csa.Operation));
        Assert.True(Owns("kubectl-client-side-apply", "f:spec", "f:idleTimeoutSeconds"));

        // server-side apply of an edit of a field client-side apply owns: no conflict (the object matches last-applied)
        var edited = await WriteAsync("edited.yaml", Manifest(ttl: 1800, idle: 600, files: ["index.html"]));
        Assert.Contains("serverside-applied", Kubectl($"apply --server-side -f {edited}"));
        Assert.Equal("600", Kubectl("get psb hello-preview -o jsonpath={.spec.idleTimeoutSeconds}"));
        Assert.True(Owns("kubectl", "f:spec", "f:idleTimeoutSeconds"));
        Assert.True(Owns("kubectl-last-applied", "f:metadata", "f:annotations", "f:kubectl.kubernetes.io/last-applied-configuration"));

        // kubectl then moves the rest of client-side apply's fields to itself (its managedFields JSON patch), as against a real server
        Assert.Equal([("kubectl-last-applied", "Apply"), ("kubectl", "Apply")], Managers());

        // another manager changing what kubectl now applies is a conflict with "kubectl"
        var other = await WriteAsync("other.yaml", Manifest(ttl: 1800, idle: 900, files: ["index.html"]));
        var (code, _, stderr) = KubectlFailing($"apply --server-side --field-manager=ci -f {other}");
        Assert.NotEqual(0, code);
        Assert.Contains("""conflict with "kubectl": .spec.idleTimeoutSeconds""", stderr);
    }

    [Fact]
    public async Task Conflict_AnswersTheRealServersStatus_AndUpdatersAreNamedWithTheirVersion()
    {
        // arrange: created by an updater (merge-style create with fieldManager), then applied over by another manager
        await using var server = await DevKubeApiServer.StartAsync();
        await server.ApplyCrdAsync(Midori.Operator.Testing.RepositoryPaths.CrdFile);
        using var api = new RawApi(server);
        var (created, _, _) = await api.SendAsync("POST", RawApi.Sandboxes + "?fieldManager=editor",
            """{"apiVersion":"preview.midori.dev/v1alpha1","kind":"PreviewSandbox","metadata":{"name":"p"},"spec":{"projectId":"p","ttlSeconds":1800,"source":{"inline":[{"path":"a.html","content":"a"}]}}}""");
        Assert.Equal(201, created);
        const string apply = """{"apiVersion":"preview.midori.dev/v1alpha1","kind":"PreviewSandbox","metadata":{"name":"p"},"spec":{"projectId":"p","port":8080,"ttlSeconds":3600}}""";

        // act
        var (code, body, _) = await api.SendAsync("PATCH", RawApi.Sandboxes + "/p?fieldManager=ci&force=false", apply, "application/apply-patch+yaml");
        var (forced, after, _) = await api.SendAsync("PATCH", RawApi.Sandboxes + "/p?fieldManager=ci&force=true", apply, "application/apply-patch+yaml");

        // assert: the Status kube-apiserver answers (structured-merge-diff's message; causes with reason, message, field)
        Assert.Equal(409, code);
        var expected = JsonNode.Parse("""
            {
              "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": "Apply failed with 2 conflicts: conflicts with \"editor\" using preview.midori.dev/v1alpha1:\n- .spec.port\n- .spec.ttlSeconds",
              "reason": "Conflict",
              "details": { "causes": [
                { "reason": "FieldManagerConflict", "message": "conflict with \"editor\" using preview.midori.dev/v1alpha1", "field": ".spec.port" },
                { "reason": "FieldManagerConflict", "message": "conflict with \"editor\" using preview.midori.dev/v1alpha1", "field": ".spec.ttlSeconds" }
              ] },
              "code": 409
            }
            """);
        Assert.True(JsonNode.DeepEquals(expected, body), body.ToJsonString());
        Assert.Equal(200, forced);
        var managed = after["metadata"]!["managedFields"]!.AsArray();
        Assert.Equal(["ci", "editor"], managed.Select(m => (string)m!["manager"]!));
        Assert.Equal("""{"f:spec":{"f:port":{},"f:projectId":{},"f:ttlSeconds":{}}}""", managed[0]!["fieldsV1"]!.ToJsonString());
        Assert.Null(managed[1]!["fieldsV1"]!["f:spec"]!["f:ttlSeconds"]);
        Assert.NotNull(managed[1]!["fieldsV1"]!["f:spec"]!["f:source"]);
    }

    private static string Manifest(int? ttl, int? idle = null, string[]? files = null)
    {
        var yaml = new System.Text.StringBuilder("apiVersion: preview.midori.dev/v1alpha1\nkind: PreviewSandbox\nmetadata:\n  name: hello-preview\nspec:\n  projectId: hello\n");
        if (ttl is not null)
        {
            yaml.Append(System.Globalization.CultureInfo.InvariantCulture, $"  ttlSeconds: {ttl}\n");
        }

        if (idle is not null)
        {
            yaml.Append(System.Globalization.CultureInfo.InvariantCulture, $"  idleTimeoutSeconds: {idle}\n");
        }

        if (files is { Length: > 0 })
        {
            yaml.Append("  source:\n    inline:\n");
            foreach (var file in files)
            {
                yaml.Append(System.Globalization.CultureInfo.InvariantCulture, $"      - path: {file}\n        content: \"{file}\"\n");
            }
        }

        return yaml.ToString();
    }

    private async Task<string> WriteAsync(string name, string content)
    {
        var path = Path.Combine(_kubectl.Directory, name);
        await File.WriteAllTextAsync(path, content);
        return path;
    }

    private List<(string Manager, string Operation)> Managers()
        => [.. ManagedFields().Select(m => ((string)m!["manager"]!, (string)m["operation"]!))];

    private bool Owns(string manager, params string[] path)
    {
        JsonNode? node = ManagedFields().SingleOrDefault(m => (string?)m!["manager"] == manager)?["fieldsV1"];
        foreach (var element in path)
        {
            node = node?[element];
        }

        return node is not null;
    }

    private JsonArray ManagedFields()
        => JsonNode.Parse(Kubectl("get psb hello-preview -o json --show-managed-fields"))!["metadata"]!["managedFields"]!.AsArray();

    private string Kubectl(string command) => _kubectl.Run(command);

    private (int Code, string Stdout, string Stderr) KubectlFailing(string command) => _kubectl.RunFailing(command);
}
