using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Local;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Fakes;
using Midori.Operator.Testing.KubeApiServer;

namespace Midori.Operator.Tests.Http.Extensions;

/// <summary>
/// The whole operator (Program) through <see cref="WebApplicationFactory{TEntryPoint}"/> against the in-process test
/// API server, with the in-memory store, an instant fake provider and a FakeTimeProvider. Tokens: team-a (namespace
/// team-a only), team-b (team-b only), admin (*).
/// </summary>
public sealed class ExtensionsApiHost : IAsyncDisposable
{
    public const string TeamA = "team-a";
    public const string TeamB = "team-b";
    public const string TokenA = "token-team-a-0123456789";
    public const string TokenB = "token-team-b-0123456789";
    public const string AdminToken = "token-admin-0123456789ab";

    private readonly WebApplicationFactory<Program> _factory;

    private ExtensionsApiHost(TestKubeApiServer server, WebApplicationFactory<Program> factory, FakeTimeProvider time, InMemoryPreviewStore store,
        FakeSandboxProvider provider)
    {
        Server = server;
        _factory = factory;
        Time = time;
        Store = store;
        Provider = provider;
        Kubernetes = new k8s.Kubernetes(server.CreateClientConfiguration());
    }

    public TestKubeApiServer Server { get; }

    public FakeTimeProvider Time { get; }

    public InMemoryPreviewStore Store { get; }

    public FakeSandboxProvider Provider { get; }

    public IKubernetes Kubernetes { get; }

    public IServiceProvider Services => _factory.Services;

    public static async Task<ExtensionsApiHost> StartAsync(IDictionary<string, string?>? settings = null)
    {
        var server = await TestKubeApiServer.StartAsync();
        await server.ApplyCrdAsync(RepositoryPaths.CrdFile);
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));
        var store = new InMemoryPreviewStore(time);
        var provider = new FakeSandboxProvider(time);
        var configuration = new Dictionary<string, string?>
        {
            ["LeaderElection:Enabled"] = "false",
            ["Logging:LogLevel:Default"] = Environment.GetEnvironmentVariable("MIDORI_TEST_LOGLEVEL") ?? "Warning",
            ["Api:Tokens:0:Name"] = "team-a",
            ["Api:Tokens:0:Token"] = TokenA,
            ["Api:Tokens:0:Namespaces:0"] = TeamA,
            ["Api:Tokens:1:Name"] = "team-b",
            ["Api:Tokens:1:Token"] = TokenB,
            ["Api:Tokens:1:Namespaces:0"] = TeamB,
            ["Api:Tokens:2:Name"] = "admin",
            ["Api:Tokens:2:Token"] = AdminToken,
            ["Api:Tokens:2:Namespaces:0"] = "*",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            configuration[key] = value;
        }

        var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseEnvironment("Testing");
            builder.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(configuration));
            builder.ConfigureTestServices(services =>
            {
                services.RemoveAll<KubernetesClientConfiguration>();
                services.AddSingleton(server.CreateClientConfiguration());
                services.RemoveAll<TimeProvider>();
                services.AddSingleton<TimeProvider>(time);
                services.RemoveAll<ISandboxProvider>();
                services.RemoveAll<LocalSandboxProvider>();
                services.AddSingleton<ISandboxProvider>(provider);
                services.AddSingleton<IPreviewStore>(store);
                services.AddSingleton<IActivityStore>(store);
                services.AddSingleton<ISnapshotFileSource>(sp => new StoreSnapshotFileSource(store, sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<StoreSnapshotFileSource>>()));

                // The fake provider's URLs do not resolve: probes would mark every preview Degraded after a few checks.
                services.RemoveAll<IPreviewProbe>();
                services.AddSingleton<IPreviewProbe>(new FakePreviewProbe());
            });
        });

        var host = new ExtensionsApiHost(server, factory, time, store, provider);
        await host.Services.GetRequiredService<PreviewSandboxCache>().Synced.WaitAsync(TimeSpan.FromSeconds(30));
        return host;
    }

    public HttpClient Client(string? token = AdminToken)
    {
        var client = _factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        client.Timeout = TimeSpan.FromMinutes(2);
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    public static string Previews(string ns) => $"/api/v1/namespaces/{ns}/previews";

    /// <summary>POST /previews?wait=true; returns the reply after asserting the preview is Ready.</summary>
    public async Task<JsonObject> CreateReadyAsync(string ns, string projectId, params object[] files)
    {
        using var client = Client();
        var response = await client.PostAsJsonAsync($"{Previews(ns)}?wait=true&timeoutSeconds=30", new { projectId, files });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        var json = JsonNode.Parse(body)!.AsObject();
        Assert.True((bool)json["ready"]!, body);
        return json;
    }

    /// <summary>Waits (on cache changes, bounded) until the preview matches <paramref name="predicate"/>.</summary>
    public async Task<V1Alpha1PreviewSandbox?> WaitForAsync(string ns, string name, Func<V1Alpha1PreviewSandbox?, bool> predicate)
    {
        var cache = Services.GetRequiredService<PreviewSandboxCache>();
        var (resource, matched) = await cache.WaitForAsync(new PreviewKey(ns, name), predicate, TimeSpan.FromSeconds(30), CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(matched, $"{ns}/{name} did not reach the expected state; last: {(resource is null ? "absent" : KubernetesJson.Serialize(resource))}");
        return resource;
    }

    public Task AnnotateAsync(string ns, string name, string key, string value) =>
        Kubernetes.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(new JsonObject { ["metadata"] = new JsonObject { ["annotations"] = new JsonObject { [key] = value } } }.ToJsonString(), V1Patch.PatchType.MergePatch),
            GroupVersion.Group, GroupVersion.Version, ns, GroupVersion.Plural, name);

    public async ValueTask DisposeAsync()
    {
        await _factory.DisposeAsync();
        await Server.DisposeAsync();
    }
}

/// <summary>One server-sent event as read off the wire: fields of one block, or a comment line.</summary>
public sealed record SseMessage(string? Id, string? Event, string? Data, string? Comment, string? Retry)
{
    public JsonObject Body() => JsonNode.Parse(Data ?? "null")?.AsObject() ?? throw new InvalidOperationException("no data");
}

/// <summary>Reads <c>text/event-stream</c> blocks (fields separated by a blank line) from a live response stream.</summary>
public sealed class SseReader(Stream stream) : IDisposable
{
    private readonly StreamReader _reader = new(stream);

    /// <summary>The next block; bounded so a missing event fails the test instead of hanging it.</summary>
    public async Task<SseMessage> NextAsync(TimeSpan? timeout = null)
    {
        string? id = null, type = null, data = null, comment = null, retry = null;
        while (true)
        {
            var line = await _reader.ReadLineAsync().WaitAsync(timeout ?? TimeSpan.FromSeconds(30))
                ?? throw new EndOfStreamException("the event stream ended");
            if (line.Length == 0)
            {
                if (id is null && type is null && data is null && comment is null && retry is null)
                {
                    continue;
                }

                return new SseMessage(id, type, data, comment, retry);
            }

            if (line.StartsWith(':'))
            {
                comment = line[1..].Trim();
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? string.Empty : line[(colon + 1)..].TrimStart(' ');
            switch (field)
            {
                case "id": id = value; break;
                case "event": type = value; break;
                case "data": data = data is null ? value : data + "\n" + value; break;
                case "retry": retry = value; break;
                default: break;
            }
        }
    }

    /// <summary>Next block that is an event (skips keep-alive comments and retry hints).</summary>
    public async Task<SseMessage> NextEventAsync(TimeSpan? timeout = null)
    {
        while (true)
        {
            var message = await NextAsync(timeout);
            if (message.Event is not null)
            {
                return message;
            }
        }
    }

    public void Dispose() => _reader.Dispose();
}
