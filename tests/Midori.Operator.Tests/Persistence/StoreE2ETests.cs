using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using Midori.Operator.Testing.Builders;
using Midori.Operator.Testing.E2E;
using Midori.Operator.Testing;
using Midori.Operator.Files;

namespace Midori.Operator.Tests.Persistence;

/// <summary>
/// The real operator host wired by AddMidoriOperator with ConnectionStrings:Midori: migrations at start, readiness,
/// spec.source.snapshotId served by the local provider, a committed revision reaching the running sandbox, session rows.
/// </summary>
[Trait("Category", "E2E")]
public sealed class StoreE2ETests(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private static readonly TimeSpan Step = TestWaits.Bound;

    [PostgresFact]
    public async Task SnapshotSource_ThroughTheOperatorHost_ServesTheWorkingCopyAndFollowsCommits()
    {
        // arrange
        var root = Path.Combine(Path.GetTempPath(), "midori-store-e2e-" + Guid.NewGuid().ToString("N")[..8]);
        await using var env = await E2EEnvironment.StartAsync();
        await using var host = await OperatorTestHost.StartAsync(env.Configuration, new Dictionary<string, string?>
        {
            ["ConnectionStrings:Midori"] = database.ConnectionString,
            ["Operator:WatchNamespace"] = env.Namespace,
            ["Operator:HealthCheckInterval"] = "00:00:01",
            ["Operator:HealthProbeTimeout"] = "00:00:00.500",
            ["Providers:Local:RootDirectory"] = root,
        });
        using var http = new HttpClient { Timeout = TestWaits.Bound };
        var store = host.Services.GetRequiredService<IPreviewStore>();
        var preview = new PreviewKey(env.Namespace, "store-e2e");
        try
        {
            var snapshot = await store.CreateSnapshotAsync(env.Namespace, "project-1", [new SandboxFile("index.html", Encoding.UTF8.GetBytes("<h1>v1</h1>"))], null, default);
            var manifest = new PreviewSandboxBuilder().Named(preview.Name, env.Namespace).WithTtl(600).Build();
            manifest.Spec.Source = new PreviewSandboxSource { SnapshotId = snapshot.SnapshotId };

            // act
            await env.CreateAsync(manifest, CancellationToken.None);
            var ready = await env.WaitForAsync(preview.Name, p => p?.Status?.Phase == Phases.Running, Step, "phase Running");
            // local previews need the token from status.tokenSecretRef by default
            var secret = await env.GetSecretAsync(ready!.Status!.TokenSecretRef!.Name, CancellationToken.None);
            http.DefaultRequestHeaders.Add("X-Midori-Preview-Token", Encoding.UTF8.GetString(secret!.Data[ready.Status.TokenSecretRef.Key]));
            var firstPage = await http.GetStringAsync(ready.Status.SandboxUrl);
            await store.CommitAsync(preview, [new FileWrite("index.html", Encoding.UTF8.GetBytes("<h1>v2</h1>"))], new ChangeDescription("put"), default);
            var synced = await env.WaitForAsync(preview.Name, p => p?.Status?.FilesRevision == 2, Step, "status.filesRevision 2");
            var secondPage = await http.GetStringAsync(synced!.Status!.SandboxUrl);
            var session = await WaitForAsync(() => store.GetOpenSessionAsync(preview, default), s => s?.State == SessionStates.Ready, "a ready session row");
            var readiness = await http.GetAsync(new Uri(host.BaseAddress, "/readyz"));

            // assert
            Assert.Equal("<h1>v1</h1>", firstPage);
            Assert.Equal("<h1>v2</h1>", secondPage);
            Assert.Equal(ready.Status.SandboxId, session!.SandboxInfo!.SandboxId);
            Assert.Equal(ready.Status.SandboxUrl, session.Url);
            Assert.True(readiness.IsSuccessStatusCode);
            Assert.Equal((2L, ready.Status.SandboxId), ((await store.GetWorkingCopyAsync(preview, default))!.PushedRevision, synced.Status.SandboxId));
        }
        finally
        {
            await env.DeleteAsync(preview.Name, CancellationToken.None);
            await env.WaitForAsync(preview.Name, p => p is null, Step, "the resource to be gone");
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    private static async Task<T> WaitForAsync<T>(Func<Task<T>> read, Func<T, bool> done, string what)
    {
        using var timeout = new CancellationTokenSource(Step);
        while (true)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), timeout.Token).ContinueWith(t =>
            {
                if (t.IsCanceled)
                {
                    throw new TimeoutException($"Timed out waiting for {what}");
                }
            }, TaskScheduler.Default);
        }
    }
}
