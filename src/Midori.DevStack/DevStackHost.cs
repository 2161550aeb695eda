using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Security.Cryptography;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Midori.DevApiServer;
using Midori.DevStack.Playground;
using Midori.DevStack.Store;
using Midori.Operator;
using Midori.Operator.Persistence;

namespace Midori.DevStack;

/// <summary>
/// The whole preview stack in one process: the development Kubernetes API server (HTTPS on loopback, every shipped CRD
/// installed), the operator and its HTTP API wired exactly as in production (<see cref="HostingExtensions.AddMidoriOperator"/>)
/// but pointed at that server, the local provider and a store (PostgreSQL with <c>ConnectionStrings__Midori</c>, else in memory).
/// Disposing it stops the operator first (sandboxes stopped), then the API server.
/// </summary>
public sealed class DevStackHost : IAsyncDisposable
{
    private readonly DevCertificates _certificates;

    private DevStackHost(WebApplication app, DevKubeApiServer apiServer, DevCertificates certificates, DevStackOptions options, string apiToken, bool persistent, string? previewOrigin)
    {
        App = app;
        ApiServer = apiServer;
        _certificates = certificates;
        Options = options;
        ApiToken = apiToken;
        PersistentStore = persistent;
        PreviewOrigin = previewOrigin;
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        var address = addresses.FirstOrDefault(a => previewOrigin is null || !a.StartsWith(previewOrigin, StringComparison.Ordinal)) ?? addresses.First();
        ApiBaseAddress = new Uri(address.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal).Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
    }

    public WebApplication App { get; }

    public DevKubeApiServer ApiServer { get; }

    public DevStackOptions Options { get; }

    /// <summary>Bearer token of the HTTP API (every namespace).</summary>
    public string ApiToken { get; }

    public Uri ApiBaseAddress { get; }

    /// <summary>The gateway's own origin for previews (null when <c>Urls</c> was given and previews share the API's origin).</summary>
    public string? PreviewOrigin { get; }

    /// <summary>Whether previews' files and history survive a restart (PostgreSQL) or not (the in-memory store).</summary>
    public bool PersistentStore { get; }

    public string KubeconfigPath => Options.KubeconfigPath;

    /// <summary>The playground with the API token in the fragment (browsers send fragments nowhere).</summary>
    public string PlaygroundUrl => $"{ApiBaseAddress.ToString().TrimEnd('/')}{PlaygroundEndpoints.Path}#token={Uri.EscapeDataString(ApiToken)}";

    public static async Task<DevStackHost> StartAsync(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        var options = builder.Configuration.GetSection(DevStackOptions.SectionName).Get<DevStackOptions>() ?? new DevStackOptions();
        Validator.ValidateObject(options, new ValidationContext(options), validateAllProperties: true);
        Directory.CreateDirectory(options.FullDataDirectory);

        var time = TimeProvider.System;
        var certificates = DevCertificates.Create(time);
        var apiServer = await DevKubeApiServer.StartAsync(new DevKubeApiServerOptions
        {
            Port = options.ApiServerPort,
            ServerCertificate = certificates.Server,
            CertificateAuthority = certificates.Authority,
            TimeProvider = time,
        });
        try
        {
            foreach (var crd in EmbeddedCrds())
            {
                apiServer.ApplyCrdYaml(crd);
            }

            var kubernetesConfiguration = apiServer.CreateClientConfiguration();
            using (var client = new Kubernetes(kubernetesConfiguration))
            {
                await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = options.Namespace } });
            }

            WriteOwnerOnly(options.KubeconfigPath, apiServer.CreateKubeconfig("midori-dev", options.Namespace));

            var apiToken = string.IsNullOrEmpty(options.ApiToken) ? Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant() : options.ApiToken;
            // Previews get their own origin (a second port; the same site, so the gateway's cookie still works in a frame):
            // a preview framed by the playground can then never script the page that holds the API token. Whoever sets
            // Urls themselves gets one origin, and the playground runs previews with an opaque origin instead.
            var ownUrls = builder.Configuration["Urls"] is null;
            var previewOrigin = ownUrls ? $"http://127.0.0.1:{FreeOrGiven(options.PreviewPort)}" : null;
            var defaults = Defaults(options, apiToken);
            if (previewOrigin is not null)
            {
                defaults["Urls"] = $"http://127.0.0.1:{FreeOrGiven(options.Port)};{previewOrigin}";
                defaults["Gateway:PublicBaseUrl"] = previewOrigin;
            }

            // Lowest precedence: appsettings, environment and arguments all override these.
            builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = defaults });
            builder.Services.AddSingleton(kubernetesConfiguration);
            builder.Services.AddSingleton(options);
            builder.AddMidoriOperator();
            var persistent = !string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString(StoreServiceCollectionExtensions.ConnectionStringName));
            if (!persistent)
            {
                builder.Services.TryAddSingleton<IPreviewStore>(sp =>
                {
                    var store = sp.GetRequiredService<IOptions<StoreOptions>>().Value;
                    return new InMemoryPreviewStore(sp.GetRequiredService<TimeProvider>(), store.MaxFilesPerProject, store.MaxProjectBytes, store.MaxFileBytes);
                });
                builder.Services.AddMidoriStoreConsumers();
            }

            configure?.Invoke(builder);
            var app = builder.Build();
            app.MapMidoriEndpoints();
            app.MapPlayground(builder.Configuration["Gateway:PublicBaseUrl"] is { Length: > 0 } gateway ? new Uri(gateway).GetLeftPart(UriPartial.Authority) : null);
            await app.StartAsync();
            return new DevStackHost(app, apiServer, certificates, options, apiToken, persistent, previewOrigin);
        }
        catch
        {
            await apiServer.DisposeAsync();
            certificates.Dispose();
            throw;
        }
    }

    /// <summary>What to tell the person who ran the command: where everything is and what to try first.</summary>
    public string Banner()
    {
        var api = ApiBaseAddress.ToString().TrimEnd('/');
        var sample = Path.Combine("config", "samples", "preview.midori.dev_v1alpha1_previewsandbox.yaml");
        return $"""

            Midori dev stack is running (Ctrl-C stops it and every sandbox).
              Kubernetes API  {ApiServer.BaseAddress.ToString().TrimEnd('/')}  (development API server, in memory)
              kubeconfig      {KubeconfigPath}
              Playground      {PlaygroundUrl}
              HTTP API        {api}/api/v1  (token: {ApiToken})
              Store           {(PersistentStore ? "PostgreSQL (ConnectionStrings__Midori)" : "in memory: previews' files and history are lost when the stack stops")}
              Sandboxes       {Path.Combine(Options.FullDataDirectory, "sandboxes")}  (local provider; preview URLs in `kubectl get psb`)

            Try:
              export KUBECONFIG={KubeconfigPath}
              kubectl apply -f {sample}
              kubectl wait --for=condition=Ready psb/hello-preview --timeout=60s && kubectl get psb
              then open the playground (link above) to edit its files and watch the preview change

            """;
    }

    public Task WaitForShutdownAsync() => App.WaitForShutdownAsync();

    public async ValueTask DisposeAsync()
    {
        // The operator first: its provider stops every sandbox process; then the API server it talks to.
        await App.StopAsync();
        await App.DisposeAsync();
        await ApiServer.DisposeAsync();
        _certificates.Dispose();
    }

    private static int FreeOrGiven(int port)
    {
        if (port != 0)
        {
            return port;
        }

        // Kestrel would pick a free port too, but the gateway's public origin must be known before it starts.
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        return ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static Dictionary<string, string?> Defaults(DevStackOptions options, string apiToken) => new()
    {
        // Only what differs from the operator's own defaults; anything set in environment or arguments still wins below.
        ["LeaderElection:Enabled"] = "false",
        ["Operator:DefaultProvider"] = "local",
        ["Providers:Local:RootDirectory"] = Path.Combine(options.FullDataDirectory, "sandboxes"),
        ["Api:Tokens:0:Name"] = "dev",
        ["Api:Tokens:0:Token"] = apiToken,
        ["Api:Tokens:0:Namespaces:0"] = "*",
        ["Logging:LogLevel:Default"] = "Warning",
        ["Logging:LogLevel:Midori"] = "Information",
    };

    private static IEnumerable<string> EmbeddedCrds()
    {
        var assembly = Assembly.GetExecutingAssembly();
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("Midori.DevStack.Crds.", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
            yield return reader.ReadToEnd();
        }
    }

    private static void WriteOwnerOnly(string path, string content)
    {
        // The kubeconfig holds the API server's token: readable by this user only.
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(content);
    }
}
