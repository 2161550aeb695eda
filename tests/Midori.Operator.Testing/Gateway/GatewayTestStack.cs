using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers;
using Midori.Operator.Testing.Builders;
using Midori.Operator.Testing.E2E;

namespace Midori.Operator.Testing.Gateway;

/// <summary>
/// The real operator host (reconciler, cache, gateway, API) over the in-process API server, with
/// <see cref="DevServerSandboxProvider"/> as its only provider: every sandbox is a real loopback server, so the
/// gateway proxies real HTTP, WebSockets and streams. Also used by the gateway benchmark.
/// </summary>
public sealed class GatewayTestStack : IAsyncDisposable
{
    public const string ApiToken = "gateway-test-token-0123456789";

    /// <summary>The same key on every replica (base64 of 32 bytes).</summary>
    public static readonly string SigningKey = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());

    private readonly List<OperatorTestHost> _hosts = [];
    private bool _realProviders;

    private GatewayTestStack(E2EEnvironment environment, DevServerSandboxProvider provider)
    {
        Environment = environment;
        Provider = provider;
    }

    public E2EEnvironment Environment { get; }

    public DevServerSandboxProvider Provider { get; }

    public OperatorTestHost Host => _hosts[0];

    public IReadOnlyList<OperatorTestHost> Hosts => _hosts;

    public string Namespace => Environment.Namespace;

    /// <param name="realProviders">Keep the operator's own providers (local, and Daytona/E2B as configured) instead of the dev-server fake.</param>
    public static async Task<GatewayTestStack> StartAsync(IDictionary<string, string?>? settings = null, int replicas = 1, bool realProviders = false)
    {
        var environment = await E2EEnvironment.StartAsync();
        var stack = new GatewayTestStack(environment, new DevServerSandboxProvider()) { _realProviders = realProviders };
        for (var i = 0; i < replicas; i++)
        {
            await stack.AddReplicaAsync(settings, replicas > 1 ? $"gw-{i}" : null);
        }

        return stack;
    }

    private async Task AddReplicaAsync(IDictionary<string, string?>? extra, string? identity)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Operator:WatchNamespace"] = Namespace,
            ["Operator:HealthCheckInterval"] = "00:00:02",
            ["Operator:HealthProbeTimeout"] = "00:00:01",
            ["Api:Tokens:0:Name"] = "gateway-tests",
            ["Api:Tokens:0:Token"] = ApiToken,
            ["Api:Tokens:0:Namespaces:0"] = "*",
            ["Gateway:SigningKeys:0:Id"] = "k1",
            ["Gateway:SigningKeys:0:Key"] = SigningKey,
        };
        if (identity is not null)
        {
            settings["LeaderElection:Enabled"] = "true";
            settings["LeaderElection:Identity"] = identity;
            settings["LeaderElection:LeaseName"] = "gateway-leader";
            settings["LeaderElection:LeaseNamespace"] = Namespace;
            settings["LeaderElection:LeaseDuration"] = "00:00:03";
            settings["LeaderElection:RenewDeadline"] = "00:00:02";
            settings["LeaderElection:RetryPeriod"] = "00:00:00.250";
        }

        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        _hosts.Add(await OperatorTestHost.StartAsync(Environment.Configuration, settings, services =>
        {
            if (!_realProviders)
            {
                services.RemoveAll<ISandboxProvider>();
                services.AddSingleton<ISandboxProvider>(Provider);
            }
        }));
    }

    /// <summary>Applies a preview served by the dev-server provider and waits until it is Ready.</summary>
    public async Task<V1Alpha1PreviewSandbox> CreateReadyAsync(string name, Action<PreviewSandboxBuilder>? configure = null, string page = "<h1>hello gateway</h1>")
    {
        var builder = new PreviewSandboxBuilder().Named(name, Namespace).WithTtl(3600).WithFile("about/index.html", "<p>about</p>");
        configure?.Invoke(builder);
        var manifest = builder.Build();
        manifest.Spec.Source.Inline![0].Content = page;
        await Environment.CreateAsync(manifest, CancellationToken.None);
        return (await WaitForAsync(name, IsReady, "Ready=True"))!;
    }

    public Task<V1Alpha1PreviewSandbox?> WaitForAsync(string name, Func<V1Alpha1PreviewSandbox?, bool> condition, string what, TimeSpan? timeout = null) =>
        Environment.WaitForAsync(name, condition, timeout ?? TimeSpan.FromSeconds(60), what);

    public static bool IsReady(V1Alpha1PreviewSandbox? p) =>
        p?.Status?.Phase == Phases.Running && p.Status.Conditions?.FirstOrDefault(c => c.Type == PreviewSandboxConditions.Ready)?.Status == "True";

    /// <summary>A signed link from the HTTP API, as the editor's backend gets it.</summary>
    public async Task<LinkDocument> LinkAsync(string name, OperatorTestHost? host = null)
    {
        using var http = ApiClient(host ?? Host);
        using var response = await http.GetAsync($"/api/v1/namespaces/{Namespace}/previews/{name}/link");
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<LinkDocument>(new JsonSerializerOptions(JsonSerializerDefaults.Web)))!;
    }

    public static HttpClient ApiClient(OperatorTestHost host)
    {
        var http = new HttpClient { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ApiToken);
        return http;
    }

    /// <summary>A browser: keeps cookies, follows redirects.</summary>
    public static HttpClient Browser(CookieContainer? cookies = null, bool followRedirects = true) =>
        new(new SocketsHttpHandler { CookieContainer = cookies ?? new CookieContainer(), UseCookies = true, AllowAutoRedirect = followRedirects })
        {
            Timeout = TimeSpan.FromSeconds(60),
        };

    /// <summary>The path-form URL of a preview on <paramref name="host"/>.</summary>
    public Uri PathUrl(string name, OperatorTestHost? host = null, string relative = "") =>
        new((host ?? Host).BaseAddress, $"/p/{Namespace}/{name}/{relative}");

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            await host.DisposeAsync();
        }

        await Provider.DisposeAsync();
        await Environment.DisposeAsync();
    }

    public sealed record LinkDocument(string Url, string Token, DateTimeOffset ExpiresAt, string PreviewUrl);
}
