using k8s.Models;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
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
using Midori.DevApiServer;
using Midori.Operator.Runtime;

namespace Midori.Operator.Tests.Http;

/// <summary>
/// The real operator (Program) through <see cref="WebApplicationFactory{TEntryPoint}"/> against the in-process test
/// API server, with the in-memory store, a fake provider (instant sandboxes) and a fake clock. Three static tokens:
/// team-a (namespace team-a), team-b (team-b) and admin (*).
/// </summary>
public sealed class ApiTestHost : IAsyncDisposable
{
    public const string TeamA = "team-a";
    public const string TeamB = "team-b";
    public const string TokenA = "token-team-a-0123456789";
    public const string TokenB = "token-team-b-0123456789";
    public const string AdminToken = "token-admin-0123456789ab";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly WebApplicationFactory<Program> _factory;

    private ApiTestHost(DevKubeApiServer server, WebApplicationFactory<Program> factory, ObservableTimeProvider time, InMemoryPreviewStore store, FakeSandboxProvider provider)
    {
        Server = server;
        _factory = factory;
        Time = time;
        Store = store;
        Provider = provider;
        Kubernetes = new k8s.Kubernetes(server.CreateClientConfiguration());
    }

    public DevKubeApiServer Server { get; }

    /// <summary>The host's clock; <see cref="ObservableTimeProvider.CreatedTimers"/> tells when a wait has armed its timer.</summary>
    public ObservableTimeProvider Time { get; }

    public InMemoryPreviewStore Store { get; }

    public FakeSandboxProvider Provider { get; }

    public IKubernetes Kubernetes { get; }

    public IServiceProvider Services => _factory.Services;

    /// <param name="startAt">Fixed start of the host's fake clock (tests asserting absolute times); default: about now.</param>
    public static async Task<ApiTestHost> StartAsync(IDictionary<string, string?>? settings = null, Action<IServiceCollection>? configureServices = null,
        Func<DevKubeApiServer, Task>? beforeStart = null, DateTimeOffset? startAt = null)
    {
        var server = await DevKubeApiServer.StartAsync();
        await server.ApplyCrdAsync(RepositoryPaths.CrdFile);
        if (beforeStart is not null)
        {
            await beforeStart(server);
        }

        var time = new ObservableTimeProvider();
        if (startAt is { } start)
        {
            time.SetUtcNow(start);
        }
        else if (DateTimeOffset.UtcNow > time.GetUtcNow())
        {
            time.SetUtcNow(DateTimeOffset.UtcNow); // near the test API server's own clock
        }

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
                services.RemoveAll<IPreviewProbe>();
                services.AddSingleton<IPreviewProbe>(new FakePreviewProbe());
                services.AddSingleton<IPreviewStore>(store);
                services.AddSingleton<ISnapshotFileSource>(sp => new StoreSnapshotFileSource(store, sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<StoreSnapshotFileSource>>()));
                configureServices?.Invoke(services);
            });
        });

        var host = new ApiTestHost(server, factory, time, store, provider);
        await host.Services.GetRequiredService<PreviewSandboxCache>().Synced.WaitAsync(TestWaits.Bound);
        return host;
    }

    public HttpClient Client(string? token = AdminToken)
    {
        var client = _factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        client.Timeout = TimeSpan.FromMinutes(2); // event streams stay open longer than the 100 s default
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    /// <summary>
    /// Swaps the host's in-memory store for PostgreSQL at <paramref name="connectionString"/>, wired as AddMidoriOperator
    /// wires it (Program reads ConnectionStrings:Midori while registering, before a factory's settings apply).
    /// </summary>
    public static void UsePostgresStore(IServiceCollection services, string connectionString)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Midori"] = connectionString })
            .Build();
        services.AddMidoriStore(configuration);
        services.AddMidoriStoreConsumers(); // as AddMidoriOperator does when the connection string is set
        services.RemoveAll<IPreviewStore>();
        services.AddSingleton<IPreviewStore, PostgresPreviewStore>();
        services.RemoveAll<ISnapshotFileSource>();
        services.AddSingleton<ISnapshotFileSource, StoreSnapshotFileSource>();
    }

    public static string Previews(string ns) => $"/api/v1/namespaces/{ns}/previews";

    public static object TextFile(string path, string content) => new { path, content };

    /// <summary>POST /previews?wait=true and returns the reply (asserting it succeeded).</summary>
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

    /// <summary>Waits until the cache shows the preview matching <paramref name="predicate"/>.</summary>
    public async Task<V1Alpha1PreviewSandbox?> WaitForAsync(string ns, string name, Func<V1Alpha1PreviewSandbox?, bool> predicate)
    {
        var (resource, matched) = await TryWaitForAsync(ns, name, predicate, TestWaits.Bound);
        if (!matched)
        {
            Assert.Fail($"{ns}/{name} did not reach the expected state; last: {(resource is null ? "(absent)" : KubernetesJson.Serialize(resource))}");
        }

        return resource;
    }

    /// <summary>Like <see cref="WaitForAsync"/> but reports a timeout (real time) instead of failing.</summary>
    public async Task<(V1Alpha1PreviewSandbox? Resource, bool Matched)> TryWaitForAsync(string ns, string name, Func<V1Alpha1PreviewSandbox?, bool> predicate, TimeSpan timeout)
    {
        var cache = Services.GetRequiredService<PreviewSandboxCache>();
        var key = new PreviewKey(ns, name);
        using var deadline = new CancellationTokenSource(timeout); // real time: the host's clock is fake
        V1Alpha1PreviewSandbox? resource;
        bool matched;
        try
        {
            (resource, matched) = await cache.WaitForAsync(key, predicate, TimeSpan.FromDays(1), deadline.Token);
        }
        catch (OperationCanceledException)
        {
            (resource, matched) = (cache.TryGet(key, out var last) ? last : null, false);
        }

        return (resource, matched);
    }

    public async Task<V1Alpha1PreviewSandbox> GetResourceAsync(string ns, string name) =>
        await Kubernetes.CustomObjects.GetNamespacedCustomObjectAsync<V1Alpha1PreviewSandbox>(GroupVersion.Group, GroupVersion.Version, ns, GroupVersion.Plural, name);

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
