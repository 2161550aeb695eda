using Midori.Operator.Persistence;
using Npgsql;

namespace Midori.Operator.Tests.Persistence;

/// <summary>Migrations against a fresh database of their own per test.</summary>
public sealed class StoreMigrationTests : IAsyncLifetime
{
    private readonly PostgresDatabase _database = new();

    public Task InitializeAsync() => _database.InitializeAsync();

    public Task DisposeAsync() => _database.DisposeAsync();

    [PostgresFact]
    public async Task Migrate_OnAnEmptyDatabase_AppliesEverything_AndARerunAppliesNothing()
    {
        // arrange
        var migrator = _database.CreateMigrator();

        // act
        var first = await migrator.MigrateAsync(default);
        var second = await _database.CreateMigrator().MigrateAsync(default);

        // assert
        Assert.Equal(StoreMigrator.Embedded.Select(m => m.Version), first);
        Assert.Empty(second);
        Assert.True(migrator.IsReady);
        Assert.Equal(StoreMigrator.Embedded.Count, await _database.ScalarAsync("SELECT count(*) FROM schema_migrations"));
        Assert.Equal(1, await _database.ScalarAsync("SELECT count(*) FROM schema_migrations WHERE version = 1 AND checksum = @c",
            ("c", StoreMigrator.Embedded[0].Checksum)));
        foreach (var table in new[] { "projects", "snapshots", "snapshot_files", "blobs", "working_copies", "working_copy_files", "working_copy_changes",
                     "patch_sets", "activity", "preview_sessions", "sandbox_recreations" })
        {
            Assert.Equal(1, await _database.ScalarAsync("SELECT count(*) FROM information_schema.tables WHERE table_name = @t", ("t", table)));
        }
    }

    [PostgresFact]
    public async Task TwoReplicasMigratingAtOnce_ApplyEachMigrationExactlyOnce()
    {
        // arrange
        var migrators = Enumerable.Range(0, 4).Select(_ => _database.CreateMigrator()).ToList();

        // act
        var results = await Task.WhenAll(migrators.Select(m => Task.Run(() => m.MigrateAsync(default))));

        // assert
        Assert.Single(results, r => r.Count > 0);
        Assert.Equal(StoreMigrator.Embedded.Count, results.Sum(r => r.Count));
        Assert.All(migrators, m => Assert.True(m.IsReady));
        Assert.Equal(StoreMigrator.Embedded.Count, await _database.ScalarAsync("SELECT count(*) FROM schema_migrations"));
    }

    [PostgresFact]
    public async Task Migrate_WhenAnAppliedMigrationChanged_RefusesAndChangesNothing()
    {
        // arrange
        await _database.CreateMigrator().MigrateAsync(default);
        var edited = StoreMigrator.Embedded.Select(m => m.Version == 1 ? m with { Sql = m.Sql + "\n-- edited", Checksum = StoreMigrator.Checksum(m.Sql + "\n-- edited") } : m).ToList();
        var extra = new StoreMigration(9999, "should_not_apply", "CREATE TABLE should_not_exist (id int);", StoreMigrator.Checksum("x"));
        var migrator = _database.CreateMigrator();

        // act
        var error = await Assert.ThrowsAsync<StoreMigrationException>(() => migrator.MigrateAsync([.. edited, extra], default));

        // assert
        Assert.Contains("0001_initial", error.Message);
        Assert.False(migrator.IsReady);
        Assert.Equal(0, await _database.ScalarAsync("SELECT count(*) FROM information_schema.tables WHERE table_name = 'should_not_exist'"));
    }

    [PostgresFact]
    public async Task Migrate_WhenAMigrationFails_RollsBackEverythingItDid()
    {
        // arrange
        var broken = new StoreMigration(9998, "broken", "CREATE TABLE half_done (id int); SELECT * FROM no_such_table;", StoreMigrator.Checksum("broken"));

        // act
        await Assert.ThrowsAsync<PostgresException>(() => _database.CreateMigrator().MigrateAsync([.. StoreMigrator.Embedded, broken], default));

        // assert
        Assert.Equal(0, await _database.ScalarAsync("SELECT count(*) FROM information_schema.tables WHERE table_name IN ('half_done', 'projects', 'schema_migrations')"));
    }

    [Fact]
    public void EmbeddedMigrations_AreNumberedFromOneWithoutGaps()
    {
        Assert.Equal(Enumerable.Range(1, StoreMigrator.Embedded.Count), StoreMigrator.Embedded.Select(m => m.Version));
        Assert.All(StoreMigrator.Embedded, m => Assert.StartsWith("sha256:", m.Checksum));
    }
}
