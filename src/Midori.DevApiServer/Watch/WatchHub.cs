using Midori.DevApiServer.Storage;

namespace Midori.DevApiServer.Watch;

/// <summary>Fans committed events out to open watchers. Called with the store lock held, so order is resourceVersion order.</summary>
public sealed class WatchHub
{
    private readonly List<Watcher> _watchers = [];

    public int Count => _watchers.Count;

    public void Add(Watcher watcher) => _watchers.Add(watcher);

    public void Remove(Watcher watcher) => _watchers.Remove(watcher);

    public void Publish(StoredEvent e)
    {
        foreach (var watcher in _watchers)
        {
            watcher.Deliver(e);
        }

        _watchers.RemoveAll(w => w.IsClosed);
    }

    public void CloseAll()
    {
        foreach (var watcher in _watchers)
        {
            watcher.Close();
        }

        _watchers.Clear();
    }
}
