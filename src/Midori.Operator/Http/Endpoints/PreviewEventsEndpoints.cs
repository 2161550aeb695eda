using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Http.Problems;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;
using Midori.Operator.Runtime;

namespace Midori.Operator.Http.Endpoints;

/// <summary>
/// <c>GET /api/v1/namespaces/{ns}/previews/{name}/events</c>: server-sent events (<c>text/event-stream</c>) of one
/// preview, with the same bearer authentication, namespace check (verb <c>get</c>) and rate limit as the other routes.
/// <list type="bullet">
/// <item><c>event: status</c>, <c>id: &lt;resourceVersion&gt;</c>: phase, ready, sandboxId, previewUrl, expiresAt,
/// idleDeadline, recreations, lastRecreation, conditions and the status <c>document</c> of GET. Sent on connect and
/// whenever one of those changes (heartbeat-only updates are not sent).</item>
/// <item><c>event: progress</c>: <c>{step: creating|transferring|updating|complete, percentage, message, recreating}</c>
/// while a sandbox is (re)created; <c>event: recreation</c>: <c>{step: started|completed|failed, reason,
/// oldSandboxId, newSandboxId, error}</c>.</item>
/// <item><c>event: expiry-warning</c>: <c>{cut: Idle|TTL, cutAt, remainingSeconds, outcome: pause|delete, message}</c>
/// once per cut, <c>spec.lifecycle.expiryWarningSeconds</c> before it (the leader's reconciler raises it, relayed like
/// progress).</item>
/// <item><c>event: deleted</c> when the resource is gone; the stream then ends.</item>
/// <item>A comment line (<c>: keep-alive</c>) every <see cref="PreviewEventsOptions.KeepAliveInterval"/> so proxies keep
/// an idle stream open; <c>retry:</c> tells EventSource how soon to reconnect.</item>
/// </list>
/// Resume: a reconnect with <c>Last-Event-ID</c> gets the current status unless that id is already the current
/// resourceVersion, then the latest progress event when the preview is still being (re)created and the client has
/// not seen it. Intermediate status versions are not replayed (the state is level-based; the newest one is what counts).
/// A client that cannot keep up is disconnected and resumes the same way.
/// </summary>
public static class PreviewEventsEndpoints
{
    public const string ContentType = "text/event-stream";
    public const string OperationId = "PreviewEvents";

    /// <summary>Maps <c>/{name}/events</c> onto the previews group (inheriting its auth, namespace filter and rate limit).</summary>
    public static RouteHandlerBuilder MapPreviewEvents(this RouteGroupBuilder previews) =>
        previews.MapGet("/{name}/events", StreamAsync)
            .WithMetadata(ApiVerb.Get)
            .WithName(OperationId)
            .Produces(StatusCodes.Status200OK, contentType: ContentType);

    internal static async Task<Results<EmptyHttpResult, ApiProblem<Status.BadRequest, Status.NotFound>>> StreamAsync(
        string ns, string name, HttpContext http, PreviewSandboxCache cache, PreviewEventHub hub, IOptionsMonitor<PreviewEventsOptions> options,
        TimeProvider time, IHostApplicationLifetime lifetime, ILogger<PreviewEventHub> logger)
    {
        if (MidoriApiEndpoints.ValidateName(name) is { } invalid)
        {
            return new ApiProblem<Status.BadRequest, Status.NotFound>(invalid);
        }

        var key = new PreviewKey(ns, name);

        // Subscribe before reading the current state, so no change can fall between the two.
        using var connection = hub.Connect(key);
        var resource = await cache.GetAsync(key, http.RequestAborted).ConfigureAwait(false);
        if (resource is null)
        {
            return new ApiProblem<Status.BadRequest, Status.NotFound>(ServiceError.NotFound($"preview {key} does not exist"));
        }

        var settings = options.CurrentValue;
        var lastEventId = http.Request.Headers["Last-Event-ID"].ToString();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
        var cancellationToken = stop.Token;

        var response = http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ContentType;
        response.Headers.CacheControl = "no-cache, no-transform";
        response.Headers["X-Accel-Buffering"] = "no"; // nginx: do not buffer the stream
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        logger.EventStreamOpened(ns, name, lastEventId.Length == 0 ? null : lastEventId);

        // Armed before anything is written, so the first keep-alive is due one interval after the stream opened.
        using var keepAlive = new PeriodicTimer(settings.KeepAliveInterval, time);
        var why = "client left";
        try
        {
            await response.WriteAsync($"retry: {settings.RetryMilliseconds}\n\n", cancellationToken).ConfigureAwait(false);
            var current = hub.StatusEvent(resource);
            var lastSignature = current.Signature;
            if (!string.Equals(lastEventId, current.Id, StringComparison.Ordinal))
            {
                await WriteAsync(response, current, cancellationToken).ConfigureAwait(false);
            }

            if (IsProvisioning(resource) && hub.LastProgress(key) is { } progress && !string.Equals(lastEventId, progress.Id, StringComparison.Ordinal))
            {
                await WriteAsync(response, progress, cancellationToken).ConfigureAwait(false);
            }

            await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
            why = await PumpAsync(response, connection, keepAlive, lastSignature, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            why = http.RequestAborted.IsCancellationRequested ? "client left" : "server stopping";
        }
        catch (IOException)
        {
            why = "client connection broke";
        }

        logger.EventStreamClosed(ns, name, why);
        return TypedResults.Empty;
    }

    /// <summary>Writes events as they come, and a keep-alive comment at every tick of <paramref name="timer"/>.</summary>
    private static async Task<string> PumpAsync(HttpResponse response, PreviewEventConnection connection, PeriodicTimer timer,
        string? lastSignature, CancellationToken cancellationToken)
    {
        Task<bool>? readable = null;
        Task<bool>? tick = null;
        while (true)
        {
            readable ??= connection.Reader.WaitToReadAsync(cancellationToken).AsTask();
            tick ??= timer.WaitForNextTickAsync(cancellationToken).AsTask();
            if (await Task.WhenAny(readable, tick).ConfigureAwait(false) == tick)
            {
                await tick.ConfigureAwait(false);
                tick = null;
                await response.WriteAsync(": keep-alive\n\n", cancellationToken).ConfigureAwait(false);
                await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (!await readable.ConfigureAwait(false))
            {
                return connection.WasDropped ? "dropped: the client read too slowly" : "server stopping";
            }

            readable = null;
            while (connection.Reader.TryRead(out var preview))
            {
                if (preview.Type == PreviewEventTypes.Status)
                {
                    if (string.Equals(preview.Signature, lastSignature, StringComparison.Ordinal))
                    {
                        continue; // e.g. only the heartbeat annotation or activity time moved
                    }

                    lastSignature = preview.Signature;
                }

                await WriteAsync(response, preview, cancellationToken).ConfigureAwait(false);
                if (preview.Type == PreviewEventTypes.Deleted)
                {
                    await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
                    return "preview deleted";
                }
            }

            await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static bool IsProvisioning(V1Alpha1PreviewSandbox resource) =>
        resource.Status?.Phase is null or Phases.Pending or Phases.Creating or Phases.Recreating;

    private static Task WriteAsync(HttpResponse response, PreviewEvent preview, CancellationToken cancellationToken) =>
        response.WriteAsync($"id: {preview.Id}\nevent: {preview.Type}\ndata: {preview.Data}\n\n", cancellationToken);
}
