using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Http;
using Midori.Operator.Http.Endpoints;
using Midori.Operator.Http.Problems;
using Midori.Operator.Http.Services;
using Midori.Operator.Kubernetes;
using Midori.Operator.Persistence;
using Yarp.ReverseProxy.Forwarder;
using Midori.Operator.Runtime;

namespace Midori.Operator.Gateway;

/// <summary>
/// The preview gateway: every request for a preview's stable URL (host or path form) is authorized by a signed token
/// (a link's <c>?token=</c>, exchanged for an HttpOnly cookie scoped to that preview), held while the preview wakes or
/// is recreated, and forwarded with YARP's <see cref="IHttpForwarder"/> to the sandbox of exactly that resource
/// (the token names the resource's UID, and the sandbox comes from that same object's status). Runs before the API's
/// middleware on every replica, from the shared view of the resources; no request needs the leader.
/// </summary>
public sealed class PreviewGatewayMiddleware(
    RequestDelegate next,
    PreviewAddressing addressing,
    IPreviewView view,
    GatewayTokens tokens,
    UpstreamCredentials credentials,
    GatewayActivity activity,
    IHttpForwarder forwarder,
    GatewayHttpClient upstream,
    IPreviewSandboxClient client,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider time,
    IProblemDetailsService problems,
    ILogger<PreviewGatewayMiddleware> logger)
{
    public const string CookieName = "midori_preview";
    public const string TokenQuery = "token";

    /// <summary>Under every preview: the status event stream the "starting" page listens to (cookie-authorized).</summary>
    public const string EventsPath = "/__midori/events";

    /// <summary>Between retries on a sandbox that refused while the operator has not noticed yet.</summary>
    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(250);

    public async Task InvokeAsync(HttpContext context)
    {
        if (!addressing.TryMatch(context.Request, out var target))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var settings = options.CurrentValue;
        var request = context.Request;
        if (target!.Form == GatewayForm.Path && target.Remainder.Length == 0)
        {
            // "/p/ns/name" → "/p/ns/name/": relative asset URLs must resolve inside the preview.
            context.Response.StatusCode = request.Method is "GET" or "HEAD" ? StatusCodes.Status301MovedPermanently : StatusCodes.Status308PermanentRedirect;
            context.Response.Headers.Location = target.BasePath + "/" + request.QueryString;
            return;
        }

        var key = target.Key;
        var resource = await view.GetAsync(key, context.RequestAborted).ConfigureAwait(false);

        // ?token= → cookie + redirect to the clean URL, so the token leaves the address bar and history at once.
        if (request.Query.TryGetValue(TokenQuery, out var linkValues))
        {
            var (linked, refusal, _) = await AuthorizeAsync(key, resource, linkValues.ToString(), GatewayTokens.LinkAudience, context.RequestAborted).ConfigureAwait(false);
            if (linked is null)
            {
                await RefuseAsync(context, key, refusal).ConfigureAwait(false);
                return;
            }

            SetSessionCookie(context, target, linked, settings);
            var query = QueryString.Create(request.Query.Where(q => q.Key != TokenQuery));
            context.Response.StatusCode = StatusCodes.Status303SeeOther;
            context.Response.Headers.Location = target.BasePath + target.Remainder + query;
            context.Response.Headers.CacheControl = "no-store";
            return;
        }

        var (current, sessionRefusal, grant) = await AuthorizeAsync(key, resource, request.Cookies[CookieName], GatewayTokens.SessionAudience, context.RequestAborted)
            .ConfigureAwait(false);
        if (current is null)
        {
            await RefuseAsync(context, key, sessionRefusal).ConfigureAwait(false);
            return;
        }

        resource = current;
        if (grant!.ExpiresAt - time.GetUtcNow() < settings.SessionLifetime / 2)
        {
            SetSessionCookie(context, target, resource, settings); // sliding session: renewed once half of it is gone
        }

        if (target.Remainder == EventsPath)
        {
            await StreamEventsAsync(context, key).ConfigureAwait(false);
            return;
        }

        activity.Touch(key, resource);
        await ForwardAsync(context, target, resource, settings).ConfigureAwait(false);
    }

    /// <summary>
    /// A token valid for this preview, checked against the cached object; when the cache disagrees about the UID (a
    /// resource just recreated under the same name) the API server decides, so a fresh link works at once and an old
    /// one never reaches the new resource.
    /// </summary>
    private async ValueTask<(V1Alpha1PreviewSandbox? Resource, TokenRefusal Refusal, PreviewGrant? Grant)> AuthorizeAsync(
        PreviewKey key, V1Alpha1PreviewSandbox? resource, string? token, string audience, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(token))
        {
            return (null, TokenRefusal.Malformed, null);
        }

        PreviewGrant? grant = null;
        var refusal = resource is null ? TokenRefusal.WrongPreview : tokens.Validate(token, audience, resource, out grant);
        if (refusal == TokenRefusal.WrongPreview && tokens.Peek(token, audience, key) is { } claimedUid
            && claimedUid != resource?.Metadata.Uid)
        {
            try
            {
                var fresh = await client.GetAsync(key.Namespace, key.Name, cancellationToken).ConfigureAwait(false);
                if (fresh is not null)
                {
                    refusal = tokens.Validate(token, audience, fresh, out grant);
                    resource = fresh;
                }
            }
            catch (Exception ex) when (ex is k8s.Autorest.HttpOperationException or HttpRequestException)
            {
                // The API server is unreachable: the cache's answer stands.
            }
        }

        return refusal == TokenRefusal.None ? (resource, refusal, grant) : (null, refusal, null);
    }

    private void SetSessionCookie(HttpContext context, GatewayTarget target, V1Alpha1PreviewSandbox resource, GatewayOptions settings)
    {
        var (session, expires) = tokens.Mint(resource, GatewayTokens.SessionAudience, settings.SessionLifetime);
        var secure = context.Request.IsHttps || string.Equals(context.Request.Headers["X-Forwarded-Proto"], "https", StringComparison.OrdinalIgnoreCase);
        var cookie = new CookieOptions
        {
            HttpOnly = true,
            Path = target.CookiePath,
            Expires = expires,
            IsEssential = true,
            Secure = secure,

            // The editor shows the preview in an iframe on its own origin (a third-party context): that needs
            // SameSite=None, which browsers accept only with Secure; Partitioned keeps it working where third-party
            // cookies are blocked. Plain http (development) falls back to Lax.
            SameSite = secure ? SameSiteMode.None : SameSiteMode.Lax,
        };
        if (secure)
        {
            cookie.Extensions.Add("Partitioned");
        }

        context.Response.Cookies.Append(CookieName, session, cookie);
    }

    private async Task ForwardAsync(HttpContext context, GatewayTarget target, V1Alpha1PreviewSandbox resource, GatewayOptions settings)
    {
        var request = context.Request;
        var navigation = IsNavigation(request);
        var started = time.GetTimestamp();
        var hold = settings.HoldTimeout;
        var uid = resource.Metadata.Uid;

        // Replayable: no body, or one small enough to buffer for a second attempt. A bigger body (or an upgrade) can
        // be sent once only, so it is held back while a replacement is known to be coming, and a refused attempt is
        // retried only if not one byte of the body was read.
        var hasBody = HasBody(request);
        var replayable = !hasBody || request.ContentLength is { } length && length <= settings.RetryBufferBytes;
        ReadTrackingStream? tracked = null;
        if (hasBody && replayable)
        {
            request.EnableBuffering(bufferThreshold: 64 * 1024, bufferLimit: settings.RetryBufferBytes);
        }
        else if (hasBody)
        {
            request.Body = tracked = new ReadTrackingStream(request.Body);
        }

        var guarded = !replayable || request.Headers.Upgrade.Count > 0;
        string? refusedSandbox = null;
        var woke = false;
        while (true)
        {
            if (!Servable(resource, uid) || refusedSandbox is not null || guarded && ReplacementPending(resource))
            {
                if (Phases.WakesOnActivity(resource.Status?.Phase) && !woke && refusedSandbox is null)
                {
                    woke = true;
                    logger.GatewayWoke(target.Key.Namespace, target.Key.Name);
                    await activity.WakeAsync(target.Key, context.RequestAborted).ConfigureAwait(false);
                }

                if (Final(resource) is { } final)
                {
                    await UnavailableAsync(context, target, resource, final, navigation: false).ConfigureAwait(false);
                    return;
                }

                // Navigations wait briefly and then get the "starting" page; everything else waits up to the hold.
                var limit = (navigation ? settings.PageHoldTimeout : hold) - time.GetElapsedTime(started);
                if (limit <= TimeSpan.Zero)
                {
                    logger.GatewayHoldExpired(target.Key.Namespace, target.Key.Name, navigation ? settings.PageHoldTimeout : hold, resource.Status?.Phase);
                    await UnavailableAsync(context, target, resource, null, navigation).ConfigureAwait(false);
                    return;
                }

                var failed = refusedSandbox;
                var wait = failed is null ? limit : Min(limit, RetryPause);
                var (latest, _) = await view.WaitForAsync(target.Key,
                    r => r is null || r.Metadata.Uid != uid || Final(r) is not null
                        || Servable(r, uid) && (failed is null || r.Status!.SandboxId != failed) && !(guarded && ReplacementPending(r)),
                    wait, context.RequestAborted).ConfigureAwait(false);
                if (latest is null || latest.Metadata.Uid != uid)
                {
                    await RefuseAsync(context, target.Key, TokenRefusal.WrongPreview).ConfigureAwait(false);
                    return;
                }

                // A new sandbox, the same one still published (try it again: it may be back), or not servable (wait on).
                resource = latest;
                refusedSandbox = null;
                continue;
            }

            if (request.Body.CanSeek)
            {
                request.Body.Position = 0;
            }

            var status = resource.Status!;
            var sandbox = Destination(status.SandboxUrl!);
            var token = await credentials.GetAsync(resource, context.RequestAborted).ConfigureAwait(false);
            var transformer = new PreviewTransformer(target, sandbox.Uri, UpstreamCredentials.HeaderFor(status.Provider), token, resource, credentials);
            var error = await forwarder.SendAsync(context, sandbox.Prefix, upstream.Invoker, RequestConfig(settings), transformer).ConfigureAwait(false);
            if (error == ForwarderError.None && !transformer.SandboxUnavailable)
            {
                return;
            }

            // Refused: the sandbox did not take the request (gone, being replaced, restarting, or its front says the
            // dev server is down) and nothing of the answer went out yet.
            var refused = (error is ForwarderError.Request or ForwarderError.UpgradeRequestDestination || transformer.SandboxUnavailable)
                && !context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested;
            var resendable = replayable || tracked is { Touched: false };
            if (refused && resendable && time.GetElapsedTime(started) < hold)
            {
                logger.GatewayUpstreamRetry(target.Key.Namespace, target.Key.Name, error.ToString(), status.SandboxId);
                context.Response.Clear();
                context.Features.Set<IForwarderErrorFeature>(null);
                refusedSandbox = status.SandboxId;
                credentials.Forget(uid);
                continue;
            }

            if ((refused || error is ForwarderError.RequestBodyDestination or ForwarderError.ResponseHeaders)
                && !context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
            {
                // Out of hold, or a body already partly sent that cannot be sent again: "try again", never a bad gateway.
                logger.GatewayUpstreamUnavailable(target.Key.Namespace, target.Key.Name, error.ToString(), resendable);
                context.Response.Clear();
                context.Features.Set<IForwarderErrorFeature>(null);
                await UnavailableAsync(context, target, resource, null, navigation).ConfigureAwait(false);
                return;
            }

            if (error != ForwarderError.None)
            {
                logger.GatewayUpstreamFailed(context.Features.Get<IForwarderErrorFeature>()?.Exception, target.Key.Namespace, target.Key.Name, error.ToString());
            }

            return;
        }
    }

    /// <summary>The recreate annotation asks for a new sandbox the reconciler has not taken up yet: the current one is about to go.</summary>
    internal static bool ReplacementPending(V1Alpha1PreviewSandbox resource) =>
        resource.Metadata.Annotations?.TryGetValue(GroupVersion.RecreateAnnotation, out var request) == true && !string.IsNullOrWhiteSpace(request)
        && !string.Equals(request, resource.Status?.ObservedRecreateRequest, StringComparison.Ordinal);

    /// <summary>Parsed once per sandbox URL (the last one is kept: previews rarely change sandbox between requests).</summary>
    private static SandboxDestination Destination(string url)
    {
        var last = _lastDestination;
        if (last is not null && string.Equals(last.Url, url, StringComparison.Ordinal))
        {
            return last;
        }

        var uri = new Uri(url);
        return _lastDestination = new SandboxDestination(url, uri, uri.GetLeftPart(UriPartial.Path));
    }

    private static SandboxDestination? _lastDestination;

    private ForwarderRequestConfig RequestConfig(GatewayOptions settings)
    {
        var config = _requestConfig;
        if (config is null || config.ActivityTimeout != settings.UpstreamTimeout)
        {
            _requestConfig = config = new ForwarderRequestConfig { ActivityTimeout = settings.UpstreamTimeout };
        }

        return config;
    }

    private ForwarderRequestConfig? _requestConfig;

    private sealed record SandboxDestination(string Url, Uri Uri, string Prefix);

    /// <summary>Ready, Running and with a sandbox URL, and still the same resource (UID).</summary>
    internal static bool Servable(V1Alpha1PreviewSandbox? resource, string uid) =>
        resource is not null && resource.Metadata.Uid == uid && PreviewStatusMapper.IsReady(resource) && resource.Status!.SandboxUrl is { Length: > 0 };

    /// <summary>States no wait ends: stopped on purpose, or failed for good.</summary>
    private static string? Final(V1Alpha1PreviewSandbox resource) => resource.Status?.Phase switch
    {
        Phases.Stopped => "The preview is stopped. Start it again from the editor.",
        Phases.Failed => resource.Status.Conditions?.FirstOrDefault(c => c.Type == PreviewSandboxConditions.Ready)?.Message ?? "The preview failed.",
        _ => resource.Spec.IsSuspended() ? "The preview is stopped. Start it again from the editor." : null,
    };

    private async Task UnavailableAsync(HttpContext context, GatewayTarget target, V1Alpha1PreviewSandbox resource, string? final, bool navigation)
    {
        var response = context.Response;
        var retryAfter = final is null ? 2 : 30;
        response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
        response.Headers.CacheControl = "no-store";
        if (final is null && navigation)
        {
            response.ContentType = "text/html; charset=utf-8";
            await response.WriteAsync(GatewayPages.Starting(target.BasePath + EventsPath, resource.Status?.Phase, retryAfter), context.RequestAborted)
                .ConfigureAwait(false);
            return;
        }

        if (final is not null && AcceptsHtml(context.Request))
        {
            response.ContentType = "text/html; charset=utf-8";
            await response.WriteAsync(GatewayPages.Refused("Preview unavailable", final), context.RequestAborted).ConfigureAwait(false);
            return;
        }

        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails =
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = final is null ? "Preview starting" : "Preview unavailable",
                Detail = final ?? $"preview {target.Key} is {resource.Status?.Phase?.ToLowerInvariant() ?? "starting"}; retry in {retryAfter} s",
                Extensions = { ["phase"] = resource.Status?.Phase },
            },
        }).ConfigureAwait(false);
    }

    private async Task RefuseAsync(HttpContext context, PreviewKey key, TokenRefusal refusal)
    {
        logger.GatewayRefused(key.Namespace, key.Name, refusal.ToString());
        var detail = refusal switch
        {
            TokenRefusal.Expired => "This preview link has expired.",
            TokenRefusal.Malformed when context.Request.Query.ContainsKey(TokenQuery) => "This preview link is not valid.",
            TokenRefusal.Malformed => "Opening this preview needs a link from the editor.",
            _ => "This preview link is not valid for this preview.",
        };
        var response = context.Response;
        response.Headers.CacheControl = "no-store";
        response.Headers.WWWAuthenticate = "MidoriPreview";
        if (AcceptsHtml(context.Request))
        {
            response.StatusCode = StatusCodes.Status401Unauthorized;
            response.ContentType = "text/html; charset=utf-8";
            await response.WriteAsync(GatewayPages.Refused("Link expired or not valid", detail), context.RequestAborted).ConfigureAwait(false);
            return;
        }

        await ApiProblems.WriteAsync(context, ApiProblems.ToProblemDetails(ServiceError.Unauthenticated(detail))).ConfigureAwait(false);
    }

    private static async Task StreamEventsAsync(HttpContext context, PreviewKey key)
    {
        var services = context.RequestServices;
        var result = await PreviewEventsEndpoints.StreamAsync(key.Namespace, key.Name, context,
            services.GetRequiredService<PreviewSandboxCache>(), services.GetRequiredService<PreviewEventHub>(),
            services.GetRequiredService<IOptionsMonitor<PreviewEventsOptions>>(), services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<IHostApplicationLifetime>(), services.GetRequiredService<ILogger<PreviewEventHub>>()).ConfigureAwait(false);
        await ((IResult)result.Result).ExecuteAsync(context).ConfigureAwait(false);
    }

    private static bool HasBody(HttpRequest request) =>
        request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0;

    private static bool AcceptsHtml(HttpRequest request) =>
        request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase);

    /// <summary>A browser loading a page (not an asset, fetch or WebSocket): it gets the "starting" page rather than a long wait.</summary>
    internal static bool IsNavigation(HttpRequest request) =>
        request.Method is "GET" or "HEAD"
        && request.Headers.Upgrade.Count == 0
        && (request.Headers["Sec-Fetch-Mode"] is { Count: > 0 } mode ? mode == "navigate" : AcceptsHtml(request));

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}

/// <summary>The one upstream client of the gateway (YARP's recommended handler settings: no proxy, redirects, cookies or decompression).</summary>
public sealed class GatewayHttpClient : IDisposable
{
    public GatewayHttpClient()
    {
        Invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
            ConnectTimeout = TimeSpan.FromSeconds(15),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
        });
    }

    public HttpMessageInvoker Invoker { get; }

    public void Dispose() => Invoker.Dispose();
}

/// <summary>Notes whether any byte of a request body was read, i.e. whether a refused attempt may be sent again as is.</summary>
internal sealed class ReadTrackingStream(Stream inner) : Stream
{
    public bool Touched { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        Touched = true;
        return inner.Read(buffer, offset, count);
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Touched = true;
        return inner.ReadAsync(buffer, cancellationToken);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
