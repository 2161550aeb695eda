using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.StaticFiles;
using Yarp.ReverseProxy.Forwarder;

namespace Midori.Operator.Providers.Local;

/// <summary>
/// One sandbox's front on its own port of the shared <see cref="LocalFrontServer"/>. It either serves the project
/// directory as static files (no directory listing, never outside the directory) or forwards to a dev server on an
/// inner port. When a token is required it checks <c>X-Midori-Preview-Token</c>, <c>?token=</c> or the cookie it sets
/// after a valid <c>?token=</c>.
/// </summary>
internal sealed class LocalHttpFront : IAsyncDisposable
{
    public const string TokenHeader = "X-Midori-Preview-Token";
    public const string TokenQuery = "token";
    public const string TokenCookie = "midori_preview_token";

    private static readonly FileExtensionContentTypeProvider ContentTypes = new();
    private readonly RequestDelegate _handler;
    private readonly byte[]? _expectedToken;
    private readonly HttpMessageInvoker? _forwarder;
    private readonly ConcurrentDictionary<ConnectionContext, byte> _connections = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IConnectionListener? _listener;
    private Action<LocalHttpFront>? _onStopped;
    private Task _acceptLoop = Task.CompletedTask;
    private int _active;
    private volatile bool _stopping;
    private int _stopped;

    private LocalHttpFront(RequestDelegate handler, string? requiredToken, HttpMessageInvoker? forwarder)
    {
        _handler = handler;
        _expectedToken = requiredToken is null ? null : Encoding.UTF8.GetBytes(requiredToken);
        _forwarder = forwarder;
    }

    public int Port { get; private set; }

    /// <summary>A front that serves <paramref name="projectDirectory"/> as static files; not listening yet.</summary>
    internal static LocalHttpFront Static(string projectDirectory, string? requiredToken)
    {
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(projectDirectory));
        return new LocalHttpFront(context => ServeFileAsync(context, root), requiredToken, null);
    }

    /// <summary>
    /// A front that forwards every request, WebSocket upgrades (hot module reload) and streamed bodies included, to
    /// <c>http://{upstream}/</c> with YARP's forwarder; the token header and cookie stay here. Not listening yet.
    /// </summary>
    internal static LocalHttpFront Forwarder(IPEndPoint upstream, string? requiredToken)
    {
        var forwarder = new HttpMessageInvoker(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(10),
        });
        var destination = new UriBuilder(Uri.UriSchemeHttp, upstream.Address.ToString(), upstream.Port).Uri.ToString();
        return new LocalHttpFront(context => ForwardAsync(context, forwarder, destination), requiredToken, forwarder);
    }

    /// <summary>Starts taking this front's connections from <paramref name="listener"/> and hands them to <paramref name="accepted"/>.</summary>
    internal void Attach(IConnectionListener listener, Func<ConnectionContext, ValueTask> accepted, Action<LocalHttpFront> stopped)
    {
        _listener = listener;
        _onStopped = stopped;
        Port = ((IPEndPoint)listener.EndPoint).Port;
        _acceptLoop = AcceptLoopAsync(listener, accepted);
    }

    private async Task AcceptLoopAsync(IConnectionListener listener, Func<ConnectionContext, ValueTask> accepted)
    {
        while (true)
        {
            ConnectionContext? connection;
            try
            {
                connection = await listener.AcceptAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            if (connection is null)
            {
                return; // unbound
            }

            if (_stopping)
            {
                connection.Abort();
                await connection.DisposeAsync().ConfigureAwait(false);
                continue;
            }

            _connections.TryAdd(connection, 0);
            connection.ConnectionClosed.Register(static state =>
            {
                var (front, closed) = ((LocalHttpFront, ConnectionContext))state!;
                front._connections.TryRemove(closed, out _);
            }, (this, connection));
            try
            {
                await accepted(connection).ConfigureAwait(false);
            }
            catch (System.Threading.Channels.ChannelClosedException)
            {
                // the shared server is shutting down
                connection.Abort();
                await connection.DisposeAsync().ConfigureAwait(false);
                return;
            }
        }
    }

    /// <summary>Handles one request that arrived on this front's port.</summary>
    internal async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _active);
        try
        {
            if (_stopping)
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                context.Response.Headers.Connection = "close";
                return;
            }

            if (_expectedToken is null || Authorize(context, _expectedToken))
            {
                await _handler(context).ConfigureAwait(false);
            }
        }
        finally
        {
            if (Interlocked.Decrement(ref _active) == 0 && _stopping)
            {
                _drained.TrySetResult();
            }
        }
    }

    /// <summary>
    /// Stops taking connections, lets running requests finish until <paramref name="cancellationToken"/> (the grace
    /// period) ends, then closes what is left, idle keep-alive connections at once.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        _stopping = true;
        if (_listener is not null)
        {
            await _listener.UnbindAsync(CancellationToken.None).ConfigureAwait(false);
        }

        await _acceptLoop.ConfigureAwait(false);
        if (Volatile.Read(ref _active) == 0)
        {
            _drained.TrySetResult();
        }

        try
        {
            await _drained.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // grace period over: what is still running is cut below
        }

        foreach (var connection in _connections.Keys)
        {
            connection.Abort(new ConnectionAbortedException("The sandbox stopped"));
        }

        if (_listener is not null)
        {
            await _listener.DisposeAsync().ConfigureAwait(false);
        }

        _onStopped?.Invoke(this);
    }

    /// <summary>Stops at once (no grace) if not stopped yet.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);
        _forwarder?.Dispose();
    }

    private static bool Authorize(HttpContext context, byte[] expected)
    {
        var fromQuery = false;
        string? presented = context.Request.Headers[TokenHeader];
        if (string.IsNullOrEmpty(presented))
        {
            presented = context.Request.Query[TokenQuery];
            fromQuery = !string.IsNullOrEmpty(presented);
        }

        if (string.IsNullOrEmpty(presented))
        {
            presented = context.Request.Cookies[TokenCookie];
        }

        if (string.IsNullOrEmpty(presented))
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return false;
        }

        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), expected))
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return false;
        }

        if (fromQuery)
        {
            // lets a browser fetch the page's own assets after opening ?token=… once
            context.Response.Cookies.Append(TokenCookie, presented, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Lax, Path = "/" });
        }

        return true;
    }

    private static async Task ServeFileAsync(HttpContext context, string root)
    {
        var request = context.Request;
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            context.Response.Headers.Allow = "GET, HEAD";
            return;
        }

        var requestPath = request.Path.Value ?? "/";
        var relative = requestPath.TrimStart('/');
        if (relative.Length == 0 || relative.EndsWith('/'))
        {
            relative += "index.html";
        }

        var full = LocalSandboxPaths.Resolve(root, relative);
        if (full is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (Directory.Exists(full))
        {
            // like every static server: "/docs" → "/docs/" so relative links work; no listing either way
            context.Response.StatusCode = File.Exists(Path.Combine(full, "index.html"))
                ? StatusCodes.Status301MovedPermanently
                : StatusCodes.Status404NotFound;
            if (context.Response.StatusCode == StatusCodes.Status301MovedPermanently)
            {
                context.Response.Headers.Location = request.PathBase + requestPath + "/" + request.QueryString;
            }

            return;
        }

        var file = new FileInfo(full);
        if (!file.Exists || file.LinkTarget is not null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (!ContentTypes.TryGetContentType(full, out var contentType))
        {
            contentType = "application/octet-stream";
        }
        else if (contentType.StartsWith("text/", StringComparison.Ordinal))
        {
            contentType += "; charset=utf-8";
        }

        Stream stream;
        try
        {
            stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.Asynchronous);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        await using (stream.ConfigureAwait(false))
        {
            context.Response.ContentType = contentType;
            context.Response.ContentLength = stream.Length;
            context.Response.Headers.CacheControl = "no-cache";
            context.Response.Headers.XContentTypeOptions = "nosniff";
            if (HttpMethods.IsGet(request.Method))
            {
                await stream.CopyToAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
            }
        }
    }

    private static async Task ForwardAsync(HttpContext context, HttpMessageInvoker forwarder, string destination)
    {
        var proxy = context.RequestServices.GetRequiredService<IHttpForwarder>();
        var error = await proxy.SendAsync(context, destination, forwarder, ForwarderRequestConfig.Empty, FrontTransformer.Instance).ConfigureAwait(false);
        if (error is ForwarderError.Request && !context.Response.HasStarted)
        {
            // The dev server does not take connections (starting, restarting, or gone while the sandbox is replaced):
            // "try again", which the gateway treats like a refused connection, rather than a bad gateway.
            context.Features.Set<IForwarderErrorFeature>(null);
            context.Response.Clear();
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = "1";
            context.Response.Headers[UnavailableHeader] = "1";
        }
    }

    /// <summary>Set on the front's own 503 when the dev server behind it does not answer.</summary>
    public const string UnavailableHeader = "X-Midori-Sandbox-Unavailable";

    /// <summary>YARP's default copy, minus the front's own token (header and cookie); the browser's Host kept for the dev server.</summary>
    private sealed class FrontTransformer : HttpTransformer
    {
        public static readonly FrontTransformer Instance = new();

        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix,
            CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
            proxyRequest.Headers.Remove(TokenHeader);
            proxyRequest.Headers.Host = httpContext.Request.Host.Value;
            if (httpContext.Request.Cookies.ContainsKey(TokenCookie))
            {
                // filtered as sent (the parsed collection unescapes values)
                proxyRequest.Headers.Remove("Cookie");
                var kept = string.Join("; ", httpContext.Request.Headers.Cookie.SelectMany(c => (c ?? string.Empty).Split(';'))
                    .Select(c => c.Trim()).Where(c => c.Length > 0 && !c.StartsWith(TokenCookie + "=", StringComparison.Ordinal)));
                if (kept.Length > 0)
                {
                    proxyRequest.Headers.TryAddWithoutValidation("Cookie", kept);
                }
            }
        }
    }
}
