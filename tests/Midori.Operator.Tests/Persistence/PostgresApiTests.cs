using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Controllers;
using Midori.Operator.Files;
using Midori.Operator.Persistence;
using Midori.Operator.Tests.Persistence;
using static Midori.Operator.Tests.Http.ApiTestHost;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Tests.Http;

namespace Midori.Operator.Tests.Persistence;

/// <summary>
/// The API through WebApplicationFactory with the production PostgreSQL wiring (<c>ConnectionStrings:Midori</c>:
/// migrations at start, <see cref="PostgresPreviewStore"/>, the store-backed snapshot source) instead of the in-memory store.
/// </summary>
public sealed class PostgresApiTests(PostgresDatabase database) : IClassFixture<PostgresDatabase>, IAsyncLifetime
{
    private ApiTestHost _host = null!;

    public async Task InitializeAsync()
    {
        if (PostgresTestEnvironment.SkipReason is not null)
        {
            return; // the facts below skip (or fail under CI) with the reason
        }

        _host = await StartAsync(
            settings: null,
            services => ApiTestHost.UsePostgresStore(services, database.ConnectionString));
    }

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }

    private IPreviewStore Store => _host.Services.GetRequiredService<IPreviewStore>();

    [PostgresFact]
    public async Task CreatePutPatchHeartbeatStatus_AreDurableInPostgres_AndConcurrentPatchesHaveOneWinner()
    {
        // arrange: a preview created from files through the API
        Assert.IsType<PostgresPreviewStore>(Store);
        var lines = string.Join('\n', Enumerable.Range(1, 10).Select(i => $"line {i}"));
        var created = await _host.CreateReadyAsync(TeamA, "pg-api", TextFile("a.txt", lines), TextFile("b.txt", "b"));
        var name = (string)created["name"]!;
        var sandboxId = (string)created["sandboxId"]!;
        var key = new PreviewKey(TeamA, name);
        using var client = _host.Client();
        var files = $"{Previews(TeamA)}/{name}/files";

        // act: a PUT, then two PATCHes on the same base at once, then a heartbeat and a status read
        var put = await client.PutAsJsonAsync(files, new { files = new[] { TextFile("b.txt", "B") } });
        var baseHash = ContentHash.Compute(Encoding.UTF8.GetBytes(lines));
        object Edit(int line, string content) => new
        {
            files = new[] { new { path = "a.txt", baseHash, operations = new[] { new { type = "replace", line, content, oldContent = $"line {line}" } } } },
        };
        var patches = await Task.WhenAll(client.PatchAsJsonAsync(files, Edit(1, "first")), client.PatchAsJsonAsync(files, Edit(2, "second")));
        var heartbeat = await client.PostAsync($"{Previews(TeamA)}/{name}/heartbeat", null);
        var status = JsonNode.Parse(await client.GetStringAsync($"{Previews(TeamA)}/{name}"))!;

        // assert
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Conflict], patches.Select(r => r.StatusCode).Order());
        Assert.Equal(HttpStatusCode.OK, heartbeat.StatusCode);
        Assert.Equal("running", (string?)status["status"]);

        var copy = await Store.ReadFilesAsync(key, null, CancellationToken.None);
        var a = Encoding.UTF8.GetString(copy!.Files.Single(f => f.Path == "a.txt").Content).Split('\n');
        Assert.Equal(3, copy.Revision); // snapshot, PUT, the winning PATCH
        Assert.Single(a, l => l is "first" or "second");
        Assert.Equal("B", Encoding.UTF8.GetString(copy.Files.Single(f => f.Path == "b.txt").Content));
        Assert.Equal(string.Join('\n', a), Encoding.UTF8.GetString(_host.Provider.Find(sandboxId)!.Files["a.txt"]));
        Assert.NotNull(await Store.GetLastActivityAsync(key, CancellationToken.None));
        Assert.Equal(3, (await Store.GetWorkingCopyAsync(key, CancellationToken.None))!.PushedRevision);
    }
}
