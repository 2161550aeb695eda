namespace Midori.Operator.Runtime;

/// <summary>
/// Exponential backoff, computed and never slept: <c>min(base × 2^min(n, maxExponent), max) + jitter</c>, where
/// <c>n</c> is the number of consecutive failures (1 for the first) and jitter is uniform in [0, maxJitter).
/// </summary>
public sealed class RetryBackoff
{
    private readonly Func<double> _jitter;

    /// <param name="baseDelay">Delay unit multiplied by 2^n.</param>
    /// <param name="maxDelay">Cap applied before jitter.</param>
    /// <param name="maxExponent">Largest exponent used (KubeOps uses 5 for its watcher).</param>
    /// <param name="maxJitter">Upper bound (exclusive) of the random delay added on top.</param>
    /// <param name="jitter">Source of uniform values in [0, 1); defaults to <see cref="Random.Shared"/>. Tests pass a constant.</param>
    public RetryBackoff(TimeSpan baseDelay, TimeSpan maxDelay, int maxExponent, TimeSpan maxJitter, Func<double>? jitter = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(baseDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDelay, baseDelay);
        ArgumentOutOfRangeException.ThrowIfNegative(maxExponent);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxJitter, TimeSpan.Zero);
        BaseDelay = baseDelay;
        MaxDelay = maxDelay;
        MaxExponent = maxExponent;
        MaxJitter = maxJitter;
        _jitter = jitter ?? Random.Shared.NextDouble;
    }

    public TimeSpan BaseDelay { get; }

    public TimeSpan MaxDelay { get; }

    public int MaxExponent { get; }

    public TimeSpan MaxJitter { get; }

    /// <summary>The informer's watch backoff: 2^min(n, 5) s (2 s … 32 s) plus up to 1 s of jitter (KubeOps A1.5).</summary>
    public static RetryBackoff ForWatch(Func<double>? jitter = null) =>
        new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(32), 5, TimeSpan.FromSeconds(1), jitter);

    /// <summary>Per-key reconcile failure backoff: 0.5 s × 2^min(n, 16) (1 s, 2 s, 4 s …) capped at <paramref name="maxDelay"/>, plus up to 0.5 s of jitter.</summary>
    public static RetryBackoff ForReconcile(TimeSpan maxDelay, Func<double>? jitter = null) =>
        new(TimeSpan.FromMilliseconds(500), maxDelay < TimeSpan.FromMilliseconds(500) ? TimeSpan.FromMilliseconds(500) : maxDelay, 16, TimeSpan.FromMilliseconds(500), jitter);

    /// <summary>Delay before retry number <paramref name="failures"/> (values below 1 count as 1).</summary>
    public TimeSpan Compute(int failures)
    {
        var exponent = Math.Min(Math.Max(failures, 1), MaxExponent);
        var ticks = BaseDelay.Ticks * Math.Pow(2, exponent);
        var capped = ticks >= MaxDelay.Ticks ? MaxDelay : TimeSpan.FromTicks((long)ticks);
        var fraction = Math.Clamp(_jitter(), 0d, 1d);
        var jitter = TimeSpan.FromTicks((long)(MaxJitter.Ticks * fraction));
        if (jitter >= MaxJitter && MaxJitter > TimeSpan.Zero)
        {
            jitter = MaxJitter - TimeSpan.FromTicks(1);
        }

        return capped + jitter;
    }
}
