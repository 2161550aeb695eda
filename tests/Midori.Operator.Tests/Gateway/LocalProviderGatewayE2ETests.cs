using System.Net;
using System.Net.WebSockets;
using System.Text;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Gateway;

namespace Midori.Operator.Tests.Gateway;

/// <summary>
/// The gateway in front of the real local provider in command mode: the dev server runs in bubblewrap behind the
/// provider's token front (YARP as well), so a WebSocket (hot module reload) passes two proxies.
/// </summary>
[Trait("Category", "Gateway")]
public sealed class LocalProviderGatewayE2ETests : IAsyncLifetime
{
    /// <summary>A dev server with a WebSocket echo, standard library only (HMR in miniature).</summary>
    private const string EchoServer = """
        import base64, hashlib, os, struct
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.headers.get("Upgrade", "").lower() != "websocket":
                    body = b"<p>dev server</p>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                key = self.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
                self.send_response(101)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", base64.b64encode(hashlib.sha1(key.encode()).digest()).decode())
                self.end_headers()
                self.close_connection = True
                try:
                    while True:
                        b0, b1 = self.read(2)
                        length = b1 & 0x7F
                        if length == 126:
                            length, = struct.unpack(">H", self.read(2))
                        elif length == 127:
                            length, = struct.unpack(">Q", self.read(8))
                        mask = self.read(4) if b1 & 0x80 else bytes(4)
                        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(self.read(length)))
                        self.frame(b0, payload)
                        if b0 & 0x0F == 8:
                            return
                except EOFError:
                    return

            def read(self, n):
                data = b""
                while len(data) < n:
                    chunk = self.rfile.read(n - len(data))
                    if not chunk:
                        raise EOFError
                    data += chunk
                return data

            def frame(self, b0, payload):
                n = len(payload)
                header = bytes([b0]) + (bytes([n]) if n < 126 else bytes([126]) + struct.pack(">H", n) if n < 65536 else bytes([127]) + struct.pack(">Q", n))
                self.wfile.write(header + payload)
                self.wfile.flush()

        ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler).serve_forever()
        """;

    private readonly string _root = Path.Combine(Path.GetTempPath(), "midori-gw-local-" + Guid.NewGuid().ToString("N")[..8]);
    private GatewayTestStack _stack = null!;

    public async Task InitializeAsync() =>
        _stack = await GatewayTestStack.StartAsync(new Dictionary<string, string?> { ["Providers:Local:RootDirectory"] = _root }, realProviders: true);

    public async Task DisposeAsync()
    {
        await _stack.DisposeAsync();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task LocalCommandSandbox_WebSocketEchoAndPage_ThroughGatewayAndTokenFront()
    {
        // arrange: a command-mode sandbox (token front on, the default)
        var ready = await _stack.CreateReadyAsync("hmr", b => b.WithProvider("local").WithCommand("exec python3 echo.py").WithFile("echo.py", EchoServer));
        Assert.Equal("local", ready.Status!.Provider);
        var cookies = new CookieContainer();
        using var browser = GatewayTestStack.Browser(cookies);
        using (var page = await browser.GetAsync((await _stack.LinkAsync("hmr")).Url))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("<p>dev server</p>", await page.Content.ReadAsStringAsync());
        }

        // act + assert: the WebSocket, upgraded through the gateway and the provider's front, echoes small and large messages
        using var socket = new ClientWebSocket();
        socket.Options.Cookies = cookies;
        var wsUrl = new UriBuilder(_stack.PathUrl("hmr", relative: "hmr")) { Scheme = "ws" }.Uri;
        await socket.ConnectAsync(wsUrl, CancellationToken.None);
        foreach (var message in new[] { "hello", new string('x', 40_000) })
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, true, CancellationToken.None);
            Assert.Equal(message, await ReceiveTextAsync(socket));
        }

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        Assert.Equal(WebSocketState.Closed, socket.State);
    }

    private static async Task<string> ReceiveTextAsync(ClientWebSocket socket)
    {
        using var timeout = new CancellationTokenSource(TestWaits.Bound);
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, timeout.Token);
            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);
        return Encoding.UTF8.GetString(message.ToArray());
    }
}
