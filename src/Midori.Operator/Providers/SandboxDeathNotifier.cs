namespace Midori.Operator.Providers;

/// <summary>
/// A provider saw that a sandbox died (its process exited, its API answered 404 to a keep-alive). Namespace and name are
/// set when the provider knows the owning resource; otherwise the runtime finds it by <see cref="SandboxId"/>.
/// </summary>
public sealed record SandboxDeath(string Provider, string SandboxId, string? Namespace, string? Name, string Detail);

/// <summary>
/// The one seam between providers that can tell a sandbox died and the runtime, which reconciles the owning resource at
/// once instead of at its next health check. Reports are fire-and-forget: a handler never blocks or fails the provider.
/// </summary>
public interface ISandboxDeathNotifier
{
    void Report(SandboxDeath death);

    /// <summary>Calls <paramref name="handler"/> for every later report until the returned handle is disposed.</summary>
    IDisposable Subscribe(Action<SandboxDeath> handler);
}

/// <summary>In-process fan-out; handlers run on the reporting thread and must be quick (the runtime only enqueues).</summary>
public sealed class SandboxDeathNotifier : ISandboxDeathNotifier
{
    private readonly Lock _lock = new();
    private Action<SandboxDeath>[] _handlers = [];

    public void Report(SandboxDeath death)
    {
        ArgumentNullException.ThrowIfNull(death);
        foreach (var handler in Volatile.Read(ref _handlers))
        {
            try
            {
                handler(death);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // a failing subscriber must not break the provider that reported; the health check still catches the death
            }
        }
    }

    public IDisposable Subscribe(Action<SandboxDeath> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        lock (_lock)
        {
            _handlers = [.. _handlers, handler];
        }

        return new Subscription(this, handler);
    }

    private void Unsubscribe(Action<SandboxDeath> handler)
    {
        lock (_lock)
        {
            _handlers = _handlers.Where(h => h != handler).ToArray();
        }
    }

    private sealed class Subscription(SandboxDeathNotifier owner, Action<SandboxDeath> handler) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Unsubscribe(handler);
            }
        }
    }
}
