using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Midori.DevApiServer.Http;
using Midori.DevApiServer.Storage;
using Midori.DevApiServer.Watch;

namespace Midori.DevApiServer;

/// <summary>
/// An in-process Kubernetes API server on loopback Kestrel that follows kube-apiserver semantics for the resources an
/// operator touches (CRDs and their custom resources, Secrets, ConfigMaps, Events, Leases, Namespaces).
/// Serves what kubectl needs too (discovery, OpenAPI v3, Table, field selectors, server-side apply; see README.md).
/// Not implemented (by design): managedFields of built-ins, admission webhooks, RBAC beyond a single bearer token.
/// </summary>
public sealed class DevKubeApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stopping;
    private readonly ResourceStore _store;
    private readonly WatchHub _hub;
    private readonly ResourceOperations _operations;
    private readonly Task _garbageCollection;
    private readonly RuntimeSwitches _switches;
    private X509Certificate2? _certificateAuthority;

    private DevKubeApiServer(
        WebApplication app,
        CancellationTokenSource stopping,
        ResourceStore store,
        WatchHub hub,
        ResourceOperations operations,
        Task garbageCollection,
        ServerParts parts)
    {
        _app = app;
        _stopping = stopping;
        _store = store;
        _hub = hub;
        _operations = operations;
        _garbageCollection = garbageCollection;
        Token = parts.Token;
        Registry = parts.Registry;
        Faults = parts.Faults;
        Requests = parts.Log;
        _switches = parts.Switches;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(address);
    }

    public Uri BaseAddress { get; }

    /// <summary>The bearer token the server accepts; other requests are answered 403 for <c>system:anonymous</c>.</summary>
    public string Token { get; }

    /// <summary>Whether watches are served from the watch cache; can be switched while running (see <see cref="DevKubeApiServerOptions.WatchCacheEnabled"/>).</summary>
    public bool WatchCacheEnabled
    {
        get => _switches.WatchCacheEnabled;
        set => _switches.WatchCacheEnabled = value;
    }

    public ResourceRegistry Registry { get; }

    /// <summary>Injects failures into upcoming requests.</summary>
    public FaultInjector Faults { get; }

    /// <summary>Every request received (method, path, query, content type).</summary>
    public RequestLog Requests { get; }

    public long CurrentResourceVersion
    {
        get
        {
            lock (_store.Sync)
            {
                return _store.CurrentResourceVersion;
            }
        }
    }

    public int OpenWatchCount
    {
        get
        {
            lock (_store.Sync)
            {
                return _hub.Count;
            }
        }
    }

    public static async Task<DevKubeApiServer> StartAsync(DevKubeApiServerOptions? options = null)
    {
        options ??= new DevKubeApiServerOptions();
        var token = options.Token ?? Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, options.Port, listen =>
        {
            if (options.ServerCertificate is { } certificate)
            {
                listen.UseHttps(certificate);
            }
        }));
        var app = builder.Build();

        var stopping = new CancellationTokenSource();
        var hub = new WatchHub();
        var store = new ResourceStore(hub, options.WatchCacheCapacity);
        var switches = new RuntimeSwitches(options.WatchCacheEnabled);
        var registry = new ResourceRegistry();
        var operations = new ResourceOperations(store, registry, options.TimeProvider);
        var watches = new WatchStream(store, hub, options, switches);
        var faults = new FaultInjector();
        var log = new RequestLog();
        var routes = new Routes(registry, store, operations, watches, faults, log, token, stopping.Token, options);
        app.Run(routes.HandleAsync);
        await app.StartAsync();

        var gc = Task.Run(() => new GarbageCollector(store, operations).RunAsync(stopping.Token));
        return new DevKubeApiServer(app, stopping, store, hub, operations, gc, new ServerParts(token, registry, faults, log, switches))
        {
            _certificateAuthority = options.CertificateAuthority,
        };
    }

    /// <summary>Configuration for a real <c>k8s.Kubernetes</c> client talking to this server.</summary>
    public KubernetesClientConfiguration CreateClientConfiguration() => new()
    {
        Host = BaseAddress.ToString(),
        AccessToken = Token,
        SslCaCerts = _certificateAuthority is null ? null : [X509CertificateLoader.LoadCertificate(_certificateAuthority.RawData)],
    };

    /// <summary>
    /// A kubeconfig for this server (cluster, user with the bearer token, context with <paramref name="namespace"/>), as kubectl and
    /// the operator read it. Over HTTPS it carries the CA (<see cref="DevKubeApiServerOptions.CertificateAuthority"/>).
    /// </summary>
    public string CreateKubeconfig(string contextName = "midori-dev", string @namespace = "default")
    {
        var yaml = new System.Text.StringBuilder()
            .AppendLine("apiVersion: v1")
            .AppendLine("kind: Config")
            .AppendLine("clusters:")
            .AppendLine($"- name: {contextName}")
            .AppendLine("  cluster:")
            .AppendLine($"    server: {BaseAddress.ToString().TrimEnd('/')}");
        if (_certificateAuthority is not null)
        {
            yaml.AppendLine($"    certificate-authority-data: {Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(_certificateAuthority.ExportCertificatePem()))}");
        }

        return yaml
            .AppendLine("users:")
            .AppendLine($"- name: {contextName}")
            .AppendLine("  user:")
            .AppendLine($"    token: {Token}")
            .AppendLine("contexts:")
            .AppendLine($"- name: {contextName}")
            .AppendLine("  context:")
            .AppendLine($"    cluster: {contextName}")
            .AppendLine($"    user: {contextName}")
            .AppendLine($"    namespace: {@namespace}")
            .AppendLine($"current-context: {contextName}")
            .ToString();
    }

    /// <summary>Applies every CustomResourceDefinition in a YAML file.</summary>
    public async Task ApplyCrdAsync(string yamlPath, CancellationToken cancellationToken = default)
        => ApplyCrdYaml(await File.ReadAllTextAsync(yamlPath, cancellationToken));

    /// <summary>Applies every CustomResourceDefinition in YAML text (as <c>kubectl create</c> would).</summary>
    public void ApplyCrdYaml(string yaml)
    {
        var crdType = Registry.Find(ResourceRegistry.CrdGroup, "v1", "customresourcedefinitions")!;
        foreach (var document in YamlToJson.ConvertDocuments(yaml).Where(d => (string?)d["kind"] == "CustomResourceDefinition"))
        {
            _operations.Create(crdType, ns: null, document, FieldValidation.Strict);
        }
    }

    /// <summary>
    /// Compacts storage at the current resourceVersion, so older versions get 410 Expired. The watch-cache history is
    /// dropped too unless <paramref name="keepWatchCache"/> is set (then cached watches still replay, as in a real cluster).
    /// </summary>
    public void Compact(bool keepWatchCache = false)
    {
        lock (_store.Sync)
        {
            _store.Compact(keepWatchCache);
        }
    }

    /// <summary>Ends every open watch stream, as an API server restart or rollout would.</summary>
    public void CloseAllWatches()
    {
        lock (_store.Sync)
        {
            _hub.CloseAll();
        }
    }

    /// <summary>A copy of a stored object, or null.</summary>
    public JsonObject? GetObject(string group, string version, string plural, string? ns, string name)
    {
        var type = Registry.Find(group, version, plural) ?? throw new ArgumentException($"{plural}.{group}/{version} is not served");
        lock (_store.Sync)
        {
            return _store.Get(type, ns, name)?.DeepClone() as JsonObject;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        CloseAllWatches();
        await _garbageCollection;
        await _app.StopAsync();
        await _app.DisposeAsync();
        _stopping.Dispose();
    }

    private sealed record ServerParts(string Token, ResourceRegistry Registry, FaultInjector Faults, RequestLog Log, RuntimeSwitches Switches);
}
