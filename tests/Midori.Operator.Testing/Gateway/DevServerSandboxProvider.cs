using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Midori.Operator.Providers;
using Midori.Operator.Files;

namespace Midori.Operator.Testing.Gateway;

/// <summary>
/// A provider whose sandboxes are real loopback HTTP servers behaving like a dev server: the uploaded files, a
/// WebSocket echo (<c>/ws</c>), a streamed response (<c>/stream</c>), an upload digest (<c>/upload</c>), redirects
/// (<c>/redirect-absolute</c>, <c>/redirect-root</c>), a cookie (<c>/cookie</c>) and the request headers as JSON
/// (<c>/headers</c>). Every request must carry the sandbox's token in <see cref="TokenHeader"/>, as the local
/// provider's do. Deleting a sandbox stops its server, so a replacement is a real change of backend.
/// </summary>
public sealed class DevServerSandboxProvider(string name = "local") : ISandboxProvider, IAsyncDisposable
{
    public const string TokenHeader = "X-Midori-Preview-Token";

    private readonly ConcurrentDictionary<string, DevServer> _servers = new();
    private int _next;

    public string Name { get; } = name;

    /// <summary>Extra time a create takes (a slow wake).</summary>
    public TimeSpan CreateDelay { get; set; }

    public int Creates => Volatile.Read(ref _next);

    public IReadOnlyCollection<string> Running => [.. _servers.Keys];

    public async Task<SandboxInfo> CreateAsync(SandboxCreateRequest request, CancellationToken cancellationToken)
    {
        if (CreateDelay > TimeSpan.Zero)
        {
            await Task.Delay(CreateDelay, cancellationToken);
        }

        var id = $"dev-{Interlocked.Increment(ref _next)}-{request.OwnerUid[..8]}";
        var server = await DevServer.StartAsync(id, request.OwnerUid, Convert.ToHexString(RandomNumberGenerator.GetBytes(16)), cancellationToken);
        _servers[id] = server;
        return server.Info;
    }

    public Task<SandboxInfo?> GetAsync(string sandboxId, CancellationToken cancellationToken) =>
        Task.FromResult(_servers.TryGetValue(sandboxId, out var s) ? s.Info : null);

    public Task<IReadOnlyList<SandboxInfo>> ListAsync(string? ownerUid, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<SandboxInfo>>([.. _servers.Values.Where(s => ownerUid is null || s.Info.OwnerUid == ownerUid).Select(s => s.Info)]);

    public Task UploadFilesAsync(string sandboxId, IReadOnlyList<SandboxFile> files, CancellationToken cancellationToken)
    {
        var server = _servers[sandboxId];
        foreach (var file in files)
        {
            server.Files[file.Path] = file.Content;
        }

        return Task.CompletedTask;
    }

    public Task DeleteFilesAsync(string sandboxId, IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        foreach (var path in paths)
        {
            _servers[sandboxId].Files.TryRemove(path, out _);
        }

        return Task.CompletedTask;
    }

    public Task StartAsync(string sandboxId, SandboxStartRequest request, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<PreviewEndpoint> GetPreviewAsync(string sandboxId, int port, CancellationToken cancellationToken)
    {
        var server = _servers[sandboxId];
        return Task.FromResult(new PreviewEndpoint(server.Url, server.Token));
    }

    public Task<DateTimeOffset?> ExtendAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken) => Task.FromResult<DateTimeOffset?>(null);

    /// <summary>A real HTTP server per sandbox for gateway tests; lifecycle tiers are exercised on the other fakes.</summary>
    public SandboxCapabilities Capabilities => SandboxCapabilities.None;

    public Task<bool> PauseAsync(string sandboxId, CancellationToken cancellationToken) => throw Unsupported("pause");

    public Task<SandboxInfo?> ResumeAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken) => throw Unsupported("resume");

    public Task<bool> ArchiveAsync(string sandboxId, CancellationToken cancellationToken) => throw Unsupported("archive");

    public Task<IReadOnlyDictionary<string, string>?> GetFileManifestAsync(string sandboxId, CancellationToken cancellationToken) => throw Unsupported("read a file manifest");

    private SandboxProviderException Unsupported(string what) => new(Name, $"the gateway test provider cannot {what}", isTransient: false);

    public async Task DeleteAsync(string sandboxId, CancellationToken cancellationToken)
    {
        if (_servers.TryRemove(sandboxId, out var server))
        {
            await server.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var id in _servers.Keys.ToList())
        {
            await DeleteAsync(id, CancellationToken.None);
        }
    }

    private sealed class DevServer : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private DevServer(WebApplication app, SandboxInfo info, string token, Uri url)
        {
            _app = app;
            Info = info;
            Token = token;
            Url = url;
        }

        public SandboxInfo Info { get; }

        public string Token { get; }

        public Uri Url { get; }

        public ConcurrentDictionary<string, byte[]> Files { get; } = new(StringComparer.Ordinal);

        public static async Task<DevServer> StartAsync(string id, string owner, string token, CancellationToken cancellationToken)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = null);
            var app = builder.Build();
            DevServer? self = null;
            app.UseWebSockets();
            app.Use(async (context, next) =>
            {
                if (context.Request.Headers[TokenHeader] != token)
                {
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    return;
                }

                context.Response.Headers["X-Sandbox-Id"] = id;
                await next(context);
            });
            app.Map("/ws", async context =>
            {
                if (!context.WebSockets.IsWebSocketRequest)
                {
                    context.Response.StatusCode = StatusCodes.Status400BadRequest;
                    return;
                }

                using var socket = await context.WebSockets.AcceptWebSocketAsync();
                var buffer = new byte[16 * 1024];
                while (socket.State == WebSocketState.Open)
                {
                    var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
                    if (received.MessageType == WebSocketMessageType.Close)
                    {
                        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                        break;
                    }

                    await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, context.RequestAborted);
                }
            });
            app.MapGet("/stream", async context =>
            {
                context.Response.ContentType = "text/plain";
                var count = int.TryParse(context.Request.Query["n"], out var n) ? n : 5;
                for (var i = 0; i < count; i++)
                {
                    await context.Response.WriteAsync($"chunk {i}\n");
                    await context.Response.Body.FlushAsync();
                }
            });
            app.MapPost("/upload", async context =>
            {
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[64 * 1024];
                long total = 0;
                int read;
                while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
                {
                    sha.AppendData(buffer, 0, read);
                    total += read;
                }

                await context.Response.WriteAsJsonAsync(new { bytes = total, sha256 = Convert.ToHexString(sha.GetHashAndReset()) });
            });
            app.MapGet("/redirect-absolute", context =>
            {
                context.Response.Redirect($"{context.Request.Scheme}://{context.Request.Host}/target?x=1");
                return Task.CompletedTask;
            });
            app.MapGet("/redirect-root", context =>
            {
                context.Response.Redirect("/target");
                return Task.CompletedTask;
            });
            app.MapGet("/cookie", context =>
            {
                context.Response.Headers.Append("Set-Cookie", "app=1; Path=/; Domain=127.0.0.1; HttpOnly");
                context.Response.Headers.Append("Set-Cookie", "midori_preview=evil; Path=/");
                return Task.CompletedTask;
            });
            app.MapGet("/headers", context => context.Response.WriteAsync(JsonSerializer.Serialize(
                context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase))));
            app.MapFallback(async context =>
            {
                var path = context.Request.Path.Value!.TrimStart('/');
                if (path.Length == 0 || path.EndsWith('/'))
                {
                    path += "index.html";
                }

                if (self!.Files.TryGetValue(path, out var content))
                {
                    context.Response.ContentType = path.EndsWith(".html", StringComparison.Ordinal) ? "text/html; charset=utf-8" : "application/octet-stream";
                    await context.Response.Body.WriteAsync(content);
                    return;
                }

                context.Response.StatusCode = StatusCodes.Status404NotFound;
            });
            await app.StartAsync(cancellationToken);
            var url = new Uri(app.Urls.First() + "/");
            self = new DevServer(app, new SandboxInfo(id, owner, SandboxState.Running, DateTimeOffset.UtcNow, null), token, url);
            return self;
        }

        public async ValueTask DisposeAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _app.StopAsync(timeout.Token);
            await _app.DisposeAsync();
        }
    }
}
