using System.Collections.Concurrent;
using System.Collections.Immutable;

namespace Midori.Operator.Persistence;

/// <summary>
/// Notifications inside one process, for an in-memory store (the development stack, tests): every listener of the
/// instance hears each payload, delivered inline by <see cref="NotifyAsync"/>.
/// </summary>
public sealed class InMemoryStoreNotifications : IStoreNotifications
{
    private readonly ConcurrentDictionary<string, ImmutableList<Action<string>>> _listeners = new(StringComparer.Ordinal);

    public bool ReachesOtherReplicas => false;

    public Task NotifyAsync(string channel, string payload, CancellationToken cancellationToken)
    {
        foreach (var listener in _listeners.GetValueOrDefault(channel, []))
        {
            listener(payload);
        }

        return Task.CompletedTask;
    }

    public async Task ListenAsync(string channel, Action onListening, Action<string> onNotification, CancellationToken cancellationToken)
    {
        // Subscribed before the first await, so a caller that starts listening and then sends hears its own payloads.
        _listeners.AddOrUpdate(channel, _ => [onNotification], (_, list) => list.Add(onNotification));
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            // The session ends with the caller's token.
            await using (cancellationToken.Register(() => ended.TrySetResult()))
            {
                onListening();
                await ended.Task.ConfigureAwait(false);
            }
        }
        finally
        {
            _listeners.AddOrUpdate(channel, _ => [], (_, list) => list.Remove(onNotification));
        }
    }
}
