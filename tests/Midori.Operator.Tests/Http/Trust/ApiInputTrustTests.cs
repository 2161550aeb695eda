using System.Net;
using k8s;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Midori.Operator.Files;
using Midori.Operator.Persistence;
using static Midori.Operator.Tests.Http.ApiTestHost;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Tests.Http.Trust;

/// <summary>
/// Hostile input that used to reach PostgreSQL or the sandbox: NUL and lone surrogates, numbers sent as strings,
/// file sets no file system can hold (a file that is also a directory, two spellings of one name), and bodies sent
/// to a namespace the caller may not touch.
/// </summary>
public sealed class ApiInputTrustTests : IAsyncLifetime
{
    private ApiTestHost _host = null!;

    public async Task InitializeAsync() => _host = await StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonObject> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string detailContains)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(body)!.AsObject();
        Assert.Contains(detailContains, (string)problem["detail"]!, StringComparison.Ordinal);
        return problem;
    }

    [Theory]
    [InlineData("/api/v1/namespaces/team-a/projects/p-nul/snapshots", """{"fromGenerationId":"gen\u0000x","files":[{"path":"a.txt","content":"a"}]}""", "$.fromGenerationId")]
    [InlineData("/api/v1/namespaces/team-a/previews", """{"projectId":"p-nul","command":"npm\u0000run","files":[{"path":"a.txt","content":"a"}]}""", "$.command")]
    [InlineData("/api/v1/namespaces/team-a/previews", """{"projectId":"p-nul","files":[{"path":"a\u0000b","content":"a"}]}""", "$.files[0].path")]
    [InlineData("/api/v1/namespaces/team-a/previews", """{"projectId":"p-nul","files":[{"path":"a.txt","content":"x\u0000y"}]}""", "$.files[0].content")]
    [InlineData("/api/v1/namespaces/team-a/previews", """{"projectId":"p-nul","env":[{"name":"A","value":"\u0000"}],"files":[{"path":"a.txt","content":"a"}]}""", "$.env[0].value")]
    public async Task Nul_InAnyStringField_Is400NamingTheField_AndNothingIsStored(string url, string json, string field)
    {
        using var client = _host.Client();
        var problem = await AssertProblemAsync(await client.PostAsync(url, Json(json)), HttpStatusCode.BadRequest, "NUL");
        Assert.Equal(field, (string)problem["field"]!);
        Assert.Null(await _host.Store.GetProjectAsync(TeamA, "p-nul", CancellationToken.None));
    }

    [Fact]
    public async Task Nul_InProjectSettingsEnv_AndInRouteValues_Is400_AndNothingIsStored()
    {
        using var client = _host.Client();
        var put = await client.PutAsync($"/api/v1/namespaces/{TeamA}/projects/p-env",
            Json("""{"previewEnabled":true,"previewSettings":{"env":{"A":"1\u0000"}}}"""));
        var problem = await AssertProblemAsync(put, HttpStatusCode.BadRequest, "NUL");
        Assert.Equal("$.previewSettings.env.A", (string)problem["field"]!);

        var key = await client.PutAsync($"/api/v1/namespaces/{TeamA}/projects/p-env", Json("""{"previewEnabled":true,"previewSettings":{"env":{"A\u0000":"1"}}}"""));
        await AssertProblemAsync(key, HttpStatusCode.BadRequest, "NUL");

        // A %00 in the path is refused by ASP.NET Core's URL decoder before routing; query values arrive decoded.
        var query = await client.GetAsync("/api/preview/daytona?sandboxId=a%00b");
        Assert.Equal("sandboxId", (string)(await AssertProblemAsync(query, HttpStatusCode.BadRequest, "NUL"))["field"]!);
        Assert.Null(await _host.Store.GetProjectAsync(TeamA, "p-env", CancellationToken.None));
    }

    [Fact]
    public async Task LoneSurrogate_Is400()
    {
        using var client = _host.Client();
        var response = await client.PostAsync(Previews(TeamA), Json("""{"projectId":"p-sur","files":[{"path":"a.txt","content":"\ud800"}]}"""));
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid JSON");
    }

    [Fact]
    public async Task NumberSentAsString_Is400()
    {
        var created = await _host.CreateReadyAsync(TeamA, "p-num", TextFile("a.txt", "1\n2\n3"));
        using var client = _host.Client();
        var patch = await client.PatchAsync($"{Previews(TeamA)}/{(string)created["name"]!}/files",
            Json("""{"files":[{"path":"a.txt","operations":[{"type":"replace","line":"3","content":"x","oldContent":"3"}]}]}"""));
        await AssertProblemAsync(patch, HttpStatusCode.BadRequest, "invalid JSON");

        var ttl = await client.PostAsync(Previews(TeamA), Json("""{"projectId":"p-num","ttlSeconds":"600","files":[{"path":"a.txt","content":"a"}]}"""));
        await AssertProblemAsync(ttl, HttpStatusCode.BadRequest, "invalid JSON");
    }

    [Theory]
    [InlineData("a", "a/b")]
    [InlineData("index.html", "index.html/x")]
    [InlineData("src", "src/deep/er/file.js")]
    public async Task AFileThatIsAlsoADirectory_Is422NamingBoth_OnCreateAndSnapshot(string file, string below)
    {
        using var client = _host.Client();
        var create = await client.PostAsJsonAsync(Previews(TeamA), new { projectId = "p-prefix", files = new[] { TextFile(below, "x"), TextFile(file, "y") } });
        var problem = await AssertProblemAsync(create, HttpStatusCode.UnprocessableEntity, $"'{file}' is a file, so it cannot also be the directory of '{below}'");
        Assert.Equal([file, below], problem["paths"]!.AsArray().Select(p => (string)p!));

        var snapshot = await client.PostAsJsonAsync($"/api/v1/namespaces/{TeamA}/projects/p-prefix/snapshots", new { files = new[] { TextFile(file, "y"), TextFile(below, "x") } });
        await AssertProblemAsync(snapshot, HttpStatusCode.UnprocessableEntity, $"'{below}'");
        Assert.Null(await _host.Store.GetProjectAsync(TeamA, "p-prefix", CancellationToken.None));
    }

    [Fact]
    public async Task PutAddingAFileUnderAnExistingFile_Is422_ButReplacingTheFileByADirectoryInOneChangeWorks()
    {
        var created = await _host.CreateReadyAsync(TeamA, "p-wc", TextFile("a", "file a"), TextFile("index.html", "<h1>"));
        var name = (string)created["name"]!;
        using var client = _host.Client();
        var files = $"{Previews(TeamA)}/{name}/files";

        var under = await client.PutAsJsonAsync(files, new { files = new[] { TextFile("a/b", "x") } });
        var problem = await AssertProblemAsync(under, HttpStatusCode.UnprocessableEntity, "'a' is a file");
        Assert.Equal(["a", "a/b"], problem["paths"]!.AsArray().Select(p => (string)p!));
        var over = await client.PutAsJsonAsync(files, new { files = new[] { TextFile("index.html/x", "x") } });
        await AssertProblemAsync(over, HttpStatusCode.UnprocessableEntity, "'index.html/x'");

        var replaced = await client.PutAsJsonAsync(files, new { files = new[] { TextFile("a/b", "x") }, deleted = new[] { "a" } });
        Assert.Equal(HttpStatusCode.OK, replaced.StatusCode);
        var head = await _host.Store.ReadFilesAsync(new PreviewKey(TeamA, name), null, CancellationToken.None);
        Assert.Equal(["a/b", "index.html"], head!.Files.Select(f => f.Path).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task StoreRefusesAFileUnderAFile_EvenWhenTheApiCheckIsRaced()
    {
        var created = await _host.CreateReadyAsync(TeamA, "p-race", TextFile("a", "file a"));
        var key = new PreviewKey(TeamA, (string)created["name"]!);

        var conflict = await Assert.ThrowsAsync<FileSetConflictException>(() =>
            _host.Store.CommitAsync(key, [new FileWrite("a/b", "x"u8.ToArray())], new ChangeDescription("put"), CancellationToken.None));
        Assert.Equal(("a", "a/b"), (conflict.First, conflict.Second));
    }

    [Fact]
    public async Task NfcAndNfdSpellingsOfOneName_Are422NamingBoth_AndOneSpellingIsOneFile()
    {
        const string nfc = "caf\u00e9.txt";
        const string nfd = "cafe\u0301.txt";
        Assert.NotEqual(nfc, nfd);
        Assert.Equal(nfc, ProjectPath.Normalize(nfd)); // needs real ICU normalisation, not invariant mode's no-op

        using var client = _host.Client();
        var both = await client.PostAsJsonAsync(Previews(TeamA), new { projectId = "p-nfc", files = new[] { TextFile(nfc, "1"), TextFile(nfd, "2") } });
        var problem = await AssertProblemAsync(both, HttpStatusCode.UnprocessableEntity, "NFC");
        Assert.Equal([nfc, nfd], problem["paths"]!.AsArray().Select(p => (string)p!));

        var created = await _host.CreateReadyAsync(TeamA, "p-nfc", TextFile(nfd, "1"));
        var name = (string)created["name"]!;
        var put = await client.PutAsJsonAsync($"{Previews(TeamA)}/{name}/files", new { files = new[] { TextFile(nfc, "2") } });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var head = await _host.Store.ReadFilesAsync(new PreviewKey(TeamA, name), null, CancellationToken.None);
        var only = Assert.Single(head!.Files);
        Assert.Equal((nfc, "2"), (only.Path, Encoding.UTF8.GetString(only.Content)));
    }

    [Fact]
    public async Task DoubleDotsInsideAName_AreFine()
    {
        var created = await _host.CreateReadyAsync(TeamA, "p-dots", TextFile("js/app..min.js", "x"), TextFile("a..b/c.txt", "y"));
        var head = await _host.Store.ReadFilesAsync(new PreviewKey(TeamA, (string)created["name"]!), null, CancellationToken.None);
        Assert.Equal(["a..b/c.txt", "js/app..min.js"], head!.Files.Select(f => f.Path).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task CrdInlineSource_WithAFileUnderAFile_ReportsSourceErrorNamingBoth()
    {
        var resource = new Testing.Builders.PreviewSandboxBuilder().Named("crd-prefix", TeamA).WithFile("a", "x").WithFile("a/b", "y").Build();
        await _host.Kubernetes.CustomObjects.CreateNamespacedCustomObjectAsync(resource, Api.V1Alpha1.GroupVersion.Group, Api.V1Alpha1.GroupVersion.Version, TeamA,
            Api.V1Alpha1.GroupVersion.Plural);

        var seen = await _host.WaitForAsync(TeamA, "crd-prefix", r =>
            r?.Status?.Conditions?.Any(c => c is { Type: "Ready", Status: "False", Reason: "SourceError" }) == true);
        var ready = seen!.Status!.Conditions!.Single(c => c.Type == "Ready");
        Assert.Contains("'a' is a file, so it cannot also be the directory of 'a/b'", ready.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_host.Provider.Sandboxes, s => s.Request.Name == "crd-prefix");
    }

    [Fact]
    public async Task ThirtyMegabytes_ToAForbiddenNamespace_Is403_WithoutTheBodyBeingRead()
    {
        using var client = _host.Client(TokenA);
        var body = new CountingContent(30 * 1024 * 1024);

        var response = await client.PostAsync(Previews(TeamB), body);

        await AssertProblemAsync(response, HttpStatusCode.Forbidden, "may not create previews in namespace 'team-b'");
        Assert.True(body.Written < 1024 * 1024, $"{body.Written} bytes of the body were consumed before the refusal");
    }

    /// <summary>A JSON-looking body of a given length that counts how much of it the server pulled.</summary>
    private sealed class CountingContent : HttpContent
    {
        private readonly long _length;

        public CountingContent(long length)
        {
            _length = length;
            Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            Headers.ContentLength = length;
        }

        public long Written { get; private set; }

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            var chunk = new byte[64 * 1024];
            Array.Fill(chunk, (byte)' ');
            try
            {
                while (Written < _length)
                {
                    var count = (int)Math.Min(chunk.Length, _length - Written);
                    await stream.WriteAsync(chunk.AsMemory(0, count));
                    Written += count;
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
            {
                // the server answered without reading the rest; that is the point
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _length;
            return true;
        }
    }
}
