using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Midori.Operator.Providers.E2B;
using Midori.Operator.Testing.Contracts;

namespace Midori.Operator.Testing.Fakes.E2B;

/// <summary>
/// A loopback E2B (Kestrel on 127.0.0.1) for behaviour tests, e2e runs and benchmarks. It emulates what a Prism mock
/// cannot: state across calls, end times (a sandbox past <c>endAt</c> is gone: 404, preview 502), the team's maximum
/// length, <c>/timeout</c> vs <c>/refreshes</c> semantics, envd auth, multipart uploads into a per-sandbox file
/// system, processes that outlive their Start call unless it carried <c>Connect-Timeout-Ms</c>, the preview proxy
/// (traffic token, "port is not open"), paging, and scripted faults (429 with Retry-After, 5xx bursts, held requests).
/// Connect RPCs are checked against the official protos (<see cref="ProtoContract"/>); every departure from the
/// protocol is recorded in <see cref="Violations"/>.
/// </summary>
/// <remarks>
/// One port serves three surfaces: the control-plane API (no routing header), envd (requests carrying
/// <c>E2b-Sandbox-Id</c>, as E2B's proxy routes on IP hosts) and previews at <c>/preview/{sandboxId}/{port}/…</c>.
/// </remarks>
public sealed partial class FakeE2BServer : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly Lazy<ProtoContract> Protos = new(() => ProtoContract.Load("e2b-envd-process.proto", "e2b-envd-filesystem.proto"));

    private readonly WebApplication _app;
    private readonly FakeE2BOptions _options;
    private readonly ConcurrentDictionary<string, FakeE2BSandbox> _sandboxes = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<FakeE2BRequest> _requests = new();
    private readonly ConcurrentQueue<string> _violations = new();
    private readonly List<FakeE2BFault> _faults = [];
    private int _nextPid = 100;

    private FakeE2BServer(WebApplication app, FakeE2BOptions options)
    {
        _app = app;
        _options = options;
    }

    public Uri BaseUri { get; private set; } = null!;

    public string ApiKey => _options.ApiKey;

    /// <summary>Preview URL template for the provider's <c>PreviewUrlTemplate</c> option.</summary>
    public string PreviewUrlTemplate => $"{BaseUri}preview/{{sandboxId}}/{{port}}/";

    public IReadOnlyList<FakeE2BRequest> Requests => [.. _requests];

    public IReadOnlyCollection<string> Violations => [.. _violations];

    public IReadOnlyCollection<FakeE2BSandbox> AllSandboxes => [.. _sandboxes.Values];

    /// <summary>Makes a process exit at once when its command line contains the key (exit code, stderr).</summary>
    public ConcurrentDictionary<string, (int ExitCode, string Stderr)> ExitingCommands { get; } = new(StringComparer.Ordinal);

    /// <summary>Settings for <c>Providers:E2B</c> that point the provider at this fake.</summary>
    public IDictionary<string, string?> ProviderSettings(string prefix = "Providers:E2B:") => new Dictionary<string, string?>
    {
        [prefix + "ApiUrl"] = BaseUri.ToString(),
        [prefix + "ApiKey"] = _options.ApiKey,
        [prefix + "EnvdUrl"] = BaseUri.ToString(),
        [prefix + "PreviewUrlTemplate"] = PreviewUrlTemplate,
    };

    public static async Task<FakeE2BServer> StartAsync(FakeE2BOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new FakeE2BOptions();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0);
            k.Limits.MaxRequestBodySize = 512L * 1024 * 1024;
        });
        var app = builder.Build();
        var server = new FakeE2BServer(app, options);
        app.Run(server.HandleAsync);
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseUri = new Uri(address.EndsWith('/') ? address : address + "/");
        return server;
    }

    public FakeE2BSandbox? Sandbox(string id) => _sandboxes.GetValueOrDefault(id);

    /// <summary>Gives a sandbox another id (contract tests pair the fake's envd with ids a mock API made up).</summary>
    public void Adopt(string existingId, string newId)
    {
        var old = _sandboxes[existingId];
        var copy = new FakeE2BSandbox(newId)
        {
            TemplateId = old.TemplateId,
            Metadata = old.Metadata,
            StartedAt = old.StartedAt,
            Secure = old.Secure,
            AllowPublicTraffic = old.AllowPublicTraffic,
            EnvdAccessToken = old.EnvdAccessToken,
            TrafficAccessToken = old.TrafficAccessToken,
            EndAt = old.EndAt,
        };
        _sandboxes.TryRemove(existingId, out _);
        _sandboxes[newId] = copy;
    }

    /// <summary>Scripts a failure for the next matching requests.</summary>
    public FakeE2BFault AddFault(FakeE2BFault fault)
    {
        lock (_faults)
        {
            _faults.Add(fault);
        }

        return fault;
    }

    public int CountRequests(string method, string pathPrefix) =>
        _requests.Count(r => r.Method == method && r.Path.StartsWith(pathPrefix, StringComparison.Ordinal));

    public void ClearRequests() => _requests.Clear();

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _sandboxes.Values.SelectMany(s => s.Processes))
        {
            process.Ended.TrySetResult();
        }

        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private DateTimeOffset Now => _options.Time.GetUtcNow();

    // A paused sandbox is kept however long ago its end time passed (E2B keeps the snapshot until it is resumed or killed).
    private bool IsAlive(FakeE2BSandbox sandbox) => !sandbox.Killed && (sandbox.Paused || Now < sandbox.EndAt);

    /// <summary>Envd and previews answer only while the sandbox runs: paused, its VM is not there.</summary>
    private bool IsRunning(FakeE2BSandbox sandbox) => IsAlive(sandbox) && !sandbox.Paused;

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var surface = request.Path.StartsWithSegments("/preview") ? "preview" : request.Headers.ContainsKey("E2b-Sandbox-Id") ? "envd" : "api";
        var logged = 0;
        void Log(int status)
        {
            if (Interlocked.Exchange(ref logged, 1) == 0)
            {
                _requests.Enqueue(new FakeE2BRequest(surface, request.Method, request.Path.Value + request.QueryString.Value, status, Now,
                    request.Headers.TryGetValue("Connect-Timeout-Ms", out var timeout) ? timeout.ToString() : null, request.ContentLength));
            }
        }

        // Logged when the answer starts, so a stream that stays open (process Start) is visible at once.
        context.Response.OnStarting(() =>
        {
            Log(context.Response.StatusCode);
            return Task.CompletedTask;
        });
        try
        {
            if (_options.Latency > TimeSpan.Zero)
            {
                await Task.Delay(_options.Latency, context.RequestAborted);
            }

            if (TakeFault(request.Method, request.Path.Value ?? "/") is { } fault)
            {
                if (fault.Hold)
                {
                    fault.Held.TrySetResult();
                    try
                    {
                        await Task.Delay(Timeout.Infinite, context.RequestAborted);
                    }
                    catch (OperationCanceledException)
                    {
                        // the client gave up, as intended
                    }

                    return;
                }

                if (fault.RetryAfter is { } retryAfter)
                {
                    context.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                }

                await ErrorAsync(context, fault.Status, fault.Status == 429 ? "Rate limit exceeded" : "injected failure");
                return;
            }

            await (surface switch
            {
                "preview" => PreviewAsync(context),
                "envd" => EnvdAsync(context),
                _ => ApiAsync(context),
            });
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // client went away
        }
        finally
        {
            Log(context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted ? 499 : context.Response.StatusCode);
        }
    }

    private FakeE2BFault? TakeFault(string method, string path)
    {
        lock (_faults)
        {
            var fault = _faults.FirstOrDefault(f => f.Count > 0 && f.Method == method && path.StartsWith(f.PathPrefix, StringComparison.Ordinal));
            if (fault is not null)
            {
                fault.Count--;
            }

            return fault;
        }
    }

    // ---- control plane ----------------------------------------------------------------------------------------

    private async Task ApiAsync(HttpContext context)
    {
        var request = context.Request;
        if (!request.Headers.TryGetValue("X-API-Key", out var key) || key.ToString() != _options.ApiKey)
        {
            await ErrorAsync(context, 401, "Invalid API key, it must start with 'e2b_' prefix");
            return;
        }

        var segments = (request.Path.Value ?? "/").Trim('/').Split('/');
        switch (request.Method, segments)
        {
            case ("POST", ["sandboxes"]):
                await CreateAsync(context);
                return;
            case ("GET", ["v2", "sandboxes"]):
                await ListAsync(context);
                return;
        }

        if (segments is not ["sandboxes", var id, ..] || !_sandboxes.TryGetValue(id, out var sandbox) || !IsAlive(sandbox))
        {
            await ErrorAsync(context, 404, $"Sandbox \"{(segments.Length > 1 ? segments[1] : "")}\" doesn't exist or you don't have access to it");
            return;
        }

        switch (request.Method, segments.Length > 2 ? segments[2] : null)
        {
            case ("GET", null):
                await WriteJsonAsync(context, 200, Detail(sandbox, withSecrets: true));
                return;
            case ("DELETE", null):
                sandbox.Killed = true;
                foreach (var process in sandbox.Processes)
                {
                    process.Ended.TrySetResult();
                }

                context.Response.StatusCode = 204;
                return;
            case ("POST", "timeout"):
            {
                var body = await ReadJsonAsync(context);
                if (body?["timeout"] is not JsonValue t || !t.TryGetValue<int>(out var seconds) || seconds < 0)
                {
                    await ErrorAsync(context, 400, "timeout is required and must be a non-negative integer");
                    return;
                }

                if (!await CheckMaxLengthAsync(context, sandbox))
                {
                    return;
                }

                sandbox.EndAt = Cap(sandbox, Now.AddSeconds(seconds)); // overwrites: may shorten
                context.Response.StatusCode = 204;
                return;
            }

            case ("POST", "refreshes"):
            {
                var body = await ReadJsonAsync(context);
                var duration = 0;
                if (body?["duration"] is JsonValue d && (!d.TryGetValue(out duration) || duration is < 0 or > 3600))
                {
                    await ErrorAsync(context, 400, "duration must be between 0 and 3600");
                    return;
                }

                if (!await CheckMaxLengthAsync(context, sandbox))
                {
                    return;
                }

                var extended = Cap(sandbox, Now.AddSeconds(Math.Max(duration, 15)));
                sandbox.EndAt = extended > sandbox.EndAt ? extended : sandbox.EndAt; // never shortens
                context.Response.StatusCode = 204;
                return;
            }

            case ("POST", "connect"):
            {
                var body = await ReadJsonAsync(context);
                if (body?["timeout"] is not JsonValue t || !t.TryGetValue<int>(out var seconds) || seconds < 0)
                {
                    await ErrorAsync(context, 400, "timeout is required");
                    return;
                }

                // 201 when it was paused and has been resumed (its end time starts over), 200 when it was running
                var resumed = sandbox.Paused;
                if (resumed)
                {
                    sandbox.Paused = false;
                    sandbox.Resumes++;
                    sandbox.EndAt = Now.AddSeconds(seconds);
                }
                else
                {
                    var extended = Cap(sandbox, Now.AddSeconds(seconds));
                    sandbox.EndAt = extended > sandbox.EndAt ? extended : sandbox.EndAt;
                }

                await WriteJsonAsync(context, resumed ? 201 : 200, Created(sandbox));
                return;
            }

            case ("POST", "pause"):
                if (sandbox.Paused)
                {
                    await ErrorAsync(context, 409, $"Sandbox \"{sandbox.Id}\" is already paused");
                    return;
                }

                sandbox.Paused = true; // memory and files are kept: processes come back on resume
                context.Response.StatusCode = 204;
                return;
        }

        await ErrorAsync(context, 404, "no such route in the fake");
    }

    private async Task CreateAsync(HttpContext context)
    {
        var body = await ReadJsonAsync(context);
        if (body?["templateID"] is not JsonValue template || !template.TryGetValue<string>(out var templateId) || string.IsNullOrWhiteSpace(templateId))
        {
            await ErrorAsync(context, 400, "templateID is required");
            return;
        }

        var timeout = 15; // spec default
        if (body["timeout"] is JsonValue t && !t.TryGetValue(out timeout))
        {
            await ErrorAsync(context, 400, "timeout must be an integer");
            return;
        }

        if (timeout <= 0)
        {
            await ErrorAsync(context, 400, "Timeout must be greater than 0");
            return;
        }

        if (TimeSpan.FromSeconds(timeout) > _options.MaxLifetime)
        {
            await ErrorAsync(context, 400, $"Timeout cannot be greater than {_options.MaxLifetime.TotalHours:0} hours");
            return;
        }

        var secure = body["secure"] is JsonValue s && s.TryGetValue<bool>(out var sec) && sec;
        var publicTraffic = body["network"]?["allowPublicTraffic"] is not JsonValue p || !p.TryGetValue<bool>(out var pub) || pub;
        if (!publicTraffic && !secure)
        {
            await ErrorAsync(context, 400, "allowPublicTraffic=false requires secure=true");
            return;
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (body["metadata"] is JsonObject meta)
        {
            foreach (var (k, v) in meta)
            {
                if (v is not JsonValue value || !value.TryGetValue<string>(out var text))
                {
                    await ErrorAsync(context, 400, $"metadata value of '{k}' must be a string");
                    return;
                }

                metadata[k] = text;
            }
        }

        var now = Now;
        var sandbox = new FakeE2BSandbox("i" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10)))
        {
            TemplateId = templateId,
            Metadata = metadata,
            StartedAt = now,
            Secure = secure,
            AllowPublicTraffic = publicTraffic,
            EnvdAccessToken = secure ? "envd_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)) : null,
            TrafficAccessToken = publicTraffic ? null : "traffic_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)),
        };
        sandbox.EndAt = now.AddSeconds(timeout);
        _sandboxes[sandbox.Id] = sandbox;
        await WriteJsonAsync(context, 201, Created(sandbox));
    }

    private async Task ListAsync(HttpContext context)
    {
        var query = context.Request.Query;
        var filter = new Dictionary<string, string>(StringComparer.Ordinal);
        if (query.TryGetValue("metadata", out var raw))
        {
            // the parameter is itself a query string ("k=v&k2=v2") with URL-encoded keys and values
            foreach (var (k, v) in QueryHelpers.ParseQuery(raw.ToString()))
            {
                filter[k] = v.ToString();
            }
        }

        var limit = 100;
        if (query.TryGetValue("limit", out var l) && (!int.TryParse(l, out limit) || limit is < 1 or > 100))
        {
            await ErrorAsync(context, 400, "limit must be between 1 and 100");
            return;
        }

        var offset = query.TryGetValue("nextToken", out var token) && int.TryParse(token, out var o) ? o : 0;
        var matching = _sandboxes.Values
            .Where(IsAlive)
            .Where(s => filter.All(kv => s.Metadata.TryGetValue(kv.Key, out var v) && v == kv.Value))
            .OrderByDescending(s => s.StartedAt).ThenBy(s => s.Id, StringComparer.Ordinal)
            .ToList();
        var page = matching.Skip(offset).Take(Math.Min(limit, _options.MaxPageSize)).ToList();
        if (offset + page.Count < matching.Count)
        {
            context.Response.Headers["X-Next-Token"] = (offset + page.Count).ToString(CultureInfo.InvariantCulture);
        }

        context.Response.Headers["X-Total-Running"] = matching.Count.ToString(CultureInfo.InvariantCulture);
        await WriteJsonAsync(context, 200, page.Select(s => Detail(s, withSecrets: false)).ToList());
    }

    private async Task<bool> CheckMaxLengthAsync(HttpContext context, FakeE2BSandbox sandbox)
    {
        if (Now - sandbox.StartedAt < _options.MaxLifetime)
        {
            return true;
        }

        await ErrorAsync(context, 400, "Max instance length exceeded");
        return false;
    }

    private DateTimeOffset Cap(FakeE2BSandbox sandbox, DateTimeOffset end) =>
        end > sandbox.StartedAt + _options.MaxLifetime ? sandbox.StartedAt + _options.MaxLifetime : end;

    private Dictionary<string, object?> Created(FakeE2BSandbox s) => new()
    {
        ["templateID"] = s.TemplateId,
        ["sandboxID"] = s.Id,
        ["clientID"] = "fake-client",
        ["envdVersion"] = "0.2.4",
        ["envdAccessToken"] = s.EnvdAccessToken,
        ["trafficAccessToken"] = s.TrafficAccessToken,
        ["domain"] = _options.Domain,
    };

    private Dictionary<string, object?> Detail(FakeE2BSandbox s, bool withSecrets)
    {
        var detail = new Dictionary<string, object?>
        {
            ["templateID"] = s.TemplateId,
            ["sandboxID"] = s.Id,
            ["clientID"] = "fake-client",
            ["startedAt"] = s.StartedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["endAt"] = s.EndAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["cpuCount"] = 2,
            ["memoryMB"] = 512,
            ["diskSizeMB"] = 1024,
            ["envdVersion"] = "0.2.4",
            ["metadata"] = s.Metadata,
            ["state"] = s.Paused ? "paused" : "running",
        };
        if (withSecrets)
        {
            if (s.EnvdAccessToken is not null)
            {
                detail["envdAccessToken"] = s.EnvdAccessToken;
            }

            detail["domain"] = _options.Domain;
        }

        return detail;
    }

    // ---- envd -------------------------------------------------------------------------------------------------

    private async Task EnvdAsync(HttpContext context)
    {
        var request = context.Request;
        var id = request.Headers["E2b-Sandbox-Id"].ToString();
        if (request.Headers["E2b-Sandbox-Port"].ToString() != E2BEnvdClient.EnvdPort.ToString(CultureInfo.InvariantCulture))
        {
            _violations.Enqueue($"{request.Method} {request.Path}: E2b-Sandbox-Port must be {E2BEnvdClient.EnvdPort}");
        }

        if (!_sandboxes.TryGetValue(id, out var sandbox) || !IsRunning(sandbox))
        {
            await WriteJsonAsync(context, 502, new { sandboxId = id, message = "The sandbox was not found", code = 502 });
            return;
        }

        var path = request.Path.Value ?? "/";
        if (path == "/health")
        {
            context.Response.StatusCode = 204;
            return;
        }

        var connect = path.StartsWith("/process.Process/", StringComparison.Ordinal) || path.StartsWith("/filesystem.Filesystem/", StringComparison.Ordinal);
        if (sandbox.Secure && request.Headers["X-Access-Token"].ToString() != sandbox.EnvdAccessToken)
        {
            if (connect)
            {
                await ConnectErrorAsync(context, 401, "unauthenticated", "invalid access token");
            }
            else
            {
                await ErrorAsync(context, 401, "invalid access token");
            }

            return;
        }

        switch (request.Method, path)
        {
            case ("POST", "/files"):
                await UploadAsync(context, sandbox);
                return;
            case ("GET", "/files"):
                await DownloadAsync(context, sandbox);
                return;
            case ("POST", "/process.Process/Start"):
                await StartProcessAsync(context, sandbox);
                return;
            case ("POST", "/process.Process/List"):
                await UnaryAsync(context, "process.ListRequest", _ => Task.FromResult<object>(new
                {
                    processes = sandbox.Processes.Where(p => p.IsRunning(Now)).Select(p => new
                    {
                        config = new { cmd = p.Cmd, args = p.Args, envs = p.Envs, cwd = p.Cwd },
                        pid = p.Pid,
                        tag = p.Tag,
                    }).ToList(),
                }));
                return;
            case ("POST", "/process.Process/SendSignal"):
                await UnaryAsync(context, "process.SendSignalRequest", body =>
                {
                    var selector = body.GetProperty("process");
                    var target = sandbox.Processes.FirstOrDefault(p => p.IsRunning(Now)
                        && ((selector.TryGetProperty("pid", out var pid) && pid.GetUInt32() == p.Pid)
                            || (selector.TryGetProperty("tag", out var tag) && tag.GetString() == p.Tag)));
                    if (target is null)
                    {
                        throw new ConnectFailure(404, "not_found", "process not found");
                    }

                    target.Signalled = true;
                    target.Ended.TrySetResult();
                    return Task.FromResult<object>(new { });
                });
                return;
            case ("POST", "/filesystem.Filesystem/Remove"):
                await UnaryAsync(context, "filesystem.RemoveRequest", body =>
                {
                    var target = Resolve(body.GetProperty("path").GetString() ?? string.Empty);
                    var removed = sandbox.Files.Keys.Where(k => k == target || k.StartsWith(target + "/", StringComparison.Ordinal)).ToList();
                    if (removed.Count == 0)
                    {
                        throw new ConnectFailure(404, "not_found", $"path '{target}' does not exist");
                    }

                    foreach (var key in removed)
                    {
                        sandbox.Files.TryRemove(key, out _);
                    }

                    return Task.FromResult<object>(new { });
                });
                return;
        }

        _violations.Enqueue($"{request.Method} {path}: not an envd route");
        await ErrorAsync(context, 404, "no such envd route");
    }

    private async Task UploadAsync(HttpContext context, FakeE2BSandbox sandbox)
    {
        var request = context.Request;
        var queryPath = request.Query["path"].ToString();
        var entries = new List<object>();
        if (MediaTypeHeaderValue.TryParse(request.ContentType, out var type) && type.MediaType.Equals("application/octet-stream", StringComparison.OrdinalIgnoreCase))
        {
            if (string.IsNullOrEmpty(queryPath))
            {
                await ErrorAsync(context, 400, "path is required for application/octet-stream uploads");
                return;
            }

            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer, context.RequestAborted);
            entries.Add(Store(sandbox, Resolve(queryPath), buffer.ToArray()));
            await WriteJsonAsync(context, 200, entries);
            return;
        }

        var boundary = type?.Boundary.Value;
        if (type is null || !type.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase) || string.IsNullOrEmpty(boundary))
        {
            _violations.Enqueue($"POST /files: content type '{request.ContentType}' is neither multipart/form-data nor application/octet-stream");
            await ErrorAsync(context, 400, "unsupported content type");
            return;
        }

        var reader = new MultipartReader(HeaderUtilities.RemoveQuotes(boundary).Value!, request.Body) { BodyLengthLimit = null };
        while (await reader.ReadNextSectionAsync(context.RequestAborted) is { } section)
        {
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) || !disposition.DispositionType.Equals("form-data", StringComparison.OrdinalIgnoreCase))
            {
                _violations.Enqueue("POST /files: a part without form-data Content-Disposition");
                continue;
            }

            var name = HeaderUtilities.RemoveQuotes(disposition.Name).Value;
            var fileName = disposition.FileNameStar.HasValue ? disposition.FileNameStar.Value : HeaderUtilities.UnescapeAsQuotedString(disposition.FileName).Value;
            if (name != "file")
            {
                _violations.Enqueue($"POST /files: part named '{name}', the spec's field is 'file'");
                continue;
            }

            var target = !string.IsNullOrEmpty(queryPath) ? queryPath : fileName;
            if (string.IsNullOrEmpty(target))
            {
                await ErrorAsync(context, 400, "a file part needs a filename when path is not given");
                return;
            }

            using var buffer = new MemoryStream();
            await section.Body.CopyToAsync(buffer, context.RequestAborted);
            entries.Add(Store(sandbox, Resolve(target), buffer.ToArray()));
        }

        await WriteJsonAsync(context, 200, entries);
    }

    private static object Store(FakeE2BSandbox sandbox, string path, byte[] content)
    {
        sandbox.Files[path] = content;
        return new { path, name = path[(path.LastIndexOf('/') + 1)..], type = "file" };
    }

    private static async Task DownloadAsync(HttpContext context, FakeE2BSandbox sandbox)
    {
        var path = Resolve(context.Request.Query["path"].ToString());
        if (!sandbox.Files.TryGetValue(path, out var content))
        {
            await ErrorAsync(context, 404, $"path '{path}' does not exist");
            return;
        }

        context.Response.ContentType = "application/octet-stream";
        await context.Response.Body.WriteAsync(content, context.RequestAborted);
    }

    /// <summary>Relative paths resolve against the default user's home, as envd does.</summary>
    private static string Resolve(string path) => path.StartsWith('/') ? path.TrimEnd('/') : "/home/user/" + path.TrimEnd('/');

    private async Task StartProcessAsync(HttpContext context, FakeE2BSandbox sandbox)
    {
        var request = context.Request;
        const string route = "POST /process.Process/Start";
        if (request.ContentType != "application/connect+json")
        {
            _violations.Enqueue($"{route}: a server-streaming call must be sent as application/connect+json, got '{request.ContentType}'");
            await ConnectErrorAsync(context, 415, "invalid_argument", "unsupported content type");
            return;
        }

        using var body = new MemoryStream();
        await request.Body.CopyToAsync(body, context.RequestAborted);
        body.Position = 0;
        var envelope = await ConnectEnvelope.ReadAsync(body, context.RequestAborted);
        if (envelope is not { } frame || frame.Flags != 0 || body.Position != body.Length)
        {
            _violations.Enqueue($"{route}: the request body must be exactly one uncompressed envelope");
            await ConnectErrorAsync(context, 400, "invalid_argument", "bad envelope");
            return;
        }

        var errors = Protos.Value.Validate("process.StartRequest", frame.Message);
        if (errors.Count > 0)
        {
            foreach (var error in errors)
            {
                _violations.Enqueue($"{route}: {error}");
            }

            await ConnectErrorAsync(context, 400, "invalid_argument", string.Join("; ", errors));
            return;
        }

        using var json = JsonDocument.Parse(frame.Message);
        var process = json.RootElement.GetProperty("process");
        var now = Now;
        DateTimeOffset? deadline = request.Headers.TryGetValue("Connect-Timeout-Ms", out var timeoutHeader)
                                   && long.TryParse(timeoutHeader, out var ms) && ms > 0 ? now.AddMilliseconds(ms) : null;
        var started = new FakeE2BProcess
        {
            Pid = (uint)Interlocked.Increment(ref _nextPid),
            Tag = json.RootElement.TryGetProperty("tag", out var tag) ? tag.GetString() : null,
            Cmd = process.GetProperty("cmd").GetString() ?? string.Empty,
            Args = process.TryGetProperty("args", out var args) ? args.EnumerateArray().Select(a => a.GetString() ?? string.Empty).ToList() : [],
            Envs = process.TryGetProperty("envs", out var envs) ? envs.EnumerateObject().ToDictionary(e => e.Name, e => e.Value.GetString() ?? string.Empty) : [],
            Cwd = process.TryGetProperty("cwd", out var cwd) ? cwd.GetString() : null,
            StartedAt = now,
            Deadline = deadline,
        };
        var commandLine = string.Join(' ', started.Args.Prepend(started.Cmd));
        var exiting = ExitingCommands.FirstOrDefault(kv => commandLine.Contains(kv.Key, StringComparison.Ordinal));

        // A command that exits at once has exited before anyone can reach its port: the exit code is set before the
        // start event is written, or a port probe racing the end event would find it serving.
        started.ExitCode = exiting.Key is null ? null : exiting.Value.ExitCode;
        lock (sandbox.ProcessList)
        {
            sandbox.ProcessList.Add(started);
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/connect+json";
        await WriteEnvelopeAsync(context, new { @event = new { start = new { pid = started.Pid } } });
        if (commandLine.Contains("sha256sum", StringComparison.Ordinal) && ManifestDirectory().Match(commandLine) is { Success: true } cd)
        {
            // the file manifest: answer what sha256sum would print for the files held
            started.ExitCode = 0;
            var output = Sha256SumOutput(sandbox.Files, cd.Groups[1].Value);
            await WriteEnvelopeAsync(context, new { @event = new { data = new { stdout = Convert.ToBase64String(Encoding.UTF8.GetBytes(output)) } } });
            await WriteEnvelopeAsync(context, new { @event = new { end = new { exitCode = 0, exited = true, status = "exit status 0" } } });
            await WriteEnvelopeAsync(context, new { }, ConnectEnvelope.EndStreamFlag);
            return;
        }

        if (exiting is { Key: not null } exit)
        {
            await WriteEnvelopeAsync(context, new { @event = new { data = new { stderr = Convert.ToBase64String(Encoding.UTF8.GetBytes(exit.Value.Stderr)) } } });
            await WriteEnvelopeAsync(context, new { @event = new { end = new { exitCode = exit.Value.ExitCode, exited = true, status = $"exit status {exit.Value.ExitCode}" } } });
            await WriteEnvelopeAsync(context, new { }, ConnectEnvelope.EndStreamFlag);
            return;
        }

        // Stream until the process ends or the client leaves; leaving does not stop the process (envd semantics).
        try
        {
            await started.Ended.Task.WaitAsync(context.RequestAborted);
            await WriteEnvelopeAsync(context, new { @event = new { end = new { exitCode = -1, exited = false, status = "signal: killed" } } });
            await WriteEnvelopeAsync(context, new { }, ConnectEnvelope.EndStreamFlag);
        }
        catch (OperationCanceledException)
        {
            // client closed the stream
        }
    }

    private static string Sha256SumOutput(IEnumerable<KeyValuePair<string, byte[]>> files, string root)
    {
        var prefix = root.TrimEnd('/') + "/";
        var lines = new StringBuilder();
        foreach (var (path, content) in files.Where(f => f.Key.StartsWith(prefix, StringComparison.Ordinal)).OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            var relative = path[prefix.Length..];
            if (!relative.Split('/').Any(segment => segment is "node_modules" or ".git"))
            {
                lines.Append(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content))).Append("  ./").Append(relative).Append('\n');
            }
        }

        return lines.ToString();
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"cd '([^']+)'")]
    private static partial System.Text.RegularExpressions.Regex ManifestDirectory();

    private async Task UnaryAsync(HttpContext context, string messageType, Func<JsonElement, Task<object>> handle)
    {
        var request = context.Request;
        var route = $"{request.Method} {request.Path}";
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var type) || type.MediaType != "application/json")
        {
            _violations.Enqueue($"{route}: a unary Connect call with the JSON codec must be sent as application/json, got '{request.ContentType}'");
            await ConnectErrorAsync(context, 415, "invalid_argument", "unsupported content type");
            return;
        }

        if (request.Headers.TryGetValue("Connect-Protocol-Version", out var version) && version != "1")
        {
            _violations.Enqueue($"{route}: Connect-Protocol-Version must be 1");
        }

        using var body = new MemoryStream();
        await request.Body.CopyToAsync(body, context.RequestAborted);
        var errors = Protos.Value.Validate(messageType, body.ToArray());
        if (errors.Count > 0)
        {
            foreach (var error in errors)
            {
                _violations.Enqueue($"{route}: {error}");
            }

            await ConnectErrorAsync(context, 400, "invalid_argument", string.Join("; ", errors));
            return;
        }

        using var json = JsonDocument.Parse(body.ToArray());
        try
        {
            await WriteJsonAsync(context, 200, await handle(json.RootElement));
        }
        catch (ConnectFailure failure)
        {
            await ConnectErrorAsync(context, failure.Status, failure.Code, failure.Message);
        }
    }

    private static async Task WriteEnvelopeAsync(HttpContext context, object message, byte flags = 0)
    {
        await context.Response.Body.WriteAsync(ConnectEnvelope.Frame(JsonSerializer.SerializeToUtf8Bytes(message, Json), flags), context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    private static Task ConnectErrorAsync(HttpContext context, int status, string code, string message) =>
        WriteJsonAsync(context, status, new { code, message });

    private sealed class ConnectFailure(int status, string code, string message) : Exception(message)
    {
        public int Status { get; } = status;

        public string Code { get; } = code;
    }

    // ---- preview proxy ----------------------------------------------------------------------------------------

    private async Task PreviewAsync(HttpContext context)
    {
        // /preview/{sandboxId}/{port}/{path…}
        var parts = (context.Request.Path.Value ?? "/").Split('/', 5);
        if (parts.Length < 4 || !int.TryParse(parts[3], out var port))
        {
            await ErrorAsync(context, 400, "preview URLs look like /preview/{sandboxId}/{port}/");
            return;
        }

        var id = parts[2];
        if (!_sandboxes.TryGetValue(id, out var sandbox) || !IsRunning(sandbox))
        {
            await WriteJsonAsync(context, 502, new { sandboxId = id, message = "The sandbox was not found", code = 502 });
            return;
        }

        if (!sandbox.AllowPublicTraffic && context.Request.Headers[E2BPreview.TrafficTokenHeader].ToString() != sandbox.TrafficAccessToken)
        {
            await WriteJsonAsync(context, 403, new { sandboxId = id, message = "Missing or invalid traffic access token", code = 403 });
            return;
        }

        var server = sandbox.Processes.FirstOrDefault(p => p.IsRunning(Now) && p.Port == port);
        if (server is null)
        {
            await WriteJsonAsync(context, 502, new { sandboxId = id, message = "The sandbox is running but port is not open", port, code = 502 });
            return;
        }

        var relative = parts.Length > 4 ? Uri.UnescapeDataString(parts[4]) : string.Empty;
        if (relative.Length == 0 || relative.EndsWith('/'))
        {
            relative += "index.html";
        }

        var file = (server.Cwd ?? "/home/user").TrimEnd('/') + "/" + relative;
        if (!sandbox.Files.TryGetValue(file, out var content))
        {
            context.Response.StatusCode = 404;
            return;
        }

        context.Response.ContentType = relative.EndsWith(".html", StringComparison.Ordinal) ? "text/html; charset=utf-8" : "application/octet-stream";
        await context.Response.Body.WriteAsync(content, context.RequestAborted);
    }

    // ---- plumbing ---------------------------------------------------------------------------------------------

    private static async Task<JsonNode?> ReadJsonAsync(HttpContext context)
    {
        try
        {
            return await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static Task ErrorAsync(HttpContext context, int status, string message) =>
        WriteJsonAsync(context, status, new { code = status, message });

    private static async Task WriteJsonAsync(HttpContext context, int status, object body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(body, Json), context.RequestAborted);
    }
}
