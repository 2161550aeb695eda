using System.Collections.Concurrent;

namespace Midori.Operator.Tests.HighAvailability;

/// <summary>
/// The client side of one operator instance's API-server traffic. While <see cref="Pause"/>d, Lease requests wait
/// (ignoring cancellation, as they would in a stopped process) until <see cref="Resume"/>: renewals stall. Every other
/// write is recorded with the instant it left the operator, so a test can compare it with leadership changes.
/// </summary>
internal sealed class PausableApiHandler(string instance, ConcurrentQueue<RecordedWrite>? writes = null) : DelegatingHandler
{
    private readonly PauseGate _gate = new();

    /// <summary>Lease requests currently held.</summary>
    public int Stalled => _gate.Held;

    public void Pause() => _gate.Pause();

    public void Resume() => _gate.Resume();

    /// <summary>Completes at once unless paused; then when resumed (cancellation ignored, like a stopped process).</summary>
    public Task WhileLeasesPausedAsync() => _gate.WhilePausedAsync();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var path = request.RequestUri!.AbsolutePath;
        if (path.Contains("/leases", StringComparison.Ordinal))
        {
            await _gate.PassAsync().ConfigureAwait(false);
        }
        else if (request.Method != HttpMethod.Get && writes is not null)
        {
            writes.Enqueue(new RecordedWrite(instance, "api", $"{request.Method.Method} {path}", TimeProvider.System.GetUtcNow()));
        }

        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>A write as it left one operator instance: to the API server (<c>api</c>) or to a provider (<c>provider</c>).</summary>
internal sealed record RecordedWrite(string Instance, string Seam, string What, DateTimeOffset At);
