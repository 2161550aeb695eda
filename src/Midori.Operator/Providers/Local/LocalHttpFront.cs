using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.StaticFiles;

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
    private static readonly HashSet<string> HopByHopHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Host", TokenHeader,
    };

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

    /// <summary>Forwards every request (no WebSocket upgrades) to <c>http://{upstream}/</c>.</summary>
    public static Task<LocalHttpFront> StartForwarderAsync(
        IPEndPoint upstream, IPAddress bindAddress, string? requiredToken, CancellationToken cancellationToken)
    {
        var forwarder = new HttpMessageInvoker(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
        });
        var baseUri = new UriBuilder(Uri.UriSchemeHttp, upstream.Address.ToString(), upstream.Port).Uri;
        return StartAsync(bindAddress, requiredToken, forwarder, context => ForwardAsync(context, forwarder, baseUri), cancellationToken);
    }

    private static async Task<LocalHttpFront> StartAsync(
        IPAddress bindAddress,
        string? requiredToken,
        HttpMessageInvoker? forwarder,
        RequestDelegate handler,
        CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
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

    private static async Task ForwardAsync(HttpContext context, HttpMessageInvoker forwarder, Uri baseUri)
    {
        var request = context.Request;
        using var outgoing = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(baseUri, request.Path + request.QueryString));
        if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            outgoing.Content = new StreamContent(request.Body);
        }

        foreach (var (name, values) in request.Headers)
        {
            if (HopByHopHeaders.Contains(name) || name.Equals("Cookie", StringComparison.OrdinalIgnoreCase) && ContainsOnlyTokenCookie(request))
            {
                continue;
            }

            if (!outgoing.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
            {
                outgoing.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        outgoing.Headers.Host = request.Host.Value;
        HttpResponseMessage response;
        try
        {
            response = await forwarder.SendAsync(outgoing, context.RequestAborted).ConfigureAwait(false);
        }
        catch (HttpRequestException)
        {
            context.Response.StatusCode = StatusCodes.Status502BadGateway;
            return;
        }

        using (response)
        {
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            {
                if (!HopByHopHeaders.Contains(name))
                {
                    context.Response.Headers[name] = values.ToArray();
                }
            }

            await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static bool ContainsOnlyTokenCookie(HttpRequest request) =>
        request.Cookies.Count == 1 && request.Cookies.ContainsKey(TokenCookie);
}
