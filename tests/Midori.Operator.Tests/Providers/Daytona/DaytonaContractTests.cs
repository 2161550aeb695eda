using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Daytona;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Contracts;
using Midori.Operator.Files;

namespace Midori.Operator.Tests.Providers.Daytona;

/// <summary>
/// Prism mocks of the official Daytona specs (request validation on): the API from <c>daytona-api.openapi.json</c>,
/// the toolbox from <c>daytona-toolbox.swagger.json</c>. Every request the provider makes in a full lifecycle must
/// conform; any violation fails the test.
/// </summary>
public sealed class DaytonaContractFixture : IAsyncLifetime
{
    public PrismMock Api { get; private set; } = null!;

    public PrismMock Toolbox { get; private set; } = null!;

    private string? _toolboxSpec;

    public async Task InitializeAsync()
    {
        if (PrismMock.FindPrism(out _) is null)
        {
            return; // the facts skip (or fail under CI) on their own
        }

        _toolboxSpec = WriteToolboxSpecWithBulkUploadFields();
        var api = PrismMock.StartAsync("daytona-api.openapi.json");
        var toolbox = PrismMock.StartAsync(_toolboxSpec);
        Api = await api;
        Toolbox = await toolbox;
    }

    public async Task DisposeAsync()
    {
        if (Api is not null)
        {
            await Api.DisposeAsync();
        }

        if (Toolbox is not null)
        {
            await Toolbox.DisposeAsync();
        }

        if (_toolboxSpec is not null)
        {
            File.Delete(_toolboxSpec);
        }
    }

    /// <summary>
    /// The official toolbox spec declares <c>POST /files/bulk-upload</c> as <c>multipart/form-data</c> but lists no
    /// form fields (its generator cannot express indexed names), so Prism refuses every non-empty body (415). A copy
    /// adds the first field pair the SDK sends (<c>files[0].path</c>, <c>files[0].file</c>, PROVIDERS.md §1.7) and
    /// changes nothing else. The multipart shape itself is checked strictly by the loopback fake.
    /// </summary>
    private static string WriteToolboxSpecWithBulkUploadFields()
    {
        var spec = JsonNode.Parse(File.ReadAllText(Path.Combine(RepositoryPaths.Shared, "specs", "daytona-toolbox.swagger.json")))!;
        spec["paths"]!["/files/bulk-upload"]!["post"]!["parameters"] = new JsonArray(
            new JsonObject { ["name"] = "files[0].path", ["in"] = "formData", ["type"] = "string", ["required"] = true },
            new JsonObject { ["name"] = "files[0].file", ["in"] = "formData", ["type"] = "file", ["required"] = true });
        var path = Path.Combine(Path.GetTempPath(), $"daytona-toolbox-{Guid.NewGuid():N}.swagger.json");
        File.WriteAllText(path, spec.ToJsonString());
        return path;
    }
}

[Trait("Category", "Contract")]
public sealed class DaytonaContractTests(DaytonaContractFixture mocks) : IClassFixture<DaytonaContractFixture>
{
    private static readonly CancellationToken None = CancellationToken.None;

    [PrismFact]
    public async Task FullLifecycle_ConformsToTheOfficialSpecs()
    {
        var calls = new ConcurrentQueue<string>();
        await using var harness = await ContractHarnessAsync(calls, emulateProgress: true);
        var provider = harness.Provider;
        var uid = Guid.NewGuid().ToString();

        var info = await provider.CreateAsync(DaytonaHarness.CreateRequest(uid, template: "midori-node-20"), None);
        await provider.ListAsync(uid, None);
        await provider.ListAsync(null, None);
        await provider.UploadFilesAsync(info.Id, [new SandboxFile("index.html", Encoding.UTF8.GetBytes("<h1>hi</h1>")), new SandboxFile("src/app.js", [1, 2])], None);
        await provider.StartAsync(info.Id, DaytonaHarness.StartRequest("npm run dev", env: new Dictionary<string, string> { ["NODE_ENV"] = "development" }), None);
        var preview = await provider.GetPreviewAsync(info.Id, 3000, None);
        await provider.ExtendAsync(info.Id, DateTimeOffset.MaxValue, None);
        var current = await provider.GetAsync(info.Id, None);
        await provider.DeleteFilesAsync(info.Id, ["src/app.js"], None);
        await provider.DeleteAsync(info.Id, None);

        Assert.Empty(mocks.Api.Violations);
        Assert.Empty(mocks.Toolbox.Violations);
        Assert.Equal(SandboxState.Running, current!.State);
        Assert.Equal("https", preview.Url.Scheme);
        Assert.False(string.IsNullOrEmpty(preview.Token));
        var sent = calls.ToArray();
        foreach (var expected in new[]
        {
            "POST /sandbox", "GET /sandbox?labels=", "GET /sandbox/sandbox123", "POST /files/bulk-upload", "GET /process/session",
            "POST /process/session", "POST /process/session/midori-dev-", "GET /port/3000/in-use", "GET /sandbox/sandbox123/ports/3000/preview-url",
            "POST /sandbox/sandbox123/last-activity", "DELETE /files?path=", "DELETE /sandbox/sandbox123",
        })
        {
            Assert.Contains(sent, c => c.StartsWith(expected, StringComparison.Ordinal));
        }
    }

    [PrismFact]
    public async Task PauseArchiveResumeAndManifest_ConformToTheOfficialSpecs()
    {
        var calls = new ConcurrentQueue<string>();

        // a started sandbox (the shim shows progress): pause, then the manifest through the toolbox
        await using (var started = await ContractHarnessAsync(calls, emulateProgress: true))
        {
            Assert.True(await started.Provider.PauseAsync("sandbox123", None));
            Assert.NotNull(await started.Provider.GetFileManifestAsync("sandbox123", None));
        }

        // a stopped sandbox (Prism's own example reads as destroyed): archive, then resume must call start
        await using (var stopped = await ContractHarnessAsync(calls, emulateProgress: true, state: "stopped"))
        {
            Assert.True(await stopped.Provider.ArchiveAsync("sandbox123", None));
            Assert.NotNull(await stopped.Provider.ResumeAsync("sandbox123", DateTimeOffset.UtcNow.AddMinutes(30), None));
        }

        Assert.Empty(mocks.Api.Violations);
        Assert.Empty(mocks.Toolbox.Violations);
        var sent = calls.ToArray();
        foreach (var expected in new[]
        {
            "POST /sandbox/sandbox123/autodelete/-1", "POST /sandbox/sandbox123/stop", "POST /process/execute",
            "POST /sandbox/sandbox123/archive", "POST /sandbox/sandbox123/start", "POST /sandbox/sandbox123/autodelete/0",
        })
        {
            Assert.Contains(sent, c => c.StartsWith(expected, StringComparison.Ordinal));
        }
    }

    [PrismFact]
    public async Task PreviewUrl_TheSpecExampleIsATemplateNotAUrl_IsRefusedClearly()
    {
        await using var harness = await ContractHarnessAsync(new ConcurrentQueue<string>(), emulateProgress: false);

        var error = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.GetPreviewAsync("sandbox123", 3000, None));

        Assert.False(error.IsTransient);
        Assert.Contains("not an absolute http(s) URL", error.Message);
        Assert.Empty(mocks.Api.Violations);
    }

    private async Task<DaytonaHarness> ContractHarnessAsync(ConcurrentQueue<string> calls, bool emulateProgress, string state = "started") =>
        await DaytonaHarness.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:Daytona:ApiUrl"] = mocks.Api.BaseUri.ToString(),
            ["Providers:Daytona:ApiKey"] = "contract-test-key",
            ["Providers:Daytona:ToolboxUrl"] = mocks.Toolbox.BaseUri.ToString(), // the toolbox mock serves every sandbox at its root
            ["Providers:Daytona:Http:MaxRetries"] = "0",
            ["Providers:Daytona:ToolboxHttp:MaxRetries"] = "0",
        }, configure: services =>
        {
            services.AddHttpClient<DaytonaApiClient>().ConfigurePrimaryHttpMessageHandler(() =>
                new StaticExampleShim(calls, emulateProgress, state) { InnerHandler = mocks.Api.CreateViolationRecorder() });
            services.AddHttpClient<DaytonaToolboxClient>().ConfigurePrimaryHttpMessageHandler(() =>
                new StaticExampleShim(calls, emulateProgress, state) { InnerHandler = mocks.Toolbox.CreateViolationRecorder() });
        });

    /// <summary>
    /// Records each request, and (when asked) stands in for the progress a static mock cannot show: Prism answers every
    /// read with the spec's example (<c>state: creating</c>, <c>desiredState: destroyed</c>, a preview URL with
    /// <c>{port}-{sandboxId}.{proxyDomain}</c> placeholders). Only those response fields are rewritten — to
    /// <paramref name="state"/> (<c>started</c> unless a test needs a stopped sandbox) and to the filled-in template; requests reach Prism untouched, so validation is unaffected.
    /// </summary>
    private sealed class StaticExampleShim(ConcurrentQueue<string> calls, bool emulateProgress, string state) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            calls.Enqueue($"{request.Method} {Uri.UnescapeDataString(request.RequestUri!.PathAndQuery)}");
            var response = await base.SendAsync(request, cancellationToken);
            if (!emulateProgress || response.Content.Headers.ContentType?.MediaType != "application/json" || !response.IsSuccessStatusCode)
            {
                return response;
            }

            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
            IEnumerable<JsonObject> objects = body switch
            {
                JsonObject page when page["items"] is JsonArray items => items.OfType<JsonObject>(),
                JsonObject one => [one],
                _ => [],
            };
            foreach (var sandbox in objects)
            {
                if (sandbox.ContainsKey("state"))
                {
                    sandbox["state"] = state;
                    sandbox["desiredState"] = state;
                }

                if (sandbox["url"] is JsonValue url && request.RequestUri.Segments is [.., _, var port, "preview-url"])
                {
                    sandbox["url"] = url.ToString().Replace("{port}", port.TrimEnd('/'), StringComparison.Ordinal)
                        .Replace("{sandboxId}", (string?)sandbox["sandboxId"], StringComparison.Ordinal)
                        .Replace("{proxyDomain}", "proxy.daytona.example", StringComparison.Ordinal);
                }
            }

            var rewritten = new StringContent(body!.ToJsonString(), Encoding.UTF8);
            rewritten.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            response.Content = rewritten;
            return response;
        }
    }
}
