using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Gateway;
using Midori.Operator.Testing.Gateway;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.Gateway;

/// <summary>
/// The gateway end to end: the real operator host, the real YARP forwarder, real loopback dev servers as sandboxes,
/// HttpClient/ClientWebSocket as the browser. Waits are bounded polls on observable state.
/// </summary>
[Trait("Category", "Gateway")]
public sealed class PreviewGatewayE2ETests(ITestOutputHelper output) : IAsyncLifetime
{
    private GatewayTestStack _stack = null!;

    private string Ns => _stack.Namespace;

    public async Task InitializeAsync() => _stack = await GatewayTestStack.StartAsync();

    public async Task DisposeAsync() => await _stack.DisposeAsync();

    [Fact]
    public async Task PathForm_SignedLinkSetsScopedCookie_RedirectsToCleanUrl_AndServes()
    {
        // arrange: no preview domain configured, so previewUrl is the path form
        var ready = await _stack.CreateReadyAsync("site.one");
        var stable = _stack.PathUrl("site.one").ToString();
        Assert.Equal(stable, ready.Status!.PreviewUrl);
        Assert.NotEqual(ready.Status.PreviewUrl, ready.Status.SandboxUrl);
        var link = await _stack.LinkAsync("site.one");
        Assert.StartsWith(stable + "?token=", link.Url, StringComparison.Ordinal);
        var cookies = new CookieContainer();
        using var browser = GatewayTestStack.Browser(cookies, followRedirects: false);

        // act: open the link as a browser would
        using var first = await browser.GetAsync(link.Url);
        var location = first.Headers.Location!.ToString();
        using var page = await browser.GetAsync(new Uri(new Uri(stable), location));
        using var about = await browser.GetAsync(new Uri(new Uri(stable), "about/"));

        // assert
        Assert.Equal(HttpStatusCode.SeeOther, first.StatusCode);
        Assert.Equal($"/p/{Ns}/site.one/", location);
        var setCookie = Assert.Single(first.Headers.GetValues("Set-Cookie"));
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains($"path=/p/{Ns}/site.one/", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=lax", setCookie, StringComparison.OrdinalIgnoreCase); // plain http: None would need Secure
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("<h1>hello gateway</h1>", await page.Content.ReadAsStringAsync());
        Assert.Equal("<p>about</p>", await about.Content.ReadAsStringAsync());

        // the cookie is for this preview only: a sibling path does not get it
        Assert.Empty(cookies.GetCookies(new Uri(_stack.Host.BaseAddress, $"/p/{Ns}/site.two/")));

        // the provider token went upstream but never to the browser
        var secret = await _stack.Environment.GetSecretAsync(ready.Status.TokenSecretRef!.Name, CancellationToken.None);
        var providerToken = Encoding.UTF8.GetString(secret!.Data[ready.Status.TokenSecretRef.Key]);
        using var headers = await browser.GetAsync(new Uri(new Uri(stable), "headers"));
        var seen = JsonSerializer.Deserialize<Dictionary<string, string>>(await headers.Content.ReadAsStringAsync())!;
        Assert.Equal(providerToken, seen[DevServerSandboxProvider.TokenHeader]);
        Assert.DoesNotContain(PreviewGatewayMiddleware.CookieName, seen.GetValueOrDefault("Cookie") ?? string.Empty, StringComparison.Ordinal);
        Assert.Equal($"/p/{Ns}/site.one", seen["X-Forwarded-Prefix"]);
        foreach (var response in new[] { first, page, about, headers })
        {
            Assert.DoesNotContain(providerToken, string.Join("\n", response.Headers.Concat(response.Content.Headers).SelectMany(h => h.Value)), StringComparison.Ordinal);
        }

        Assert.DoesNotContain(providerToken, link.Url + link.Token, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HostForm_RoutesByHost_SetsHostOnlyCookie_AndCountsTrafficAsActivity()
    {
        // arrange
        await using var stack = await GatewayTestStack.StartAsync(new Dictionary<string, string?> { ["Gateway:PreviewDomain"] = "preview.test" });
        var ns = stack.Namespace;
        var ready = await stack.CreateReadyAsync("shop");
        Assert.Equal($"https://shop--{ns}.preview.test/", ready.Status!.PreviewUrl);
        Assert.False(ready.Metadata.Annotations?.ContainsKey(GroupVersion.HeartbeatAnnotation) == true);
        var link = await stack.LinkAsync("shop");
        Assert.StartsWith($"https://shop--{ns}.preview.test/?token=", link.Url, StringComparison.Ordinal);
        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = stack.Host.BaseAddress };
        var host = $"shop--{ns}.preview.test";

        // act: the TLS-terminating ingress in front says https
        using var exchange = new HttpRequestMessage(HttpMethod.Get, "/?token=" + Uri.EscapeDataString(link.Token) + "&q=1");
        exchange.Headers.Host = host;
        exchange.Headers.TryAddWithoutValidation("X-Forwarded-Proto", "https");
        using var first = await http.SendAsync(exchange);
        var cookie = first.Headers.GetValues("Set-Cookie").Single();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/about/");
        request.Headers.Host = host;
        request.Headers.TryAddWithoutValidation("Cookie", cookie.Split(';')[0]);
        using var page = await http.SendAsync(request);

        // assert
        Assert.Equal(HttpStatusCode.SeeOther, first.StatusCode);
        Assert.Equal("/?q=1", first.Headers.Location!.ToString());
        Assert.Contains("path=/;", cookie + ";", StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("domain=", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("secure", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=none", cookie, StringComparison.OrdinalIgnoreCase); // the editor's iframe is a third-party context
        Assert.Contains("partitioned", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("<p>about</p>", await page.Content.ReadAsStringAsync());

        // proxied traffic is activity: the coalesced heartbeat path writes the annotation
        await stack.WaitForAsync("shop", p => p?.Metadata.Annotations?.ContainsKey(GroupVersion.HeartbeatAnnotation) == true, "the heartbeat annotation from traffic");
    }

    [Fact]
    public async Task Refusals_Are401_HtmlForBrowsersProblemForOthers_AndFencedByUid()
    {
        // arrange
        var ready = await _stack.CreateReadyAsync("fenced");
        var other = await _stack.CreateReadyAsync("other");
        var tokens = _stack.Host.Services.GetRequiredService<GatewayTokens>();
        var url = _stack.PathUrl("fenced");
        using var plain = GatewayTestStack.Browser(followRedirects: false);

        // act + assert: no credentials
        using var api = await plain.GetAsync(url);
        Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
        Assert.Equal("application/problem+json", api.Content.Headers.ContentType!.MediaType);
        using var html = new HttpRequestMessage(HttpMethod.Get, url);
        html.Headers.Accept.ParseAdd("text/html,application/xhtml+xml");
        using var htmlResponse = await plain.SendAsync(html);
        Assert.Equal(HttpStatusCode.Unauthorized, htmlResponse.StatusCode);
        Assert.Equal("text/html", htmlResponse.Content.Headers.ContentType!.MediaType);
        Assert.Contains("<h1>", await htmlResponse.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // tampered, another preview's, expired, a session token used as a link
        var good = (await _stack.LinkAsync("fenced")).Token;
        var tampered = good[..^3] + (good[^3] == 'A' ? "BBB" : "AAA");
        var foreign = (await _stack.LinkAsync("other")).Token;
        var expired = tokens.Mint(ready, GatewayTokens.LinkAudience, TimeSpan.FromSeconds(-5)).Token;
        var session = tokens.Mint(ready, GatewayTokens.SessionAudience, TimeSpan.FromMinutes(5)).Token;
        foreach (var (what, token) in new[] { ("tampered", tampered), ("foreign", foreign), ("expired", expired), ("session as link", session) })
        {
            using var response = await plain.GetAsync(url + "?token=" + Uri.EscapeDataString(token));
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{what}: {(int)response.StatusCode}");
        }

        // a link as cookie is refused too (audiences differ)
        using var linkAsCookie = new HttpRequestMessage(HttpMethod.Get, url);
        linkAsCookie.Headers.TryAddWithoutValidation("Cookie", $"{PreviewGatewayMiddleware.CookieName}={good}");
        Assert.Equal(HttpStatusCode.Unauthorized, (await plain.SendAsync(linkAsCookie)).StatusCode);

        // fence: delete and recreate under the same name; the old session cookie never reaches the new resource
        var oldSession = tokens.Mint(ready, GatewayTokens.SessionAudience, TimeSpan.FromMinutes(5)).Token;
        await _stack.Environment.DeleteAsync("fenced", CancellationToken.None);
        await _stack.WaitForAsync("fenced", p => p is null, "the old resource to be gone");
        var reborn = await _stack.CreateReadyAsync("fenced", page: "<h1>reborn</h1>");
        Assert.NotEqual(ready.Metadata.Uid, reborn.Metadata.Uid);
        using var stale = new HttpRequestMessage(HttpMethod.Get, url);
        stale.Headers.TryAddWithoutValidation("Cookie", $"{PreviewGatewayMiddleware.CookieName}={oldSession}");
        Assert.Equal(HttpStatusCode.Unauthorized, (await plain.SendAsync(stale)).StatusCode);
        using var browser = GatewayTestStack.Browser();
        Assert.Equal("<h1>reborn</h1>", await browser.GetStringAsync((await _stack.LinkAsync("fenced")).Url));
        _ = other;
    }

    [Fact]
    public async Task DevServerTraffic_WebSocketEcho_Streaming_LargeUpload_RedirectsAndCookiesRewritten()
    {
        // arrange
        await _stack.CreateReadyAsync("devsrv");
        var cookies = new CookieContainer();
        using var browser = GatewayTestStack.Browser(cookies, followRedirects: false);
        await browser.GetAsync((await _stack.LinkAsync("devsrv")).Url);
        var baseUrl = _stack.PathUrl("devsrv");

        // WebSocket (hot module reload) with the preview cookie
        using (var socket = new ClientWebSocket())
        {
            socket.Options.Cookies = cookies;
            var wsUrl = new UriBuilder(new Uri(baseUrl, "ws")) { Scheme = "ws" }.Uri;
            await socket.ConnectAsync(wsUrl, CancellationToken.None);
            foreach (var message in new[] { "hello", new string('x', 40_000) })
            {
                await socket.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, true, CancellationToken.None);
                Assert.Equal(message, await ReceiveTextAsync(socket));
            }

            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        }

        // streaming: chunks arrive as they are written
        using (var stream = await browser.GetAsync(new Uri(baseUrl, "stream?n=20"), HttpCompletionOption.ResponseHeadersRead))
        {
            var text = await stream.Content.ReadAsStringAsync();
            Assert.Equal(string.Concat(Enumerable.Range(0, 20).Select(i => $"chunk {i}\n")), text);
        }

        // a 24 MiB upload streams through (bigger than the retry buffer) and arrives intact
        var body = RandomNumberGenerator.GetBytes(24 * 1024 * 1024);
        using (var upload = await browser.PostAsync(new Uri(baseUrl, "upload"), new ByteArrayContent(body)))
        {
            var digest = await upload.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(body.Length, digest.GetProperty("bytes").GetInt64());
            Assert.Equal(Convert.ToHexString(SHA256.HashData(body)), digest.GetProperty("sha256").GetString());
        }

        // redirects to the sandbox's own origin and root-relative ones land under the preview
        using (var absolute = await browser.GetAsync(new Uri(baseUrl, "redirect-absolute")))
        {
            Assert.Equal($"/p/{Ns}/devsrv/target?x=1", absolute.Headers.Location!.ToString());
        }

        using (var root = await browser.GetAsync(new Uri(baseUrl, "redirect-root")))
        {
            Assert.Equal($"/p/{Ns}/devsrv/target", root.Headers.Location!.ToString());
        }

        // cookies: path moved under the preview, the sandbox's domain dropped, the gateway cookie not overwritable
        using (var cookie = await browser.GetAsync(new Uri(baseUrl, "cookie")))
        {
            var set = Assert.Single(cookie.Headers.GetValues("Set-Cookie"));
            Assert.StartsWith("app=1", set, StringComparison.Ordinal);
            Assert.Contains($"Path=/p/{Ns}/devsrv/", set, StringComparison.Ordinal);
            Assert.DoesNotContain("Domain", set, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task WakeOnTraffic_HeldRequestWakesAnExpiredPreview_AndGetsTheAnswer()
    {
        // arrange: a preview that expires after 10 s without activity (the CRD's minimum)
        var ready = await _stack.CreateReadyAsync("sleepy", b => b.WithIdleTimeout(10));
        using var browser = GatewayTestStack.Browser();
        var cookies = new CookieContainer();
        using var client = GatewayTestStack.Browser(cookies, followRedirects: false);
        await client.GetAsync((await _stack.LinkAsync("sleepy")).Url);
        var expired = await _stack.WaitForAsync("sleepy", p => p?.Status?.Phase == Phases.Expired, "phase Expired", TimeSpan.FromSeconds(60));
        Assert.Null(expired!.Status!.SandboxUrl);
        Assert.Equal(ready.Status!.PreviewUrl, expired.Status.PreviewUrl);

        // act: an ordinary request (not a page navigation) is held while the preview wakes
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var response = await client.GetAsync(_stack.PathUrl("sleepy", relative: "about/"));
        output.WriteLine($"wake to first byte: {clock.ElapsedMilliseconds} ms");

        // assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("<p>about</p>", await response.Content.ReadAsStringAsync());
        var woken = await _stack.Environment.GetAsync("sleepy", CancellationToken.None);
        Assert.Equal(RecreationReasons.IdleWake, woken!.Status!.LastRecreation!.Reason);
        Assert.NotEqual(ready.Status.SandboxId, woken.Status.SandboxId);
        Assert.Equal(ready.Status.PreviewUrl, woken.Status.PreviewUrl);
    }

    [Fact]
    public async Task RecreationUnderSteadyTraffic_NoRequestFails_AndTheUrlNeverChanges()
    {
        // arrange
        var ready = await _stack.CreateReadyAsync("steady");
        var cookies = new CookieContainer();
        using var browser = GatewayTestStack.Browser(cookies);
        await browser.GetAsync((await _stack.LinkAsync("steady")).Url);
        var url = _stack.PathUrl("steady", relative: "about/");
        using var stop = new CancellationTokenSource();
        var failures = new List<string>();
        var ok = 0;
        var clients = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await browser.GetAsync(url);
                    var text = await response.Content.ReadAsStringAsync();
                    if (response.StatusCode != HttpStatusCode.OK || text != "<p>about</p>")
                    {
                        lock (failures) { failures.Add($"{(int)response.StatusCode} {text[..Math.Min(80, text.Length)]}"); }
                    }
                    else
                    {
                        Interlocked.Increment(ref ok);
                    }
                }
                catch (Exception ex)
                {
                    lock (failures) { failures.Add(ex.GetType().Name + ": " + ex.Message); }
                }
            }
        })).ToList();

        // and one client uploading bodies bigger than the retry buffer (sent once only): held or 503 Retry-After, never a 502
        var uploads = new List<string>();
        var uploaded = 0;
        var body = new byte[(1024 * 1024) + 1];
        clients.Add(Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await browser.PostAsync(_stack.PathUrl("steady", relative: "upload"), new ByteArrayContent(body));
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref uploaded);
                    }
                    else if (response.StatusCode != HttpStatusCode.ServiceUnavailable || response.Headers.RetryAfter is null)
                    {
                        lock (uploads) { uploads.Add($"{(int)response.StatusCode}"); }
                    }
                }
                catch (Exception ex)
                {
                    lock (uploads) { uploads.Add(ex.GetType().Name + ": " + ex.Message); }
                }
            }
        }));

        // act: three replacements of the sandbox while the clients keep going
        var sandbox = ready.Status!.SandboxId;
        var urls = new HashSet<string> { ready.Status.PreviewUrl! };
        for (var i = 1; i <= 3; i++)
        {
            await _stack.Environment.MergePatchAsync("steady", new { metadata = new { annotations = new Dictionary<string, string> { [GroupVersion.RecreateAnnotation] = $"r{i}" } } }, CancellationToken.None);
            var previous = sandbox;
            var next = await _stack.WaitForAsync("steady", p => GatewayTestStack.IsReady(p) && p!.Status!.SandboxId != previous, $"recreation {i}");
            sandbox = next!.Status!.SandboxId;
            urls.Add(next.Status.PreviewUrl!);
        }

        var before = Volatile.Read(ref ok);
        await WaitUntilAsync(() => Volatile.Read(ref ok) > before + 20, "traffic on the last sandbox");
        await stop.CancelAsync();
        await Task.WhenAll(clients);

        // assert
        output.WriteLine($"{ok} requests served across 3 recreations, {failures.Count} failed; {uploaded} large uploads served, {uploads.Count} answered other than 200 or 503 Retry-After");
        Assert.Empty(failures);
        Assert.Empty(uploads);
        Assert.Single(urls);
        Assert.Equal(3, (await _stack.Environment.GetAsync("steady", CancellationToken.None))!.Status!.Recreations);
    }

    [Fact]
    public async Task WhileStarting_NavigationGetsTheStartingPage_OthersGet503WithRetryAfter_AndStatusEventsStream()
    {
        // arrange: creating takes long, holds are short
        await using var stack = await GatewayTestStack.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:HoldTimeout"] = "00:00:01",
            ["Gateway:PageHoldTimeout"] = "00:00:00.200",
        });
        stack.Provider.CreateDelay = TimeSpan.FromSeconds(8);
        var manifest = new Testing.Builders.PreviewSandboxBuilder().Named("slow", stack.Namespace).Build();
        await stack.Environment.CreateAsync(manifest, CancellationToken.None);
        await stack.WaitForAsync("slow", p => p?.Status?.Phase is Phases.Creating or Phases.Pending && p.Metadata.Uid is not null, "Creating");
        var cookies = new CookieContainer();
        using var browser = GatewayTestStack.Browser(cookies, followRedirects: false);
        var link = await stack.LinkAsync("slow");
        using var exchange = await browser.GetAsync(link.Url);
        Assert.Equal(HttpStatusCode.SeeOther, exchange.StatusCode);
        var url = stack.PathUrl("slow");

        // act
        using var navigation = new HttpRequestMessage(HttpMethod.Get, url);
        navigation.Headers.TryAddWithoutValidation("Sec-Fetch-Mode", "navigate");
        navigation.Headers.Accept.ParseAdd("text/html");
        using var page = await browser.SendAsync(navigation);
        using var fetch = await browser.GetAsync(new Uri(url, "api/data"));
        using var events = await browser.GetAsync(new Uri(url, "__midori/events"), HttpCompletionOption.ResponseHeadersRead);

        // assert
        Assert.Equal(HttpStatusCode.ServiceUnavailable, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        Assert.Contains($"/p/{stack.Namespace}/slow/__midori/events", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, fetch.StatusCode);
        Assert.NotNull(fetch.Headers.RetryAfter);
        Assert.Equal("application/problem+json", fetch.Content.Headers.ContentType!.MediaType);
        Assert.Equal("text/event-stream", events.Content.Headers.ContentType!.MediaType);
        using var reader = new StreamReader(await events.Content.ReadAsStreamAsync());
        string? line;
        while ((line = await reader.ReadLineAsync()) is not null && !line.StartsWith("event: status", StringComparison.Ordinal))
        {
        }

        Assert.Equal("event: status", line);
    }

    [Fact]
    public async Task TwoReplicas_BothServeTheSamePreview_WithTheSameLinkAndCookie()
    {
        // arrange: two operator hosts (leader election on) sharing the signing key
        await using var stack = await GatewayTestStack.StartAsync(replicas: 2);
        await stack.CreateReadyAsync("shared", page: "<h1>both</h1>");
        var link = await stack.LinkAsync("shared", stack.Hosts[0]);
        var token = link.Url[(link.Url.IndexOf("?token=", StringComparison.Ordinal) + 7)..];

        // act: the link minted by one replica is opened on the other; the cookie from there works on the first
        var cookies = new CookieContainer();
        using var browser = GatewayTestStack.Browser(cookies);
        var onSecond = await browser.GetStringAsync(stack.PathUrl("shared", stack.Hosts[1]) + "?token=" + token);
        var session = cookies.GetCookies(stack.PathUrl("shared", stack.Hosts[1])).Single(c => c.Name == PreviewGatewayMiddleware.CookieName);
        using var first = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, stack.PathUrl("shared", stack.Hosts[0]));
        request.Headers.TryAddWithoutValidation("Cookie", $"{session.Name}={session.Value}");
        using var onFirst = await first.SendAsync(request);

        // assert
        Assert.Equal("<h1>both</h1>", onSecond);
        Assert.Equal("<h1>both</h1>", await onFirst.Content.ReadAsStringAsync());
    }

    private static async Task<string> ReceiveTextAsync(ClientWebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, CancellationToken.None);
            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);
        return Encoding.UTF8.GetString(message.ToArray());
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!condition())
        {
            if (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"Timed out waiting for {what}");
            }

            await Task.Delay(50);
        }
    }
}
