using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers;
using Midori.Operator.Testing.Builders;
using Midori.Operator.Testing.E2E;
using Xunit.Abstractions;
using Midori.Operator.Testing;

namespace Midori.Operator.Tests.E2E;

/// <summary>Runs against the in-process test API server, the cluster named by MIDORI_E2E_KUBECONFIG, or the dev stack through kubectl (MIDORI_E2E_DEVSTACK=1).</summary>
[Trait("Category", "E2E")]
public sealed class PreviewLifecycleE2ETests(ITestOutputHelper output) : PreviewLifecycleScenario(output)
{
    [Fact]
    public Task Lifecycle_ApplyServeKeepAliveExpireWakeSuspendResumeDelete() => RunLifecycleAsync();
}

/// <summary>
/// The user-visible lifecycle end to end: the real operator host, the real KubernetesClient over HTTP, the local
/// provider serving real files. Runs against the in-process test API server, a real cluster when MIDORI_E2E_KUBECONFIG
/// is set, or the shipped dev stack driven through kubectl (same code; see <see cref="E2EEnvironment"/>). Waits are
/// bounded polls on observable state.
/// </summary>
public abstract class PreviewLifecycleScenario(ITestOutputHelper output) : IAsyncLifetime
{
    private const int IdleTimeoutSeconds = 10; // the CRD's minimum, to keep the scenario short

    private readonly string _root = Path.Combine(Path.GetTempPath(), "midori-e2e-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TestWaits.Bound };
    private E2EEnvironment _env = null!;
    private IOperatorUnderTest _host = null!;

    /// <summary>Kubeconfig to run against; null: MIDORI_E2E_KUBECONFIG or the in-process test API server.</summary>
    protected virtual Task<string?> KubeconfigAsync() => Task.FromResult<string?>(null);

    /// <summary>Where to run, given <see cref="KubeconfigAsync"/>'s answer: by default chosen by the environment variables.</summary>
    protected virtual E2ETarget Target(string? kubeconfig) => E2ETarget.FromEnvironment(kubeconfig);

    protected virtual Task CleanupClusterAsync() => Task.CompletedTask;

    /// <summary>Extra operator settings (e.g. another default provider and its endpoints); called before the operator starts.</summary>
    protected virtual Task ConfigureOperatorAsync(IDictionary<string, string?> settings) => Task.CompletedTask;

    /// <summary>spec.provider of the scenario's resource; null: the operator's default (local).</summary>
    protected virtual string? ProviderName => null;

    /// <summary>Longest wait for one step (a real remote provider needs more than the local one).</summary>
    protected virtual TimeSpan Step => TestWaits.Bound;

    /// <summary>Extra operator settings for the provider under test (e.g. a fake's URL and key); started before the operator.</summary>
    protected virtual Task<IDictionary<string, string?>> ProviderSettingsAsync() => Task.FromResult<IDictionary<string, string?>>(new Dictionary<string, string?>());

    protected virtual ValueTask DisposeProviderAsync() => ValueTask.CompletedTask;

    public async Task InitializeAsync()
    {
        _env = await E2EEnvironment.StartAsync(Target(await KubeconfigAsync()));
        var settings = new Dictionary<string, string?>
        {
            ["Operator:WatchNamespace"] = _env.Namespace,
            ["Operator:HealthCheckInterval"] = "00:00:02",
            ["Operator:HealthProbeTimeout"] = "00:00:01",
            ["Providers:Local:RootDirectory"] = _root,
        };
        foreach (var (key, value) in await ProviderSettingsAsync())
        {
            settings[key] = value;
        }

        await ConfigureOperatorAsync(settings);
        _host = await _env.StartOperatorAsync(settings);
        output.WriteLine($"e2e against {_env.Description}, namespace {_env.Namespace}");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await DisposeProviderAsync();
        await _env.DisposeAsync();
        _http.Dispose();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }

        await CleanupClusterAsync();
    }

    /// <summary>apply → Ready, URL serves → heartbeats keep it alive → silence expires it → heartbeat wakes it → suspend/resume → delete.</summary>
    protected async Task RunLifecycleAsync()
    {
        const string name = "e2e-preview";
        const string page = "<h1>hello from e2e</h1>";

        // apply → Ready and the URL serves the file
        var manifest = new PreviewSandboxBuilder().Named(name, _env.Namespace)
            .WithIdleTimeout(IdleTimeoutSeconds).WithTtl(600).WithFile("about/index.html", "<p>about</p>").Build();
        manifest.Spec.Source.Inline![0].Content = page;
        manifest.Spec.Provider = ProviderName;
        var applied = await _env.CreateAsync(manifest, CancellationToken.None);
        Assert.Equal(Phases.Pending, applied.Status?.Phase); // from the create on: the CRD's status default, before the operator acts
        var ready = await _env.WaitForAsync(name, IsReady, Step, "Ready=True");
        var firstSandbox = ready!.Status!.SandboxId!;
        Assert.Equal(Phases.Running, ready.Status.Phase);
        Assert.Equal(page, await GetPageAsync(ready));
        Assert.Equal("<p>about</p>", await GetPageAsync(ready, "about/"));
        var token = await _env.GetSecretAsync(ready.Status.TokenSecretRef!.Name, CancellationToken.None);
        Assert.NotEmpty(token!.Data[ready.Status.TokenSecretRef.Key]);
        Assert.Equal(applied.Metadata.Uid, token.Metadata.OwnerReferences!.Single().Uid);

        // heartbeats keep it alive past the idle timeout
        var keepAliveUntil = DateTimeOffset.UtcNow.AddSeconds(IdleTimeoutSeconds + 5);
        while (DateTimeOffset.UtcNow < keepAliveUntil)
        {
            await _env.HeartbeatAsync(name, DateTimeOffset.UtcNow, CancellationToken.None);
            await Task.Delay(TimeSpan.FromSeconds(2));
        }

        var alive = await _env.GetAsync(name, CancellationToken.None);
        Assert.Equal((Phases.Running, firstSandbox), (alive!.Status!.Phase, alive.Status.SandboxId));

        // silence expires it: sandbox removed, URL stops serving
        var expired = await _env.WaitForAsync(name, p => p?.Status?.Phase == Phases.Expired, Step, "phase Expired");
        Assert.Equal(PreviewSandboxConditions.Reasons.IdleExpired, Ready(expired)!.Reason);
        Assert.Equal("False", Ready(expired)!.Status);
        Assert.False(await IsServingAsync(ready.Status.SandboxUrl!));

        // a heartbeat wakes it with the same content
        await _env.HeartbeatAsync(name, DateTimeOffset.UtcNow.AddSeconds(1), CancellationToken.None);
        var woken = await _env.WaitForAsync(name, p => IsReady(p) && p!.Status!.SandboxId != firstSandbox, Step, "a new sandbox after wake-up");
        Assert.Equal(1, woken!.Status!.Recreations);
        Assert.Equal(RecreationReasons.IdleWake, woken.Status.LastRecreation!.Reason);
        Assert.Equal(page, await GetPageAsync(woken));

        // suspend → Stopped, resume → Running again
        await _env.MergePatchAsync(name, new { spec = new { suspend = true } }, CancellationToken.None);
        var stopped = await _env.WaitForAsync(name, p => p?.Status?.Phase == Phases.Stopped, Step, "phase Stopped");
        Assert.Equal(PreviewSandboxConditions.Reasons.Suspended, Ready(stopped)!.Reason);
        Assert.False(await IsServingAsync(woken.Status.SandboxUrl!));
        await _env.HeartbeatAsync(name, DateTimeOffset.UtcNow, CancellationToken.None);
        await _env.MergePatchAsync(name, new { spec = new { suspend = false } }, CancellationToken.None);
        var resumed = await _env.WaitForAsync(name, p => IsReady(p) && p!.Status!.ObservedGeneration == p.Metadata.Generation, Step, "Ready after resume");
        Assert.Equal(page, await GetPageAsync(resumed!));

        // delete leaves no sandbox and no resource
        await _env.DeleteAsync(name, CancellationToken.None);
        await _env.WaitForAsync(name, p => p is null, Step, "the resource to be gone");
        Assert.True(_host.Services.GetRequiredService<ISandboxProviderRegistry>().TryGet(resumed!.Status!.Provider!, out var provider));
        Assert.Empty(await provider.ListAsync(applied.Metadata.Uid, CancellationToken.None));
        Assert.False(await IsServingAsync(resumed!.Status!.SandboxUrl!));
        await WaitUntilAsync(async () => await _env.GetSecretAsync(ready.Status.TokenSecretRef!.Name, CancellationToken.None) is null, Step, "the owned token Secret to be garbage-collected");
    }

    /// <summary>A 2xx without credentials or redirects; refused connections and error answers are "not serving".</summary>
    private async Task<bool> IsServingAsync(string url)
    {
        try
        {
            using var response = await _http.GetAsync(url);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    /// <summary>The preview page, sent with the token from the resource's Secret the way the editor sends it (providers with private previews need it).</summary>
    private async Task<string> GetPageAsync(V1Alpha1PreviewSandbox resource, string relative = "")
    {
        var status = resource.Status!;
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(new Uri(status.SandboxUrl!), relative));
        var secret = await _env.GetSecretAsync(status.TokenSecretRef!.Name, CancellationToken.None);
        if (secret?.Data?.TryGetValue(status.TokenSecretRef.Key, out var bytes) == true && bytes.Length > 0)
        {
            var token = System.Text.Encoding.UTF8.GetString(bytes);
            request.Headers.TryAddWithoutValidation("X-Midori-Preview-Token", token);
            request.Headers.TryAddWithoutValidation("X-Daytona-Preview-Token", token);
            request.Headers.TryAddWithoutValidation("e2b-traffic-access-token", token);
        }

        using var response = await _http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    private static V1Condition? Ready(V1Alpha1PreviewSandbox? p) =>
        p?.Status?.Conditions?.FirstOrDefault(c => c.Type == PreviewSandboxConditions.Ready);

    private static bool IsReady(V1Alpha1PreviewSandbox? p) => Ready(p)?.Status == "True";

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!await condition())
        {
            if (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"Timed out waiting for {what}");
            }

            await Task.Delay(100);
        }
    }
}
