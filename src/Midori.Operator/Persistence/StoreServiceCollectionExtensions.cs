using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Options;
using Microsoft.Extensions.Options;
using Midori.Operator.Controllers;

namespace Midori.Operator.Persistence;

public static class StoreServiceCollectionExtensions
{
    public const string ConnectionStringName = "Midori";

    /// <summary>
    /// The PostgreSQL store, when <c>ConnectionStrings:Midori</c> is set: data source, migrations at start (readiness
    /// waits for them), <see cref="IPreviewStore"/> and its narrow interfaces, the snapshot file source and the
    /// session/recreation history observer. Without a connection string nothing is registered and the operator runs
    /// without the features that need it (they say so in status or in the API's answer).
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
        return services.AddMidoriStoreConsumers();
    }

    /// <summary>
    /// Everything built on an <see cref="IPreviewStore"/> (its narrow interfaces, the snapshot file source, the history writer),
    /// for a store registered by the caller: the PostgreSQL one above, or another implementation (the development stack's).
    /// </summary>
    public static IServiceCollection AddMidoriStoreConsumers(this IServiceCollection services)
    {
        services.AddOptions<StoreOptions>().BindConfiguration(StoreOptions.SectionName).ValidateSettings(StoreOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StoreOptions>, StoreOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IProjectStore>(sp => sp.GetRequiredService<IPreviewStore>());
        services.TryAddSingleton<ISnapshotStore>(sp => sp.GetRequiredService<IPreviewStore>());
        services.TryAddSingleton<IWorkingCopyStore>(sp => sp.GetRequiredService<IPreviewStore>());
        services.TryAddSingleton<IActivityStore>(sp => sp.GetRequiredService<IPreviewStore>());
        services.TryAddSingleton<ISessionStore>(sp => sp.GetRequiredService<IPreviewStore>());

        services.TryAddSingleton<IStoreNotifications, InMemoryStoreNotifications>(); // a store of one process: its replicas are in it
        services.TryAddSingleton<ISnapshotFileSource, StoreSnapshotFileSource>();
        services.TryAddSingleton<StoreHistoryQueue>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISandboxLifecycleObserver, StoreLifecycleObserver>());
        services.AddHostedService<StoreHistoryWriter>();
        return services;
    }
}
