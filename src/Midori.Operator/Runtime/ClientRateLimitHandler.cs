namespace Midori.Operator.Runtime;

/// <summary>
/// The operator's own limit on requests to the API server (client-go's QPS/burst): a token bucket of
/// <see cref="Options.OperatorOptions.ApiBurst"/> tokens refilled at <see cref="Options.OperatorOptions.ApiQps"/> per
/// second. A request over the limit waits for its token instead of failing (reservation, like Go's rate.Limiter).
/// </summary>
public sealed class ClientRateLimitHandler : DelegatingHandler
{
    private readonly Lock _lock = new();
    private readonly double _qps;
    private readonly int _burst;
    private readonly TimeProvider _time;
    private double _tokens;
    private long _last;

    public ClientRateLimitHandler(double qps, int burst, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(qps);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(burst);
        _qps = qps;
        _burst = burst;
        _time = time;
        _tokens = burst;
        _last = time.GetTimestamp();
    }

    /// <summary>Takes one token; returns how long the caller must wait for it (zero when one was there).</summary>
    internal TimeSpan Reserve()
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            _tokens = Math.Min(_burst, _tokens + _time.GetElapsedTime(_last, now).TotalSeconds * _qps);
            _last = now;
            _tokens -= 1;
            return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / _qps);
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var wait = Reserve();
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
        }

        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }
}
