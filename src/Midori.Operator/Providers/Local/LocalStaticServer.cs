using System.Net;

namespace Midori.Operator.Providers.Local;

/// <summary>Static mode (empty command): a front of the shared <see cref="LocalFrontServer"/> serves the project directory.</summary>
internal sealed class LocalStaticServer : ILocalSandboxServer
{
    private readonly LocalHttpFront _front;
    private readonly TimeProvider _timeProvider;
    private readonly TimeSpan _gracePeriod;
    private int _stopped;

    private LocalStaticServer(LocalHttpFront front, TimeProvider timeProvider, TimeSpan gracePeriod)
    {
        _front = front;
        _timeProvider = timeProvider;
        _gracePeriod = gracePeriod;
    }

    public string Mode => "static";

    public int Port => _front.Port;

    public int? UnexpectedExitCode => null;

    public static async Task<LocalStaticServer> StartAsync(
        LocalFrontServer fronts, string projectDirectory, IPAddress bindAddress, string? requiredToken, TimeProvider timeProvider,
        TimeSpan gracePeriod, CancellationToken cancellationToken)
    {
        var front = await fronts.OpenStaticAsync(projectDirectory, bindAddress, requiredToken, cancellationToken).ConfigureAwait(false);
        return new LocalStaticServer(front, timeProvider, gracePeriod);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        using var grace = new CancellationTokenSource(_gracePeriod, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(grace.Token, cancellationToken);
        await _front.StopAsync(linked.Token).ConfigureAwait(false);
        await _front.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);
}
