using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Midori.Operator.Files;
using Midori.Operator.Persistence;
using static Midori.Operator.Tests.Http.ApiTestHost;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Tests.Http.Endpoints;

/// <summary>PUT and PATCH of files: commit (durable, compare-and-swap) before push, delta pushes, conflicts, binary files.</summary>
public sealed class FilesApiTests : IAsyncLifetime
{
    private ApiTestHost _host = null!;

    public async Task InitializeAsync() => _host = await StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<(string Name, string SandboxId)> CreateAsync(string projectId, params object[] files)
    {
        var created = await _host.CreateReadyAsync(TeamA, projectId, files);
        return ((string)created["name"]!, (string)created["sandboxId"]!);
    }

    private string FilesUrl(string name) => $"{Previews(TeamA)}/{name}/files";

    private string SandboxText(string sandboxId, string path) => Encoding.UTF8.GetString(_host.Provider.Find(sandboxId)!.Files[path]);

    [Fact]
    public async Task Put_CommitsAndPushesOnlyChangedFiles_AndReportsWhatChanged()
    {
        var (name, sandboxId) = await CreateAsync("f-put", TextFile("a.txt", "a\nb\nc"), TextFile("same.txt", "same"), TextFile("old.txt", "old"));
        using var client = _host.Client();

        var response = await client.PutAsJsonAsync(FilesUrl(name), new
        {
            files = new[] { TextFile("a.txt", "a\nB\nc\nd"), TextFile("same.txt", "same"), TextFile("new/file.txt", "new") },
            deleted = new[] { "old.txt" },
        });
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, (long)body["revision"]!);
        Assert.Equal(["new/file.txt"], Strings(body["added"]));
        Assert.Equal(["a.txt"], Strings(body["modified"]));
        Assert.Equal(["same.txt"], Strings(body["unchanged"]));
        Assert.Equal(["old.txt"], Strings(body["deleted"]));
        Assert.Equal((2, 1), ((int)body["lineChanges"]!["a.txt"]!["added"]!, (int)body["lineChanges"]!["a.txt"]!["removed"]!));
        Assert.Equal(ContentHash.Compute("a\nB\nc\nd"u8), (string)body["hashes"]!["a.txt"]!);
        Assert.True((bool)body["pushed"]!);
        Assert.Equal("a\nB\nc\nd", SandboxText(sandboxId, "a.txt"));
        Assert.Equal("new", SandboxText(sandboxId, "new/file.txt"));
        Assert.False(_host.Provider.Find(sandboxId)!.Files.ContainsKey("old.txt"));
        var change = _host.Store.Changes.Last();
        Assert.Equal(("put", 2L), (change.Change.Kind, change.Revision));
    }

    [Fact]
    public async Task Put_AllUnchanged_WritesNothing()
    {
        var (name, _) = await CreateAsync("f-same", TextFile("a.txt", "a"));
        var commits = _host.Store.Commits;
        using var client = _host.Client();

        var body = JsonNode.Parse(await (await client.PutAsJsonAsync(FilesUrl(name), new { files = new[] { TextFile("a.txt", "a") } })).Content.ReadAsStringAsync())!;

        Assert.Equal(1, (long)body["revision"]!);
        Assert.False((bool)body["changed"]!);
        Assert.Equal(commits, _host.Store.Commits);
    }

    [Fact]
    public async Task Put_ReplaceAll_DeletesUnlistedFiles()
    {
        var (name, sandboxId) = await CreateAsync("f-replace", TextFile("a.txt", "a"), TextFile("b.txt", "b"));
        using var client = _host.Client();

        var body = JsonNode.Parse(await (await client.PutAsJsonAsync(FilesUrl(name), new { files = new[] { TextFile("a.txt", "a") }, replaceAll = true })).Content.ReadAsStringAsync())!;

        Assert.Equal(["b.txt"], Strings(body["deleted"]));
        Assert.Equal(["a.txt"], _host.Provider.Find(sandboxId)!.Files.Keys.Order().ToArray());
    }

    [Fact]
    public async Task BinaryFiles_RoundTripAsBase64_AndCannotBeLinePatched()
    {
        var (name, sandboxId) = await CreateAsync("f-binary", TextFile("index.html", "x"));
        var bytes = Enumerable.Range(0, 256).Select(i => (byte)i).Concat(new byte[] { 0xFF, 0xFE, 0x00, 0xC3 }).ToArray();
        using var client = _host.Client();

        var put = await client.PutAsJsonAsync(FilesUrl(name), new { files = new[] { new { path = "img/logo.png", content = Convert.ToBase64String(bytes), encoding = "base64" } } });

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal(bytes, _host.Provider.Find(sandboxId)!.Files["img/logo.png"]);
        var stored = await _host.Store.ReadFilesAsync(new PreviewKey(TeamA, name), ["img/logo.png"], CancellationToken.None);
        Assert.Equal(bytes, Assert.Single(stored!.Files).Content);

        var patch = await client.PatchAsJsonAsync(FilesUrl(name), new { files = new[] { new { path = "img/logo.png", operations = new[] { new { type = "insert", line = 1, content = "x" } } } } });
        await PreviewApiTests.AssertProblemAsync(patch, HttpStatusCode.UnprocessableEntity, "not UTF-8 text");
    }

    [Fact]
    public async Task Patch_AppliesLineOperations_CommitsThenPushes()
    {
        var (name, sandboxId) = await CreateAsync("f-patch", TextFile("app.js", "one\ntwo\nthree\n"));
        using var client = _host.Client();

        var response = await client.PatchAsJsonAsync(FilesUrl(name), new
        {
            files = new[]
            {
                new
                {
                    path = "app.js",
                    baseHash = ContentHash.Compute("one\ntwo\nthree\n"u8),
                    operations = new object[]
                    {
                        new { type = "replace", line = 2, content = "TWO", oldContent = "two" },
                        new { type = "insert", line = 1, content = "zero" },
                        new { type = "delete", line = 3, oldContent = "three" },
                    },
                },
            },
        });
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["app.js"], Strings(body["modified"]));
        Assert.Equal(2, (long)body["revision"]!);
        Assert.Equal("zero\none\nTWO\n", SandboxText(sandboxId, "app.js"));
        Assert.Equal(ContentHash.Compute("zero\none\nTWO\n"u8), (string)body["hashes"]!["app.js"]!);
        var workingCopy = await _host.Store.GetWorkingCopyAsync(new PreviewKey(TeamA, name), CancellationToken.None);
        Assert.Equal(2, workingCopy!.PushedRevision);
    }

    [Fact]
    public async Task Patch_OldContentMismatch_Is409_AndNothingChanges()
    {
        var (name, sandboxId) = await CreateAsync("f-stale-line", TextFile("a.txt", "a\nb"), TextFile("b.txt", "b"));
        using var client = _host.Client();

        var response = await client.PatchAsJsonAsync(FilesUrl(name), new
        {
            files = new object[]
            {
                new { path = "b.txt", operations = new[] { new { type = "replace", line = 1, content = "B", oldContent = "b" } } },
                new { path = "a.txt", operations = new[] { new { type = "replace", line = 2, content = "X", oldContent = "not b" } } },
            },
        });

        var problem = await PreviewApiTests.AssertProblemAsync(response, HttpStatusCode.Conflict, "expected old content");
        Assert.Equal("a.txt", (string)problem["path"]!);
        var files = await _host.Store.ReadFilesAsync(new PreviewKey(TeamA, name), null, CancellationToken.None);
        Assert.Equal(1, files!.Revision);
        Assert.Equal("b", SandboxText(sandboxId, "b.txt"));
    }

    [Fact]
    public async Task Patch_StaleBaseHash_Is409()
    {
        var (name, _) = await CreateAsync("f-stale-base", TextFile("a.txt", "a"));
        using var client = _host.Client();

        var response = await client.PatchAsJsonAsync(FilesUrl(name), new
        {
            files = new[] { new { path = "a.txt", baseHash = ContentHash.Compute("something else"u8), operations = new[] { new { type = "insert", line = 1, content = "x" } } } },
        });

        await PreviewApiTests.AssertProblemAsync(response, HttpStatusCode.Conflict, "changed since base");
    }

    [Fact]
    public async Task Patch_InvalidOperations_AreClear4xx()
    {
        var (name, _) = await CreateAsync("f-invalid-ops", TextFile("a.txt", "a"));
        using var client = _host.Client();

        await PreviewApiTests.AssertProblemAsync(await client.PatchAsJsonAsync(FilesUrl(name), new
        {
            files = new[] { new { path = "a.txt", operations = new[] { new { type = "replace", line = 5, content = "x" } } } },
        }), HttpStatusCode.UnprocessableEntity, "outside 1..1");
        await PreviewApiTests.AssertProblemAsync(await client.PatchAsJsonAsync(FilesUrl(name), new
        {
            files = new[] { new { path = "a.txt", operations = new[] { new { type = "upsert", line = 1, content = "x" } } } },
        }), HttpStatusCode.BadRequest, "use insert, delete or replace");
        await PreviewApiTests.AssertProblemAsync(await client.PatchAsJsonAsync(FilesUrl(name), new
        {
            files = new[] { new { path = "missing.txt", operations = new[] { new { type = "insert", line = 1, content = "x" } } } },
        }), HttpStatusCode.NotFound, "create it with PUT");
    }

    [Fact]
    public async Task Patch_TwoConcurrentOnTheSameBase_ExactlyOneWins_AndNothingIsLost()
    {
        var lines = string.Join('\n', Enumerable.Range(1, 20).Select(i => $"line {i}"));
        var (name, sandboxId) = await CreateAsync("f-race", TextFile("a.txt", lines));
        var baseHash = ContentHash.Compute(Encoding.UTF8.GetBytes(lines));
        using var client = _host.Client();
        object Edit(int line, string content) => new
        {
            files = new[] { new { path = "a.txt", baseHash, operations = new[] { new { type = "replace", line, content, oldContent = $"line {line}" } } } },
        };

        for (var round = 0; round < 5; round++)
        {
            var current = await _host.Store.ReadFilesAsync(new PreviewKey(TeamA, name), ["a.txt"], CancellationToken.None);
            var text = Encoding.UTF8.GetString(current!.Files[0].Content);
            baseHash = ContentHash.Compute(current.Files[0].Content);
            var first = 2 * round + 1;
            var second = 2 * round + 2;
            var responses = await Task.WhenAll(client.PatchAsJsonAsync(FilesUrl(name), Edit(first, $"A{round}")), client.PatchAsJsonAsync(FilesUrl(name), Edit(second, $"B{round}")));

            var codes = responses.Select(r => r.StatusCode).Order().ToArray();
            Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Conflict], codes);

            // The loser re-reads and retries on the new base: both edits end up in the file.
            var loser = responses[0].StatusCode == HttpStatusCode.Conflict ? (first, $"A{round}") : (second, $"B{round}");
            baseHash = ContentHash.Compute((await _host.Store.ReadFilesAsync(new PreviewKey(TeamA, name), ["a.txt"], CancellationToken.None))!.Files[0].Content);
            Assert.Equal(HttpStatusCode.OK, (await client.PatchAsJsonAsync(FilesUrl(name), Edit(loser.Item1, loser.Item2))).StatusCode);
            Assert.NotEqual(text, SandboxText(sandboxId, "a.txt"));
        }

        var final = SandboxText(sandboxId, "a.txt").Split('\n');
        for (var round = 0; round < 5; round++)
        {
            Assert.Equal($"A{round}", final[2 * round]);
            Assert.Equal($"B{round}", final[(2 * round) + 1]);
        }

        Assert.Equal("line 11", final[10]);
        Assert.Equal(11, (await _host.Store.GetWorkingCopyAsync(new PreviewKey(TeamA, name), CancellationToken.None))!.Revision);
    }

    [Fact]
    public async Task PushFailure_StillSucceeds_WithPushedFalse_AndTheRevisionIsDurable()
    {
        var (name, sandboxId) = await CreateAsync("f-push-fail", TextFile("a.txt", "a"));
        _host.Provider.FailNextUpload();
        using var client = _host.Client();

        var body = JsonNode.Parse(await (await client.PutAsJsonAsync(FilesUrl(name), new { files = new[] { TextFile("a.txt", "changed") } })).Content.ReadAsStringAsync())!;

        Assert.False((bool)body["pushed"]!);
        Assert.Contains("upload failed", (string)body["pushError"]!, StringComparison.Ordinal);
        Assert.Equal(2, (long)body["revision"]!);
        // The reconciler is woken at once after a failed push (files-push annotation), so the sandbox may already hold the change here.
        var workingCopy = await _host.Store.GetWorkingCopyAsync(new PreviewKey(TeamA, name), CancellationToken.None);
        Assert.Equal(2, workingCopy!.Revision);

        // The next change pushes everything the sandbox lacks (the delta since its last known revision).
        var next = JsonNode.Parse(await (await client.PutAsJsonAsync(FilesUrl(name), new { files = new[] { TextFile("b.txt", "b") } })).Content.ReadAsStringAsync())!;
        Assert.True((bool)next["pushed"]!);
        Assert.Equal("changed", SandboxText(sandboxId, "a.txt"));
        Assert.Equal("b", SandboxText(sandboxId, "b.txt"));
    }

    private static string[] Strings(JsonNode? node) => [.. node!.AsArray().Select(n => (string)n!)];
}
