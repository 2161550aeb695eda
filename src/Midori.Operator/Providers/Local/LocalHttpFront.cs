using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.StaticFiles;
using Yarp.ReverseProxy.Forwarder;

namespace Midori.Operator.Providers.Local;

/// <summary>
/// A minimal Kestrel app per sandbox on <c>BindAddress:0</c>. It either serves the project directory as static files
/// (no directory listing, never outside the directory) or forwards to a dev server on an inner port. When a token is
/// required it checks <c>X-Midori-Preview-Token</c>, <c>?token=</c> or the cookie it sets after a valid <c>?token=</c>.
/// </summary>
internal sealed class LocalHttpFront : IAsyncDisposable
{
    public const string TokenHeader = "X-Midori-Preview-Token";
    public const string TokenQuery = "token";
    public const string TokenCookie = "midori_preview_token";

    private static readonly FileExtensionContentTypeProvider ContentTypes = new();
    private readonly WebApplication _app;
    private readonly HttpMessageInvoker? _forwarder;

    private LocalHttpFront(WebApplication app, HttpMessageInvoker? forwarder, int port)
    {
        _app = app;
        _forwarder = forwarder;
        Port = port;
    }

    public int Port { get; }

    /// <summary>Serves <paramref name="projectDirectory"/> as static files.</summary>
    public static Task<LocalHttpFront> StartStaticAsync(
        string projectDirectory, IPAddress bindAddress, string? requiredToken, CancellationToken cancellationToken)
    {
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(projectDirectory));
        return StartAsync(bindAddress, requiredToken, null, context => ServeFileAsync(context, root), cancellationToken);
    }

    /// <summary>
    /// Forwards every request, WebSocket upgrades (hot module reload) and streamed bodies included, to
    /// <c>http://{upstream}/</c> with YARP's forwarder; the token header and cookie stay here.
    /// </summary>
    public static Task<LocalHttpFront> StartForwarderAsync(
        IPEndPoint upstream, IPAddress bindAddress, string? requiredToken, CancellationToken cancellationToken)
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
        return StartAsync(bindAddress, requiredToken, forwarder, context => ForwardAsync(context, forwarder, destination), cancellationToken);
    }

    private static async Task<LocalHttpFront> StartAsync(
        IPAddress bindAddress,
        string? requiredToken,
        HttpMessageInvoker? forwarder,
        RequestDelegate handler,
        CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        if (forwarder is not null)
        {
            builder.Services.AddLogging();
            builder.Services.AddHttpForwarder();
        }

        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(bindAddress, 0);
        });
        var app = builder.Build();
        var expected = requiredToken is null ? null : Encoding.UTF8.GetBytes(requiredToken);
        app.Run(context => expected is null || Authorize(context, expected) ? handler(context) : Task.CompletedTask);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            forwarder?.Dispose();
            throw;
        }

        var address = app.Urls.First();
        return new LocalHttpFront(app, forwarder, new Uri(address).Port);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // grace period over: DisposeAsync aborts what is left
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync().ConfigureAwait(false);
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
