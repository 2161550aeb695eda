using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Persistence;
using Npgsql;
using Xunit.Abstractions;
using Xunit.Sdk;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Midori.Operator.Tests.Persistence;

/// <summary>
/// Where the PostgreSQL tests find their server: <c>MIDORI_TEST_PG</c> (exported by .ci/setup.d/10-postgres.sh).
/// Without a reachable server they skip with a reason, except under <c>CI=true</c>, where they run and fail.
/// </summary>
public static class PostgresTestEnvironment
{
    public const string Variable = "MIDORI_TEST_PG";

    private static readonly Lazy<string?> ProbeError = new(Probe);

    public static string? ConnectionString => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value : null;

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Null when the tests should run.</summary>
    public static string? SkipReason =>
        IsCi ? null
        : ConnectionString is null ? $"{Variable} is not set; `source .ci/setup.d/10-postgres.sh` starts a local PostgreSQL and sets it"
        : ProbeError.Value is { } error ? $"PostgreSQL at {Variable} is not reachable: {error}"
        : null;

    public static string RequireConnectionString() => ConnectionString
        ?? throw new InvalidOperationException($"CI=true but {Variable} is not set: .ci/setup.d/10-postgres.sh should have started PostgreSQL and exported it");

    private static string? Probe()
    {
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(ConnectionString) { Timeout = 3, Pooling = false };
            using var connection = new NpgsqlConnection(builder.ConnectionString);
            connection.Open();
            return null;
        }
        catch (Exception ex) when (ex is NpgsqlException or ArgumentException or TimeoutException or System.Net.Sockets.SocketException)
        {
            return ex.Message;
        }
    }
}

/// <summary>A fact that needs PostgreSQL (see <see cref="PostgresTestEnvironment"/>).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (PostgresTestEnvironment.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>Marks a test class whose <see cref="StoreFactAttribute"/> tests need PostgreSQL.</summary>
public interface IRequiresPostgres;

/// <summary>
/// A store contract fact: runs for every implementation, and skips like <see cref="PostgresFactAttribute"/> when the
/// concrete test class is <see cref="IRequiresPostgres"/> (an attribute on an abstract base cannot know that itself).
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
[XunitTestCaseDiscoverer("Midori.Operator.Tests.Persistence.StoreFactDiscoverer", "Midori.Operator.Tests")]
public sealed class StoreFactAttribute : FactAttribute;

public sealed class StoreFactDiscoverer(IMessageSink diagnosticMessageSink) : FactDiscoverer(diagnosticMessageSink)
{
    protected override IXunitTestCase CreateTestCase(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        var testClass = testMethod.TestClass.Class.ToRuntimeType();
        return typeof(IRequiresPostgres).IsAssignableFrom(testClass) && PostgresTestEnvironment.SkipReason is { } reason
            ? new SkippedStoreTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, reason)
            : base.CreateTestCase(discoveryOptions, testMethod, factAttribute);
    }
}

public sealed class SkippedStoreTestCase : XunitTestCase
{
    private string _reason = string.Empty;

    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes", error: true)]
    public SkippedStoreTestCase()
    {
    }

    public SkippedStoreTestCase(IMessageSink sink, TestMethodDisplay display, TestMethodDisplayOptions displayOptions, ITestMethod testMethod, string reason)
        : base(sink, display, displayOptions, testMethod) => _reason = reason;

    protected override string GetSkipReason(IAttributeInfo factAttribute) => _reason;

    public override void Serialize(IXunitSerializationInfo data)
    {
        base.Serialize(data);
        data.AddValue("MidoriSkipReason", _reason);
    }

    public override void Deserialize(IXunitSerializationInfo data)
    {
        _reason = data.GetValue<string>("MidoriSkipReason");
        base.Deserialize(data);
    }
}

/// <summary>A database of its own for one test class (created on start, dropped at the end), so classes run in parallel.</summary>
public sealed class PostgresDatabase : IAsyncLifetime
{
    private string? _adminConnectionString;
    private NpgsqlDataSource? _dataSource;

    public string Name { get; } = "midori_t_" + Guid.NewGuid().ToString("N")[..20];

    public string ConnectionString { get; private set; } = string.Empty;

    /// <summary>One shared data source for the class (pooled, like production).</summary>
    public NpgsqlDataSource DataSource => _dataSource ??= NpgsqlDataSource.Create(ConnectionString);

    public async Task InitializeAsync()
    {
        if (PostgresTestEnvironment.SkipReason is not null)
        {
            return; // the class's tests are skipped; nothing to set up
        }

        _adminConnectionString = PostgresTestEnvironment.RequireConnectionString();
        await using (var admin = new NpgsqlConnection(_adminConnectionString))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{Name}\"", admin);
            await create.ExecuteNonQueryAsync();
        }

        ConnectionString = new NpgsqlConnectionStringBuilder(_adminConnectionString) { Database = Name }.ConnectionString;
    }

    public async Task DisposeAsync()
    {
        if (_adminConnectionString is null)
        {
            return;
        }

        if (_dataSource is not null)
        {
            await _dataSource.DisposeAsync();
        }

        await using var admin = new NpgsqlConnection(_adminConnectionString);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
    }

    public StoreMigrator CreateMigrator(TimeProvider? time = null) =>
        new(DataSource, time ?? TimeProvider.System, NullLogger<StoreMigrator>.Instance);

    /// <summary>A store on this database with its schema migrated.</summary>
    internal async Task<PostgresPreviewStore> CreateStoreAsync(StoreOptions? options = null, TimeProvider? time = null)
    {
        time ??= new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));
        var migrator = CreateMigrator(time);
        await migrator.MigrateAsync(CancellationToken.None);
        return new PostgresPreviewStore(DataSource, migrator, MsOptions.Create(options ?? new StoreOptions()), time);
    }

    public async Task<long> ScalarAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = DataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
