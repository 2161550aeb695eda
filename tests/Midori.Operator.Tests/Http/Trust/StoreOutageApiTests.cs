using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Controllers;
using Midori.Operator.Persistence;
using Midori.Operator.Testing.Fakes;
using static Midori.Operator.Tests.Http.ApiTestHost;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Tests.Http.Trust;

/// <summary>With the store failing the way Npgsql fails when PostgreSQL is down, every route that needs it answers 503 + Retry-After.</summary>
public sealed class StoreOutageApiTests : IAsyncLifetime
{
    private ApiTestHost _host = null!;
    private OutageStore _outage = null!;

    public async Task InitializeAsync()
    {
        _host = await StartAsync(configureServices: services =>
        {
            services.RemoveAll<IPreviewStore>();
            services.AddSingleton(sp =>
            {
                var (store, control) = OutageStore.Wrap(new InMemoryPreviewStore(sp.GetRequiredService<TimeProvider>()));
                _outage = control;
                return store;
            });
            services.RemoveAll<Midori.Operator.Controllers.ISnapshotFileSource>();
            services.AddSingleton<Midori.Operator.Controllers.ISnapshotFileSource>(sp =>
                new StoreSnapshotFileSource(sp.GetRequiredService<IPreviewStore>(), sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<StoreSnapshotFileSource>>()));
        });
        _host.Services.GetRequiredService<IPreviewStore>(); // materialize the proxy
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task EveryStoreRoute_Answers503WithRetryAfter_WhileTheStoreIsDown_AndWorksAgainAfter()
    {
        var created = await _host.CreateReadyAsync(TeamA, "p-out", TextFile("a.txt", "a"));
        var name = (string)created["name"]!;
        var sandboxId = (string)created["sandboxId"]!;
        var ns = $"/api/v1/namespaces/{TeamA}";
        using var client = _host.Client();
        using var seed = _host.Client(TokenA);
        _outage.Down = true;

        var requests = new (string What, Func<Task<HttpResponseMessage>> Send)[]
        {
            ("create", () => client.PostAsJsonAsync(Previews(TeamA), new { projectId = "p-out", files = new[] { TextFile("a.txt", "b") } })),
            ("put files", () => client.PutAsJsonAsync($"{Previews(TeamA)}/{name}/files", new { files = new[] { TextFile("a.txt", "c") } })),
            ("patch files", () => client.PatchAsJsonAsync($"{Previews(TeamA)}/{name}/files",
                new { files = new[] { new { path = "a.txt", operations = new[] { new { type = "replace", line = 1, content = "d", oldContent = "a" } } } } })),
            ("heartbeat", () => client.PostAsync($"{Previews(TeamA)}/{name}/heartbeat", null)),
            ("get project", () => client.GetAsync($"{ns}/projects/p-out")),
            ("put project", () => client.PutAsJsonAsync($"{ns}/projects/p-out", new { previewEnabled = true })),
            ("create snapshot", () => client.PostAsJsonAsync($"{ns}/projects/p-out/snapshots", new { files = new[] { TextFile("a.txt", "e") } })),
            ("get snapshot", () => client.GetAsync($"{ns}/projects/p-out/snapshots/{(string)created["snapshotId"]!}")),
            ("seed start", () => seed.PostAsJsonAsync("/api/preview/daytona", new { projectId = "p-out", files = new[] { TextFile("a.txt", "f") } })),
            ("seed update", () => seed.PutAsJsonAsync($"/api/preview/daytona?sandboxId={sandboxId}", new { path = "a.txt", content = "g" })),
            ("seed patch", () => seed.PatchAsJsonAsync($"/api/preview/daytona/partial?sandboxId={sandboxId}",
                new { path = "a.txt", operations = new[] { new { type = "replace", line = 1, content = "h", oldContent = "a" } } })),
            ("seed heartbeat", () => seed.GetAsync($"/api/preview/daytona?sandboxId={sandboxId}")),
        };

        foreach (var (what, send) in requests)
        {
            using var response = await send();
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{what}: {(int)response.StatusCode} {body}");
            Assert.True(response.Headers.RetryAfter?.Delta is { TotalSeconds: > 0 }, $"{what}: no Retry-After");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(503, (int)JsonNode.Parse(body)!["status"]!);
        }

        Assert.True(_outage.FailedCalls >= requests.Length);
        _outage.Down = false;
        var after = await client.PutAsJsonAsync($"{Previews(TeamA)}/{name}/files", new { files = new[] { TextFile("a.txt", "after") } });
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        var head = await _host.Services.GetRequiredService<IPreviewStore>().ReadFilesAsync(new PreviewKey(TeamA, name), null, CancellationToken.None);
        Assert.Equal("after", Encoding.UTF8.GetString(head!.Files.Single().Content));
    }
}
