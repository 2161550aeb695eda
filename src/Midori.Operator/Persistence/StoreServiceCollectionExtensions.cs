using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Options;
using Microsoft.Extensions.Options;

namespace Midori.Operator.Persistence;

public static class StoreServiceCollectionExtensions
{
    public const string ConnectionStringName = "Midori";

    /// <summary>Whether <c>ConnectionStrings:Midori</c> is set (the PostgreSQL store is used).</summary>
    public static bool IsConfigured(IConfiguration configuration) => !string.IsNullOrWhiteSpace(configuration.GetConnectionString(ConnectionStringName));

    /// <summary>
    /// The PostgreSQL store, when <c>ConnectionStrings:Midori</c> is set: data source, migrations at start (readiness
    /// waits for them) and <see cref="IPreviewStore"/>; what is built on it comes from <c>AddMidoriStoreConsumers</c> (the
    /// composition root). Without a connection string nothing is registered and the operator runs without the
    /// features that need it (they say so in status or in the API's answer).
    /// </summary>
    public static IServiceCollection AddMidoriStore(this IServiceCollection services, IConfiguration configuration)
    {
        var connectionString = configuration.GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return services;
        }

        services.AddNpgsqlDataSource(connectionString);
        services.TryAddSingleton<StoreMigrator>();
        services.TryAddSingleton<StoreHealth>();
        services.AddHostedService<StoreMigrationService>();
        services.TryAddSingleton<IPreviewStore, PostgresPreviewStore>();
        services.TryAddSingleton<IStoreNotifications, PostgresStoreNotifications>();
        return services;
    }
}
