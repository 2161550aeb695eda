using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Diagnostics;
using Midori.Operator.Http;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;
using Midori.Operator.Tests.Persistence;
using Npgsql;
using MsOptions = Microsoft.Extensions.Options.Options;
using Midori.Operator.Files;

namespace Midori.Operator.Tests.Controllers;

/// <summary>
/// Two replicas on one PostgreSQL, each with its own connection pool: replica A serves the editor's API (a working-copy
/// write and its direct push), replica B leads and reconciles. A's upload is held back until B has started its own
/// push of a newer revision, the interleaving that used to leave the sandbox with the older files while the store
/// recorded the newer revision. Both pushers go through <see cref="SandboxFileSync"/> under the store's push lock.
/// </summary>
public sealed class SandboxFileSyncReplicaTests(PostgresDatabase database) : IClassFixture<PostgresDatabase>, IAsyncDisposable
{
    private const int Iterations = 50;
    private static readonly TimeSpan Bound = TestWaits.Bound;

    private readonly string _name = "race-" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<IAsyncDisposable> _disposables = [];

    private PreviewKey Key => new("default", _name);

    public async ValueTask DisposeAsync()
    {
        foreach (var disposable in _disposables)
        {
            await disposable.DisposeAsync();
        }
    }

    [PostgresFact]
    public async Task ApiAndReconcilerPushesOnTwoReplicas_SandboxEndsWithTheLatestRevision_EveryTime()
    {
        // arrange: replica B (leader) runs the reconciler on its own store instance
        var time = new FakeTimeProvider(ReconcilerHarness.T0);
        var storeB = await StoreOnOwnPoolAsync(time);
        var reconciler = new ReconcilerHarness(new Options.OperatorOptions { HealthCheckInterval = TimeSpan.FromSeconds(30) },
            new HarnessStore(new StoreSnapshotFileSource(storeB, NullLogger<StoreSnapshotFileSource>.Instance)), time);
        var snapshot = await storeB.CreateSnapshotAsync("default", "project-1", [new SandboxFile("app.js", Encoding.UTF8.GetBytes("v0"))], null, default);
        var resource = new PreviewSandboxBuilder().Named(_name).WithTtl(86400).WithIdleTimeout(86400).Build();
        resource.Spec.Source = new PreviewSandboxSource { SnapshotId = snapshot.SnapshotId };
        reconciler.Client.Create(resource);
        await reconciler.ReconcileAsync(_name);
        var sandboxId = reconciler.Get(_name).Status!.SandboxId!;
        var sandbox = reconciler.Provider.Find(sandboxId)!;

        // replica A serves the API on another store instance, pushing to the same sandbox
        var storeA = await StoreOnOwnPoolAsync(time);
        var cacheA = new PreviewSandboxCache(reconciler.Client, time);
        await using var meters = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var api = new WorkingCopyService(cacheA, new OneProvider(reconciler.Provider), MsOptions.Create(new HttpApiOptions()),
            new MidoriMetrics(meters.GetRequiredService<IMeterFactory>()), time, NullLogger<WorkingCopyService>.Instance, storeA);
        var contended = 0;

        for (var i = 0; i < Iterations; i++)
        {
            var apiUploading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var apiContent = $"api-{i}";
            reconciler.Provider.BeforeUpload = async (_, files) =>
            {
                if (files.Any(f => Encoding.UTF8.GetString(f.Content) == apiContent))
                {
                    apiUploading.TrySetResult();
                    await release.Task; // the slow upload
                }
            };
            cacheA.Observe(reconciler.Get(_name));

            // act: A commits and starts pushing; meanwhile B's editor commits a newer revision and B's reconciler repairs
            var apiWrite = api.PutFilesAsync(Key, [new IncomingFile("app.js", Encoding.UTF8.GetBytes(apiContent), null)], null, false, "editor",
                CancellationToken.None);
            await apiUploading.Task.WaitAsync(Bound);
            await storeB.CommitAsync(Key, [new FileWrite("app.js", Encoding.UTF8.GetBytes($"edit-{i}"))], new ChangeDescription("put"), default);
            time.Advance(TimeSpan.FromSeconds(30));
            reconciler.Heartbeat(time.GetUtcNow(), _name);
            var reconcile = reconciler.ReconcileAsync(_name);
            var waiting = WaitUntilAPushWaitsForTheLockAsync(reconcile);
            if (await Task.WhenAny(waiting, reconcile).WaitAsync(Bound) == waiting && await waiting)
            {
                contended++;
            }

            release.TrySetResult();
            var written = (await apiWrite.WaitAsync(Bound)).Value;
            await reconcile.WaitAsync(Bound);

            // assert: exactly the latest revision, and the store's push mark says so
            var head = (await storeB.ReadFilesAsync(Key, null, default))!;
            Assert.True(written.Push.Pushed, written.Push.Error);
            Assert.Equal(Contents(head.Files), Contents(sandbox.Files.Select(f => new SandboxFile(f.Key, f.Value))));
            Assert.Equal($"edit-{i}", Encoding.UTF8.GetString(sandbox.Files["app.js"]));
            var mark = (await ((IWorkingCopyStore)storeB).GetWorkingCopyHeadAsync(Key, default))!;
            Assert.Equal((head.Revision, sandboxId), (mark.PushedRevision, mark.PushedSandboxId));
            Assert.Equal(head.Revision, reconciler.Get(_name).Status!.FilesRevision);
        }

        // Every iteration had the reconciler wait for the lock the API's push held (so the slow upload landed first).
        Assert.Equal(Iterations, contended);
    }

    /// <summary>True once PostgreSQL shows a push-lock request of this database not granted (B waits for A); false if <paramref name="until"/> ended first.</summary>
    private async Task<bool> WaitUntilAPushWaitsForTheLockAsync(Task until)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            connection);
        while (!until.IsCompleted)
        {
            if ((long)(await command.ExecuteScalarAsync())! > 0)
            {
                return true;
            }

            await Task.Yield();
        }

        return false;
    }

    private static Dictionary<string, string> Contents(IEnumerable<SandboxFile> files) =>
        files.ToDictionary(f => f.Path, f => Encoding.UTF8.GetString(f.Content), StringComparer.Ordinal);

    private async Task<PostgresPreviewStore> StoreOnOwnPoolAsync(TimeProvider time)
    {
        var dataSource = NpgsqlDataSource.Create(database.ConnectionString);
        _disposables.Add(dataSource);
        var migrator = new StoreMigrator(dataSource, time, NullLogger<StoreMigrator>.Instance);
        await migrator.MigrateAsync(CancellationToken.None);
        return new PostgresPreviewStore(dataSource, migrator, MsOptions.Create(new StoreOptions()), time);
    }

    private sealed class OneProvider(ISandboxProvider provider) : ISandboxProviderRegistry
    {
        public string DefaultProvider => provider.Name;

        public IReadOnlyCollection<ISandboxProvider> All => [provider];

        public bool TryGet(string name, out ISandboxProvider found)
        {
            found = provider;
            return string.Equals(name, provider.Name, StringComparison.OrdinalIgnoreCase);
        }
    }
}
