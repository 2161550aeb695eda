using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Midori.DevApiServer.Storage;
using Midori.DevApiServer.Watch;

namespace Midori.DevApiServer.Http;

/// <summary>
/// Serves <c>?watch=true</c>: HTTP 200, then one JSON event per line, flushed as it happens. The watcher is
/// registered under the store lock right after its initial/replayed events, so no event is missed or duplicated.
/// </summary>
public sealed class WatchStream(ResourceStore store, WatchHub hub, DevKubeApiServerOptions options, RuntimeSwitches switches)
{
    public async Task ServeAsync(HttpContext context, ResourceType type, string? ns, CancellationToken serverStopping)
    {
        var query = context.Request.Query;
        var resourceVersion = query["resourceVersion"].ToString();
        var bookmarks = query["allowWatchBookmarks"] == "true";
        var selector = ParseSelector(query["labelSelector"]);
        long? since = resourceVersion is "" or "0"
            ? null
            : long.TryParse(resourceVersion, out var parsed) ? parsed : throw StatusErrors.BadRequest($"resourceVersion: Invalid value: \"{resourceVersion}\": must be an integer");

        var fields = FieldSelector.Parse(query["fieldSelector"], type);
        Func<JsonObject, bool, JsonObject>? render = TableConverter.Wants(context.Request.Headers.Accept.ToString())
            ? (obj, first) => TableConverter.Render(type, [obj], ObjectMeta.ResourceVersion(obj) ?? string.Empty, options.TimeProvider.GetUtcNow(), withColumns: first)
            : null;
        var watcher = new Watcher(type, ns, selector, options.WatcherBufferCapacity, fields, render);
        lock (store.Sync)
        {
            Start(watcher, since);
            if (!watcher.IsClosed)
            {
                hub.Add(watcher);
                if (bookmarks)
                {
                    watcher.DeliverBookmark(store.CurrentResourceVersion);
                }
            }
        }

        using var timeout = CreateTimeout(query["timeoutSeconds"]);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, serverStopping, timeout.Token);
        var bookmarkLoop = bookmarks ? SendBookmarksAsync(watcher, stop.Token) : Task.CompletedTask;
        try
        {
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/json";
            await context.Response.StartAsync(stop.Token);
            await context.Response.Body.FlushAsync(stop.Token);
            await foreach (var line in watcher.Lines.ReadAllAsync(stop.Token))
            {
                await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"), stop.Token);
                await context.Response.Body.FlushAsync(stop.Token);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Timeout, server shutdown or client gone: end the stream; a client re-watches from its last resourceVersion.
        }
        finally
        {
            lock (store.Sync)
            {
                hub.Remove(watcher);
                watcher.Close();
            }

            await stop.CancelAsync();
            await bookmarkLoop;
        }
    }

    private void Start(Watcher watcher, long? since)
    {
        if (since is null)
        {
            foreach (var obj in store.List(watcher.Type, watcher.Namespace).Where(watcher.Matches))
            {
                watcher.DeliverInitial(obj);
            }

            return;
        }

        var cacheEnabled = switches.WatchCacheEnabled;
        if (store.EventsSince(since.Value, cacheEnabled) is not { } events)
        {
            var message = cacheEnabled
                ? $"too old resource version: {since} ({store.OldestWatchableVersion})"
                : "The resourceVersion for the provided watch is too old.";
            watcher.DeliverError(StatusErrors.Expired(message).Status);
            return;
        }

        foreach (var e in events)
        {
            watcher.Deliver(e);
        }
    }

    private async Task SendBookmarksAsync(Watcher watcher, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(options.BookmarkInterval, options.TimeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                lock (store.Sync)
                {
                    watcher.DeliverBookmark(store.CurrentResourceVersion);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Watch ended.
        }
    }

    private CancellationTokenSource CreateTimeout(string? timeoutSeconds)
        => options.SimulateWatchTimeout && int.TryParse(timeoutSeconds, out var seconds) && seconds > 0
            ? new CancellationTokenSource(TimeSpan.FromSeconds(seconds), options.TimeProvider)
            : new CancellationTokenSource();

    internal static LabelSelector ParseSelector(string? selector)
    {
        try
        {
            return LabelSelector.Parse(selector);
        }
        catch (FormatException ex)
        {
            throw StatusErrors.BadRequest(ex.Message);
        }
    }
}
