using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Providers;
using Midori.Operator.Providers.E2B;
using Midori.Operator.Testing.Contracts;
using Midori.Operator.Testing.Fakes.E2B;
using Midori.Operator.Files;

namespace Midori.Operator.Tests.Providers.E2B;

/// <summary>
/// The provider's whole lifecycle against Prism mocks of E2B's official specs (request validation on): the control
/// plane (<c>e2b-api.openapi.yml</c>) and envd (<c>e2b-envd.openapi.yaml</c>). The Connect RPCs (process start/list,
/// filesystem remove) are in no OpenAPI spec; they are routed to the loopback fake, which checks them against the
/// official protos and the Connect wire format. Any violation fails the test.
/// </summary>
[Trait("Category", "Contract")]
public sealed class E2BContractTests
{
    [PrismFact]
    public async Task Lifecycle_ConformsToTheOfficialSpecs()
    {
        // arrange
        await using var api = await PrismMock.StartAsync("e2b-api.openapi.yml");
        await using var envd = await PrismMock.StartAsync("e2b-envd.openapi.yaml");
        await using var fake = await FakeE2BServer.StartAsync();
        var settings = new Dictionary<string, string?>
        {
            ["Providers:E2B:ApiUrl"] = api.BaseUri.ToString(),
            ["Providers:E2B:ApiKey"] = "e2b_contract_test_key",
            ["Providers:E2B:EnvdUrl"] = envd.BaseUri.ToString(),
            ["Providers:E2B:AllowPublicTraffic"] = "false",
            ["Providers:E2B:StartupTimeout"] = "00:00:00", // the preview host is in neither spec
            ["Providers:E2B:UploadBatchFiles"] = "2",
            ["Providers:E2B:Http:MaxRetries"] = "0",
        };
        var rpcCalls = new List<string>();
        await using var services = E2BProviderHarness.BuildServices(settings, TimeProvider.System, s =>
        {
            s.AddHttpClient(E2BApiClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => api.CreateViolationRecorder());
            s.AddHttpClient(E2BEnvdClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() =>
                new ConnectRouter(fake.BaseUri, rpcCalls) { InnerHandler = envd.CreateViolationRecorder() });
        });
        var provider = services.GetRequiredService<E2BSandboxProvider>();

        // act: everything the reconciler does with a sandbox
        var created = await provider.CreateAsync(E2BProviderHarness.CreateRequest(), CancellationToken.None);
        var id = created.Id; // Prism's example value
        _ = await provider.ListAsync("uid-1", CancellationToken.None);
        _ = await provider.ListAsync(null, CancellationToken.None);
        // ASCII names only: Prism's multipart parser crashes on raw UTF-8 filenames (the fake tests cover those)
        var files = new[] { "index.html", "src/app.js", "src/with space.css" }.Select(p => new SandboxFile(p, Encoding.UTF8.GetBytes(p))).ToList();
        await provider.UploadFilesAsync(id, files, CancellationToken.None);

        // the Connect RPCs go to the fake, which only knows its own sandboxes: give it one under Prism's id
        await RegisterInFakeAsync(fake, id);
        await provider.StartAsync(id, E2BProviderHarness.StartRequest("npm run dev"), CancellationToken.None);
        await provider.StartAsync(id, E2BProviderHarness.StartRequest("npm run dev"), CancellationToken.None); // idempotent: List only
        var preview = await provider.GetPreviewAsync(id, 3000, CancellationToken.None);
        _ = await provider.ExtendAsync(id, DateTimeOffset.UtcNow.AddMinutes(30), CancellationToken.None); // /refreshes
        _ = await provider.ExtendAsync(id, DateTimeOffset.UtcNow.AddHours(3), CancellationToken.None); // /timeout
        _ = await provider.GetAsync(id, CancellationToken.None);
        await provider.DeleteFilesAsync(id, ["src/app.js"], CancellationToken.None);
        await provider.DeleteAsync(id, CancellationToken.None);

        // assert
        Assert.Empty(api.Violations);
        Assert.Empty(envd.Violations);
        Assert.Empty(fake.Violations);
        Assert.Equal(["process.Process/List", "process.Process/Start", "process.Process/List", "filesystem.Filesystem/Remove"], rpcCalls);
        Assert.Equal("string", preview.Token); // Prism's example trafficAccessToken, remembered from create
        Assert.Contains(fake.Requests, r => r.Path == "/process.Process/Start" && r.ConnectTimeoutMs is null);
    }

    [PrismFact]
    public async Task PauseResumeAndManifest_ConformToTheOfficialSpecs()
    {
        // arrange
        await using var api = await PrismMock.StartAsync("e2b-api.openapi.yml");
        await using var envd = await PrismMock.StartAsync("e2b-envd.openapi.yaml");
        await using var fake = await FakeE2BServer.StartAsync();
        var settings = new Dictionary<string, string?>
        {
            ["Providers:E2B:ApiUrl"] = api.BaseUri.ToString(),
            ["Providers:E2B:ApiKey"] = "e2b_contract_test_key",
            ["Providers:E2B:EnvdUrl"] = envd.BaseUri.ToString(),
            ["Providers:E2B:Http:MaxRetries"] = "0",
        };
        var rpcCalls = new List<string>();
        await using var services = E2BProviderHarness.BuildServices(settings, TimeProvider.System, s =>
        {
            s.AddHttpClient(E2BApiClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => api.CreateViolationRecorder());
            s.AddHttpClient(E2BEnvdClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() =>
                new ConnectRouter(fake.BaseUri, rpcCalls) { InnerHandler = envd.CreateViolationRecorder() });
        });
        var provider = services.GetRequiredService<E2BSandboxProvider>();
        var id = (await provider.CreateAsync(E2BProviderHarness.CreateRequest(), CancellationToken.None)).Id;
        await RegisterInFakeAsync(fake, id);

        // act: POST /pause, POST /connect (resume), then the manifest as one process Start
        var paused = await provider.PauseAsync(id, CancellationToken.None);
        var resumed = await provider.ResumeAsync(id, DateTimeOffset.UtcNow.AddMinutes(30), CancellationToken.None);
        var manifest = await provider.GetFileManifestAsync(id, CancellationToken.None);

        // assert
        Assert.True(paused);
        Assert.NotNull(resumed);
        Assert.NotNull(manifest);
        Assert.Empty(api.Violations);
        Assert.Empty(envd.Violations);
        Assert.Empty(fake.Violations);
        Assert.Equal(["process.Process/Start"], rpcCalls);
    }

    /// <summary>Creates a sandbox in the fake and renames it to Prism's id, so envd calls for that id find it.</summary>
    private static async Task RegisterInFakeAsync(FakeE2BServer fake, string id)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(fake.BaseUri, "sandboxes"))
        {
            Content = new StringContent("""{"templateID":"base","timeout":3600}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-API-Key", fake.ApiKey);
        (await http.SendAsync(request)).EnsureSuccessStatusCode();
        fake.Adopt(fake.AllSandboxes.Single().Id, id);
    }

    /// <summary>Sends Connect RPC paths (<c>/package.Service/Method</c>) to the fake, everything else on to Prism.</summary>
    private sealed class ConnectRouter(Uri fake, List<string> calls) : DelegatingHandler
    {
        private readonly HttpMessageInvoker _fake = new(new SocketsHttpHandler());

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var path = request.RequestUri!.AbsolutePath.TrimStart('/');
            if (!path.StartsWith("process.Process/", StringComparison.Ordinal) && !path.StartsWith("filesystem.Filesystem/", StringComparison.Ordinal))
            {
                return base.SendAsync(request, cancellationToken);
            }

            lock (calls)
            {
                calls.Add(path);
            }

            request.RequestUri = new Uri(fake, path);
            return _fake.SendAsync(request, cancellationToken);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _fake.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
