namespace Midori.Operator.Persistence;

/// <summary>
/// Small messages between the replicas that share a store, by channel name: PostgreSQL <c>NOTIFY</c>/<c>LISTEN</c>
/// with the PostgreSQL store (<see cref="PostgresStoreNotifications"/>), in-process with a store of one process
/// (<see cref="InMemoryStoreNotifications"/>). At most once, no history: a listener hears what is sent while it listens.
/// </summary>
public interface IStoreNotifications
{
    /// <summary>True when what one replica sends reaches the others; false when only this process hears it.</summary>
    bool ReachesOtherReplicas { get; }

    /// <summary>Sends <paramref name="payload"/> on <paramref name="channel"/>; throws when the store cannot take it.</summary>
    Task NotifyAsync(string channel, string payload, CancellationToken cancellationToken);

    /// <summary>
    /// One listening session: subscribes, calls <paramref name="onListening"/>, then <paramref name="onNotification"/>
    /// for each payload sent on <paramref name="channel"/> until <paramref name="cancellationToken"/> ends it (returns)
    /// or the session breaks (throws; the caller decides when to listen again).
    /// </summary>
    Task ListenAsync(string channel, Action onListening, Action<string> onNotification, CancellationToken cancellationToken);
}
