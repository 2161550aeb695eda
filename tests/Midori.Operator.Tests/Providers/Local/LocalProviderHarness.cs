using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Local;
using Midori.Operator.Testing;
using Midori.Operator.Files;

namespace Midori.Operator.Tests.Providers.Local;

/// <summary>A provider over a unique temp root, plus helpers; deletes the root when disposed.</summary>
internal sealed class LocalProviderHarness : IAsyncDisposable
{
    public static readonly DateTimeOffset T0 = new(2026, 9, 1, 12, 0, 0, TimeSpan.Zero);
    public static readonly TimeSpan DefaultTimeout = TestWaits.Bound;

    private readonly List<LocalSandboxProvider> _providers = [];

    public LocalProviderHarness(TimeProvider? timeProvider = null, Action<LocalProviderOptions>? configure = null, ISandboxDeathNotifier? deaths = null)
    {
        Deaths = deaths;
        Root = Path.Combine(Path.GetTempPath(), "midori-local-tests", Guid.NewGuid().ToString("N"));
        Time = timeProvider ?? new FakeTimeProvider(T0);
        Configure = configure;
        Provider = NewProvider();
        Http = new HttpClient(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false }) { Timeout = TestWaits.Bound };
    }

    public string Root { get; }

    public TimeProvider Time { get; }

    public FakeTimeProvider FakeTime => (FakeTimeProvider)Time;

    public LocalSandboxProvider Provider { get; }

    public HttpClient Http { get; }

    private Action<LocalProviderOptions>? Configure { get; }

    private ISandboxDeathNotifier? Deaths { get; }

    /// <summary>Another provider instance over the same root, as after an operator restart.</summary>
    public LocalSandboxProvider NewProvider()
    {
        var options = new LocalProviderOptions { RootDirectory = Root, StartupTimeout = TimeSpan.FromSeconds(20), StopGracePeriod = TimeSpan.FromSeconds(5) };
        Configure?.Invoke(options);
        var provider = new LocalSandboxProvider(Microsoft.Extensions.Options.Options.Create(options), Time, NullLogger<LocalSandboxProvider>.Instance, Deaths);
        _providers.Add(provider);
        return provider;
    }

    public static SandboxCreateRequest CreateRequest(string ownerUid = "uid-1", TimeSpan? ttl = null, int port = 3000) =>
        new(ownerUid, "default", "demo", "project-1", null, port, ttl ?? TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(15),
            new Dictionary<string, string> { ["app"] = "midori" });

    public static SandboxStartRequest StaticStart(int port = 3000, IReadOnlyDictionary<string, string>? environment = null) =>
        new(null, port, environment ?? new Dictionary<string, string>());

    public static SandboxFile Text(string path, string content) => new(path, Encoding.UTF8.GetBytes(content));

    /// <summary>Create, upload, start in static mode; returns the id and preview endpoint.</summary>
    public async Task<(string Id, PreviewEndpoint Preview)> StartStaticAsync(params SandboxFile[] files)
    {
        using var cts = Cancel();
        var info = await Provider.CreateAsync(CreateRequest(), cts.Token);
        await Provider.UploadFilesAsync(info.Id, files, cts.Token);
        await Provider.StartAsync(info.Id, StaticStart(), cts.Token);
        return (info.Id, await Provider.GetPreviewAsync(info.Id, 3000, cts.Token));
    }

    public async Task<HttpResponseMessage> GetAsync(Uri baseUrl, string relative, string? token = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(baseUrl, relative));
        if (token is not null)
        {
            request.Headers.Add(LocalHttpFront.TokenHeader, token);
        }

        using var cts = Cancel();
        return await Http.SendAsync(request, cts.Token);
    }

    /// <summary>Raw HTTP/1.1 request, so paths reach the server exactly as written (HttpClient normalizes dots).</summary>
    public static async Task<(int Status, string Text)> RawGetAsync(Uri baseUrl, string rawPath, string? token = null)
    {
        using var cts = Cancel();
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(baseUrl.Host, baseUrl.Port, cts.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {rawPath} HTTP/1.1\r\nHost: {baseUrl.Authority}\r\n{(token is null ? "" : $"{LocalHttpFront.TokenHeader}: {token}\r\n")}Connection: close\r\n\r\n"), cts.Token);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = await reader.ReadToEndAsync(cts.Token);
        var status = int.Parse(text.Split(' ', 3)[1], System.Globalization.CultureInfo.InvariantCulture);
        return (status, text);
    }

    /// <summary>True once nothing accepts connections on the preview port (bounded by <see cref="DefaultTimeout"/>).</summary>
    public async Task<bool> StopsAnsweringAsync(Uri baseUrl) =>
        await EventuallyAsync(async () =>
        {
            try
            {
                using var response = await GetAsync(baseUrl, "/");
                return false;
            }
            catch (HttpRequestException)
            {
                return true;
            }
        });

    /// <summary>Polls a real socket/process condition until true or <see cref="DefaultTimeout"/>; no fixed sleeps.</summary>
    public static async Task<bool> EventuallyAsync(Func<Task<bool>> condition)
    {
        using var cts = Cancel();
        while (!cts.IsCancellationRequested)
        {
            if (await condition())
            {
                return true;
            }

            try
            {
                await Task.Delay(25, cts.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return await condition();
    }

    public static CancellationTokenSource Cancel() => new(DefaultTimeout);

    /// <summary>Host pid of the outer bwrap process of a running command, from sandbox.json.</summary>
    public int ServerPid(string sandboxId)
    {
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Root, sandboxId, "sandbox.json")));
        return json.RootElement.GetProperty("serverPid").GetInt32();
    }

    /// <summary>Host pids of the sandboxed processes of <paramref name="sandboxId"/> whose executable name is <paramref name="comm"/>.</summary>
    public int[] SandboxedProcesses(string sandboxId, string comm) =>
        ProcessTree.Descendants(ServerPid(sandboxId))
            .Where(pid =>
            {
                try
                {
                    return File.ReadAllText($"/proc/{pid}/comm").Trim().StartsWith(comm, StringComparison.Ordinal);
                }
                catch (IOException)
                {
                    return false;
                }
            })
            .ToArray();

    public static bool ProcessIsGone(int pid)
    {
        var stat = $"/proc/{pid}/stat";
        if (!File.Exists(stat))
        {
            return true;
        }

        try
        {
            var text = File.ReadAllText(stat);
            var state = text[(text.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state is "Z" or "X"; // a zombie waits only for its (non-.NET) parent to reap it
        }
        catch (IOException)
        {
            return true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        foreach (var provider in _providers)
        {
            await provider.DisposeAsync();
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
