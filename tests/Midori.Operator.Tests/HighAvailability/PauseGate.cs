namespace Midori.Operator.Tests.HighAvailability;

/// <summary>
/// Freezes callers the way a stopped process freezes: while paused, <see cref="PassAsync"/> waits until
/// <see cref="Resume"/>, ignoring cancellation. Counts the callers it holds so a test can wait for all of them.
/// </summary>
internal sealed class PauseGate
{
    private readonly Lock _sync = new();
    private TaskCompletionSource? _gate;
    private int _held;

    /// <summary>Callers currently held.</summary>
    public int Held => Volatile.Read(ref _held);

    public void Pause()
    {
        lock (_sync)
        {
            _gate ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void Resume()
    {
        TaskCompletionSource? gate;
        lock (_sync)
        {
            gate = _gate;
            _gate = null;
        }

        gate?.TrySetResult();
    }

    /// <summary>Completes at once unless paused; then when resumed. Not counted as held.</summary>
    public Task WhilePausedAsync()
    {
        lock (_sync)
        {
            return _gate?.Task ?? Task.CompletedTask;
        }
    }

    /// <summary>Passes at once unless paused; otherwise holds the caller (counted) until resumed.</summary>
    public async Task PassAsync()
    {
        Task? gate;
        lock (_sync)
        {
            gate = _gate?.Task;
        }

        if (gate is null)
        {
            return;
        }

        Interlocked.Increment(ref _held);
        try
        {
            await gate.ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _held);
        }
    }
}
