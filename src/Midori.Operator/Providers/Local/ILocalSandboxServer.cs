namespace Midori.Operator.Providers.Local;

/// <summary>What serves one sandbox: the static file server, or a dev-server command (optionally behind the token gate).</summary>
internal interface ILocalSandboxServer : IAsyncDisposable
{
    /// <summary>"static" or "command"; for logs.</summary>
    string Mode { get; }

    /// <summary>Port the preview URL points at.</summary>
    int Port { get; }

    /// <summary>Exit code when the dev-server process ended on its own; null while it runs or after a deliberate stop.</summary>
    int? UnexpectedExitCode { get; }

    /// <summary>Stops serving: graceful first, forceful after the grace period. Safe to call twice.</summary>
    Task StopAsync(CancellationToken cancellationToken);
}
