using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Midori.Operator.Testing.Fakes;

/// <summary>
/// A loopback Daytona (Kestrel on 127.0.0.1) that behaves where a spec mock cannot: sandboxes have state and time
/// (auto-stop at lastActivity + autoStopInterval, then destroyed → 404 when ephemeral), names are unique (409), the
/// list is eventually consistent (<see cref="ListDelay"/>), the preview token changes on every start, the toolbox
/// parses bulk uploads strictly (<c>files[i].path</c>/<c>files[i].file</c>), sessions run commands that "listen" on
/// their <c>PORT</c>, and previews serve the uploaded files. Faults are scripted per operation (status, headers,
/// count), uploads can be held (slow), create responses can be held after the sandbox exists (a crash mid-create).
/// Paths follow <c>daytona-api.openapi.json</c> under <c>/api</c> and <c>daytona-toolbox.swagger.json</c> under
/// <c>/toolbox/{sandboxId}</c> (the toolboxProxyUrl it returns), previews under <c>/preview/{id}/{port}/</c>.
/// </summary>
public sealed partial class FakeDaytona : IAsyncDisposable
{
    public const string PreviewTokenHeader = "X-Daytona-Preview-Token";

    private readonly WebApplication _app;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Sandbox> _sandboxes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConcurrentQueue<ScriptedFault>> _faults = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<FakeDaytonaRequest> _requests = new();
    private readonly Channel<string> _arrivals = Channel.CreateUnbounded<string>();
    private readonly TimeProvider _time;
    private int _heldUploads;
    private int _heldCreates;
    private TaskCompletionSource _createHeld = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private FakeDaytona(WebApplication app, string apiKey, TimeProvider time)
    {
        _app = app;
        ApiKey = apiKey;
        _time = time;
    }

    public string ApiKey { get; }

    public Uri BaseAddress => new(_app.Urls.First().TrimEnd('/') + "/");

    /// <summary>The control-plane base, as <c>Providers:Daytona:ApiUrl</c>.</summary>
    public Uri ApiUrl => new(BaseAddress, "api");

    /// <summary>New sandboxes appear in list results only this long after creation (GET by id/name sees them at once).</summary>
    public TimeSpan ListDelay { get; set; }

    /// <summary>State a new sandbox reports until <see cref="StartDelay"/> passed (e.g. "creating"); null: started at once.</summary>
    public string? InitialState { get; set; }

    public TimeSpan StartDelay { get; set; }

    /// <summary>Previews demand the token (header or <c>DAYTONA_SANDBOX_AUTH_KEY</c>) unless the sandbox is public.</summary>
    public bool PreviewRequiresToken { get; set; } = true;

    /// <summary>Added before every answer, to emulate the network round trip to a remote service (benchmarks).</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>Commands started in a session exit at once with this code instead of listening.</summary>
    public int? DevServerExitCode { get; set; }

    public IReadOnlyList<FakeDaytonaRequest> Requests => [.. _requests];

    public int Count(string operation) => _requests.Count(r => r.Operation == operation);

    /// <summary>Operation names as requests arrive (before they are handled): lets a test act while a request is in flight.</summary>
    public ChannelReader<string> Arrivals => _arrivals.Reader;

    /// <summary>Waits until a request of <paramref name="operation"/> arrives (earlier arrivals of other operations are skipped).</summary>
    public async Task WaitForArrivalAsync(string operation, CancellationToken cancellationToken = default)
    {
        while (await _arrivals.Reader.ReadAsync(cancellationToken) != operation)
        {
        }
    }

    public static async Task<FakeDaytona> StartAsync(TimeProvider? time = null, string apiKey = "fake-daytona-key")
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 512L * 1024 * 1024);
        var app = builder.Build();
        var fake = new FakeDaytona(app, apiKey, time ?? TimeProvider.System);
        app.Run(fake.HandleAsync);
        await app.StartAsync();
        return fake;
    }

    // ---- scripting ----------------------------------------------------------------------------------------------

    /// <summary>The next <paramref name="times"/> requests of <paramref name="operation"/> answer <paramref name="status"/> without acting.</summary>
    public void Fail(string operation, int status, int times = 1, IReadOnlyDictionary<string, string>? headers = null)
    {
        var queue = _faults.GetOrAdd(operation, _ => new ConcurrentQueue<ScriptedFault>());
        for (var i = 0; i < times; i++)
        {
            queue.Enqueue(new ScriptedFault(status, headers));
        }
    }

    /// <summary>The next <paramref name="count"/> uploads never answer; they end when the client gives up (attempt timeout).</summary>
    public void HoldUploads(int count) => Interlocked.Exchange(ref _heldUploads, count);

    /// <summary>
    /// The next create makes the sandbox and then holds its response until the client gives up. The returned task
    /// completes once the sandbox exists, which is when a test "crashes" the caller.
    /// </summary>
    public Task HoldNextCreateResponse()
    {
        _createHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref _heldCreates, 1);
        return _createHeld.Task;
    }

    // ---- inspection and direct manipulation (what Daytona does behind the operator's back) -----------------------

    public IReadOnlyList<FakeDaytonaSandbox> Sandboxes
    {
        get
        {
            lock (_lock)
            {
                Tick();
                return [.. _sandboxes.Values.Select(s => s.ToPublic())];
            }
        }
    }

    public FakeDaytonaSandbox? Find(string id)
    {
        lock (_lock)
        {
            Tick();
            return _sandboxes.TryGetValue(id, out var s) ? s.ToPublic() : null;
        }
    }

    /// <summary>Stop then start (as a user or Daytona maintenance would): memory and dev servers are gone, the token changes.</summary>
    public void Restart(string id)
    {
        lock (_lock)
        {
            var sandbox = _sandboxes[id];
            sandbox.Sessions.Clear();
            sandbox.Start(_time.GetUtcNow());
        }
    }

    /// <summary>Removes a sandbox at once, as when it was destroyed behind our back.</summary>
    public void Destroy(string id)
    {
        lock (_lock)
        {
            _sandboxes.Remove(id);
        }
    }

    // ---- HTTP ---------------------------------------------------------------------------------------------------

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "/";
        var segments = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray();
        var method = context.Request.Method;
        var (operation, handler) = Route(method, segments);
        _arrivals.Writer.TryWrite(operation);
        if (Latency > TimeSpan.Zero)
        {
            await Task.Delay(Latency, context.RequestAborted);
        }
        if (handler is null)
        {
            Record(operation, method, path, 404);
            await Error(context, 404, $"Cannot {method} {path}");
            return;
        }

        if (operation != "preview" && context.Request.Headers.Authorization.ToString() != $"Bearer {ApiKey}")
        {
            Record(operation, method, path, 401);
            await Error(context, 401, "Unauthorized");
            return;
        }

        if (_faults.TryGetValue(operation, out var queue) && queue.TryDequeue(out var fault))
        {
            Record(operation, method, path, fault.Status);
            foreach (var (name, value) in fault.Headers ?? new Dictionary<string, string>())
            {
                context.Response.Headers[name] = value;
            }

            await Error(context, fault.Status, fault.Status == 429 ? "Rate limit exceeded" : "Scripted failure");
            return;
        }

        await handler(context, segments);
        Record(operation, method, path, context.Response.StatusCode);
    }

    private (string Operation, Func<HttpContext, string[], Task>? Handler) Route(string method, string[] s) => (method, s) switch
    {
        ("POST", ["api", "sandbox"]) => ("create", CreateAsync),
        ("GET", ["api", "sandbox"]) => ("list", ListAsync),
        ("GET", ["api", "sandbox", _]) => ("get", GetAsync),
        ("DELETE", ["api", "sandbox", _]) => ("delete", DeleteAsync),
        ("POST", ["api", "sandbox", _, "start"]) => ("start", StartSandboxAsync),
        ("POST", ["api", "sandbox", _, "stop"]) => ("stop", StopSandboxAsync),
        ("POST", ["api", "sandbox", _, "last-activity"]) => ("keep_alive", LastActivityAsync),
        ("POST", ["api", "sandbox", _, "archive"]) => ("archive", ArchiveSandboxAsync),
        ("POST", ["api", "sandbox", _, "autodelete", _]) => ("autodelete", AutoDeleteAsync),
        ("POST", ["toolbox", _, "process", "execute"]) => ("execute", ExecuteAsync),
        ("GET", ["api", "sandbox", _, "ports", _, "preview-url"]) => ("preview_url", PreviewUrlAsync),
        ("POST", ["toolbox", _, "files", "bulk-upload"]) => ("upload", UploadAsync),
        ("DELETE", ["toolbox", _, "files"]) => ("delete_file", DeleteFileAsync),
        ("GET", ["toolbox", _, "process", "session"]) => ("list_sessions", ListSessionsAsync),
        ("POST", ["toolbox", _, "process", "session"]) => ("create_session", CreateSessionAsync),
        ("GET", ["toolbox", _, "process", "session", _]) => ("get_session", GetSessionAsync),
        ("DELETE", ["toolbox", _, "process", "session", _]) => ("delete_session", DeleteSessionAsync),
        ("POST", ["toolbox", _, "process", "session", _, "exec"]) => ("exec", ExecAsync),
        ("GET", ["toolbox", _, "process", "session", _, "command", _]) => ("get_command", GetCommandAsync),
        ("GET", ["toolbox", _, "port", _, "in-use"]) => ("port_in_use", PortInUseAsync),
        ("GET", ["preview", _, _, ..]) => ("preview", PreviewAsync),
        _ => ("unknown", null),
    };

    private async Task CreateAsync(HttpContext context, string[] s)
    {
        var body = await JsonNode.ParseAsync(context.Request.Body) as JsonObject;
        if (body is null)
        {
            await Error(context, 400, "Body must be a CreateSandbox object");
            return;
        }

        Sandbox sandbox;
        lock (_lock)
        {
            Tick();
            var name = (string?)body["name"];
            if (name is not null && _sandboxes.Values.Any(x => x.Name == name))
            {
                sandbox = null!;
            }
            else
            {
                var id = Guid.NewGuid().ToString();
                var labels = body["labels"]?.AsObject().ToDictionary(p => p.Key, p => (string?)p.Value ?? string.Empty) ?? [];
                sandbox = new Sandbox(id, name ?? id, labels, _time.GetUtcNow())
                {
                    Snapshot = (string?)body["snapshot"],
                    Dockerfile = (string?)body["buildInfo"]?["dockerfileContent"],
                    AutoStopMinutes = (int?)body["autoStopInterval"] ?? 15,
                    AutoDeleteMinutes = (int?)body["autoDeleteInterval"] ?? -1,
                    Public = (bool?)body["public"] ?? false,
                };
                if (InitialState is { } initial)
                {
                    sandbox.State = initial;
                    sandbox.StartsAt = _time.GetUtcNow() + StartDelay;
                }
                else
                {
                    sandbox.Start(_time.GetUtcNow());
                }

                _sandboxes[id] = sandbox;
            }
        }

        if (sandbox is null)
        {
            await Error(context, 409, $"Sandbox with name {(string?)body["name"]} already exists");
            return;
        }

        if (Interlocked.Exchange(ref _heldCreates, 0) == 1)
        {
            _createHeld.TrySetResult();
            await HoldUntilAbortedAsync(context);
            return;
        }

        await Json(context, 200, ToJson(sandbox));
    }

    private async Task ListAsync(HttpContext context, string[] s)
    {
        var query = context.Request.Query;
        Dictionary<string, string> filter;
        try
        {
            filter = query.TryGetValue("labels", out var raw) ? JsonSerializer.Deserialize<Dictionary<string, string>>(raw.ToString()) ?? [] : [];
        }
        catch (JsonException)
        {
            await Error(context, 400, "labels must be a JSON-encoded map");
            return;
        }

        var limit = query.TryGetValue("limit", out var l) ? int.Parse(l.ToString(), CultureInfo.InvariantCulture) : 100;
        if (limit is < 1 or > 200)
        {
            await Error(context, 400, "limit must be between 1 and 200");
            return;
        }

        var offset = query.TryGetValue("cursor", out var c) ? int.Parse(c.ToString(), CultureInfo.InvariantCulture) : 0;
        List<JsonObject> page;
        int total;
        lock (_lock)
        {
            Tick();
            var now = _time.GetUtcNow();
            var matches = _sandboxes.Values
                .Where(x => x.CreatedAt + ListDelay <= now && filter.All(f => x.Labels.TryGetValue(f.Key, out var v) && v == f.Value))
                .OrderBy(x => x.CreatedAt).ThenBy(x => x.Id, StringComparer.Ordinal).ToList();
            total = matches.Count;
            page = [.. matches.Skip(offset).Take(limit).Select(ToJson)];
        }

        var next = offset + page.Count < total ? (offset + page.Count).ToString(CultureInfo.InvariantCulture) : null;
        await Json(context, 200, new JsonObject { ["items"] = new JsonArray([.. page]), ["nextCursor"] = next });
    }

    private Task GetAsync(HttpContext context, string[] s) =>
        WithSandboxAsync(context, s[2], byName: true, sandbox => Json(context, 200, ToJson(sandbox)));

    private Task DeleteAsync(HttpContext context, string[] s) =>
        WithSandboxAsync(context, s[2], byName: true, sandbox =>
        {
            JsonObject json;
            lock (_lock)
            {
                sandbox.State = "destroying";
                sandbox.DesiredState = "destroyed";
                json = ToJson(sandbox);
                _sandboxes.Remove(sandbox.Id); // destruction finishes at once here: the next read is a 404
            }

            return Json(context, 200, json);
        });

    private Task StartSandboxAsync(HttpContext context, string[] s) =>
        WithSandboxAsync(context, s[2], byName: true, sandbox =>
        {
            lock (_lock)
            {
                if (sandbox.State != "started")
                {
                    sandbox.Start(_time.GetUtcNow()); // from stopped or archived alike: the disk comes back
                }
            }

            return Json(context, 200, ToJson(sandbox));
        });

    private Task StopSandboxAsync(HttpContext context, string[] s) =>
        WithSandboxAsync(context, s[2], byName: true, sandbox =>
        {
            lock (_lock)
            {
                sandbox.Stop(_time.GetUtcNow());
            }

            return Json(context, 200, ToJson(sandbox));
        });

    /// <summary>As Daytona: only a stopped sandbox can be archived (its disk moves to object storage; start restores it).</summary>
    private Task ArchiveSandboxAsync(HttpContext context, string[] s) =>
        WithSandboxAsync(context, s[2], byName: true, sandbox =>
        {
            lock (_lock)
            {
                if (sandbox.State is not ("stopped" or "archived"))
                {
                    return Error(context, 400, $"Sandbox is {sandbox.State}; stop it before archiving");
                }

                sandbox.State = "archived";
                sandbox.DesiredState = "archived";
            }

            return Json(context, 200, ToJson(sandbox));
        });

    private Task AutoDeleteAsync(HttpContext context, string[] s) =>
        WithSandboxAsync(context, s[2], byName: true, sandbox =>
        {
            if (!int.TryParse(s[4], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var minutes))
            {
                return Error(context, 400, "interval must be an integer");
            }

            lock (_lock)
            {
                sandbox.AutoDeleteMinutes = minutes < 0 ? -1 : minutes;
            }

            return Json(context, 200, ToJson(sandbox));
        });

    /// <summary>
    /// <c>POST /process/execute</c> for the one command the operator runs synchronously, the file manifest
    /// (<c>cd '…' &amp;&amp; find … | xargs -0 -r sha256sum</c>): answers what sha256sum would print for the files held.
    /// </summary>
    private async Task ExecuteAsync(HttpContext context, string[] s)
    {
        var body = await JsonNode.ParseAsync(context.Request.Body);
        var command = (string?)body?["command"];
        if (string.IsNullOrEmpty(command))
        {
            await Error(context, 400, "command is required");
            return;
        }

        await WithToolboxAsync(context, s[1], sandbox =>
        {
            if (!command.Contains("sha256sum", StringComparison.Ordinal) || CdDirectory().Match(command) is not { Success: true } cd)
            {
                return Json(context, 200, new JsonObject { ["exitCode"] = 127, ["result"] = "fake daytona: command not supported" });
            }

            string output;
            lock (_lock)
            {
                output = Sha256SumOutput(sandbox.Files, cd.Groups[1].Value);
            }

            return Json(context, 200, new JsonObject { ["exitCode"] = 0, ["result"] = output });
        });
    }

    /// <summary>What <c>sha256sum</c> prints for the files under <paramref name="root"/>, skipping node_modules and .git.</summary>
    internal static string Sha256SumOutput(IEnumerable<KeyValuePair<string, byte[]>> files, string root)
    {
        var prefix = root.TrimEnd('/') + "/";
        var lines = new System.Text.StringBuilder();
        foreach (var (path, content) in files.Where(f => f.Key.StartsWith(prefix, StringComparison.Ordinal)).OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            var relative = path[prefix.Length..];
            if (relative.Split('/').Any(segment => segment is "node_modules" or ".git"))
            {
                continue;
            }

            lines.Append(Convert.ToHexStringLower(SHA256.HashData(content))).Append("  ./").Append(relative).Append('\n');
        }

        return lines.ToString();
    }

    private Task LastActivityAsync(HttpContext context, string[] s) =>
        WithSandboxAsync(context, s[2], byName: false, sandbox =>
        {
            lock (_lock)
            {
                sandbox.LastActivity = _time.GetUtcNow();
            }

            context.Response.StatusCode = 201;
            return Task.CompletedTask;
        });

    private Task PreviewUrlAsync(HttpContext context, string[] s) =>
        WithSandboxAsync(context, s[2], byName: true, sandbox =>
        {
            if (!int.TryParse(s[4], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                return Error(context, 400, "Invalid port");
            }

            return Json(context, 200, new JsonObject
            {
                ["sandboxId"] = sandbox.Id,
                ["url"] = new Uri(BaseAddress, $"preview/{sandbox.Id}/{port}/").ToString(),
                ["token"] = sandbox.Token,
            });
        });

    // ---- toolbox ------------------------------------------------------------------------------------------------

    private async Task UploadAsync(HttpContext context, string[] s)
    {
        if (Interlocked.Decrement(ref _heldUploads) >= 0)
        {
            await HoldUntilAbortedAsync(context);
            return;
        }

        Interlocked.Exchange(ref _heldUploads, 0);
        if (!context.Request.HasFormContentType || !(context.Request.ContentType ?? string.Empty).StartsWith("multipart/form-data", StringComparison.Ordinal))
        {
            await Error(context, 400, "Expected multipart/form-data");
            return;
        }

        var form = await context.Request.ReadFormAsync();
        var files = new List<(string Path, byte[] Content)>();
        for (var i = 0; ; i++)
        {
            var pathKey = $"files[{i}].path";
            var fileKey = $"files[{i}].file";
            var hasPath = form.TryGetValue(pathKey, out var pathValue);
            var file = form.Files.GetFile(fileKey);
            if (!hasPath && file is null)
            {
                break;
            }

            if (!hasPath || file is null || string.IsNullOrEmpty(pathValue.ToString()) || !pathValue.ToString().StartsWith('/'))
            {
                await Error(context, 400, $"files[{i}] needs an absolute .path and a .file part");
                return;
            }

            using var buffer = new MemoryStream();
            await file.CopyToAsync(buffer);
            files.Add((pathValue.ToString(), buffer.ToArray()));
        }

        var expectedParts = files.Count * 2;
        if (files.Count == 0 || form.Count + form.Files.Count != expectedParts)
        {
            await Error(context, 400, "Every part must be a files[i].path/files[i].file pair with i from 0");
            return;
        }

        await WithToolboxAsync(context, s[1], sandbox =>
        {
            lock (_lock)
            {
                foreach (var (path, content) in files)
                {
                    sandbox.Files[path] = content;
                }
            }

            context.Response.StatusCode = 200;
            return Task.CompletedTask;
        });
    }

    private Task DeleteFileAsync(HttpContext context, string[] s) =>
        WithToolboxAsync(context, s[1], sandbox =>
        {
            var path = context.Request.Query["path"].ToString();
            bool removed;
            lock (_lock)
            {
                removed = sandbox.Files.Remove(path);
            }

            if (!removed)
            {
                return Error(context, 404, "File not found");
            }

            context.Response.StatusCode = 204;
            return Task.CompletedTask;
        });

    private Task ListSessionsAsync(HttpContext context, string[] s) =>
        WithToolboxAsync(context, s[1], sandbox =>
        {
            JsonArray sessions;
            lock (_lock)
            {
                sessions = new JsonArray([.. sandbox.Sessions.Values.Select(SessionJson)]);
            }

            return Json(context, 200, sessions);
        });

    private async Task CreateSessionAsync(HttpContext context, string[] s)
    {
        var body = await JsonNode.ParseAsync(context.Request.Body);
        var sessionId = (string?)body?["sessionId"];
        if (string.IsNullOrEmpty(sessionId))
        {
            await Error(context, 400, "sessionId is required");
            return;
        }

        await WithToolboxAsync(context, s[1], sandbox =>
        {
            lock (_lock)
            {
                if (!sandbox.Sessions.TryAdd(sessionId, new Session(sessionId)))
                {
                    return Error(context, 409, "Session already exists");
                }
            }

            context.Response.StatusCode = 201;
            return Task.CompletedTask;
        });
    }

    private Task GetSessionAsync(HttpContext context, string[] s) =>
        WithToolboxAsync(context, s[1], sandbox =>
        {
            lock (_lock)
            {
                return sandbox.Sessions.TryGetValue(s[4], out var session) ? Json(context, 200, SessionJson(session)) : Error(context, 404, "Session not found");
            }
        });

    private Task DeleteSessionAsync(HttpContext context, string[] s) =>
        WithToolboxAsync(context, s[1], sandbox =>
        {
            lock (_lock)
            {
                if (!sandbox.Sessions.Remove(s[4]))
                {
                    return Error(context, 404, "Session not found");
                }
            }

            context.Response.StatusCode = 204;
            return Task.CompletedTask;
        });

    private async Task ExecAsync(HttpContext context, string[] s)
    {
        var body = await JsonNode.ParseAsync(context.Request.Body);
        var command = (string?)body?["command"];
        if (string.IsNullOrEmpty(command))
        {
            await Error(context, 400, "command is required");
            return;
        }

        var runAsync = (bool?)body?["runAsync"] == true || (bool?)body?["async"] == true;
        await WithToolboxAsync(context, s[1], sandbox =>
        {
            Command started;
            lock (_lock)
            {
                if (!sandbox.Sessions.TryGetValue(s[4], out var session))
                {
                    return Error(context, 404, "Session not found");
                }

                var port = PortExport().Match(command) is { Success: true } m ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : (int?)null;
                started = new Command(Guid.NewGuid().ToString("N"), command, port) { ExitCode = DevServerExitCode ?? (runAsync ? null : 0) };
                session.Commands.Add(started);
            }

            return Json(context, runAsync ? 202 : 200, new JsonObject { ["cmdId"] = started.Id, ["exitCode"] = started.ExitCode });
        });
    }

    private Task GetCommandAsync(HttpContext context, string[] s) =>
        WithToolboxAsync(context, s[1], sandbox =>
        {
            lock (_lock)
            {
                var command = sandbox.Sessions.TryGetValue(s[4], out var session) ? session.Commands.FirstOrDefault(c => c.Id == s[6]) : null;
                return command is null ? Error(context, 404, "Command not found") : Json(context, 200, CommandJson(command));
            }
        });

    private Task PortInUseAsync(HttpContext context, string[] s) =>
        WithToolboxAsync(context, s[1], sandbox =>
        {
            var port = int.Parse(s[3], CultureInfo.InvariantCulture);
            bool inUse;
            lock (_lock)
            {
                inUse = sandbox.ListeningPorts().Contains(port);
            }

            return Json(context, 200, new JsonObject { ["isInUse"] = inUse });
        });

    // ---- preview ------------------------------------------------------------------------------------------------

    private async Task PreviewAsync(HttpContext context, string[] s)
    {
        byte[]? content = null;
        var status = 200;
        lock (_lock)
        {
            Tick();
            if (!_sandboxes.TryGetValue(s[1], out var sandbox) || sandbox.State != "started")
            {
                status = 404;
            }
            else if (!int.TryParse(s[2], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || !sandbox.ListeningPorts().Contains(port))
            {
                status = 502;
            }
            else if (PreviewRequiresToken && !sandbox.Public && !HasToken(context, sandbox.Token))
            {
                status = 401;
            }
            else
            {
                sandbox.LastActivity = _time.GetUtcNow(); // preview traffic resets auto-stop, as on Daytona
                var relative = string.Join('/', s.Skip(3));
                var root = ProjectRoot(sandbox);
                if (!sandbox.Files.TryGetValue($"{root}/{relative}", out content)
                    && !sandbox.Files.TryGetValue($"{root}/{(relative.Length == 0 ? string.Empty : relative.TrimEnd('/') + "/")}index.html", out content))
                {
                    status = 404;
                }
            }
        }

        context.Response.StatusCode = status;
        if (content is not null)
        {
            context.Response.ContentType = "text/html";
            await context.Response.Body.WriteAsync(content);
        }
    }

    private static bool HasToken(HttpContext context, string token) =>
        context.Request.Headers[PreviewTokenHeader].ToString() == token || context.Request.Query["DAYTONA_SANDBOX_AUTH_KEY"].ToString() == token;

    /// <summary>The directory the dev server was started in (the <c>cd '…'</c> of its command), else the common prefix.</summary>
    private static string ProjectRoot(Sandbox sandbox)
    {
        var command = sandbox.Sessions.Values.SelectMany(x => x.Commands).LastOrDefault(c => c.ExitCode is null)?.Text;
        return command is not null && CdDirectory().Match(command) is { Success: true } m ? m.Groups[1].Value.TrimEnd('/') : "/home/daytona/project";
    }

    // ---- plumbing -----------------------------------------------------------------------------------------------

    private async Task WithSandboxAsync(HttpContext context, string idOrName, bool byName, Func<Sandbox, Task> action)
    {
        Sandbox? sandbox;
        lock (_lock)
        {
            Tick();
            sandbox = _sandboxes.TryGetValue(idOrName, out var byId) ? byId : byName ? _sandboxes.Values.FirstOrDefault(x => x.Name == idOrName) : null;
        }

        if (sandbox is null)
        {
            await Error(context, 404, $"Sandbox with ID or name {idOrName} not found");
            return;
        }

        await action(sandbox);
    }

    private Task WithToolboxAsync(HttpContext context, string id, Func<Sandbox, Task> action)
    {
        Sandbox? sandbox;
        lock (_lock)
        {
            Tick();
            sandbox = _sandboxes.GetValueOrDefault(id);
            if (sandbox is not null)
            {
                sandbox.LastActivity = _time.GetUtcNow(); // toolbox calls count as activity
            }
        }

        return sandbox is null ? Error(context, 404, "Sandbox not found")
            : sandbox.State != "started" ? Error(context, 502, $"Sandbox is {sandbox.State}")
            : action(sandbox);
    }

    /// <summary>Applies time: pending sandboxes start, idle ones auto-stop, ephemeral stopped ones are destroyed.</summary>
    private void Tick()
    {
        var now = _time.GetUtcNow();
        foreach (var sandbox in _sandboxes.Values.ToList())
        {
            if (sandbox.StartsAt is { } startsAt && now >= startsAt)
            {
                sandbox.Start(startsAt);
            }

            if (sandbox.State == "started" && sandbox.AutoStopMinutes > 0 && now >= sandbox.LastActivity.AddMinutes(sandbox.AutoStopMinutes))
            {
                sandbox.Stop(sandbox.LastActivity.AddMinutes(sandbox.AutoStopMinutes));
            }

            if (sandbox.State == "stopped" && sandbox.AutoDeleteMinutes >= 0 && sandbox.StoppedAt is { } stoppedAt && now >= stoppedAt.AddMinutes(sandbox.AutoDeleteMinutes))
            {
                _sandboxes.Remove(sandbox.Id);
            }
        }
    }

    private async Task HoldUntilAbortedAsync(HttpContext context)
    {
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            // The client gave up, as intended.
        }
    }

    private void Record(string operation, string method, string path, int status) =>
        _requests.Enqueue(new FakeDaytonaRequest(operation, method, path, status));

    private JsonObject ToJson(Sandbox sandbox) => new()
    {
        ["id"] = sandbox.Id,
        ["organizationId"] = "org-fake",
        ["name"] = sandbox.Name,
        ["user"] = "daytona",
        ["env"] = new JsonObject(),
        ["labels"] = new JsonObject([.. sandbox.Labels.Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value))]),
        ["public"] = sandbox.Public,
        ["networkBlockAll"] = false,
        ["target"] = "us",
        ["cpu"] = 1,
        ["gpu"] = 0,
        ["memory"] = 1,
        ["disk"] = 3,
        ["snapshot"] = sandbox.Snapshot,
        ["state"] = sandbox.State,
        ["desiredState"] = sandbox.DesiredState,
        ["autoStopInterval"] = sandbox.AutoStopMinutes,
        ["autoDeleteInterval"] = sandbox.AutoDeleteMinutes,
        ["createdAt"] = sandbox.CreatedAt.ToString("O", CultureInfo.InvariantCulture),
        ["lastActivityAt"] = sandbox.LastActivity.ToString("O", CultureInfo.InvariantCulture),
        ["toolboxProxyUrl"] = new Uri(BaseAddress, "toolbox").ToString(),
    };

    private static JsonObject SessionJson(Session session) => new()
    {
        ["sessionId"] = session.Id,
        ["commands"] = new JsonArray([.. session.Commands.Select(CommandJson)]),
    };

    private static JsonObject CommandJson(Command command) => new()
    {
        ["id"] = command.Id,
        ["command"] = command.Text,
        ["exitCode"] = command.ExitCode,
    };

    private static Task Json(HttpContext context, int status, JsonNode body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(body.ToJsonString());
    }

    private Task Error(HttpContext context, int status, string message) => Json(context, status, new JsonObject
    {
        ["path"] = context.Request.Path.Value,
        ["timestamp"] = _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture),
        ["statusCode"] = status,
        ["error"] = status switch { 400 => "Bad Request", 401 => "Unauthorized", 404 => "Not Found", 409 => "Conflict", 429 => "Too Many Requests", _ => "Error" },
        ["message"] = message,
    });

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    [GeneratedRegex(@"export PORT='(\d+)'")]
    private static partial Regex PortExport();

    [GeneratedRegex(@"cd '([^']+)'")]
    private static partial Regex CdDirectory();

    private sealed record ScriptedFault(int Status, IReadOnlyDictionary<string, string>? Headers);

    private sealed class Sandbox(string id, string name, Dictionary<string, string> labels, DateTimeOffset createdAt)
    {
        public string Id { get; } = id;
        public string Name { get; } = name;
        public Dictionary<string, string> Labels { get; } = labels;
        public DateTimeOffset CreatedAt { get; } = createdAt;
        public string? Snapshot { get; init; }
        public string? Dockerfile { get; init; }
        public int AutoStopMinutes { get; init; }
        public int AutoDeleteMinutes { get; set; }
        public bool Public { get; init; }
        public string State { get; set; } = "creating";
        public string DesiredState { get; set; } = "started";
        public DateTimeOffset? StartsAt { get; set; }
        public DateTimeOffset? StoppedAt { get; set; }
        public DateTimeOffset LastActivity { get; set; } = createdAt;
        public string Token { get; private set; } = string.Empty;
        public int Starts { get; private set; }
        public Dictionary<string, byte[]> Files { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, Session> Sessions { get; } = new(StringComparer.Ordinal);

        public void Start(DateTimeOffset at)
        {
            State = "started";
            DesiredState = "started";
            StartsAt = null;
            StoppedAt = null;
            LastActivity = at;
            Starts++;
            Token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)); // a new token on every start
        }

        public void Stop(DateTimeOffset at)
        {
            StoppedAt = at;
            State = "stopped";
            DesiredState = "stopped";
            Sessions.Clear(); // memory is gone: no dev server survives a stop
        }

        public HashSet<int> ListeningPorts() =>
            [.. Sessions.Values.SelectMany(x => x.Commands).Where(c => c.ExitCode is null && c.Port is not null).Select(c => c.Port!.Value)];

        public FakeDaytonaSandbox ToPublic() => new(Id, Name, State, new Dictionary<string, string>(Labels), Snapshot, Dockerfile, AutoStopMinutes,
            AutoDeleteMinutes, Token, Starts, new Dictionary<string, byte[]>(Files),
            [.. Sessions.Values.SelectMany(x => x.Commands.Select(c => new FakeDaytonaCommand(x.Id, c.Id, c.Text, c.ExitCode)))]);
    }

    private sealed class Session(string id)
    {
        public string Id { get; } = id;
        public List<Command> Commands { get; } = [];
    }

    private sealed class Command(string id, string text, int? port)
    {
        public string Id { get; } = id;
        public string Text { get; } = text;
        public int? Port { get; } = port;
        public int? ExitCode { get; set; }
    }
}

public sealed record FakeDaytonaRequest(string Operation, string Method, string Path, int Status);

public sealed record FakeDaytonaCommand(string SessionId, string CommandId, string Command, int? ExitCode);

public sealed record FakeDaytonaSandbox(
    string Id,
    string Name,
    string State,
    IReadOnlyDictionary<string, string> Labels,
    string? Snapshot,
    string? Dockerfile,
    int AutoStopMinutes,
    int AutoDeleteMinutes,
    string Token,
    int Starts,
    IReadOnlyDictionary<string, byte[]> Files,
    IReadOnlyList<FakeDaytonaCommand> Commands);
