using System.Text;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Files;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using MsOptions = Microsoft.Extensions.Options.Options;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Tests.Persistence;

/// <summary>The store contract against PostgreSQL (one database for the class; each test uses its own namespace).</summary>
public sealed class PostgresPreviewStoreContractTests(PostgresDatabase database)
    : PreviewStoreContractTests, IClassFixture<PostgresDatabase>, IRequiresPostgres
{
    protected override async Task<IPreviewStore> CreateStoreAsync() => await database.CreateStoreAsync(Limits, Time);

    protected override bool SharesStateAcrossInstances => true;
}

/// <summary>What only the PostgreSQL store can show: storage layout, the SQL set hash, readiness gating.</summary>
public sealed class PostgresPreviewStoreTests(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);

    [PostgresFact]
    public async Task IdenticalContent_IsStoredOnce_AcrossSnapshotsAndCommits()
    {
        // arrange
        var store = await database.CreateStoreAsync();
        var shared = Encoding.UTF8.GetBytes("export const shared = " + Guid.NewGuid().ToString("N") + ";");
        var preview = new PreviewKey("dedupe", "demo");

        // act
        var first = await store.CreateSnapshotAsync("dedupe", "p1", [new SandboxFile("a.js", shared), new SandboxFile("copy/a.js", shared)], null, default);
        await store.CreateSnapshotAsync("dedupe", "p2", [new SandboxFile("lib/shared.js", shared)], null, default);
        await store.InitializeWorkingCopyAsync(preview, "p1", first.SnapshotId, reset: false, default);
        await store.CommitAsync(preview, [new FileWrite("third/a.js", shared)], new ChangeDescription("put"), default);

        // assert
        var hash = ContentHash.Compute(shared);
        Assert.Equal(1, await database.ScalarAsync("SELECT count(*) FROM blobs WHERE hash = @hash", ("hash", hash)));
        Assert.Equal(3, await database.ScalarAsync("SELECT count(*) FROM working_copy_files WHERE blob_hash = @hash", ("hash", hash)));
    }

    [PostgresFact]
    public async Task SetHashComputedInSql_MatchesTheCSharpDefinition_ForNonAsciiPaths()
    {
        // arrange: paths whose UTF-16 and UTF-8 orders differ (U+FF21 sorts after U+1F600 in UTF-16, before in UTF-8)
        var store = await database.CreateStoreAsync();
        var preview = new PreviewKey("hash", "demo");
        SandboxFile[] files = [new("Ａ.txt", [1]), new("😀.txt", [2]), new("z.txt", [3]), new("ä/b.txt", [4])];
        var snapshot = await store.CreateSnapshotAsync("hash", "p1", [files[0]], null, default);
        await store.InitializeWorkingCopyAsync(preview, "p1", snapshot.SnapshotId, reset: false, default);

        // act: the commit's hash is computed by PostgreSQL
        var commit = await store.CommitAsync(preview, [.. files.Skip(1).Select(f => new FileWrite(f.Path, f.Content))], new ChangeDescription("batch"), default);

        // assert
        Assert.Equal(FileSetHash.Compute(files), commit.FilesHash);
    }

    [PostgresFact]
    public async Task EveryCommit_RecordsAPatchSet_WithKindPayloadAndRevision()
    {
        // arrange
        var store = await database.CreateStoreAsync();
        var preview = new PreviewKey("patchsets", "demo");
        var snapshot = await store.CreateSnapshotAsync("patchsets", "p1", [new SandboxFile("a.txt", [1])], null, default);
        await store.InitializeWorkingCopyAsync(preview, "p1", snapshot.SnapshotId, reset: false, default);

        // act
        await store.CommitAsync(preview, [new FileWrite("a.txt", [2]), new FileWrite("b.txt", [3])],
            new ChangeDescription("patch", new System.Text.Json.Nodes.JsonObject { ["ops"] = 2 }, "editor"), default);
        await store.CommitAsync(preview, [new FileWrite("a.txt", [2])], new ChangeDescription("put"), default); // no change: no row

        // assert
        Assert.Equal(2, await database.ScalarAsync("SELECT count(*) FROM patch_sets WHERE namespace = 'patchsets'"));
        Assert.Equal(2, await database.ScalarAsync(
            "SELECT revision FROM patch_sets WHERE namespace = 'patchsets' AND kind = 'patch' AND actor = 'editor' AND (payload->>'ops')::int = 2 AND added = 1 AND modified = 1"));
    }

    [PostgresFact]
    public async Task StoreCalls_WaitForTheMigration_AndReportUnavailableAfterTheTimeout()
    {
        // arrange: a migrator that never ran
        var time = new FakeTimeProvider(T0);
        var migrator = database.CreateMigrator(time);
        var store = new PostgresPreviewStore(database.DataSource, migrator, MsOptions.Create(new StoreOptions { ReadyTimeout = TimeSpan.FromSeconds(5) }), time);

        // act
        var call = store.GetLastActivityAsync(new PreviewKey("ready", "demo"), default);
        Assert.False(call.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(5));

        // assert
        await Assert.ThrowsAsync<StoreUnavailableException>(() => call);
        await migrator.MigrateAsync(default);
        Assert.Null(await store.GetLastActivityAsync(new PreviewKey("ready", "demo"), default));
    }
}
