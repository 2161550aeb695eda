using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging.Abstractions;

namespace Midori.Operator.Providers.Local;

/// <summary>
/// The one Kestrel server behind every local sandbox's front. Each sandbox still gets its own port (its own origin),
/// but a Kestrel server per sandbox costs a dedicated timer thread each (1,000 previews, 1,000 threads), so the ports
/// are opened and closed at run time on one server: its single endpoint is a listener that accepts from a changing
/// set of per-sandbox sockets (<see cref="PortsListenerFactory"/>), and requests are dispatched by local port.
/// </summary>
internal sealed class LocalFrontServer : IAsyncDisposable
{
    private const int MaxPortAttempts = 32;
    private readonly SemaphoreSlim _startGate = new(1, 1);
    private readonly SocketTransportFactory _sockets = new(Microsoft.Extensions.Options.Options.Create(new SocketTransportOptions()), NullLoggerFactory.Instance);
    private readonly PortsListenerFactory _ports = new();
    private readonly ConcurrentDictionary<int, LocalHttpFront> _fronts = new();
    private readonly Func<IPEndPoint, CancellationToken, ValueTask<IConnectionListener>> _bind;
    private WebApplication? _app;
    private bool _disposed;

    /// <param name="bind">Opens a listening socket (tests choose the port the system would hand out); default: the socket transport.</param>
    internal LocalFrontServer(Func<IPEndPoint, CancellationToken, ValueTask<IConnectionListener>>? bind = null)
    {
        _bind = bind ?? ((endPoint, cancellationToken) => _sockets.BindAsync(endPoint, cancellationToken));
    }

    /// <summary>How many Kestrel servers run for the local sandboxes: 0 before the first front, then 1.</summary>
    internal int ServerCount => _app is null ? 0 : 1;

    /// <summary>Fronts currently listening.</summary>
    internal int FrontCount => _fronts.Count;

    /// <summary>Serves <paramref name="projectDirectory"/> as static files on a new port of <paramref name="bindAddress"/>.</summary>
    public Task<LocalHttpFront> OpenStaticAsync(
        string projectDirectory, IPAddress bindAddress, string? requiredToken, CancellationToken cancellationToken) =>
        OpenAsync(LocalHttpFront.Static(projectDirectory, requiredToken), bindAddress, cancellationToken);

    /// <summary>Forwards a new port of <paramref name="bindAddress"/> to the dev server at <paramref name="upstream"/>.</summary>
    public Task<LocalHttpFront> OpenForwarderAsync(
        IPEndPoint upstream, IPAddress bindAddress, string? requiredToken, CancellationToken cancellationToken) =>
        OpenAsync(LocalHttpFront.Forwarder(upstream, requiredToken), bindAddress, cancellationToken);

    private async Task<LocalHttpFront> OpenAsync(LocalHttpFront front, IPAddress bindAddress, CancellationToken cancellationToken)
    {
        // A stopping front closes its socket first and keeps its port here while its requests drain (the grace period), so
        // the system may hand that port out again meanwhile: such a socket is held (the next bind then gets another port)
        // and closed once this front has one, and the draining front's connections still reach the right sandbox.
        var held = new List<IConnectionListener>();
        try
        {
            var sink = await EnsureStartedAsync(cancellationToken).ConfigureAwait(false);
            while (true)
            {
                var listener = await _bind(new IPEndPoint(bindAddress, 0), cancellationToken).ConfigureAwait(false);
                var port = ((IPEndPoint)listener.EndPoint).Port;
                if (_fronts.TryAdd(port, front))
                {
                    front.Attach(listener, sink, Release);
                    return front;
                }

                held.Add(listener);
                if (held.Count >= MaxPortAttempts)
                {
                    throw new InvalidOperationException($"No free port for a sandbox front after {held.Count} attempts: each was still a stopping sandbox's");
                }
            }
        }
        catch
        {
            await front.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            foreach (var listener in held)
            {
                await listener.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Forgets a stopped front's port (its socket is closed by the front itself).</summary>
    private void Release(LocalHttpFront front) => _fronts.TryRemove(new KeyValuePair<int, LocalHttpFront>(front.Port, front));

    private async ValueTask<Func<ConnectionContext, ValueTask>> EnsureStartedAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            return _ports.Accepted;
        }

        await _startGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_app is null)
            {
                var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
                builder.Services.AddLogging();
                builder.Services.AddHttpForwarder();
                builder.Services.AddSingleton<IConnectionListenerFactory>(_ports);
                builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
                {
                    kestrel.AddServerHeader = false;
                    kestrel.Listen(PortsListenerFactory.EndPoint);
                });
                var app = builder.Build();
                app.Run(context => _fronts.TryGetValue(context.Connection.LocalPort, out var front)
                    ? front.HandleAsync(context)
                    : Closed(context));
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
                _app = app;
            }

            return _ports.Accepted;
        }
        finally
        {
            _startGate.Release();
        }
    }

    private static Task Closed(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.Connection = "close";
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _startGate.WaitAsync().ConfigureAwait(false);
        try
        {
            _disposed = true;
            foreach (var front in _fronts.Values)
            {
                await front.DisposeAsync().ConfigureAwait(false);
            }

            if (_app is not null)
            {
                await _app.DisposeAsync().ConfigureAwait(false);
                _app = null;
            }
        }
        finally
        {
            _startGate.Release();
        }
    }

    /// <summary>
    /// Kestrel's one endpoint: connections accepted by the fronts' own sockets are queued here, and Kestrel takes
    /// them as if from one listener.
    /// </summary>
    private sealed class PortsListenerFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
    {
        public static readonly EndPoint EndPoint = new SandboxPortsEndPoint();

        private readonly Channel<ConnectionContext> _queue = Channel.CreateUnbounded<ConnectionContext>(
            new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });

        public ValueTask Accepted(ConnectionContext connection) => _queue.Writer.WriteAsync(connection);

        public bool CanBind(EndPoint endpoint) => endpoint is SandboxPortsEndPoint;

        public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult<IConnectionListener>(new Listener(endpoint, _queue));

        private sealed class Listener(EndPoint endPoint, Channel<ConnectionContext> queue) : IConnectionListener
        {
            public EndPoint EndPoint => endPoint;

            public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
            {
                try
                {
                    return await queue.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (ChannelClosedException)
                {
                    return null;
                }
            }

            public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
            {
                queue.Writer.TryComplete();
                return ValueTask.CompletedTask;
            }

            public ValueTask DisposeAsync()
            {
                queue.Writer.TryComplete();
                return ValueTask.CompletedTask;
            }
        }
    }

    private sealed class SandboxPortsEndPoint : EndPoint
    {
        public override string ToString() => "local-sandbox-ports";
    }
}
